//! The metric against one format parameter at a fixed width (Kuzmin et al.
//! 2022 style: SQNR against exponent bits at 8 bits), one line per data
//! source, with a baseline series (say `int`) drawn as a dashed horizontal
//! line of the same colour. One chart per bit width.

use quantlab_runner::store::Row;

use super::stem;
use crate::chart::{Axis, Chart, Legend, Look, Mark};
use crate::data::{self, metric_label, seed_mean, Results};

pub fn charts(results: &Results, metric: &str) -> Result<Vec<(String, Chart)>, String> {
    let report = &results.plan.report;
    let param = report.x_param.as_deref().ok_or("metric-vs-param needs `x_param` in [report], e.g. x_param = \"e\"")?;
    let column = format!("p_{param}");
    let with_param: Vec<&Row> = results.rows.iter().filter(|r| data::num(r, &column).is_some()).collect();
    if with_param.is_empty() {
        return Err(format!("no result has a format parameter `{param}`"));
    }
    let bits = data::bit_widths(&with_param);
    let y_axis = || if data::log_scale(metric) { Axis::log(metric_label(metric)) } else { Axis::linear(metric_label(metric)) };
    let sources = results.distinct("source");
    let mut out = Vec::new();
    for (i, &b) in bits.iter().enumerate() {
        let at_bits = |r: &&Row| data::num(r, "bits") == Some(b as f64);
        let mut chart = Chart::new(format!("{} — {b} bits", results.title()), Axis::integers(format!("format parameter `{param}`")), y_axis());
        for (s, source) in sources.iter().enumerate() {
            let look = Look::series(s);
            let of_source = |r: &&Row| data::text(r, "source").as_deref() == Some(source.as_str());
            let mine: Vec<&Row> = with_param.iter().copied().filter(at_bits).filter(of_source).collect();
            let mut xs: Vec<f64> = mine.iter().filter_map(|r| data::num(r, &column)).collect();
            xs.sort_by(f64::total_cmp);
            xs.dedup();
            let points: Vec<(f64, f64)> = xs
                .iter()
                .filter_map(|&x| {
                    let at: Vec<&Row> = mine.iter().copied().filter(|r| data::num(r, &column) == Some(x)).collect();
                    seed_mean(&at, metric).map(|(m, _, _)| (x, m))
                })
                .collect();
            if points.is_empty() {
                continue;
            }
            chart.marks.push(Mark::Line { points, look });
            chart.legend.push(Legend { text: source.clone(), look });
            if let Some(base) = &report.baseline {
                let rows: Vec<&Row> = results.rows.iter().filter(at_bits).filter(of_source).filter(|r| data::text(r, "series").as_deref() == Some(base.as_str())).collect();
                if let Some((m, _, _)) = seed_mean(&rows, metric) {
                    let dashed = look.dashed().marker(crate::chart::Marker::None);
                    chart.marks.push(Mark::HLine { y: m, look: dashed });
                    chart.legend.push(Legend { text: format!("{source}: {base}"), look: dashed });
                }
            }
        }
        chart.subtitle = Some(match &report.baseline {
            Some(base) => format!("solid: formats with parameter `{param}`; dashed: `{base}` at {b} bits"),
            None => format!("formats with parameter `{param}` at {b} bits"),
        });
        out.push((stem("metric-vs-param", &format!("{param}-{b}bits"), i), chart));
    }
    Ok(out)
}
