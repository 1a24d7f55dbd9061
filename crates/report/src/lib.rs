//! # quantlab-report
//!
//! What a user *sees* of a sweep: from a results folder alone (the
//! manifest, which keeps the configuration, and `results.parquet`), write
//! comparison tables (`tables.md`, `tables.csv`), paper-style figures
//! (`figures/*.png` and `.svg`, drawn with plotters and a bundled font), a
//! one-page `report.md`, and the verdicts of the experiment's claims.
//!
//! Layers (private modules): `data` reads a folder and holds the shared
//! vocabulary (configurations, filters, seed means); `tables` and `figures`
//! build from it; figures are `chart::Chart` values drawn by one renderer;
//! `claims` checks `[[claim]]` sections; [`settings`] reads and validates
//! the `[report]` and `[[claim]]` sections. Nothing here looks at a concrete
//! format: formats are known by their description and their `Format` trait.
//! The report depends on the results folder (`quantlab-results`), never on
//! the runner or the model: drawing a chart compiles no transformer.

#![warn(missing_docs)]

mod chart;
mod claims;
mod data;
mod figures;
pub mod settings;
mod tables;

use std::path::{Path, PathBuf};

pub use claims::Verdict;
use data::Results;
pub use settings::Settings;
pub use tables::number;

/// What [`write()`] produced.
#[derive(Debug, Default)]
pub struct Written {
    /// Every file written (tables, figures, report.md).
    pub files: Vec<PathBuf>,
    /// Figures that could not be drawn, and why.
    pub notes: Vec<String>,
    /// The claims' verdicts.
    pub verdicts: Vec<Verdict>,
}

/// Write tables, figures and `report.md` into a results folder.
pub fn write(dir: &Path) -> Result<Written, String> {
    let results = Results::load(dir)?;
    let tables = tables::build(&results, &results.table_metrics());
    let mut files = tables::write(&tables, dir)?;
    let (figures, notes) = figures::draw(&results, dir);
    let verdicts = claims::check(&results);
    let report = dir.join("report.md");
    std::fs::write(&report, report_text(&results, &tables, &figures, &notes, &verdicts)).map_err(|e| format!("{}: {e}", report.display()))?;
    files.extend(figures);
    files.push(report);
    Ok(Written { files, notes, verdicts })
}

/// Evaluate the claims of the experiment that made a results folder.
pub fn check(dir: &Path) -> Result<Vec<Verdict>, String> {
    let results = Results::load(dir)?;
    if results.settings.claims.is_empty() {
        return Err(format!("{}: the configuration has no [[claim]] sections to check", dir.display()));
    }
    Ok(claims::check(&results))
}

/// Text of one verdict: `PASS  says` and its detail lines.
pub fn verdict_text(v: &Verdict) -> String {
    let mut s = format!("{}  {}", if v.pass { "PASS" } else { "FAIL" }, v.says);
    for d in &v.details {
        s += &format!("\n      {d}");
    }
    s
}

fn report_text(results: &Results, tables: &[tables::Table], figures: &[PathBuf], notes: &[String], verdicts: &[Verdict]) -> String {
    let m = &results.manifest;
    let get = |k: &str| m.get(k).map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).unwrap_or_else(|| "-".into());
    let mut s = format!("# {}\n\n", results.title());
    let sweep = &results.sweep;
    let data = match &sweep.model {
        Some(m) => format!("model `{}` evaluated on `{}` per cell ({} quantized)", m.path, m.sentences, m.quantize),
        None => format!("{} data source(s)", sweep.sources.len()),
    };
    s += &format!(
        "Experiment `{}`: {} result rows from {} cells, {data}, {} format(s), {} clamping strateg{}, {} granularit{}, seeds {:?}.\n\n",
        results.settings.name,
        results.rows.len(),
        get("cells"),
        sweep.formats,
        sweep.clamps,
        if sweep.clamps == 1 { "y" } else { "ies" },
        sweep.granularities,
        if sweep.granularities == 1 { "y" } else { "ies" },
        sweep.seeds
    );
    s += "| run | |\n|---|---|\n";
    for k in ["config_file", "config_hash", "git_revision", "quantlab_version", "threads", "started", "finished"] {
        s += &format!("| {k} | `{}` |\n", get(k));
    }
    if !verdicts.is_empty() {
        s += "\n## Claims\n\n";
        for v in verdicts {
            s += &format!("- **{}** {}\n", if v.pass { "PASS" } else { "FAIL" }, v.says);
            for d in &v.details {
                s += &format!("  - {d}\n");
            }
        }
    }
    s += "\n## Tables\n\n";
    for t in tables {
        s += &tables::markdown(t).replacen("### ", "#### ", 1);
        s += "\n";
    }
    s += "## Figures\n\n";
    for f in figures.iter().filter(|f| f.extension().is_some_and(|e| e == "png")) {
        let rel = f.strip_prefix(&results.dir).unwrap_or(f);
        let svg = rel.with_extension("svg");
        s += &format!("![{}]({})\n\n[SVG]({})\n\n", rel.file_stem().and_then(|n| n.to_str()).unwrap_or(""), rel.display(), svg.display());
    }
    for n in notes {
        s += &format!("- not drawn: {n}\n");
    }
    s += &format!("\n## Configuration\n\n```toml\n{}\n```\n", results.config_text.trim_end());
    s
}
