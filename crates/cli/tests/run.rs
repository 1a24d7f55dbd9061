//! `quantlab run` and `quantlab merge` end to end: validation, determinism
//! across thread counts, resuming after SIGKILL, refusing a changed
//! configuration, sharding.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{assert_fails, ok, quantlab, s, table};
use polars::prelude::*;

fn dir(name: &str) -> PathBuf {
    common::fresh_dir("run", name)
}

const SMALL: &str = r#"
name = "small"
seeds = [0, 1]
granularity = ["tensor", "channel"]
clamp = ["none", "aciq-laplace"]

[[data]]
synthetic = "laplace"
shape = [16, 64]

[[data]]
synthetic = "mixture(outlier_scale=20,fraction=0.01)"
shape = [8, 128]

[[format]]
family = "adaptivfloat"
n = [4, 6, 8]
e = [2, 3, 4, 5, 6, 7]
skip_invalid = true

[[format]]
family = "int"
bits = [4, 8]
round = ["nearest-even", "stochastic"]

[[format]]
family = "minifloat"
e = [3, 4]
m = [0, 3]
zip = ["e", "m"]
"#;

#[test]
fn dry_run_counts_and_config_errors_are_located() {
    let d = dir("dry");
    let cfg = d.join("small.toml");
    std::fs::write(&cfg, SMALL).unwrap();
    let o = quantlab(&["run", s(&cfg), "--dry-run"]);
    ok(&o);
    let text = String::from_utf8_lossy(&o.stdout);
    // AdaptivFloat: n=4 takes e 2..3, n=6 e 2..5, n=8 e 2..7 -> 2 + 4 + 6 = 12; int 2x2 = 4; minifloat zipped 2: 18 formats.
    // 4 tensors (2 sources x 2 seeds) x 18 x 2 clamps x 2 granularities = 288 cells.
    assert!(text.contains("288 cells"), "{text}");
    assert!(text.contains("x 18 formats"), "{text}");
    assert!(text.contains("dropped (skip_invalid): adaptivfloat(e=4,n=4)"), "{text}");
    for (bad, needle) in [
        (SMALL.replace("seeds = [0, 1]", "seed = [0, 1]"), "small.toml:3:1: unknown key `seed`, did you mean `seeds`?"),
        (SMALL.replace("bits = [4, 8]", "bit = [4, 8]"), "did you mean `bits`?"),
        (SMALL.replace("skip_invalid = true", "skip_invalid = false"), "`e` = 4 is out of range"),
        (SMALL.replace("\"aciq-laplace\"", "\"aciq-laplac\""), "unknown clamping strategy `aciq-laplac`"),
        (SMALL.replace("shape = [16, 64]", "shape = [16, 0]"), "no zero dimension"),
        (SMALL.replace("m = [0, 3]", "m = [0, 3, 1]"), "equal length"),
        // The report's sections are checked before a sweep, by the report.
        (format!("{SMALL}[report]\nfigures = [\"boxes\"]\n"), "did you mean `box`?"),
        (format!("{SMALL}[[claim]]\nsays = \"x\"\nbest = {{ family = \"int\" }}\nmetric = \"rmes\"\n"), "unknown metric `rmes`, did you mean `rmse`?"),
    ] {
        std::fs::write(&cfg, bad).unwrap();
        let o = quantlab(&["run", s(&cfg), "--dry-run"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(needle) && err.contains("small.toml:"), "`{err}` lacks `{needle}`");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
}

/// A cell's work is its elements plus every candidate its clip search
/// quantized (38 passes for `mse`; over a subsample with `sample`), planned
/// by the dry run and recorded in the rows.
#[test]
fn element_quantizations_count_the_clip_search() {
    let d = dir("work");
    let cfg = d.join("work.toml");
    std::fs::write(
        &cfg,
        r#"
name = "work"
seeds = [0]
granularity = ["tensor", "channel"]
clamp = ["none", "aciq-laplace", "mse", "mse(sample=512)"]
[[data]]
synthetic = "normal"
shape = [64, 32]
[[format]]
family = "int"
bits = 4
"#,
    )
    .unwrap();
    // 2048 elements. mse: 38 passes over the group. mse(sample=512): a 2048
    // group is searched on 16 of its 32-element rows (512 elements); the
    // 32-element channel groups are smaller than the sample, searched whole.
    let n = 2048i64;
    let expected = [("none", n, n), ("aciq-laplace", n, n), ("mse", 39 * n, 39 * n), ("mse(sample=512)", n + 38 * 512, 39 * n)];
    let o = quantlab(&["run", s(&cfg), "--dry-run"]);
    ok(&o);
    let planned: i64 = expected.iter().map(|e| e.1 + e.2).sum();
    assert!(String::from_utf8_lossy(&o.stdout).contains(&format!("8 cells, {planned} element-quantizations")), "{}", String::from_utf8_lossy(&o.stdout));
    let out = d.join("out");
    ok(&quantlab(&["run", s(&cfg), "--out", s(&out), "--quiet"]));
    let t = table(&out);
    let clamp = t.column("clamp").unwrap().str().unwrap().clone();
    let gran = t.column("granularity").unwrap().str().unwrap().clone();
    let work = t.column("element_quantizations").unwrap().i64().unwrap().clone();
    for i in 0..t.height() {
        let (c, g, w) = (clamp.get(i).unwrap(), gran.get(i).unwrap(), work.get(i).unwrap());
        let e = expected.iter().find(|e| e.0 == c).unwrap();
        assert_eq!(w, if g == "tensor" { e.1 } else { e.2 }, "{c} {g}");
    }
    // Run again: nothing is left, and the run says so rather than a rate.
    let o = quantlab(&["run", s(&cfg), "--out", s(&out), "--quiet"]);
    ok(&o);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("(0 run now, 8 already done): nothing left to run") && !text.contains("/s"), "{text}");
}

#[test]
fn results_are_identical_with_one_and_two_threads() {
    let d = dir("threads");
    let cfg = d.join("small.toml");
    std::fs::write(&cfg, SMALL).unwrap();
    let (a, b) = (d.join("a"), d.join("b"));
    ok(&quantlab(&["run", s(&cfg), "--out", s(&a), "--threads", "1", "--quiet"]));
    ok(&quantlab(&["run", s(&cfg), "--out", s(&b), "--threads", "2", "--quiet"]));
    let (ta, tb) = (table(&a), table(&b));
    assert_eq!(ta.height(), 288);
    assert!(ta.equals_missing(&tb), "tables differ between 1 and 2 threads");
    // Every parameter has its own column; the summary has one row per configuration.
    for c in ["p_n", "p_e", "p_bits", "p_round", "clip_alpha"] {
        assert!(ta.column(c).is_ok(), "no column {c}");
    }
    // The metric table and the tensor sweep agree: every declared tensor
    // metric is a column, summarised over seeds.
    let summary_columns = ParquetReader::new(std::fs::File::open(a.join("summary.parquet")).unwrap()).finish().unwrap();
    for m in quantlab_results::metric::of_sweep(quantlab_results::Sweep::Tensor) {
        assert!(ta.column(m.name).is_ok(), "the tensor sweep writes no `{}`", m.name);
        assert!(summary_columns.column(&format!("{}_mean", m.name)).is_ok(), "no `{}_mean`", m.name);
    }
    assert_eq!(manifest_sweep(&a)["formats"], 18);
    let summary = ParquetReader::new(std::fs::File::open(a.join("summary.parquet")).unwrap()).finish().unwrap();
    assert_eq!(summary.height(), 288 / 2);
    assert!(summary.column("rmse_ci95").is_ok());
    let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(a.join("manifest.json")).unwrap()).unwrap();
    for k in ["config", "config_hash", "git_revision", "quantlab_version", "threads", "started", "finished"] {
        assert!(!manifest[k].is_null(), "manifest lacks {k}");
    }
    assert!(a.join("results.csv").exists() && a.join("summary.csv").exists());
}

fn manifest_sweep(out: &std::path::Path) -> serde_json::Value {
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    m["sweep"].clone()
}

#[test]
fn a_killed_run_resumes_to_the_same_table() {
    let d = dir("kill");
    let cfg = d.join("slow.toml");
    // Enough cells, each slow enough (MSE search), to be killed part-way.
    std::fs::write(&cfg, SMALL.replace("clamp = [\"none\", \"aciq-laplace\"]", "clamp = [\"none\", \"mse\"]").replace("shape = [16, 64]", "shape = [64, 256]")).unwrap();
    let (killed, whole) = (d.join("killed"), d.join("whole"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_quantlab")).args(["run", s(&cfg), "--out", s(&killed), "--threads", "1", "--quiet"]).spawn().unwrap();
    let start = Instant::now();
    let cells = killed.join("cells");
    loop {
        let n = std::fs::read_dir(&cells).map(|r| r.filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "cell")).count()).unwrap_or(0);
        if n >= 20 || start.elapsed() > Duration::from_secs(60) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!killed.join("results.parquet").exists(), "the run finished before it could be killed");
    let o = quantlab(&["run", s(&cfg), "--out", s(&killed), "--quiet"]);
    ok(&o);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("already done") && !text.contains(" 0 already done"), "{text}");
    ok(&quantlab(&["run", s(&cfg), "--out", s(&whole), "--quiet"]));
    let (a, b) = (table(&killed), table(&whole));
    assert_eq!(a.height(), 288);
    assert_eq!(a.column("cell").unwrap().n_unique().unwrap(), 288, "duplicate rows");
    assert!(a.equals_missing(&b), "resumed table differs from an uninterrupted run");
}

#[test]
fn a_changed_config_is_refused_unless_fresh() {
    let d = dir("changed");
    let cfg = d.join("small.toml");
    let out = d.join("out");
    std::fs::write(&cfg, SMALL).unwrap();
    ok(&quantlab(&["run", s(&cfg), "--out", s(&out), "--quiet"]));
    std::fs::write(&cfg, SMALL.replace("seeds = [0, 1]", "seeds = [0, 1, 2]")).unwrap();
    let o = quantlab(&["run", s(&cfg), "--out", s(&out), "--quiet"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("different configuration"), "{}", String::from_utf8_lossy(&o.stderr));
    ok(&quantlab(&["run", s(&cfg), "--out", s(&out), "--quiet", "--fresh"]));
    assert_eq!(table(&out).height(), 288 / 2 * 3);
}

#[test]
fn shards_merge_into_the_unsharded_table() {
    let d = dir("shards");
    let cfg = d.join("small.toml");
    std::fs::write(&cfg, SMALL).unwrap();
    let whole = d.join("whole");
    ok(&quantlab(&["run", s(&cfg), "--out", s(&whole), "--quiet"]));
    let shards: Vec<PathBuf> = (0..3).map(|i| d.join(format!("shard{i}"))).collect();
    for (i, sd) in shards.iter().enumerate() {
        ok(&quantlab(&["run", s(&cfg), "--out", s(sd), "--quiet", "--shard", &format!("{i}/3")]));
        assert_eq!(table(sd).height(), 96);
    }
    let merged = d.join("merged");
    let mut args = vec!["merge", s(&merged)];
    args.extend(shards.iter().map(|p| s(p)));
    ok(&quantlab(&args));
    assert!(table(&merged).equals_missing(&table(&whole)), "merged shards differ from the unsharded run");
    let o = quantlab(&["run", s(&cfg), "--shard", "3/3", "--dry-run"]);
    assert_eq!(o.status.code(), Some(2));
}

/// `run` ends with the report; `plot` redraws it from the saved results;
/// `check` prints PASS/FAIL per claim and exits 1 on a FAIL, 0 otherwise;
/// a folder that is not a results folder is one line and exit 2.
#[test]
fn run_reports_plot_redraws_and_check_judges_claims() {
    let d = dir("claims");
    let claims = |best: &str| {
        format!(
        "name = \"claims\"\n[[data]]\nsynthetic = \"student-t(nu=4)\"\nshape = [64, 64]\n[[format]]\nfamily = \"adaptivfloat\"\nn = [4, 8]\ne = 3\n[[format]]\nfamily = \"int\"\nbits = [4, 8]\n[[claim]]\nsays = \"{best} is best\"\nbest = {{ family = \"{best}\" }}\n"
    )
    };
    std::fs::write(d.join("good.toml"), claims("adaptivfloat")).unwrap();
    std::fs::write(d.join("bad.toml"), claims("int")).unwrap();
    let (good, bad) = (d.join("good"), d.join("bad"));
    let o = quantlab(&["run", s(&d.join("good.toml")), "--out", s(&good)]);
    ok(&o);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("report.md") && stdout.contains("claims: 1 pass, 0 fail"), "{stdout}");
    for f in ["report.md", "tables.md", "tables.csv", "figures/error-vs-bits-0-student-t-nu-4-scale-1.png", "figures/error-vs-bits-0-student-t-nu-4-scale-1.svg"] {
        assert!(good.join(f).is_file(), "{f}");
    }
    std::fs::remove_dir_all(good.join("figures")).unwrap();
    ok(&quantlab(&["plot", s(&good)]));
    assert!(good.join("figures/error-vs-bits-0-student-t-nu-4-scale-1.png").is_file());
    let pass = quantlab(&["check", s(&good)]);
    assert_eq!(pass.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&pass.stdout).starts_with("PASS  adaptivfloat is best"));
    ok(&quantlab(&["run", s(&d.join("bad.toml")), "--out", s(&bad)]));
    let fail = quantlab(&["check", s(&bad)]);
    assert_eq!(fail.status.code(), Some(1));
    let text = String::from_utf8_lossy(&fail.stdout);
    assert!(text.starts_with("FAIL  int is best") && text.contains("1 claims: 0 pass, 1 fail"), "{text}");
    let none = quantlab(&["plot", s(&d)]);
    assert_eq!(none.status.code(), Some(2));
    let err = String::from_utf8_lossy(&none.stderr);
    assert!(err.lines().count() == 1 && err.contains("manifest.json"), "{err}");
}

/// Tensors stream through a run in batches that fit `--memory`: the same
/// table as a run holding them all, the plan in the dry run, and a budget
/// below one tensor refused before anything runs.
#[test]
fn a_memory_budget_streams_tensors_and_changes_no_result() {
    let d = dir("memory");
    let cfg = d.join("stream.toml");
    // Four sources x two seeds: eight tensors of 16384 values (64 KiB as f32).
    let sources: String = ["normal", "laplace", "student-t(nu=4)", "uniform"].iter().map(|s| format!("[[data]]\nsynthetic = \"{s}\"\nshape = [64, 256]\n")).collect();
    std::fs::write(&cfg, format!("name = \"stream\"\nseeds = [0, 1]\nclamp = [\"none\", \"mse\"]\ngranularity = [\"tensor\", \"channel\"]\n{sources}[[format]]\nfamily = \"int\"\nbits = [4, 8]\n"))
        .unwrap();
    let (all, streamed) = (d.join("all"), d.join("streamed"));
    ok(&quantlab(&["run", s(&cfg), "--out", s(&all), "--threads", "2", "--quiet"]));
    // One tensor (65536 bytes) and two scratch copies fit in 200 kB; two tensors do not.
    let o = quantlab(&["run", s(&cfg), "--dry-run", "--threads", "2", "--memory", "200k"]);
    ok(&o);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("memory: tensors stream in 8 batches of at most 65.5 kB as f32 at a time"), "{text}");
    ok(&quantlab(&["run", s(&cfg), "--out", s(&streamed), "--threads", "2", "--quiet", "--memory", "200k"]));
    assert!(table(&all).equals_missing(&table(&streamed)), "streaming changed the results");
    let plain = String::from_utf8_lossy(&quantlab(&["run", s(&cfg), "--dry-run"]).stdout).to_string();
    assert!(plain.contains("memory: tensors stream in 1 batch of at most 524.3 kB"), "{plain}");
    assert_fails(&quantlab(&["run", s(&cfg), "--dry-run", "--threads", "2", "--memory", "150k"]), "--memory 150.0 kB is less than one tensor needs");
    assert_fails(&quantlab(&["run", s(&cfg), "--dry-run", "--memory", "lots"]), "--memory `lots`: expected a size");
}
