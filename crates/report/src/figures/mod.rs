//! The figures of a report, one file per kind (docs/formats.md, "Figures a user
//! should be able to regenerate"). Each builds [`Chart`]s from the saved
//! results; [`draw`] names and writes them as PNG and SVG.

mod boxes;
mod clip_mse;
mod error_vs_bits;
mod histogram;
mod param;
mod pareto;
mod ranges;

use std::path::{Path, PathBuf};

use crate::settings::FigureKind;

use crate::chart::{self, Chart};
use crate::data::Results;

/// The figures a report draws: those the config names, or the metric
/// against bits, plus box plots when a data source holds several tensors.
pub fn kinds(results: &Results) -> Vec<FigureKind> {
    if let Some(k) = &results.settings.report.figures {
        return k.clone();
    }
    let mut kinds = vec![FigureKind::ErrorVsBits];
    let several = results.distinct("source").iter().any(|s| {
        let rows = crate::data::rows_of_source(&results.rows, s);
        crate::data::distinct(rows.iter().copied(), "tensor").len() > 1
    });
    if several {
        kinds.push(FigureKind::Box);
    }
    kinds
}

/// The charts of one kind, each with a file stem.
pub fn charts(results: &Results, kind: FigureKind) -> Result<Vec<(String, Chart)>, String> {
    let metric = results.metric();
    Ok(match kind {
        FigureKind::ErrorVsBits => error_vs_bits::charts(results, metric),
        FigureKind::Box => boxes::charts(results, metric),
        FigureKind::Range => ranges::charts(results),
        FigureKind::ClipMse => clip_mse::charts(results)?,
        FigureKind::MetricVsParam => param::charts(results, metric)?,
        FigureKind::Histogram => histogram::charts(results)?,
        FigureKind::Pareto => pareto::charts(results, metric),
    })
}

/// Draw every figure into `dir/figures/`. A figure that cannot be drawn
/// (its data gone, say) becomes a note; the others are still written.
pub fn draw(results: &Results, dir: &Path) -> (Vec<PathBuf>, Vec<String>) {
    let out = dir.join("figures");
    let (mut files, mut notes) = (Vec::new(), Vec::new());
    if let Err(e) = std::fs::create_dir_all(&out) {
        notes.push(format!("{}: cannot create: {e}", out.display()));
        return (files, notes);
    }
    for kind in kinds(results) {
        match charts(results, kind) {
            Ok(charts) if charts.is_empty() => notes.push(format!("{}: nothing to draw in these results", kind_name(kind))),
            Ok(charts) => {
                for (stem, c) in charts {
                    match chart::save(&c, &out.join(&stem)) {
                        Ok(f) => files.extend(f),
                        Err(e) => notes.push(e),
                    }
                }
            }
            Err(e) => notes.push(format!("{}: {e}", kind_name(kind))),
        }
    }
    (files, notes)
}

pub fn kind_name(kind: FigureKind) -> &'static str {
    match kind {
        FigureKind::ErrorVsBits => "error-vs-bits",
        FigureKind::Box => "box",
        FigureKind::Range => "range",
        FigureKind::ClipMse => "clip-mse",
        FigureKind::MetricVsParam => "metric-vs-param",
        FigureKind::Histogram => "histogram",
        FigureKind::Pareto => "pareto",
    }
}

/// A file-name-safe short form of a label.
pub(crate) fn slug(text: &str) -> String {
    let mut s: String = text.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    let s = s.trim_matches('-');
    s.chars().take(48).collect::<String>().trim_end_matches('-').to_string()
}

/// File stem for a kind and a group, unique within the report.
pub(crate) fn stem(kind: &str, group: &str, index: usize) -> String {
    format!("{kind}-{index}-{}", slug(group))
}

#[cfg(test)]
mod tests {
    #[test]
    fn slugs_are_file_safe() {
        assert_eq!(super::slug("normal(mean=0,std=1)"), "normal-mean-0-std-1");
        assert_eq!(super::slug("data/minilm"), "data-minilm");
    }
}
