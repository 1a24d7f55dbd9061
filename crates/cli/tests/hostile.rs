//! Issue 15: no input crashes quantlab or yields wrong numbers, and no
//! result is silently mixed, truncated or lost. One test per numbered item
//! of the issue (each failed on the code before it), and the committed
//! corpus of damaged files (`corpus/cases.toml`), each expected to give
//! exit status 2 and one line.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_fails, ok, quantlab, s};
use quantlab_tensors::{read_npy, write_npy};

fn dir(name: &str) -> PathBuf {
    common::fresh_dir("hostile", name)
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

#[test]
fn the_damaged_file_corpus_gives_one_line_and_exit_2() {
    let tmp = dir("corpus");
    let cases: toml::Table = toml::from_str(&std::fs::read_to_string(corpus().join("cases.toml")).unwrap()).unwrap();
    let cases = cases["case"].as_array().unwrap();
    assert!(cases.len() >= 17);
    for case in cases {
        let file = corpus().join(case["file"].as_str().unwrap());
        assert!(file.exists(), "{}", file.display());
        let args: Vec<String> = case["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().replace("{file}", s(&file)).replace("{tmp}", s(&tmp))).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = quantlab(&args);
        assert_fails(&out, case["expect"].as_str().unwrap());
        assert!(!String::from_utf8_lossy(&out.stderr).contains('\u{1b}'), "raw escape in {:?}", String::from_utf8_lossy(&out.stderr));
        assert!(!tmp.join("o.npy").exists(), "{}: wrote its output before failing", file.display());
    }
}

fn config(dir: &Path, name: &str, shape: &str) -> PathBuf {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, format!("name = \"{name}\"\n[[data]]\nsynthetic = \"normal\"\nshape = {shape}\n[[format]]\nfamily = \"int\"\nbits = 8\n")).unwrap();
    p
}

/// Items 2-3: sizes from a user's numbers are checked before anything is
/// allocated; a dry run never draws the data.
#[test]
fn absurd_sizes_are_errors_and_dry_runs_draw_nothing() {
    let d = dir("sizes");
    assert_fails(&quantlab(&["run", s(&config(&d, "overflow", "[9223372036854775807, 2]")), "--dry-run"]), "is too large");
    assert_fails(&quantlab(&["compare", "--n", "18446744073709551615"]), "--n");
    // 40 GB of data: the dry run plans it without allocating, quickly.
    let big = config(&d, "big", "[100000, 100000]");
    let start = Instant::now();
    let o = quantlab(&["run", s(&big), "--dry-run"]);
    ok(&o);
    assert!(start.elapsed() < Duration::from_secs(20), "the dry run drew the data");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("40.0 GB as f32") && text.contains("10000000000 element-quantizations"), "{text}");
    let memory = quantlab_formats::memory::physical_memory().unwrap_or(u64::MAX);
    if memory < 40_000_000_000 {
        assert_fails(&quantlab(&["run", s(&big), "--out", s(&d.join("out"))]), "would take 40.0 GB, more than this machine's");
    }
    if memory < 800_000_000_000 {
        assert_fails(&quantlab(&["compare", "--n", "100000000000"]), "would take 800.0 GB");
    }
}

/// Item 4: `--threads` has a documented bound.
#[test]
fn absurd_thread_counts_are_refused() {
    let d = dir("threads");
    let cfg = config(&d, "t", "[4, 4]");
    assert_fails(&quantlab(&["run", s(&cfg), "--threads", "100000"]), "at most");
    assert_fails(&quantlab(&["run", s(&cfg), "--threads", "257"]), "256 at most");
    ok(&quantlab(&["run", s(&cfg), "--threads", "256", "--out", s(&d.join("out")), "--quiet"]));
}

/// Item 10: statistics of values near f32::MAX do not overflow into an
/// infinite clip or infinite results.
#[test]
fn values_near_f32_max_quantize_to_finite_values() {
    let d = dir("max");
    let x = d.join("max.npy");
    let values: Vec<f32> = (0..64).map(|i| if i % 2 == 0 { f32::MAX } else { -f32::MAX }).collect();
    write_npy(&x, &[64], &values).unwrap();
    let q = d.join("q.npy");
    for clamp in ["aciq-laplace", "aciq-gauss", "aciq-gelu", "kl", "spread(k=3)", "mse", "percentile(p=99)"] {
        ok(&quantlab(&["quantize", "adaptivfloat(n=8,e=3)", s(&x), "-o", s(&q), "--clamp", clamp]));
        let out = read_npy(&q).unwrap().data;
        assert!(out.iter().all(|v| v.is_finite() && v.abs() > 1e38), "{clamp}: {:?}", &out[..4]);
    }
    let o = quantlab(&["clamp", "kl", s(&x), "--format", "adaptivfloat(n=8,e=3)"]);
    ok(&o);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(!text.contains("inf"), "{text}");
}

const SLOW: &str = "name = \"slow\"\nseeds = [0, 1, 2]\nclamp = [\"none\", \"mse\"]\ngranularity = [\"tensor\", \"channel\"]\n[[data]]\nnpy = \"{npy}\"\n[[format]]\nfamily = \"int\"\nbits = [3, 4, 5, 6, 7, 8]\n[[format]]\nfamily = \"adaptivfloat\"\nn = [4, 5, 6, 7, 8]\ne = 3\n";

fn slow_config(d: &Path, rows: usize) -> (PathBuf, PathBuf) {
    let npy = d.join("x.npy");
    let x: Vec<f32> = (0..rows * 256).map(|i| ((i * 7919 % 1000) as f32 / 100.0 - 5.0).powi(3) / 25.0).collect();
    write_npy(&npy, &[rows, 256], &x).unwrap();
    let cfg = d.join("slow.toml");
    std::fs::write(&cfg, SLOW.replace("{npy}", s(&npy))).unwrap();
    (cfg, npy)
}

fn cell_files(out: &Path) -> usize {
    std::fs::read_dir(out.join("cells")).map(|r| r.filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "cell")).count()).unwrap_or(0)
}

/// Start a run in the background and wait until it has saved `cells` cells.
fn start_run(cfg: &Path, out: &Path, extra: &[&str], cells: usize) -> std::process::Child {
    let mut args = vec!["run", s(cfg), "--out", s(out), "--threads", "1", "--quiet"];
    args.extend(extra);
    let child = Command::new(env!("CARGO_BIN_EXE_quantlab")).args(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    while cell_files(out) < cells && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    child
}

/// Item 11: a resume whose input data changed is refused unless --fresh.
#[test]
fn a_resume_with_changed_data_is_refused() {
    let d = dir("changed-data");
    let (cfg, npy) = slow_config(&d, 256);
    let out = d.join("out");
    let mut child = start_run(&cfg, &out, &[], 5);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out.join("results.parquet").exists(), "finished before it was killed");
    // The data changes between the kill and the resume.
    let x = read_npy(&npy).unwrap();
    let scaled: Vec<f32> = x.data.iter().map(|v| v * 10.0).collect();
    write_npy(&npy, &x.shape, &scaled).unwrap();
    assert_fails(&quantlab(&["run", s(&cfg), "--out", s(&out), "--quiet"]), "holds results made from other data");
    // The same content written again (a new modification time) is the same data.
    let mut child = start_run(&cfg, &d.join("same"), &[], 3);
    child.kill().unwrap();
    child.wait().unwrap();
    write_npy(&npy, &x.shape, &scaled).unwrap();
    ok(&quantlab(&["run", s(&cfg), "--out", s(&d.join("same")), "--quiet"]));
    ok(&quantlab(&["run", s(&cfg), "--out", s(&out), "--quiet", "--fresh"]));
    let rows = common::table(&out);
    let x_max = rows.column("x_max").unwrap().f64().unwrap().clone();
    let first = x_max.get(0).unwrap();
    assert!(x_max.iter().all(|v| v == Some(first)), "rows from two versions of the data");
}

/// Item 12: a fresh start removes the old tables before it begins, and
/// plot/check refuse tables that do not match their manifest.
#[test]
fn a_killed_fresh_run_leaves_no_stale_tables() {
    let d = dir("fresh");
    let (cfg, _) = slow_config(&d, 256);
    let out = d.join("out");
    ok(&quantlab(&["run", s(&cfg), "--out", s(&out), "--quiet"]));
    let finished = common::table(&out).height();
    ok(&quantlab(&["plot", s(&out)]));
    let child = Command::new(env!("CARGO_BIN_EXE_quantlab")).args(["run", s(&cfg), "--out", s(&out), "--threads", "1", "--quiet", "--fresh"]).stdout(Stdio::null()).spawn();
    let mut child = child.unwrap();
    // Until the new run has begun: its manifest written, two cells saved.
    let start = Instant::now();
    let begun = || std::fs::read_to_string(out.join("manifest.json")).is_ok_and(|m| m.contains("\"finished\": null")) && cell_files(&out) >= 2;
    while !begun() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    for f in ["results.csv", "results.parquet", "summary.csv", "report.md", "tables.md"] {
        assert!(!out.join(f).exists(), "{f} of the earlier run is still there");
    }
    assert_fails(&quantlab(&["plot", s(&out)]), "results.parquet");
    ok(&quantlab(&["run", s(&cfg), "--out", s(&out), "--quiet"]));
    assert_eq!(common::table(&out).height(), finished);
    // Tables swapped in from another run no longer match the manifest.
    let other = d.join("other");
    let small = config(&d, "small", "[4, 4]");
    ok(&quantlab(&["run", s(&small), "--out", s(&other), "--quiet"]));
    std::fs::copy(other.join("results.parquet"), out.join("results.parquet")).unwrap();
    assert_fails(&quantlab(&["plot", s(&out)]), "does not match manifest.json");
    assert_fails(&quantlab(&["check", s(&out)]), "does not match manifest.json");
}

/// Item 13: merge checks that the shards are complete and together the
/// whole plan, and says which cells are missing.
#[test]
fn merge_refuses_missing_or_incomplete_shards() {
    let d = dir("merge");
    let cfg = config(&d, "m", "[8, 64]").to_path_buf();
    std::fs::write(&cfg, std::fs::read_to_string(&cfg).unwrap().replace("bits = 8", "bits = [3, 4, 5, 6, 7, 8]") + "[[format]]\nfamily = \"adaptivfloat\"\nn = [4, 6, 8]\ne = 3\n").unwrap();
    let shards: Vec<PathBuf> = (0..3).map(|i| d.join(format!("s{i}"))).collect();
    for (i, sd) in shards.iter().enumerate() {
        ok(&quantlab(&["run", s(&cfg), "--out", s(sd), "--quiet", "--shard", &format!("{i}/3")]));
    }
    let merged = d.join("merged");
    let o = quantlab(&["merge", s(&merged), s(&shards[0]), s(&shards[2])]);
    assert_fails(&o, "3 of the plan's 9 cells are missing (cells 1, 4, 7): shard 1/3 was not given");
    // A shard that lost cells (killed part-way).
    std::fs::remove_file(shards[1].join("cells/4.cell")).unwrap();
    let o = quantlab(&["merge", s(&merged), s(&shards[0]), s(&shards[1]), s(&shards[2])]);
    assert_fails(&o, "holds 2 of its 3 cells");
    assert!(!merged.join("results.parquet").exists());
    assert_fails(&quantlab(&["merge", s(&merged), s(&shards[0]), s(&shards[0])]), "given twice");
    let o = quantlab(&["merge", s(&merged), s(&shards[0]), s(&shards[1]), s(&shards[2]), "--allow-partial"]);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("partial: 1 of the plan's 9 cells are missing"));
    assert_eq!(common::table(&merged).height(), 8);
}

/// Item 14: a second run on the same folder is refused, naming the folder
/// and the process that holds it.
#[test]
fn two_runs_on_one_folder_do_not_race() {
    let d = dir("lock");
    let (cfg, _) = slow_config(&d, 256);
    let out = d.join("out");
    let mut first = start_run(&cfg, &out, &[], 1);
    let o = quantlab(&["run", s(&cfg), "--out", s(&out), "--quiet"]);
    assert_fails(&o, &format!("{}: in use by another quantlab (pid {})", s(&out), first.id()));
    first.kill().unwrap();
    first.wait().unwrap();
    // The lock dies with its process.
    ok(&quantlab(&["run", s(&cfg), "--out", s(&out), "--quiet"]));
}

/// Item 15: errors are one line; user text is escaped.
#[test]
fn user_text_in_errors_is_escaped() {
    for desc in ["int(bits=9\n9)", "int(bits=\u{1b}[31m8)", "adaptiv\nfloat(n=8,e=3)"] {
        let o = quantlab(&["values", desc, "--max", "1"]);
        assert_fails(&o, "");
        assert!(!String::from_utf8_lossy(&o.stderr).contains('\u{1b}'));
    }
    let d = dir("escape");
    let npy = d.join("tab.npy");
    write_npy(&npy, &[2], &[1.0, 2.0]).unwrap();
    assert_fails(&quantlab(&["quantize", "int(bits=8)", s(&npy), "-o", s(&d.join("o.npy")), "--granularity", "blo\nck:4"]), "granularity `blo\\nck:4`");
}

/// Item 16: the line of an unknown key inside a [[format]] table.
#[test]
fn a_bad_format_key_names_its_own_line() {
    let d = dir("key-line");
    let quickstart = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/quickstart.toml")).unwrap();
    let line = quickstart.trim_end().lines().count() + 1;
    let cfg = d.join("quickstart.toml");
    std::fs::write(&cfg, format!("{}\nbogus_key = 1\n", quickstart.trim_end())).unwrap();
    assert_fails(&quantlab(&["run", s(&cfg), "--dry-run"]), &format!("quickstart.toml:{line}:1: bfp has no parameter `bogus_key`"));
}

/// Also: NaN and Inf counts in inspect's table; a failed encode writes
/// nothing.
#[test]
fn inspect_counts_nan_and_failed_encodes_write_nothing() {
    let d = dir("nan");
    let nan = d.join("nan.npy");
    write_npy(&nan, &[4], &[f32::NAN, f32::NAN, f32::INFINITY, f32::NAN]).unwrap();
    let o = quantlab(&["inspect", s(&nan)]);
    ok(&o);
    let text = String::from_utf8_lossy(&o.stdout);
    let row = text.lines().nth(1).unwrap();
    assert!(row.split_whitespace().rev().take(2).collect::<Vec<_>>() == ["1", "3"], "{text}");
    assert!(text.contains("no finite values, 3 NaN, 1 Inf"), "{text}");
    let out = d.join("o.npy");
    assert_fails(&quantlab(&["quantize", "int(bits=4,mode=asymmetric)", s(&nan), "-o", s(&out), "--encode", s(&d.join("o.qlab"))]), "NaN");
    assert!(!out.exists() && !d.join("o.qlab").exists(), "a failed encode left files behind");
}
