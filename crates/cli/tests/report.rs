//! Reports end to end on small result tables: every figure kind is written
//! as a valid, non-empty PNG and SVG; the tables carry the values of the
//! results; claims pass where the results bear them out (a table built to
//! violate one is the report crate's own test).

mod common;

use std::path::{Path, PathBuf};

use quantlab_results::{store, Row, Value};
use quantlab_runner::{run, RunOptions};

fn dir(name: &str) -> PathBuf {
    common::fresh_dir("report", name)
}

/// A small sweep asking for every kind of figure.
const EVERY_FIGURE: &str = r#"
name = "every-figure"
seeds = [0, 1]
clamp = ["none", "spread(k=2)", "spread(k=4)", "aciq-laplace"]

[[data]]
synthetic = "laplace"
shape = [32, 64]

[[data]]
synthetic = "normal"
shape = [16, 32]

[[format]]
family = "adaptivfloat"
n = [4, 6]
e = [2, 3]

[[format]]
label = "INT"
family = "int"
bits = [4, 6]

[report]
title = "Every figure"
figures = ["error-vs-bits", "box", "range", "clip-mse", "metric-vs-param", "histogram"]
x_param = "e"
baseline = "INT"

[report.histogram]
source = "laplace(loc=0,scale=1)"
format = "adaptivfloat(n=4,e=3)"
clamp = "aciq-laplace"

[[claim]]
says = "more bits, less error: 6-bit INT beats 4-bit INT on each source"
by = "source"
best = { bits = 6 }
among = { series = "INT", clamp = "none" }

[[claim]]
says = "a claim these results cannot bear out: 4-bit AdaptivFloat is the best of all"
best = { series = "adaptivfloat(e=2)", bits = 4 }
by = "source"
"#;

fn run_config(name: &str, text: &str) -> PathBuf {
    let d = dir(name);
    let config = d.join("config.toml");
    std::fs::write(&config, text).unwrap();
    let out = d.join("out");
    run(&RunOptions { config, out: Some(out.clone()), threads: Some(2), quiet: true, ..Default::default() }, |_| {}).unwrap();
    out
}

/// PNG signature and the IHDR size.
fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
    assert_eq!(&b[12..16], b"IHDR");
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    assert!(b.len() > 5000, "{}: {} bytes", path.display(), b.len());
    (be(16), be(20))
}

#[test]
fn every_figure_kind_is_written_as_png_and_svg() {
    let out = run_config("figures", EVERY_FIGURE);
    let written = quantlab_report::write(&out).unwrap();
    assert!(written.notes.is_empty(), "{:?}", written.notes);
    let names: Vec<String> = written.files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for kind in ["error-vs-bits", "box", "range", "clip-mse", "metric-vs-param", "histogram"] {
        for ext in ["png", "svg"] {
            assert!(names.iter().any(|n| n.starts_with(kind) && n.ends_with(ext)), "no {kind} {ext} in {names:?}");
        }
    }
    for f in &written.files {
        match f.extension().and_then(|e| e.to_str()) {
            Some("png") => {
                let (w, h) = png_size(f);
                assert!(w >= 800 && h >= 400, "{}: {w}x{h}", f.display());
            }
            Some("svg") => {
                let text = std::fs::read_to_string(f).unwrap();
                assert!(text.trim_start().starts_with("<svg") && text.trim_end().ends_with("</svg>"), "{}", f.display());
                // Titles and axis labels are text, and there is something drawn.
                assert!(text.contains("Every figure") && text.matches("<text").count() > 5, "{}", f.display());
                assert!(text.contains("<polyline") || text.contains("<rect") || text.contains("<path"), "{}", f.display());
            }
            _ => assert!(std::fs::metadata(f).unwrap().len() > 0, "{}", f.display()),
        }
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.starts_with("# Every figure"));
    assert!(report.contains("![") && report.contains("```toml") && report.contains("## Claims"));
}

#[test]
fn tables_carry_the_results_and_claims_are_judged() {
    let out = run_config("tables", EVERY_FIGURE);
    let w = quantlab_report::write(&out).unwrap();
    // The table's INT 4-bit cell equals the mean of the results' rows, computed here by hand.
    let rows = store::read_rows(&out.join("results.parquet")).unwrap();
    let pick = |r: &&Row, seed: i64| {
        r.get("series") == Some(&Value::Str("INT".into()))
            && r.get("bits") == Some(&Value::Int(4))
            && r.get("clamp") == Some(&Value::Str("none".into()))
            && r.get("source") == Some(&Value::Str("normal(mean=0,std=1)".into()))
            && r.get("seed") == Some(&Value::Int(seed))
    };
    let rmse = |seed| match rows.iter().find(|r| pick(r, seed)).unwrap().get("rmse") {
        Some(Value::Float(f)) => *f,
        other => panic!("{other:?}"),
    };
    let mean = (rmse(0) + rmse(1)) / 2.0;
    let csv = std::fs::read_to_string(out.join("tables.csv")).unwrap();
    let prefix = "rmse,\"normal(mean=0,std=1)\",INT,none,tensor,4,";
    let line = csv.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("{csv}"));
    let value: f64 = line[prefix.len()..].split(',').next().unwrap().parse().unwrap();
    assert!((value - mean).abs() <= 1e-12 * mean, "{value} vs {mean}");
    let md = std::fs::read_to_string(out.join("tables.md")).unwrap();
    assert!(md.contains(&format!("| `INT` | `none` | {}", quantlab_report::number(mean))), "{md}");
    let verdicts: Vec<bool> = w.verdicts.iter().map(|v| v.pass).collect();
    assert_eq!(verdicts, [true, false], "{:?}", w.verdicts);
}

/// A results folder written by hand: int beats adaptivfloat, and the
/// configuration claims the opposite.
#[test]
fn a_folder_without_results_is_a_clear_error() {
    let d = dir("empty");
    let e = quantlab_report::write(&d).err().unwrap();
    assert!(e.contains("manifest.json") && e.contains("quantlab run"), "{e}");
    let out = run_config("no-claims", "name = \"no-claims\"\n[[data]]\nsynthetic = \"normal\"\nshape = [8, 8]\n[[format]]\nfamily = \"int\"\nbits = 4\n");
    let e = quantlab_report::check(&out).err().unwrap();
    assert!(e.contains("no [[claim]] sections"), "{e}");
}
