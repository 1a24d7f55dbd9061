//! The metric against total bits per element (every scale and zero point
//! counted: the fair axis between formats whose metadata differ, NVFP4 4.5
//! against MXFP4 4.25), one curve per configuration (a series over its bit
//! widths), one chart per data source. The Pareto front, the settings no
//! other setting beats on both size and fidelity, is drawn as a grey
//! dashed line through grey stars, under the series' own markers.

use quantlab_results::Row;

use super::stem;
use crate::chart::{Axis, Chart, Legend, Look, Mark, Marker};
use crate::data::{self, config_key, config_label, metric_label, seed_mean, varying, Results};

pub fn charts(results: &Results, metric: &str) -> Vec<(String, Chart)> {
    let lower = data::lower_is_better(metric);
    let mut out = Vec::new();
    for (i, source) in results.distinct("source").into_iter().enumerate() {
        let rows = data::rows_of_source(&results.rows, &source);
        let y = if data::log_scale(metric) { Axis::log(metric_label(metric)) } else { Axis::linear(metric_label(metric)) };
        let mut chart = Chart::new(format!("{} — {source}", results.title()), Axis::linear("bits per element, every scale and zero point counted"), y);
        let shown = varying(&rows);
        let mut all = Vec::new();
        for (s, key) in data::config_keys(&rows).iter().enumerate() {
            let look = Look::series(s);
            let mine: Vec<&Row> = rows.iter().copied().filter(|r| &config_key(r) == key).collect();
            let mut points = Vec::new();
            for b in data::bit_widths(&mine) {
                let at: Vec<&Row> = mine.iter().copied().filter(|r| data::num(r, "bits") == Some(b as f64)).collect();
                let size = mean(at.iter().filter_map(|r| data::num(r, "bits_per_element")));
                if let (Some(size), Some((m, _, _))) = (size, seed_mean(&at, metric)) {
                    points.push((size, m));
                }
            }
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            all.extend(points.iter().copied());
            chart.marks.push(Mark::Line { points, look });
            chart.legend.push(Legend { text: config_label(key, shown), look });
        }
        // Under the series, so a front point's own series marker stays visible.
        let front = front(&all, lower);
        chart.marks.insert(0, Mark::Points { points: front.clone(), look: Look::grey().marker(Marker::Star).width(3) });
        if front.len() > 1 {
            chart.marks.insert(0, Mark::Line { points: front, look: Look::grey().dashed().marker(Marker::None) });
        }
        chart.legend.push(Legend { text: "Pareto front".into(), look: Look::grey().dashed().marker(Marker::Star) });
        let tensors = data::distinct(rows.iter().copied(), "tensor");
        chart.subtitle =
            Some(format!("mean over {} tensor{}; front: no other setting is both smaller and {}", tensors.len(), if tensors.len() == 1 { "" } else { "s" }, if lower { "lower" } else { "higher" }));
        out.push((stem("pareto", &source, i), chart));
    }
    out
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| s / n as f64)
}

/// The points no other point dominates (at most the size and at least as
/// good, one of them strictly), ascending by size.
pub fn front(points: &[(f64, f64)], lower_is_better: bool) -> Vec<(f64, f64)> {
    let better = |a: f64, b: f64| if lower_is_better { a < b } else { a > b };
    let mut sorted: Vec<(f64, f64)> = points.iter().copied().filter(|p| p.0.is_finite() && p.1.is_finite()).collect();
    // By size, and at equal size the best first, so it alone can enter.
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0).then(if lower_is_better { a.1.total_cmp(&b.1) } else { b.1.total_cmp(&a.1) }));
    let mut out: Vec<(f64, f64)> = Vec::new();
    for p in sorted {
        if out.last().is_none_or(|q| better(p.1, q.1)) {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::front;

    #[test]
    fn the_front_keeps_what_nothing_beats() {
        let pts = [(4.5, 20.0), (4.25, 18.0), (4.0, 10.0), (4.25, 15.0), (6.0, 19.0), (8.0, 30.0), (4.5, 21.0)];
        assert_eq!(front(&pts, false), [(4.0, 10.0), (4.25, 18.0), (4.5, 21.0), (8.0, 30.0)]);
        let errs = [(4.0, 0.3), (4.5, 0.1), (5.0, 0.2), (6.0, 0.05)];
        assert_eq!(front(&errs, true), [(4.0, 0.3), (4.5, 0.1), (6.0, 0.05)]);
    }
}
