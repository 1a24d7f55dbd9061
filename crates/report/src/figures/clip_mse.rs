//! MSE against the clip ratio alpha/b (Banner et al. 2019, Figure 2 style):
//! every row's MSE at its chosen clip over the tensor's Laplace scale
//! `b = mean|x - mean|` (a `spread(k)` sweep puts points at alpha/b = k),
//! beside Banner's closed form `2 b^2 exp(-alpha/b) + alpha^2 / (3 4^M)`
//! for `2^M` bins, and, for formats with a uniform grid, the same model with
//! the format's real step (`Delta^2 / 12`, an integer has `2^M - 1` levels,
//! not `2^M`). Stars mark the closed-form optima, crosses the best
//! simulated point of each width.

use quantlab_clamp::math::{golden_min, laplace_mse};
use quantlab_formats::{Format, Scale};
use quantlab_results::Row;

use super::stem;
use crate::chart::{Axis, Chart, Legend, Look, Mark, Marker};
use crate::data::{self, Results};

/// The rounding-noise term per unit alpha^2 of a format with a uniform grid
/// (`Delta^2 / 12` at alpha = 1), `None` when the grid is not uniform or
/// not listed.
pub fn step_noise(format: &dyn Format) -> Option<f64> {
    let grid = format.values(Scale::Max(1.0)).ok()?;
    if grid.len() < 2 {
        return None;
    }
    let gaps: Vec<f64> = grid.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    gaps.iter().all(|g| (g / mean - 1.0).abs() < 1e-3).then(|| mean * mean / 12.0)
}

fn superscript(n: u32) -> String {
    n.to_string().chars().map(|c| ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'][c.to_digit(10).unwrap_or(0) as usize]).collect()
}

pub fn charts(results: &Results) -> Result<Vec<(String, Chart)>, String> {
    let mut out = Vec::new();
    for (i, source) in results.distinct("source").into_iter().enumerate() {
        let rows: Vec<&Row> =
            data::rows_of_source(&results.rows, &source).into_iter().filter(|r| data::num(r, "clip_alpha").is_some_and(|a| a > 0.0) && data::num(r, "x_b").is_some_and(|b| b > 0.0)).collect();
        if rows.is_empty() {
            continue;
        }
        let b = rows.iter().filter_map(|r| data::num(r, "x_b")).sum::<f64>() / rows.len() as f64;
        let mut chart = Chart::new(format!("{} — {source}", results.title()), Axis::linear("clip ratio alpha / b  (b = mean |x - mean|)"), Axis::log("MSE (tensor units squared)"));
        let max_ratio = rows.iter().filter_map(|r| Some(data::num(r, "clip_alpha")? / data::num(r, "x_b")?)).fold(0f64, f64::max);
        let formats = data::distinct(rows.iter().copied(), "format");
        // One set of curves per format (two formats may share a width: a
        // symmetric M-bit integer and a 2^M-level quantizer), Banner's
        // closed form once per width.
        let mut keyed: Vec<(i64, String)> =
            formats.iter().filter_map(|f| Some((data::num(rows.iter().find(|r| data::text(r, "format").as_deref() == Some(f.as_str()))?, "bits")? as i64, f.clone()))).collect();
        keyed.sort();
        let mut banner_drawn = Vec::new();
        for (s, (m, fmt)) in keyed.iter().enumerate() {
            let look = Look::series(s);
            let mine: Vec<&Row> = rows.iter().copied().filter(|r| data::text(r, "format").as_deref() == Some(fmt.as_str())).collect();
            let label = mine.first().and_then(|r| data::text(r, "series")).unwrap_or_else(|| fmt.clone());
            let mut points: Vec<(f64, f64)> = mine.iter().filter_map(|r| Some((data::num(r, "clip_alpha")? / data::num(r, "x_b")?, data::num(r, "mse")?))).collect();
            points.sort_by(|a, c| a.0.total_cmp(&c.0));
            let m = *m as u32;
            let curve = |f: &dyn Fn(f64) -> f64| -> Vec<(f64, f64)> { (1..=300).map(|k| max_ratio * k as f64 / 300.0).map(|r| (r, f(r * b))).collect() };
            let banner = |alpha: f64| laplace_mse(alpha, b, m);
            if !banner_drawn.contains(&m) {
                banner_drawn.push(m);
                chart.marks.push(Mark::Line { points: curve(&banner), look: look.dashed().marker(Marker::None).width(1) });
                chart.legend.push(Legend { text: format!("{m} bits: Banner closed form (2{} bins)", superscript(m)), look: look.dashed().marker(Marker::None).width(1) });
            }
            let format = quantlab_formats::parse(fmt).ok();
            let stepped = format.as_deref().and_then(step_noise).map(|noise| move |alpha: f64| 2.0 * b * b * (-alpha / b).exp() + alpha * alpha * noise);
            let (opt, opt_mse) = match &stepped {
                Some(f) => {
                    chart.marks.push(Mark::Line { points: curve(f), look: look.marker(Marker::None).width(2) });
                    chart.legend.push(Legend { text: format!("{label} ({m}b): model, its step"), look: look.marker(Marker::None) });
                    golden_min(f, 1e-3 * b, 40.0 * b, 1e-9)
                }
                None => golden_min(banner, 1e-3 * b, 40.0 * b, 1e-9),
            };
            chart.marks.push(Mark::Points { points: points.clone(), look: look.marker(Marker::Circle) });
            chart.legend.push(Legend { text: format!("{label} ({m}b): simulated"), look: look.marker(Marker::Circle).width(0) });
            chart.marks.push(Mark::Points { points: vec![(opt / b, opt_mse)], look: look.marker(Marker::Star) });
            if let Some(best) = points.iter().copied().filter(|p| p.1.is_finite()).min_by(|a, c| a.1.total_cmp(&c.1)) {
                chart.marks.push(Mark::Points { points: vec![best], look: Look::grey().marker(Marker::Cross).width(2) });
            }
        }
        chart.legend.push(Legend { text: "optimum of the closed form".into(), look: Look::grey().marker(Marker::Star).width(0) });
        chart.legend.push(Legend { text: "best simulated clip".into(), look: Look::grey().marker(Marker::Cross).width(0) });
        chart.subtitle = Some(format!("b = {} (mean over draws); formats: {}", crate::tables::number(b), formats.join(", ")));
        out.push((stem("clip-mse", &source, i), chart));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn integer_step_noise_is_banners_with_2m_minus_2_steps() {
        for m in [2u32, 3, 4, 8] {
            let f = quantlab_formats::parse(&format!("int(bits={m})")).unwrap();
            let want = (2.0 / (2f64.powi(m as i32) - 2.0)).powi(2) / 12.0;
            let got = super::step_noise(&*f).unwrap();
            assert!((got / want - 1.0).abs() < 1e-6, "{m}: {got} vs {want}");
        }
        assert!(super::step_noise(&*quantlab_formats::parse("adaptivfloat(n=6,e=3)").unwrap()).is_none());
    }
}
