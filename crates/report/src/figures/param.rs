//! The metric against one format parameter at a fixed width (Kuzmin et al.
//! 2022 style: SQNR against exponent bits at 8 bits), one line per data
//! source, with a baseline series (say `int`) drawn as a dashed horizontal
//! line of the same colour. One chart per bit width.

use quantlab_results::Row;

use super::stem;
use crate::chart::{Axis, Chart, Legend, Look, Mark};
use crate::data::{self, metric_label, seed_mean, Results};

pub fn charts(results: &Results, metric: &str) -> Result<Vec<(String, Chart)>, String> {
    let report = &results.settings.report;
    let param = report.x_param.as_deref().ok_or("metric-vs-param needs `x_param` in [report], e.g. x_param = \"e\"")?;
    let with_param: Vec<&Row> = results.rows.iter().filter(|r| param_of(r, param).is_some()).collect();
    if with_param.is_empty() {
        return Err(format!("no result has a format parameter `{param}`"));
    }
    let bits = data::bit_widths(&with_param);
    let y_axis = || if data::log_scale(metric) { Axis::log(metric_label(metric)) } else { Axis::linear(metric_label(metric)) };
    let sources = results.distinct("source");
    // One line per source and format family (AdaptivFloat's own `e`, and
    // an element's `e` inside a scaled format, are two lines); the family
    // lines of one source share its colour and differ in marker.
    let families = data::distinct(with_param.iter().copied(), "family");
    let mut out = Vec::new();
    for (i, &b) in bits.iter().enumerate() {
        let at_bits = |r: &&Row| data::num(r, "bits") == Some(b as f64);
        let mut chart = Chart::new(format!("{} — {b} bits", results.title()), Axis::integers(format!("format parameter `{param}`")), y_axis());
        for (s, source) in sources.iter().enumerate() {
            let of_source = |r: &&Row| data::text(r, "source").as_deref() == Some(source.as_str());
            for (f, family) in families.iter().enumerate() {
                let look = Look::series(s).marker(crate::chart::Marker::CYCLE[f % crate::chart::Marker::CYCLE.len()]);
                let mine: Vec<&Row> = with_param.iter().copied().filter(at_bits).filter(of_source).filter(|r| data::text(r, "family").as_deref() == Some(family.as_str())).collect();
                let mut xs: Vec<f64> = mine.iter().filter_map(|r| param_of(r, param)).collect();
                xs.sort_by(f64::total_cmp);
                xs.dedup();
                let points: Vec<(f64, f64)> = xs
                    .iter()
                    .filter_map(|&x| {
                        let at: Vec<&Row> = mine.iter().copied().filter(|r| param_of(r, param) == Some(x)).collect();
                        seed_mean(&at, metric).map(|(m, _, _)| (x, m))
                    })
                    .collect();
                if points.is_empty() {
                    continue;
                }
                chart.marks.push(Mark::Line { points, look });
                let text = if families.len() > 1 { format!("{source}: {}", group_name(&mine)) } else { source.clone() };
                chart.legend.push(Legend { text, look });
            }
            if let Some(base) = &report.baseline {
                let look = Look::series(s);
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

/// A row's value of format parameter `param`: its own column `p_<param>`,
/// or, for a format built around another (a scaled format's element
/// `minifloat(e=2,m=5)`), `param=N` inside one of its parameters.
fn param_of(r: &Row, param: &str) -> Option<f64> {
    if let Some(v) = data::num(r, &format!("p_{param}")) {
        return Some(v);
    }
    let format = data::text(r, "format")?;
    let inner = &format[format.find('(')? + 1..];
    let key = format!("{param}=");
    inner.match_indices(&key).find(|(at, _)| *at > 0 && matches!(inner.as_bytes()[at - 1], b'(' | b',')).and_then(|(at, _)| {
        let rest = &inner[at + key.len()..];
        rest[..rest.find([',', ')']).unwrap_or(rest.len())].parse().ok()
    })
}

/// A name for a line of rows: their series labels' common beginning, cut
/// back to a whole word ("FP8 E2M5", "FP8 E3M4" -> "FP8";
/// "adaptivfloat(e=2)", ... -> "adaptivfloat").
fn group_name(rows: &[&Row]) -> String {
    let labels: Vec<String> = rows.iter().filter_map(|r| data::text(r, "series")).collect();
    let Some(first) = labels.first() else { return String::new() };
    let mut common = first.len();
    for l in &labels[1..] {
        common = common.min(first.bytes().zip(l.bytes()).take_while(|(a, b)| a == b).count());
    }
    let prefix = &first[..common];
    let cut = if labels.len() > 1 { prefix.rfind([' ', '(']).unwrap_or(prefix.len()) } else { prefix.len() };
    prefix[..cut].trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use quantlab_results::Value;

    fn row(pairs: &[(&str, &str)]) -> Row {
        let mut r = Row::default();
        for (k, v) in pairs {
            r.push(k, Value::Str(v.to_string()));
        }
        r
    }

    #[test]
    fn a_parameter_is_found_in_its_column_or_inside_an_element() {
        assert_eq!(param_of(&row(&[("p_e", "3"), ("format", "adaptivfloat(n=8,e=3)")]), "e"), Some(3.0));
        let fp8 = row(&[("format", "scaled(elem=minifloat(e=2,m=5,specials=none),scale=f32)")]);
        assert_eq!(param_of(&fp8, "e"), Some(2.0));
        assert_eq!(param_of(&fp8, "m"), Some(5.0));
        assert_eq!(param_of(&row(&[("format", "int(bits=8)")]), "e"), None);
    }

    #[test]
    fn a_line_is_named_by_its_labels_common_word() {
        let rows = [row(&[("series", "FP8 E2M5")]), row(&[("series", "FP8 E3M4")])];
        assert_eq!(group_name(&rows.iter().collect::<Vec<_>>()), "FP8");
        let rows = [row(&[("series", "adaptivfloat(e=2)")]), row(&[("series", "adaptivfloat(e=3)")])];
        assert_eq!(group_name(&rows.iter().collect::<Vec<_>>()), "adaptivfloat");
    }
}
