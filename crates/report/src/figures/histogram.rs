//! A histogram of one tensor with a format's quantization grid drawn over
//! it. The tensor is read again from the configuration's data source (the
//! results hold no tensors); the grid is every value the format can
//! represent at the scale the clamping strategy chose for the whole tensor.
//! For block formats that is the grid of a block holding max|x|.

use quantlab_formats::{Format, GroupView, Scale};
use quantlab_tensors::Tensor;

use crate::chart::{Axis, Chart, Legend, Look, Mark, Marker};
use crate::data::Results;

pub fn charts(results: &Results) -> Result<Vec<(String, Chart)>, String> {
    let h = results.settings.report.histogram.as_ref().ok_or("needs a [report.histogram] section naming the tensor and the format")?;
    let sources = results.settings.data.iter().map(|d| d.plan()).collect::<Result<Vec<_>, _>>()?;
    let planned = match &h.source {
        None => sources.first().ok_or("the sweep has no [[data]] to draw")?,
        Some(label) => {
            sources.iter().find(|s| &s.label == label).ok_or_else(|| format!("no data source `{label}` (sources: {})", sources.iter().map(|s| s.label.as_str()).collect::<Vec<_>>().join(", ")))?
        }
    };
    let seed = *results.sweep.seeds.first().ok_or("the sweep recorded no seeds")?;
    let (tensors, _) = planned.source.source(seed).load().map_err(|e| format!("cannot read the data again: {e}"))?;
    let tensor = match &h.tensor {
        None => tensors.into_iter().next().ok_or("the source holds no tensor")?,
        Some(name) => tensors.into_iter().find(|t| &t.name == name).ok_or_else(|| format!("no tensor `{name}` in {}", planned.label))?,
    };
    let format = quantlab_formats::parse(&h.format).map_err(|e| e.to_string())?;
    let clamp = h.clamp.as_deref().unwrap_or("none");
    let strategy = quantlab_clamp::parse(clamp).map_err(|e| e.to_string())?;
    Ok(vec![(super::stem("histogram", &tensor.name, 0), chart(&results.title(), &tensor, &*format, &*strategy, h.bins.unwrap_or(160))?)])
}

/// Histogram bins `(x0, x1, count)` over the finite values' range.
pub fn histogram(x: &[f32], bins: usize) -> Vec<(f64, f64, f64)> {
    let finite = || x.iter().filter(|v| v.is_finite()).map(|&v| v as f64);
    let (lo, hi) = finite().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return Vec::new();
    }
    let bins = bins.max(1);
    let width = if hi > lo { (hi - lo) / bins as f64 } else { 1.0 };
    let mut counts = vec![0.0; bins];
    for v in finite() {
        counts[(((v - lo) / width) as usize).min(bins - 1)] += 1.0;
    }
    counts.into_iter().enumerate().map(|(i, c)| (lo + i as f64 * width, lo + (i + 1) as f64 * width, c)).collect()
}

fn chart(title: &str, t: &Tensor, format: &dyn Format, strategy: &dyn quantlab_clamp::Strategy, bins: usize) -> Result<Chart, String> {
    // The clip of the whole tensor as one group, as quantizing per tensor
    // would choose it (rows are the last axis).
    let row_len = t.shape.last().copied().unwrap_or(t.data.len()).max(1);
    let chosen = quantlab_clamp::choose(strategy, GroupView { index: 0, values: &t.data, row_len, format });
    let scale = if format.asymmetric() { Scale::Range(chosen.range.lo, chosen.range.hi) } else { Scale::Max(chosen.range.alpha()) };
    let grid = format.grid(scale).map_err(|e| e.to_string())?;
    let mut chart = Chart::new(format!("{title} — {} on {}", format.describe(), t.name), Axis::linear("value (tensor units)"), Axis::log("values per bin"));
    let bars: Vec<(f64, f64, f64)> = histogram(&t.data, bins).into_iter().filter(|b| b.2 > 0.0).collect();
    let (lo, hi) = (bars.first().map_or(0.0, |b| b.0), bars.last().map_or(0.0, |b| b.1));
    let hist_look = Look::series(0);
    chart.marks.push(Mark::Bars { bars, look: hist_look });
    let grid_look = Look::series(1).width(1).marker(Marker::None);
    // Levels beyond the data are not drawn (the axis follows the data).
    let pad = (hi - lo) * 0.02;
    let shown: Vec<f64> = grid.iter().map(|&g| g as f64).filter(|g| *g >= lo - pad && *g <= hi + pad).collect();
    for &g in &shown {
        chart.marks.push(Mark::VLine { x: g, look: grid_look });
    }
    chart.legend.push(Legend { text: "histogram".into(), look: hist_look.marker(Marker::Square).width(0) });
    chart.legend.push(Legend { text: format!("{} grid levels", grid.len()), look: grid_look });
    if let Some(clip) = chosen.clip {
        let clip_look = Look::series(2).dashed().width(2).marker(Marker::None);
        chart.marks.push(Mark::VLine { x: clip.lo as f64, look: clip_look });
        chart.marks.push(Mark::VLine { x: clip.hi as f64, look: clip_look });
        chart.legend.push(Legend { text: format!("clip ({})", strategy.describe()), look: clip_look });
    }
    chart.x.range = Some((lo - pad, hi + pad));
    chart.subtitle = Some(format!("{} values; {} of the format's {} levels fall in the data's range", t.data.len(), shown.len(), grid.len()));
    Ok(chart)
}

#[cfg(test)]
mod tests {
    #[test]
    fn histogram_counts_every_finite_value() {
        let h = super::histogram(&[0.0, 0.5, 1.0, f32::NAN, 0.25], 4);
        assert_eq!(h.iter().map(|b| b.2).collect::<Vec<_>>(), vec![1.0, 1.0, 1.0, 1.0]);
        assert_eq!((h[0].0, h[3].1), (0.0, 1.0));
    }
}
