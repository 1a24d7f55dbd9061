//! Comparison tables: per data group (the results' `source`), one row per
//! format setting (series, and clamp and granularity where they vary), one
//! column per bit width; each cell the mean metric over tensors and seeds
//! with its 95% interval over seeds, the best cell of each column marked.
//! One table per metric (a model sweep tabulates each model metric).
//! Written as Markdown (`tables.md`) and CSV (`tables.csv`, long form: one
//! row per metric, source, configuration and bit width).

use std::path::{Path, PathBuf};

use polars::prelude::*;
use quantlab_results::Row;

use crate::data::{self, config_key, config_label, lower_is_better, seed_mean, varying, Results};

/// One cell: mean, 95% interval (NaN with one seed), seeds, best of its column.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cell {
    pub mean: f64,
    pub ci95: f64,
    pub seeds: usize,
    pub best: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TableRow {
    pub key: [String; 3],
    pub label: String,
    pub cells: Vec<Option<Cell>>,
}

/// The comparison table of one data group.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub source: String,
    pub metric: String,
    pub bits: Vec<i64>,
    pub rows: Vec<TableRow>,
    /// Which of series / clamp / granularity the labels show.
    pub shown: [bool; 3],
}

/// The tables of a results folder: one per metric and data source.
pub fn build(results: &Results, metrics: &[String]) -> Vec<Table> {
    let sources = results.distinct("source");
    metrics.iter().flat_map(|m| sources.iter().map(move |source| table_of(&results.rows, source, m))).collect()
}

pub fn table_of(all: &[Row], source: &str, metric: &str) -> Table {
    let rows = data::rows_of_source(all, source);
    let bits = data::bit_widths(&rows);
    let shown = varying(&rows);
    let mut out: Vec<TableRow> = data::config_keys(&rows)
        .into_iter()
        .map(|key| {
            let cells = bits
                .iter()
                .map(|&b| {
                    let members: Vec<&Row> = rows.iter().copied().filter(|r| config_key(r) == key && data::num(r, "bits") == Some(b as f64)).collect();
                    seed_mean(&members, metric).map(|(mean, ci95, seeds)| Cell { mean, ci95, seeds, best: false })
                })
                .collect();
            TableRow { label: config_label(&key, shown), key, cells }
        })
        .collect();
    let lower = lower_is_better(metric);
    for col in 0..bits.len() {
        if let Some(best) = data::best_by(out.iter().filter_map(|r| r.cells[col].map(|c| c.mean)), |m| *m, lower) {
            for r in &mut out {
                if let Some(c) = &mut r.cells[col] {
                    c.best = c.mean == best;
                }
            }
        }
    }
    Table { source: source.to_string(), metric: metric.to_string(), bits, rows: out, shown }
}

/// `v` with `digits` significant digits: fixed-point from 1e-3 to 1e5,
/// scientific outside.
pub fn significant(v: f64, digits: i32) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return "0".into();
    }
    let mag = v.abs().log10().floor() as i32;
    if !(-3..5).contains(&mag) {
        return format!("{v:.*e}", (digits - 1) as usize);
    }
    format!("{:.*}", (digits - 1 - mag).max(0) as usize, v)
}

/// Four significant digits: a table cell.
pub fn number(v: f64) -> String {
    significant(v, 4)
}

/// An interval's half-width: two significant digits are all it carries.
pub fn interval(v: f64) -> String {
    significant(v, 2)
}

fn cell_text(c: &Option<Cell>) -> String {
    match c {
        None => "".into(),
        Some(c) => {
            let mut s = number(c.mean);
            if c.seeds > 1 && c.ci95.is_finite() {
                s += &format!(" ± {}", interval(c.ci95));
            }
            if c.best {
                format!("**{s}**")
            } else {
                s
            }
        }
    }
}

/// The Markdown of one table (a heading, the table, a line on reading it).
pub fn markdown(t: &Table) -> String {
    let names = ["format", "clamp", "granularity"];
    let heads: Vec<&str> = names.iter().zip(t.shown).filter(|(_, s)| *s).map(|(n, _)| *n).collect();
    let mut s = format!("### {} — {}\n\n", t.source, data::metric_label(&t.metric));
    s += &format!("| {} | {} |\n", heads.join(" | "), t.bits.iter().map(|b| format!("{b} bits")).collect::<Vec<_>>().join(" | "));
    s += &format!("|{}|{}|\n", heads.iter().map(|_| "---").collect::<Vec<_>>().join("|"), t.bits.iter().map(|_| "---:").collect::<Vec<_>>().join("|"));
    for r in &t.rows {
        let labels: Vec<String> = r.key.iter().zip(t.shown).filter(|(_, s)| *s).map(|(k, _)| format!("`{k}`")).collect();
        s += &format!("| {} | {} |\n", labels.join(" | "), r.cells.iter().map(cell_text).collect::<Vec<_>>().join(" | "));
    }
    let seeds = t.rows.iter().flat_map(|r| r.cells.iter().flatten()).map(|c| c.seeds).max().unwrap_or(1);
    let better = if lower_is_better(&t.metric) { "lowest" } else { "highest" };
    let over = if data::is_model_metric(&t.metric) { "One model evaluation over the corpus per cell" } else { "Mean over tensors" };
    s += &format!("\n{over}{}; **bold**: the {better} of each column.\n", if seeds > 1 { format!(" and {seeds} seeds, ± the 95% Student-t interval over seeds") } else { String::new() });
    s
}

/// Write `tables.md` and `tables.csv` into `dir`.
pub fn write(tables: &[Table], dir: &Path) -> Result<Vec<PathBuf>, String> {
    let md_path = dir.join("tables.md");
    let mut md = String::new();
    for t in tables {
        md += &markdown(t);
        md += "\n";
    }
    std::fs::write(&md_path, md).map_err(|e| format!("{}: {e}", md_path.display()))?;
    let (mut metric, mut source, mut series, mut clamp, mut gran, mut bits, mut mean, mut ci, mut seeds, mut best) = (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for t in tables {
        for r in &t.rows {
            for (b, c) in t.bits.iter().zip(&r.cells) {
                let Some(c) = c else { continue };
                metric.push(t.metric.clone());
                source.push(t.source.clone());
                series.push(r.key[0].clone());
                clamp.push(r.key[1].clone());
                gran.push(r.key[2].clone());
                bits.push(*b);
                mean.push(c.mean);
                ci.push(c.ci95);
                seeds.push(c.seeds as i64);
                best.push(c.best);
            }
        }
    }
    let n = source.len();
    let mut df = DataFrame::new(
        n,
        vec![
            Column::new("metric".into(), metric),
            Column::new("source".into(), source),
            Column::new("series".into(), series),
            Column::new("clamp".into(), clamp),
            Column::new("granularity".into(), gran),
            Column::new("bits".into(), bits),
            Column::new("mean".into(), mean),
            Column::new("ci95".into(), ci),
            Column::new("seeds".into(), seeds),
            Column::new("best".into(), best),
        ],
    )
    .map_err(|e| e.to_string())?;
    let csv_path = dir.join("tables.csv");
    let file = std::fs::File::create(&csv_path).map_err(|e| format!("{}: {e}", csv_path.display()))?;
    CsvWriter::new(file).finish(&mut df).map_err(|e| format!("{}: {e}", csv_path.display()))?;
    Ok(vec![md_path, csv_path])
}

#[cfg(test)]
mod tests {
    use super::*;
    use quantlab_results::Value;

    fn row(series: &str, bits: i64, seed: i64, rmse: f64) -> Row {
        let mut r = Row::default();
        r.push("source", Value::Str("normal".into()));
        r.push("series", Value::Str(series.into()));
        r.push("clamp", Value::Str("none".into()));
        r.push("granularity", Value::Str("tensor".into()));
        r.push("bits", Value::Int(bits));
        r.push("seed", Value::Int(seed));
        r.push("rmse", Value::Float(rmse));
        r
    }

    #[test]
    fn table_matches_hand_computed_means_and_marks_the_best() {
        let rows = vec![row("int", 4, 0, 0.30), row("int", 4, 1, 0.50), row("af", 4, 0, 0.20), row("af", 4, 1, 0.40), row("int", 8, 0, 0.01), row("af", 8, 0, 0.02)];
        let t = table_of(&rows, "normal", "rmse");
        assert_eq!(t.bits, vec![4, 8]);
        assert_eq!(t.rows.iter().map(|r| r.label.as_str()).collect::<Vec<_>>(), ["int", "af"]);
        let int4 = t.rows[0].cells[0].unwrap();
        assert!((int4.mean - 0.40).abs() < 1e-12 && int4.seeds == 2 && !int4.best);
        // ci = t(0.975, 1) * s / sqrt(2), s = sqrt(0.02) -> 12.7062 * 0.1
        assert!((int4.ci95 - 1.27062047).abs() < 1e-6, "{}", int4.ci95);
        assert!(t.rows[1].cells[0].unwrap().best);
        assert!(t.rows[0].cells[1].unwrap().best && !t.rows[1].cells[1].unwrap().best);
        let md = markdown(&t);
        assert!(md.contains("| `int` | 0.4000 ± 1.3 | **0.01000** |"), "{md}");
        assert!(md.contains("| `af` | **0.3000 ± 1.3** | 0.02000 |"), "{md}");
    }

    #[test]
    fn higher_is_better_for_sqnr() {
        let mut rows = vec![row("int", 8, 0, 0.0), row("af", 8, 0, 0.0)];
        rows[0].push("sqnr_db", Value::Float(40.0));
        rows[1].push("sqnr_db", Value::Float(30.0));
        let t = table_of(&rows, "normal", "sqnr_db");
        assert!(t.rows[0].cells[0].unwrap().best && !t.rows[1].cells[0].unwrap().best);
    }

    #[test]
    fn numbers_keep_four_digits() {
        assert_eq!(number(0.0123456), "0.01235");
        assert_eq!(number(12.3456), "12.35");
        assert_eq!(number(123456.0), "1.235e5");
        assert_eq!(number(f64::INFINITY), "inf");
        assert_eq!(interval(0.001357), "0.0014");
        assert_eq!(interval(4.775e-4), "4.8e-4");
    }
}
