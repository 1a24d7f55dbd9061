//! The report's part of a configuration: `[report]` (what `quantlab plot`
//! draws and tabulates) and `[[claim]]` (what `quantlab check` tests), with
//! the `name` and the `[[data]]` entries a histogram reads again. The
//! runner ignores these sections; `quantlab run` validates them here before
//! a sweep starts, so a misspelt figure is reported at once, with its line.

use serde::Deserialize;
use toml::Spanned;

use quantlab_spec::config::{ConfigError, ConfigText};
use quantlab_tensors::DataEntry;

/// What a report reads from a configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The experiment's name.
    pub name: String,
    /// `[report]`, or its defaults.
    pub report: ReportConfig,
    /// The `[[claim]]` sections, in order.
    pub claims: Vec<ClaimConfig>,
    /// The `[[data]]` entries (validated by the runner).
    pub data: Vec<DataEntry>,
}

#[derive(Deserialize)]
struct RawSettings {
    name: String,
    #[serde(default)]
    report: Option<Spanned<ReportConfig>>,
    #[serde(default)]
    claim: Vec<Spanned<ClaimConfig>>,
    #[serde(default)]
    data: Vec<DataEntry>,
}

impl Settings {
    /// [`Settings::parse`] as a check of configuration text, for
    /// `quantlab_runner::RunOptions::check_sections`.
    pub fn check(text: &str, file: &str) -> Result<(), String> {
        Settings::parse(text, file).map(drop).map_err(|e| e.to_string())
    }

    /// Read and validate the report's sections of configuration text
    /// (`file` names it in errors); other sections are the runner's.
    pub fn parse(text: &str, file: &str) -> Result<Settings, ConfigError> {
        let ctx = ConfigText { file, text };
        let raw: RawSettings = ctx.parse()?;
        let report = raw.report.as_ref().map(|r| r.get_ref().clone()).unwrap_or_default();
        if let (Some(r), Some(m)) = (&raw.report, &report.metric) {
            quantlab_results::metric::lookup(m).map_err(|e| ctx.at(r.span(), e))?;
        }
        if let (Some(r), Some(h)) = (&raw.report, &report.histogram) {
            quantlab_formats::parse(&h.format).map_err(|e| ctx.at(r.span(), format!("[report.histogram] format: {e}")))?;
            if let Some(c) = &h.clamp {
                quantlab_clamp::parse(c).map_err(|e| ctx.at(r.span(), format!("[report.histogram] clamp: {e}")))?;
            }
        }
        let mut claims = Vec::new();
        for c in &raw.claim {
            let claim = c.get_ref();
            match (&claim.best, &claim.spread) {
                (Some(_), None) => {}
                (None, Some(_)) if claim.at_least.is_some() => {}
                (None, Some(_)) => return Err(ctx.at(c.span(), "a `spread` claim needs `at_least`, e.g. at_least = 10")),
                _ => return Err(ctx.at(c.span(), "a [[claim]] needs exactly one of `best` (a filter, e.g. best = { series = \"adaptivfloat(e=3)\" }) or `spread` (a column)")),
            }
            if let Some(m) = &claim.metric {
                quantlab_results::metric::lookup(m).map_err(|e| ctx.at(c.span(), e))?;
            }
            claims.push(claim.clone());
        }
        Ok(Settings { name: raw.name, report, claims, data: raw.data })
    }
}

/// The `[report]` section: what `quantlab plot` draws and tabulates.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// Figure and report title; default: the experiment name.
    pub title: Option<String>,
    /// The metric of tables and figures (a results column); default `rmse`.
    pub metric: Option<String>,
    /// Figures to draw; default `["error-vs-bits"]`, plus `box` when a data
    /// source holds several tensors.
    pub figures: Option<Vec<FigureKind>>,
    /// `metric-vs-param`: the format parameter on the x axis (e.g. `e`).
    pub x_param: Option<String>,
    /// `metric-vs-param`: a series drawn as a horizontal reference line.
    pub baseline: Option<String>,
    /// `histogram`: which tensor, and whose grid to draw over it.
    pub histogram: Option<HistogramConfig>,
    /// Pool every data source into one data group of this name (a
    /// synthetic "model" made of several sources: one table, one box per
    /// format over all its tensors).
    pub group: Option<String>,
}

/// The kinds of figure a report can hold (docs/formats.md, "Figures a user should
/// be able to regenerate").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FigureKind {
    /// The metric against bits, one line per format setting.
    ErrorVsBits,
    /// Box plots of per-tensor error, grouped by bits (DAC'20 Figure 4).
    Box,
    /// Value range of every tensor (DAC'20 Figure 1).
    Range,
    /// MSE against clip ratio alpha/b beside Banner's closed form.
    ClipMse,
    /// The metric against a format parameter (`x_param`), with a baseline.
    MetricVsParam,
    /// A histogram of one tensor with a format's grid over it.
    Histogram,
    /// The metric against total bits per element (every scale counted),
    /// one curve per series, the Pareto front marked.
    Pareto,
}

/// `[report.histogram]`: one tensor's histogram with a format's grid over it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistogramConfig {
    /// The data source's label (as in the results' `source` column); default the first.
    pub source: Option<String>,
    /// The tensor's name; default the source's first tensor.
    pub tensor: Option<String>,
    /// The format whose grid is drawn.
    pub format: String,
    /// The clamping strategy that places the grid; default `none`.
    pub clamp: Option<String>,
    /// Histogram bins; default 160.
    pub bins: Option<usize>,
}

/// A `[[claim]]`: a statement about the results that `quantlab check` tests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimConfig {
    /// The claim in words, printed beside PASS/FAIL.
    pub says: String,
    /// "Best" claim: among the candidates of each `by` group, the best mean
    /// metric belongs to a configuration matching this filter.
    pub best: Option<toml::Table>,
    /// Candidates of a "best" claim (a filter); default all rows.
    pub among: Option<toml::Table>,
    /// Rows the claim looks at (a filter); default all.
    #[serde(rename = "where")]
    pub filter: Option<toml::Table>,
    /// Metric of a "best" claim; default the report's.
    pub metric: Option<String>,
    /// The column whose values are checked one by one; default `bits`.
    pub by: Option<String>,
    /// The `by` values checked; default every value present.
    pub at: Option<Vec<toml::Value>>,
    /// Relative slack: the match may be worse than the best by this fraction.
    pub tolerance: Option<f64>,
    /// "Spread" claim: the largest over the smallest value of this column
    /// across tensors is at least `at_least`.
    pub spread: Option<String>,
    /// The least ratio a "spread" claim accepts.
    pub at_least: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, file: &str) -> Result<Settings, ConfigError> {
        Settings::parse(text, file)
    }

    const BASE: &str = "name = \"t\"\n[[data]]\nsynthetic = \"normal\"\nshape = [4, 4]\n[[format]]\nfamily = \"adaptivfloat\"\nn = [4, 8]\ne = 3\n[[format]]\nlabel = \"Float\"\nfamily = \"minifloat\"\ne = [3, 4]\nm = [0, 3]\nzip = [\"e\", \"m\"]\n";

    #[test]
    fn report_and_claim_errors_name_the_line() {
        let e = parse(&format!("{BASE}[report]\nfigures = [\"boxes\"]\n"), "t.toml").unwrap_err();
        assert_eq!(e.line, 16, "{e}");
        assert!(e.message.contains("unknown value `boxes`, did you mean `box`?"), "{e}");
        let e = parse(&format!("{BASE}[report]\nmetric = \"rmes\"\n"), "t.toml").unwrap_err();
        assert!(e.to_string().starts_with("t.toml:15:") && e.message.contains("did you mean `rmse`?"), "{e}");
        let e = parse(&format!("{BASE}[[claim]]\nsays = \"x\"\n"), "t.toml").unwrap_err();
        assert!(e.message.contains("exactly one of `best`"), "{e}");
        let e = parse(&format!("{BASE}[[claim]]\nsays = \"x\"\nbets = {{ family = \"int\" }}\n"), "t.toml").unwrap_err();
        assert!(e.message.contains("did you mean `best`?"), "{e}");
        let e = parse(&format!("{BASE}[report.histogram]\nformat = \"adaptivfloat(n=4)\"\n"), "t.toml").unwrap_err();
        assert!(e.message.contains("[report.histogram] format") && e.message.contains("`e`"), "{e}");
        let ok = parse(&format!("{BASE}[report]\nmetric = \"sqnr_db\"\nfigures = [\"box\", \"range\"]\n[[claim]]\nsays = \"x\"\nspread = \"x_max\"\nat_least = 2\n"), "t.toml").unwrap();
        assert_eq!(ok.report.figures, Some(vec![FigureKind::Box, FigureKind::Range]));
        assert_eq!(ok.claims.len(), 1);
    }
}
