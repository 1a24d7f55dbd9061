//! A results folder as the reports see it: the manifest, the configuration
//! it was run with (re-read from the manifest, so a folder stands alone), and
//! the rows of `results.parquet`. Also the vocabulary shared by tables,
//! figures and claims: which columns name a configuration, which way a
//! metric is better, and how a TOML filter matches a row.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use quantlab_results::metric::{self, Sweep};
use quantlab_results::{store, Row, SweepSummary, Value};

use crate::settings::Settings;

/// Everything a report is drawn from.
pub struct Results {
    pub dir: PathBuf,
    pub manifest: serde_json::Value,
    /// The configuration text as given to `quantlab run`.
    pub config_text: String,
    /// The report's sections of the configuration.
    pub settings: Settings,
    /// What the sweep was, from the manifest.
    pub sweep: SweepSummary,
    /// The rows of `results.parquet`.
    pub rows: Vec<Row>,
}

impl Results {
    /// Read a results folder written by `quantlab run` or `quantlab merge`.
    pub fn load(dir: &Path) -> Result<Results, String> {
        let manifest_path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&manifest_path).map_err(|e| format!("{}: {e}; is {} a folder written by `quantlab run`?", manifest_path.display(), dir.display()))?;
        let manifest: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{}: not valid JSON: {e}", manifest_path.display()))?;
        let config_text = manifest.get("config").and_then(|c| c.as_str()).ok_or_else(|| format!("{}: has no `config` entry", manifest_path.display()))?.to_string();
        let origin = manifest.get("config_file").and_then(|c| c.as_str()).unwrap_or("config");
        let settings = Settings::parse(&config_text, &format!("{} (as saved in {})", origin, manifest_path.display())).map_err(|e| e.to_string())?;
        let sweep = SweepSummary::of_manifest(&manifest, &manifest_path.display().to_string())?;
        let table = dir.join("results.parquet");
        if !table.exists() {
            return Err(format!("{}: missing; the run did not finish writing its tables (run `quantlab run` again to complete it)", table.display()));
        }
        store::check_tables(dir, &manifest)?;
        let mut rows = store::read_rows(&table)?;
        if let Some(group) = &settings.report.group {
            for r in &mut rows {
                for (name, v) in &mut r.0 {
                    if name == "source" {
                        *v = Value::Str(group.clone());
                    }
                }
            }
        }
        Ok(Results { dir: dir.to_path_buf(), manifest, config_text, settings, sweep, rows })
    }

    pub fn title(&self) -> String {
        self.settings.report.title.clone().unwrap_or_else(|| self.settings.name.clone())
    }

    /// The report's metric: `[report] metric`, else `cos_mean` for a
    /// model sweep and `rmse` for a tensor sweep.
    pub fn metric(&self) -> &str {
        self.settings.report.metric.as_deref().unwrap_or(if self.sweep.model.is_some() { "cos_mean" } else { "rmse" })
    }

    /// The metrics tabulated: the report's metric, then, for a model sweep,
    /// the other model metrics its rows carry.
    pub fn table_metrics(&self) -> Vec<String> {
        let mut out = vec![self.metric().to_string()];
        if self.sweep.model.is_some() {
            for m in metric::of_sweep(Sweep::Model).map(|m| m.name) {
                if !out.iter().any(|o| o == m) && self.rows.iter().any(|r| r.get(m).is_some()) {
                    out.push(m.to_string());
                }
            }
        }
        out
    }

    /// Distinct values of a column in first-seen order.
    pub fn distinct(&self, column: &str) -> Vec<String> {
        distinct(self.rows.iter(), column)
    }
}

pub fn distinct<'a>(rows: impl Iterator<Item = &'a Row>, column: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in rows {
        if let Some(v) = text(r, column) {
            if !out.contains(&v) {
                out.push(v);
            }
        }
    }
    out
}

/// The rows of one data source.
pub fn rows_of_source<'a>(rows: &'a [Row], source: &str) -> Vec<&'a Row> {
    rows.iter().filter(|r| text(r, "source").as_deref() == Some(source)).collect()
}

/// The bit widths present, ascending.
pub fn bit_widths(rows: &[&Row]) -> Vec<i64> {
    let mut bits: Vec<i64> = rows.iter().filter_map(|r| num(r, "bits")).map(|b| b as i64).collect();
    bits.sort_unstable();
    bits.dedup();
    bits
}

/// The configuration keys present, in first-seen order.
pub fn config_keys(rows: &[&Row]) -> Vec<[String; 3]> {
    let mut keys: Vec<[String; 3]> = Vec::new();
    for r in rows {
        let k = config_key(r);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys
}

/// The best of `items` by `value` (lowest or highest), NaN skipped, the
/// first of equals kept.
pub fn best_by<T>(items: impl IntoIterator<Item = T>, value: impl Fn(&T) -> f64, lower: bool) -> Option<T> {
    let mut best: Option<(T, f64)> = None;
    for item in items {
        let v = value(&item);
        if v.is_nan() {
            continue;
        }
        let better = match &best {
            None => true,
            Some((_, b)) => {
                if lower {
                    v < *b
                } else {
                    v > *b
                }
            }
        };
        if better {
            best = Some((item, v));
        }
    }
    best.map(|(item, _)| item)
}

/// A column as text (integers plainly, floats in shortest form).
pub fn text(row: &Row, column: &str) -> Option<String> {
    row.get(column).map(|v| match v {
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Str(s) => s.clone(),
    })
}

/// A numeric column.
pub fn num(row: &Row, column: &str) -> Option<f64> {
    match row.get(column)? {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Str(s) => s.parse().ok(),
    }
}

/// Whether smaller values of a metric are better (a column that is not a
/// metric counts as an error: smaller).
pub fn lower_is_better(name: &str) -> bool {
    metric::metric(name).is_none_or(|m| !m.higher_is_better)
}

/// A metric's axis label, with its unit (another column: its name).
pub fn metric_label(name: &str) -> String {
    metric::metric(name).map_or_else(|| name.to_string(), |m| m.axis_label())
}

/// Metrics spanning decades are drawn on log axes.
pub fn log_scale(name: &str) -> bool {
    metric::metric(name).is_some_and(|m| m.log_axis)
}

/// Whether a metric is one a model sweep writes.
pub fn is_model_metric(name: &str) -> bool {
    metric::metric(name).is_some_and(|m| m.sweep == Sweep::Model)
}

/// The columns that tell configurations apart within one data group and
/// bit width: the format's series, the clamping strategy, the granularity.
pub const CONFIG_COLUMNS: [&str; 3] = ["series", "clamp", "granularity"];

/// Configuration key of a row.
pub fn config_key(row: &Row) -> [String; 3] {
    CONFIG_COLUMNS.map(|c| text(row, c).unwrap_or_default())
}

/// The parts of configuration keys that vary across `rows`: a label shows
/// only those (the series always).
pub fn varying(rows: &[&Row]) -> [bool; 3] {
    let mut out = [true, false, false];
    for (i, c) in CONFIG_COLUMNS.iter().enumerate().skip(1) {
        out[i] = distinct(rows.iter().copied(), c).len() > 1;
    }
    out
}

pub fn config_label(key: &[String; 3], show: [bool; 3]) -> String {
    key.iter().zip(show).filter(|(_, s)| *s).map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", ")
}

/// Mean of `metric` over the given rows grouped by seed (tensors averaged
/// within a seed), then mean and 95% interval over seeds, and the seed count.
pub fn seed_mean(rows: &[&Row], metric: &str) -> Option<(f64, f64, usize)> {
    let mut by_seed: BTreeMap<i64, (f64, usize)> = BTreeMap::new();
    for r in rows {
        let Some(v) = num(r, metric) else { continue };
        let seed = num(r, "seed").unwrap_or(0.0) as i64;
        let e = by_seed.entry(seed).or_insert((0.0, 0));
        e.0 += v;
        e.1 += 1;
    }
    if by_seed.is_empty() {
        return None;
    }
    let means: Vec<f64> = by_seed.values().map(|(s, n)| s / *n as f64).collect();
    let (mean, ci) = quantlab_results::mean_ci95(&means);
    Some((mean, ci, means.len()))
}

/// Whether a row passes a TOML filter: every key names a column; a string
/// matches the column's text exactly or its family (the text before `(`),
/// so `clamp = "spread"` matches `spread(k=2)`; a number matches
/// numerically; a list matches any of its items.
pub fn matches(row: &Row, filter: &toml::Table) -> bool {
    filter.iter().all(|(k, want)| match_value(row, k, want))
}

fn match_value(row: &Row, column: &str, want: &toml::Value) -> bool {
    match want {
        toml::Value::Array(items) => items.iter().any(|w| match_value(row, column, w)),
        toml::Value::String(s) => text(row, column).is_some_and(|t| t == *s || t.split('(').next() == Some(s.as_str())),
        toml::Value::Integer(i) => num(row, column) == Some(*i as f64),
        toml::Value::Float(f) => num(row, column) == Some(*f),
        toml::Value::Boolean(b) => text(row, column).as_deref() == Some(if *b { "true" } else { "false" }),
        _ => false,
    }
}

/// Human text of a filter, for messages.
pub fn describe_filter(filter: &toml::Table) -> String {
    filter.iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, Value)]) -> Row {
        let mut r = Row::default();
        for (k, v) in pairs {
            r.push(k, v.clone());
        }
        r
    }

    #[test]
    fn filters_match_families_numbers_and_lists() {
        let r = row(&[("clamp", Value::Str("spread(k=2)".into())), ("bits", Value::Int(4)), ("series", Value::Str("int".into()))]);
        let f = |t: &str| -> toml::Table { toml::from_str(t).unwrap() };
        assert!(matches(&r, &f("clamp = \"spread\"")));
        assert!(matches(&r, &f("clamp = \"spread(k=2)\"")));
        assert!(!matches(&r, &f("clamp = \"spread(k=3)\"")));
        assert!(matches(&r, &f("bits = [2, 4]")));
        assert!(!matches(&r, &f("bits = 8")));
        assert!(matches(&r, &f("series = \"int\"\nbits = 4")));
        assert!(!matches(&r, &f("missing = 1")));
    }

    #[test]
    fn seed_means_average_tensors_first() {
        let r = |seed: i64, v: f64| row(&[("seed", Value::Int(seed)), ("rmse", Value::Float(v))]);
        let rows = [r(0, 1.0), r(0, 3.0), r(1, 4.0)];
        let refs: Vec<&Row> = rows.iter().collect();
        let (mean, ci, n) = seed_mean(&refs, "rmse").unwrap();
        // seed 0: mean 2, seed 1: 4; over seeds: 3 +- t(0.975, 1) * sqrt(2/2)
        assert_eq!((mean, n), (3.0, 2));
        assert!((ci - 12.706204736).abs() < 1e-6, "{ci}");
    }
}
