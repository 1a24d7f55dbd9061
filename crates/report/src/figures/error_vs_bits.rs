//! The metric against bit width, one line per format setting (and clamp
//! and granularity where they vary), one chart per data source; whiskers
//! show the 95% interval over seeds.

use quantlab_results::Row;

use super::stem;
use crate::chart::{Axis, Chart, Legend, Look, Mark};
use crate::data::{self, config_key, config_label, metric_label, seed_mean, varying, Results};

pub fn charts(results: &Results, metric: &str) -> Vec<(String, Chart)> {
    let mut out = Vec::new();
    for (i, source) in results.distinct("source").into_iter().enumerate() {
        let rows = data::rows_of_source(&results.rows, &source);
        let y = if data::log_scale(metric) { Axis::log(metric_label(metric)) } else { Axis::linear(metric_label(metric)) };
        let mut chart = Chart::new(format!("{} — {source}", results.title()), Axis::integers("bits per element code"), y);
        let shown = varying(&rows);
        let keys = data::config_keys(&rows);
        let mut max_seeds = 1;
        for (s, key) in keys.iter().enumerate() {
            let look = Look::series(s);
            let mine: Vec<&Row> = rows.iter().copied().filter(|r| &config_key(r) == key).collect();
            let mut points = Vec::new();
            for b in data::bit_widths(&mine) {
                let at: Vec<&Row> = mine.iter().copied().filter(|r| data::num(r, "bits") == Some(b as f64)).collect();
                if let Some((mean, ci, seeds)) = seed_mean(&at, metric) {
                    points.push((b as f64, mean));
                    max_seeds = max_seeds.max(seeds);
                    if seeds > 1 && ci.is_finite() && ci > 0.0 {
                        chart.marks.push(Mark::Segment { from: (b as f64, mean - ci), to: (b as f64, mean + ci), look: Look { width: 1, ..look } });
                    }
                }
            }
            chart.marks.push(Mark::Line { points, look });
            chart.legend.push(Legend { text: config_label(key, shown), look });
        }
        let tensors = data::distinct(rows.iter().copied(), "tensor");
        let over = match (rows.first().and_then(|r| data::num(r, "sentences")), tensors.first()) {
            (Some(n), Some(what)) => format!("{what}; one model evaluation over {n} sentences"),
            _ => format!("mean over {} tensor{}", tensors.len(), if tensors.len() == 1 { "" } else { "s" }),
        };
        chart.subtitle = Some(format!("{over}{}", if max_seeds > 1 { format!(" and {max_seeds} seeds; whiskers: 95% interval over seeds") } else { String::new() }));
        out.push((stem("error-vs-bits", &source, i), chart));
    }
    out
}
