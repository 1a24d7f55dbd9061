//! What the binary's test files share: running `quantlab`, judging its
//! exit, reading a results table.

// Each test file uses its own part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use polars::prelude::*;

pub fn quantlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quantlab")).args(args).output().expect("binary runs")
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Success, or a failure that shows stdout and stderr.
pub fn ok(o: &Output) {
    assert!(o.status.success(), "stdout: {}\nstderr: {}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
}

/// A failure: status 2, exactly one line on stderr containing `needle`, no panic.
pub fn assert_fails(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains(needle), "`{err}` lacks `{needle}`");
    if !err.starts_with("error:") {
        // our own errors (clap's usage errors carry a usage block)
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
}

/// results.parquet without its timing column, sorted by cell.
pub fn table(out: &Path) -> DataFrame {
    let f = std::fs::File::open(out.join("results.parquet")).unwrap();
    let df = ParquetReader::new(f).finish().unwrap();
    let df = df.drop("time_ms").unwrap();
    df.sort(["cell"], SortMultipleOptions::default()).unwrap()
}

/// An empty folder of its own under the temporary directory, for one test
/// (`quantlab-<group>-<pid>-<name>`).
pub fn fresh_dir(group: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("quantlab-{group}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
