//! # quantlab-runner
//!
//! The product's main job: `quantlab run CONFIG.toml`. A configuration
//! ([`config`]) expands into cells (tensor x format x clamp x granularity x
//! seed); cells run in parallel on rayon, each tensor loaded once and
//! shared; every finished cell is saved at once ([`store`]), so an
//! interrupted run keeps its results and a rerun completes the rest. The
//! results table does not depend on the thread count (apart from timing).
//! `--shard I/N` runs a deterministic 1/N of the cells; [`merge`] joins
//! shard folders into the same tables as an unsharded run.

pub mod config;
pub mod metrics;
pub mod store;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use quantlab_clamp::Clamper;
use quantlab_formats::{Granularity, ParamValue};
use quantlab_tensors::Tensor;
use rayon::prelude::*;

use crate::config::Plan;
use crate::store::{Row, Value};

/// What `quantlab run` was asked to do.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub config: PathBuf,
    /// Overrides the configuration's output folder.
    pub out: Option<PathBuf>,
    pub threads: Option<usize>,
    pub dry_run: bool,
    pub fresh: bool,
    pub quiet: bool,
    /// Run cells with `index % N == I` into their own folder.
    pub shard: Option<(usize, usize)>,
}

/// What a run did.
#[derive(Clone, Debug, PartialEq)]
pub struct RunReport {
    pub out: PathBuf,
    pub cells: usize,
    pub skipped_done: usize,
    pub ran: usize,
    pub element_quantizations: u64,
    pub seconds: f64,
}

/// One tensor the sweep measures: loaded data and the seed it was drawn with
/// (synthetic data), or `None` (files: any seed).
struct Loaded {
    source: String,
    tensor: Tensor,
    drawn_with: Option<u64>,
    stats: ValueStats,
}

/// Per-tensor facts the reports plot (value ranges, DAC'20 Figure 1; the
/// Laplace scale b for Banner's alpha/b axis), over finite values.
#[derive(Clone, Copy, Debug)]
struct ValueStats {
    min: f64,
    max: f64,
    std: f64,
    /// `mean|x - mean(x)|`, the Laplace scale estimate of ACIQ.
    b: f64,
}

impl ValueStats {
    fn of(t: &Tensor) -> ValueStats {
        let s = quantlab_clamp::GroupStats::of(&t.data);
        ValueStats { min: s.min as f64, max: s.max as f64, std: s.var.sqrt(), b: s.mean_abs_dev }
    }
}

/// One cell: indices into the plan.
#[derive(Clone, Copy, Debug)]
struct Cell {
    index: usize,
    tensor: usize,
    format: usize,
    clamp: usize,
    granularity: usize,
    seed: u64,
}

fn fnv64(text: &str) -> String {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in text.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn applies(g: Granularity, shape: &[usize]) -> bool {
    match g {
        Granularity::Channel { axis } => axis < shape.len(),
        _ => true,
    }
}

fn load_tensors(plan: &Plan) -> Result<(Vec<Loaded>, Vec<String>), String> {
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    for s in &plan.sources {
        match &s.source {
            config::SourceTemplate::Synthetic { .. } => {
                for &seed in &plan.seeds {
                    let (ts, _) = s.source.source(seed).load().map_err(|e| e.to_string())?;
                    out.extend(ts.into_iter().map(|tensor| Loaded { source: s.label.clone(), stats: ValueStats::of(&tensor), tensor, drawn_with: Some(seed) }));
                }
            }
            config::SourceTemplate::Fixed(src) => {
                let (ts, skipped) = src.load().map_err(|e| e.to_string())?;
                notes.extend(skipped.into_iter().map(|(n, why)| format!("{}: skipped {n}: {why}", s.label)));
                out.extend(ts.into_iter().map(|tensor| Loaded { source: s.label.clone(), stats: ValueStats::of(&tensor), tensor, drawn_with: None }));
            }
        }
    }
    Ok((out, notes))
}

fn cells_of(plan: &Plan, tensors: &[Loaded], shard: Option<(usize, usize)>) -> Vec<Cell> {
    let mut cells = Vec::new();
    let mut index = 0;
    for (t, lt) in tensors.iter().enumerate() {
        let seeds: Vec<u64> = lt.drawn_with.map_or_else(|| plan.seeds.clone(), |s| vec![s]);
        for (f, _) in plan.formats.iter().enumerate() {
            for (c, _) in plan.clamps.iter().enumerate() {
                for (g, &gran) in plan.granularities.iter().enumerate() {
                    if !applies(gran, &lt.tensor.shape) {
                        continue;
                    }
                    for &seed in &seeds {
                        if shard.is_none_or(|(i, n)| index % n == i) {
                            cells.push(Cell { index, tensor: t, format: f, clamp: c, granularity: g, seed });
                        }
                        index += 1;
                    }
                }
            }
        }
    }
    cells
}

/// Group length and row length of a tensor at a granularity (for bits per element).
fn group_shape(g: Granularity, shape: &[usize]) -> (usize, usize) {
    let numel: usize = shape.iter().product();
    let last = shape.last().copied().unwrap_or(1).max(1);
    match g {
        Granularity::Tensor => (numel, last),
        Granularity::Channel { axis } => {
            let rows = if axis + 1 == shape.len() { 1 } else { last };
            (numel / shape[axis].max(1), rows)
        }
        Granularity::Block { size } => (size.min(last), size.min(last)),
    }
}

fn param_value(v: &ParamValue) -> Value {
    match v {
        ParamValue::Int(i) => Value::Int(*i),
        ParamValue::Float(f) => Value::Float(*f),
        ParamValue::Bool(b) => Value::Str(b.to_string()),
        ParamValue::Str(s) => Value::Str(s.clone()),
    }
}

fn run_cell(plan: &Plan, tensors: &[Loaded], cell: Cell, scratch: &mut Vec<f32>) -> Result<Row, String> {
    let lt = &tensors[cell.tensor];
    let t = &lt.tensor;
    let pf = &plan.formats[cell.format];
    let gran = plan.granularities[cell.granularity];
    let strategy = &plan.clamps[cell.clamp];
    let clamper = Clamper::new(&**strategy);
    let start = Instant::now();
    scratch.resize(t.data.len(), 0.0);
    quantlab_formats::quantize_into(&*pf.format, &t.data, &t.shape, gran, Some(&clamper), cell.seed, scratch).map_err(|e| format!("{}: {e}", t.name))?;
    let m = metrics::measure(&t.data, scratch);
    let elapsed = start.elapsed().as_secs_f64() * 1e3;
    let chosen = clamper.chosen();
    let clipped: usize = chosen.iter().map(|c| c.clipped).sum();
    let (group_len, row_len) = group_shape(gran, &t.shape);
    let mean = |f: &dyn Fn(&quantlab_clamp::Chosen) -> f32| chosen.iter().map(|c| f(c) as f64).sum::<f64>() / chosen.len().max(1) as f64;
    let mut r = Row::default();
    r.push("cell", Value::Int(cell.index as i64));
    r.push("source", Value::Str(lt.source.clone()));
    r.push("tensor", Value::Str(t.name.clone()));
    r.push("shape", Value::Str(t.shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x")));
    r.push("numel", Value::Int(t.data.len() as i64));
    r.push("format", Value::Str(pf.format.describe()));
    r.push("family", Value::Str(pf.spec.family.clone()));
    r.push("series", Value::Str(pf.series.clone()));
    r.push("bits", Value::Int(pf.format.code_bits() as i64));
    for (k, v) in &pf.spec.params {
        r.push(&format!("p_{k}"), param_value(v));
    }
    r.push("clamp", Value::Str(strategy.describe()));
    r.push("granularity", Value::Str(gran.to_string()));
    r.push("seed", Value::Int(cell.seed as i64));
    r.push("mse", Value::Float(m.mse));
    r.push("rmse", Value::Float(m.rmse));
    r.push("sqnr_db", Value::Float(m.sqnr_db));
    r.push("max_abs_err", Value::Float(m.max_abs_err));
    r.push("mean_rel_err", Value::Float(m.mean_rel_err));
    r.push("cosine", Value::Float(m.cosine));
    r.push("clipped_fraction", Value::Float(clipped as f64 / m.finite.max(1) as f64));
    r.push("underflow_fraction", Value::Float(m.underflow_fraction));
    r.push("bits_per_element", Value::Float(pf.format.bits_per_element(group_len, row_len)));
    r.push("finite", Value::Int(m.finite as i64));
    r.push("nan_in", Value::Int(m.nan_in as i64));
    r.push("inf_in", Value::Int(m.inf_in as i64));
    r.push("groups", Value::Int(chosen.len() as i64));
    r.push("clip_alpha", Value::Float(mean(&|c| c.range.alpha())));
    r.push("clip_lo", Value::Float(mean(&|c| c.range.lo)));
    r.push("clip_hi", Value::Float(mean(&|c| c.range.hi)));
    r.push("x_min", Value::Float(lt.stats.min));
    r.push("x_max", Value::Float(lt.stats.max));
    r.push("x_std", Value::Float(lt.stats.std));
    r.push("x_b", Value::Float(lt.stats.b));
    r.push("time_ms", Value::Float(elapsed));
    Ok(r)
}

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

fn git_revision() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn read_manifest(out: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).ok()?).ok()
}

fn write_manifest(out: &Path, manifest: &serde_json::Value) -> Result<(), String> {
    let tmp = out.join(".manifest.json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(manifest).expect("json")).and_then(|_| std::fs::rename(&tmp, out.join("manifest.json"))).map_err(|e| format!("{}: cannot write manifest: {e}", out.display()))
}

/// The output folder of a run.
pub fn output_dir(plan: &Plan, opts: &RunOptions) -> PathBuf {
    let base = opts.out.clone().unwrap_or_else(|| plan.output.clone());
    match opts.shard {
        Some((i, n)) if opts.out.is_none() => base.join(format!("shard-{i}-of-{n}")),
        _ => base,
    }
}

/// Run (or with `dry_run`, describe) a sweep. Progress goes to stderr;
/// `print` receives the lines a user should read (plan, summary).
pub fn run(opts: &RunOptions, mut print: impl FnMut(&str)) -> Result<RunReport, String> {
    let (plan, text) = config::load(&opts.config).map_err(|e| e.to_string())?;
    let hash = fnv64(&text);
    let (tensors, notes) = load_tensors(&plan)?;
    for n in &notes {
        print(n);
    }
    let cells = cells_of(&plan, &tensors, opts.shard);
    let elements: u64 = cells.iter().map(|c| tensors[c.tensor].tensor.data.len() as u64).sum();
    let out = output_dir(&plan, opts);
    if opts.dry_run {
        print(&format!(
            "{}: {} sources -> {} tensors (synthetic data drawn per seed) x {} formats x {} clamps x {} granularities; seeds {:?}",
            plan.name,
            plan.sources.len(),
            tensors.len(),
            plan.formats.len(),
            plan.clamps.len(),
            plan.granularities.len(),
            plan.seeds
        ));
        print(&format!("{} cells, {elements} element-quantizations, output {}", cells.len(), out.display()));
        for d in &plan.dropped {
            print(&format!("dropped (skip_invalid): {d}"));
        }
        for c in cells.iter().take(8) {
            print(&format!(
                "  cell {}: {} | {} | clamp {} | {} | seed {}",
                c.index,
                tensors[c.tensor].tensor.name,
                plan.formats[c.format].format.describe(),
                plan.clamps[c.clamp].describe(),
                plan.granularities[c.granularity],
                c.seed
            ));
        }
        if cells.len() > 8 {
            print(&format!("  ... and {} more", cells.len() - 8));
        }
        return Ok(RunReport { out, cells: cells.len(), skipped_done: 0, ran: 0, element_quantizations: elements, seconds: 0.0 });
    }
    // The output folder: refuse a different configuration unless --fresh.
    if let Some(m) = read_manifest(&out) {
        let old = m.get("config_hash").and_then(|h| h.as_str()).unwrap_or("");
        if old != hash && !opts.fresh {
            return Err(format!(
                "{}: holds results of a different configuration (hash {old}, now {hash}); use --fresh to start over, or --out for another folder",
                out.display()
            ));
        }
    }
    if opts.fresh && out.exists() {
        std::fs::remove_dir_all(store::cells_dir(&out)).ok();
    }
    std::fs::create_dir_all(store::cells_dir(&out)).map_err(|e| format!("{}: cannot create: {e}", out.display()))?;
    let done = store::load_cells(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let todo: Vec<Cell> = cells.iter().copied().filter(|c| !done.contains_key(&c.index)).collect();
    let threads = opts.threads.unwrap_or_else(rayon::current_num_threads);
    let started = now();
    let mut manifest = serde_json::json!({
        "name": plan.name,
        "config_file": opts.config.display().to_string(),
        "config": text,
        "config_hash": hash,
        "git_revision": git_revision(),
        "quantlab_version": env!("CARGO_PKG_VERSION"),
        "threads": threads,
        "shard": opts.shard.map(|(i, n)| format!("{i}/{n}")),
        "cells": cells.len(),
        "started": started,
        "finished": null,
    });
    write_manifest(&out, &manifest)?;
    let bar = ProgressBar::new(todo.len() as u64);
    if opts.quiet || !std::io::stdout().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} cells  {per_sec}  ETA {eta}").expect("template"));
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().map_err(|e| e.to_string())?;
    let clock = Instant::now();
    pool.install(|| {
        todo.par_iter().try_for_each_init(Vec::new, |scratch, &cell| {
            let row = run_cell(&plan, &tensors, cell, scratch)?;
            store::save_cell(&out, cell.index, &row).map_err(|e| format!("{}: cannot save cell {}: {e}", out.display(), cell.index))?;
            bar.inc(1);
            Ok::<(), String>(())
        })
    })?;
    bar.finish_and_clear();
    let seconds = clock.elapsed().as_secs_f64();
    let rows = store::write_tables(&out)?;
    manifest["finished"] = serde_json::Value::String(now());
    write_manifest(&out, &manifest)?;
    let ran_elements: u64 = todo.iter().map(|c| tensors[c.tensor].tensor.data.len() as u64).sum();
    print(&format!(
        "{}: {} cells ({} run now, {} already done) in {seconds:.2} s, {:.1} M element-quantizations/s; {} rows in results.parquet/csv, summary.parquet/csv",
        out.display(),
        cells.len(),
        todo.len(),
        cells.len() - todo.len(),
        ran_elements as f64 / seconds.max(1e-9) / 1e6,
        rows
    ));
    Ok(RunReport { out, cells: cells.len(), skipped_done: cells.len() - todo.len(), ran: todo.len(), element_quantizations: elements, seconds })
}

/// Join shard folders into `out`: same tables as an unsharded run. All
/// shards must come from the same configuration.
pub fn merge(out: &Path, shards: &[PathBuf]) -> Result<usize, String> {
    let mut hash = None;
    let mut manifest = None;
    std::fs::create_dir_all(store::cells_dir(out)).map_err(|e| format!("{}: cannot create: {e}", out.display()))?;
    for s in shards {
        let m = read_manifest(s).ok_or_else(|| format!("{}: no manifest.json; is it a shard folder of `quantlab run --shard`?", s.display()))?;
        let h = m.get("config_hash").and_then(|h| h.as_str()).unwrap_or("").to_string();
        match &hash {
            None => hash = Some(h),
            Some(x) if *x != h => return Err(format!("{}: comes from a different configuration (hash {h}, expected {x})", s.display())),
            _ => {}
        }
        for (index, row) in store::load_cells(s).map_err(|e| format!("{}: {e}", s.display()))? {
            store::save_cell(out, index, &row).map_err(|e| format!("{}: {e}", out.display()))?;
        }
        manifest.get_or_insert(m);
    }
    let mut m = manifest.ok_or("no shard folders given")?;
    m["shard"] = serde_json::Value::Null;
    m["merged_from"] = serde_json::json!(shards.iter().map(|s| s.display().to_string()).collect::<Vec<_>>());
    m["finished"] = serde_json::Value::String(now());
    write_manifest(out, &m)?;
    store::write_tables(out)
}
