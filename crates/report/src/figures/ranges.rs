//! The value range of every tensor (AdaptivFloat DAC'20 Figure 1): one bar
//! from min to max per tensor, a thicker bar over ±1 standard deviation, one
//! chart per data source. The spread of ranges across tensors is what an
//! adaptive exponent bias answers.

use super::stem;
use crate::chart::{Axis, Chart, Legend, Look, Mark, Marker};
use crate::data::{self, Results};

pub fn charts(results: &Results) -> Vec<(String, Chart)> {
    let mut out = Vec::new();
    for (i, source) in results.distinct("source").into_iter().enumerate() {
        let rows = data::rows_of_source(&results.rows, &source);
        // One entry per (tensor, seed) draw: its name and statistics.
        let mut seen: Vec<(String, f64, f64, f64)> = Vec::new();
        let several_seeds = data::distinct(rows.iter().copied(), "seed").len() > 1;
        for r in &rows {
            let (Some(name), Some(lo), Some(hi), Some(sd)) = (data::text(r, "tensor"), data::num(r, "x_min"), data::num(r, "x_max"), data::num(r, "x_std")) else { continue };
            let label = if several_seeds { format!("{name} (seed {})", data::text(r, "seed").unwrap_or_default()) } else { name };
            if !seen.iter().any(|s| s.0 == label) {
                seen.push((label, lo, hi, sd));
            }
        }
        if seen.is_empty() {
            continue;
        }
        // The first tensor on top, as a reader scans a list.
        seen.reverse();
        let names: Vec<String> = seen.iter().map(|s| s.0.clone()).collect();
        let mut chart = Chart::new(format!("{} — value range per tensor", results.title()), Axis::linear("value (tensor units)"), Axis::categories("", names));
        chart.size = (1100, (150 + 20 * seen.len() as u32).max(420));
        let bar = Look::series(0).marker(Marker::None);
        let std_look = Look::series(1).marker(Marker::None).width(6);
        for (k, (_, lo, hi, sd)) in seen.iter().enumerate() {
            let y = k as f64;
            chart.marks.push(Mark::Segment { from: (*lo, y), to: (*hi, y), look: bar });
            chart.marks.push(Mark::Points { points: vec![(*lo, y), (*hi, y)], look: bar.marker(Marker::Diamond) });
            chart.marks.push(Mark::Segment { from: (-sd, y), to: (*sd, y), look: std_look });
        }
        chart.marks.push(Mark::VLine { x: 0.0, look: Look::grey() });
        chart.legend = vec![Legend { text: "min to max".into(), look: bar.marker(Marker::Diamond) }, Legend { text: "±1 standard deviation".into(), look: std_look }];
        let amax: Vec<f64> = seen.iter().map(|s| s.1.abs().max(s.2.abs())).collect();
        let (smallest, largest) = amax.iter().fold((f64::INFINITY, 0f64), |(a, b), &v| (a.min(v), b.max(v)));
        chart.subtitle = Some(format!("{source}: max|x| from {} to {} across {} tensors", crate::tables::number(smallest), crate::tables::number(largest), seen.len()));
        out.push((stem("range", &source, i), chart));
    }
    out
}
