//! Box plots of per-tensor error over all tensors of a data source, grouped
//! by bit width, one box per format setting (AdaptivFloat DAC'20 Figure 4).
//! Each tensor (and, for synthetic data, each seed's draw) is one sample;
//! whiskers reach the extremes, the diamond is the mean.

use quantlab_results::Row;

use super::stem;
use crate::chart::{Axis, BoxStats, Chart, Legend, Look, Mark};
use crate::data::{self, config_key, config_label, metric_label, varying, Results};

pub fn charts(results: &Results, metric: &str) -> Vec<(String, Chart)> {
    let mut out = Vec::new();
    for (i, source) in results.distinct("source").into_iter().enumerate() {
        let rows = data::rows_of_source(&results.rows, &source);
        let bits = data::bit_widths(&rows);
        let shown = varying(&rows);
        let keys = data::config_keys(&rows);
        let y = if data::log_scale(metric) { Axis::log(metric_label(metric)) } else { Axis::linear(metric_label(metric)) };
        let x = Axis::categories("bits", bits.iter().map(|b| format!("{b} bits")).collect());
        let mut chart = Chart::new(format!("{} — {source}", results.title()), x, y);
        let width = 0.8 / keys.len().max(1) as f64;
        let mut samples = 0;
        for (s, key) in keys.iter().enumerate() {
            let look = Look::series(s);
            for (bi, &b) in bits.iter().enumerate() {
                let values: Vec<f64> = rows.iter().copied().filter(|r: &&Row| &config_key(r) == key && data::num(r, "bits") == Some(b as f64)).filter_map(|r| data::num(r, metric)).collect();
                samples = samples.max(values.len());
                if let Some(stats) = BoxStats::of(&values) {
                    let x = bi as f64 - 0.4 + width * (s as f64 + 0.5);
                    chart.marks.push(Mark::Box { x, width: width * 0.8, stats, look });
                }
            }
            chart.legend.push(Legend { text: config_label(key, shown), look: Look { marker: crate::chart::Marker::Square, ..look } });
        }
        chart.subtitle = Some(format!("{samples} tensors per box; box: quartiles, line: median, diamond: mean, whiskers: min and max"));
        out.push((stem("box", &source, i), chart));
    }
    out
}
