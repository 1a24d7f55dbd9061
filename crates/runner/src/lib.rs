//! # quantlab-runner
//!
//! The product's main job: `quantlab run CONFIG.toml`. A configuration
//! ([`config`]) expands into cells (tensor x format x clamp x granularity x
//! seed); cells run in parallel on rayon, each tensor loaded once and
//! shared; every finished cell is saved at once (`quantlab_results::store`), so an
//! interrupted run keeps its results and a rerun completes the rest. The
//! results table does not depend on the thread count (apart from timing).
//! `--shard I/N` runs a deterministic 1/N of the cells; [`merge`] joins
//! shard folders into the same tables as an unsharded run.

#![warn(missing_docs)]

pub mod config;
pub mod inputs;
mod model_sweep;
mod tensor_sweep;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use quantlab_formats::{Granularity, ParamValue};
use rayon::prelude::*;

use crate::config::Plan;
use quantlab_results::store;
use quantlab_results::store::{Row, Value};

/// A check of configuration text (`text`, `file`), one error line or nothing.
pub type SectionCheck = fn(&str, &str) -> Result<(), String>;

/// What `quantlab run` was asked to do.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// The configuration file.
    pub config: PathBuf,
    /// Overrides the configuration's output folder.
    pub out: Option<PathBuf>,
    /// Worker threads (default: one per core).
    pub threads: Option<usize>,
    /// Describe the plan without running it.
    pub dry_run: bool,
    /// Discard earlier results in the output folder.
    pub fresh: bool,
    /// No progress bar.
    pub quiet: bool,
    /// Run cells with `index % N == I` into their own folder.
    pub shard: Option<(usize, usize)>,
    /// A memory budget in bytes for the data a tensor sweep holds at once
    /// (its tensors as f32 plus each worker's scratch: a piece of 1 MiB, or a
    /// whole tensor that cannot be split); default: a
    /// window of 256 MiB of tensors.
    pub memory: Option<u64>,
    /// Checks the sections of the configuration the runner leaves to others
    /// (`[report]`, `[[claim]]`: `quantlab_report::Settings::check`), given
    /// the text and the file's name; called after the runner's own sections
    /// are read and before any work, so the first error in the file is the
    /// one reported.
    pub check_sections: Option<SectionCheck>,
}

/// What a run did.
#[derive(Clone, Debug, PartialEq)]
pub struct RunReport {
    /// The output folder.
    pub out: PathBuf,
    /// Cells of this run (of its shard).
    pub cells: usize,
    /// Cells already done by an earlier run.
    pub skipped_done: usize,
    /// Cells run now.
    pub ran: usize,
    /// Planned (dry run) or done (run), clip searches included.
    pub element_quantizations: u64,
    /// Elements of the cells run (each once).
    pub elements: u64,
    /// Wall time of the run.
    pub seconds: f64,
}

/// What a sweep's cells are made of: tensors x settings ([`tensor_sweep`])
/// or a model evaluated per setting ([`model_sweep`]). The run loop
/// (resuming, shards, progress, tables) is the same for both.
pub(crate) trait Sweep: Sync + Send {
    /// Cells before sharding; cell `i` has index `i`.
    fn len(&self) -> usize;
    /// The elements a cell quantizes (each once in its result).
    fn elements(&self, cell: usize) -> u64;
    /// The element-quantizations a cell's clip search is planned to add
    /// (a row's [`store::ELEMENT_QUANTIZATIONS`] says what it did).
    fn planned_search(&self, _cell: usize) -> u64 {
        0
    }
    /// The dry-run's first line: what is crossed with what.
    fn summary(&self) -> String;
    /// One cell, for the dry-run.
    fn describe(&self, cell: usize) -> String;
    /// Work that only a real run needs (e.g. the fp32 reference).
    fn prepare(&mut self, _print: &mut dyn FnMut(&str)) -> Result<(), String> {
        Ok(())
    }
    /// The cells to run, cut into batches run one after the other (each in
    /// parallel): a tensor sweep streams its tensors through them.
    fn batches(&self, todo: &[usize]) -> Vec<Vec<usize>> {
        vec![todo.to_vec()]
    }
    /// Ready what a batch's cells read (and free what they do not).
    fn load(&mut self, _batch: &[usize]) -> Result<(), String> {
        Ok(())
    }
    /// The dry run's line on memory, for these cells.
    fn memory_plan(&self, _cells: &[usize]) -> Option<String> {
        None
    }
    /// Hold at most `bytes` of data at once while running `cells` on
    /// `threads` workers, or say why that is impossible.
    fn set_memory_budget(&mut self, _bytes: u64, _cells: &[usize], _threads: usize) -> Result<(), String> {
        Ok(())
    }
    fn run(&self, cell: usize, scratch: &mut Vec<f32>) -> Result<Row, String>;
}

/// The setting of one cell: which format, clamp and granularity of the
/// plan, and the seed. Tensor and model sweeps cross the same four axes;
/// a tensor sweep adds the tensor.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Setting {
    pub format: usize,
    pub clamp: usize,
    pub granularity: usize,
    pub seed: u64,
}

impl Setting {
    /// Every setting of the plan in cell order (format, clamp, granularity,
    /// seed), over `seeds` and the granularities `applies` keeps.
    pub fn all(plan: &Plan, seeds: &[u64], applies: impl Fn(Granularity) -> bool) -> Vec<Setting> {
        let mut out = Vec::new();
        for format in 0..plan.formats.len() {
            for clamp in 0..plan.clamps.len() {
                for (granularity, &g) in plan.granularities.iter().enumerate() {
                    if applies(g) && plan.formats[format].granularities.as_ref().is_none_or(|own| own.contains(&g)) {
                        out.extend(seeds.iter().map(|&seed| Setting { format, clamp, granularity, seed }));
                    }
                }
            }
        }
        out
    }

    /// The axes a plan crosses, for the dry-run's first line.
    pub fn axes(plan: &Plan) -> String {
        format!("{} formats x {} clamps x {} granularities; seeds {:?}", plan.formats.len(), plan.clamps.len(), plan.granularities.len(), plan.seeds)
    }

    pub fn format<'p>(&self, plan: &'p Plan) -> &'p config::PlannedFormat {
        &plan.formats[self.format]
    }

    pub fn strategy<'p>(&self, plan: &'p Plan) -> &'p dyn quantlab_clamp::Strategy {
        &*plan.clamps[self.clamp]
    }

    pub fn granularity(&self, plan: &Plan) -> Granularity {
        plan.granularities[self.granularity]
    }

    /// `format | clamp C | granularity | seed S`, for the dry-run.
    pub fn describe(&self, plan: &Plan) -> String {
        format!("{} | clamp {} | {} | seed {}", self.format(plan).format.describe(), self.strategy(plan).describe(), self.granularity(plan), self.seed)
    }

    /// The columns that name the setting: the format's description, family,
    /// series, code bits and each parameter as `p_<name>`, then clamp,
    /// granularity and seed.
    pub fn push_columns(&self, plan: &Plan, r: &mut Row) {
        let pf = self.format(plan);
        r.push("format", Value::Str(pf.format.describe()));
        r.push("family", Value::Str(pf.spec.family.clone()));
        r.push("series", Value::Str(pf.series.clone()));
        r.push("bits", Value::Int(pf.format.code_bits() as i64));
        for (k, v) in &pf.spec.params {
            let v = match v {
                ParamValue::Int(i) => Value::Int(*i),
                ParamValue::Float(f) => Value::Float(*f),
                ParamValue::Bool(b) => Value::Str(b.to_string()),
                ParamValue::Str(s) => Value::Str(s.clone()),
                list @ ParamValue::List(_) => Value::Str(list.to_string()),
            };
            r.push(&format!("p_{k}"), v);
        }
        r.push("clamp", Value::Str(self.strategy(plan).describe()));
        r.push("granularity", Value::Str(self.granularity(plan).to_string()));
        r.push("seed", Value::Int(self.seed as i64));
    }
}

fn fnv64(text: &str) -> String {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in text.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
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
    let text = serde_json::to_string_pretty(manifest).expect("json");
    quantlab_tensors::write_atomically(&out.join("manifest.json"), |f| std::io::Write::write_all(f, text.as_bytes())).map_err(|e| format!("{}: cannot write manifest: {e}", out.display()))
}

/// Rebuild the tables from the saved cells and record their fingerprint in
/// the manifest, written last: a folder's manifest names the tables its
/// run finished with. The rows written.
fn finish_tables(out: &Path, manifest: &mut serde_json::Value) -> Result<usize, String> {
    let rows = store::write_tables(out)?;
    manifest["tables"] = store::tables_fingerprint(out, rows)?;
    write_manifest(out, manifest)?;
    Ok(rows)
}

/// The output folder of a run.
pub fn output_dir(plan: &Plan, opts: &RunOptions) -> PathBuf {
    let base = opts.out.clone().unwrap_or_else(|| plan.output.clone());
    match opts.shard {
        Some((i, n)) if opts.out.is_none() => base.join(format!("shard-{i}-of-{n}")),
        _ => base,
    }
}

/// What a report needs to know of the plan (kept in the manifest).
fn sweep_summary(plan: &Plan) -> quantlab_results::SweepSummary {
    quantlab_results::SweepSummary {
        seeds: plan.seeds.clone(),
        sources: plan.sources.iter().map(|s| s.label.clone()).collect(),
        formats: plan.formats.len(),
        clamps: plan.clamps.len(),
        granularities: plan.granularities.len(),
        model: plan.model.as_ref().map(|m| quantlab_results::ModelSummary {
            path: m.path.display().to_string(),
            sentences: m.sentences.display().to_string(),
            quantize: format!("{:?}", m.target).to_lowercase(),
        }),
    }
}

/// Run (or with `dry_run`, describe) a sweep. Progress goes to stderr;
/// `print` receives the lines a user should read (plan, summary).
pub fn run(opts: &RunOptions, mut print: impl FnMut(&str)) -> Result<RunReport, String> {
    let (plan, text) = config::load(&opts.config).map_err(|e| e.to_string())?;
    if let Some(check) = opts.check_sections {
        check(&text, &opts.config.display().to_string())?;
    }
    let hash = fnv64(&text);
    let mut sweep: Box<dyn Sweep> = match &plan.model {
        Some(m) => Box::new(model_sweep::ModelSweep::new(&plan, m, &opts.config.display().to_string())?),
        None => {
            let (sweep, notes) = tensor_sweep::TensorSweep::new(&plan)?;
            for n in &notes {
                print(n);
            }
            Box::new(sweep)
        }
    };
    let cells: Vec<usize> = (0..sweep.len()).filter(|i| opts.shard.is_none_or(|(s, n)| i % n == s)).collect();
    let elements: u64 = cells.iter().map(|&c| sweep.elements(c).saturating_add(sweep.planned_search(c))).fold(0, u64::saturating_add);
    let out = output_dir(&plan, opts);
    let threads = opts.threads.unwrap_or_else(rayon::current_num_threads);
    if let Some(bytes) = opts.memory {
        sweep.set_memory_budget(bytes, &cells, threads)?;
    }
    if opts.dry_run {
        print(&sweep.summary());
        print(&format!("{} cells, {elements} element-quantizations (clip searches included), output {}", cells.len(), out.display()));
        if let Some(m) = sweep.memory_plan(&cells) {
            print(&m);
        }
        for d in &plan.dropped {
            print(&format!("dropped (skip_invalid): {d}"));
        }
        for &c in cells.iter().take(8) {
            print(&format!("  cell {c}: {}", sweep.describe(c)));
        }
        if cells.len() > 8 {
            print(&format!("  ... and {} more", cells.len() - 8));
        }
        return Ok(RunReport { out, cells: cells.len(), skipped_done: 0, ran: 0, element_quantizations: elements, elements: 0, seconds: 0.0 });
    }
    // The output folder: one run at a time; refuse results of a different
    // configuration or of different data unless --fresh.
    let _lock = store::lock(&out)?;
    let inputs = inputs::fingerprint(&plan)?;
    if let Some(m) = read_manifest(&out).filter(|_| !opts.fresh) {
        let old = m.get("config_hash").and_then(|h| h.as_str()).unwrap_or("");
        if old != hash {
            return Err(format!("{}: holds results of a different configuration (hash {old}, now {hash}); use --fresh to start over, or --out for another folder", out.display()));
        }
        if let Some(why) = inputs::difference(m.get("inputs").unwrap_or(&serde_json::Value::Null), &inputs) {
            return Err(format!("{}: holds results made from other data ({why}); use --fresh to start over, or --out for another folder", out.display()));
        }
    }
    if opts.fresh {
        store::clear(&out).map_err(|e| format!("{}: cannot clear the earlier results: {e}", out.display()))?;
    }
    std::fs::create_dir_all(store::cells_dir(&out)).map_err(|e| format!("{}: cannot create: {e}", out.display()))?;
    let done = store::load_cells(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let todo: Vec<usize> = cells.iter().copied().filter(|c| !done.contains_key(c)).collect();
    if !todo.is_empty() {
        sweep.prepare(&mut print)?;
    }
    let started = now();
    let mut manifest = serde_json::json!({
        "name": plan.name,
        "config_file": opts.config.display().to_string(),
        "config": text,
        "config_hash": hash,
        "inputs": inputs,
        "sweep": sweep_summary(&plan),
        "git_revision": git_revision(),
        "quantlab_version": env!("CARGO_PKG_VERSION"),
        "threads": threads,
        "shard": opts.shard.map(|(i, n)| format!("{i}/{n}")),
        "plan_cells": sweep.len(),
        "cells": cells.len(),
        "started": started,
        "finished": null,
        "tables": null,
    });
    write_manifest(&out, &manifest)?;
    let bar = ProgressBar::new(todo.len() as u64);
    if opts.quiet || !std::io::stdout().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} cells  {per_sec}  ETA {eta}").expect("template"));
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().map_err(|e| e.to_string())?;
    let clock = Instant::now();
    let done_work = std::sync::atomic::AtomicU64::new(0);
    for batch in sweep.batches(&todo) {
        // Inside the pool: reading a tensor converts its pieces in parallel.
        pool.install(|| sweep.load(&batch))?;
        let sweep = &*sweep;
        pool.install(|| {
            batch.par_iter().try_for_each_init(Vec::new, |scratch, &cell| {
                let row = sweep.run(cell, scratch)?;
                let work = match row.get(store::ELEMENT_QUANTIZATIONS) {
                    Some(Value::Int(n)) => *n as u64,
                    _ => sweep.elements(cell) + sweep.planned_search(cell),
                };
                done_work.fetch_add(work, std::sync::atomic::Ordering::Relaxed);
                store::save_cell(&out, cell, &row).map_err(|e| format!("{}: cannot save cell {cell}: {e}", out.display()))?;
                bar.inc(1);
                Ok::<(), String>(())
            })
        })?;
    }
    sweep.load(&[])?;
    bar.finish_and_clear();
    let seconds = clock.elapsed().as_secs_f64();
    manifest["finished"] = serde_json::Value::String(now());
    let rows = finish_tables(&out, &mut manifest)?;
    let work = done_work.into_inner();
    let ran_elements: u64 = todo.iter().map(|&c| sweep.elements(c)).fold(0, u64::saturating_add);
    let rate = |n: u64| n as f64 / seconds.max(1e-9) / 1e6;
    let speed = if todo.is_empty() {
        "nothing left to run (--fresh starts over)".to_string()
    } else {
        format!("{seconds:.2} s, {:.1} M element-quantizations/s (clip searches included; {:.1} M cell elements/s)", rate(work), rate(ran_elements))
    };
    print(&format!("{}: {} cells ({} run now, {} already done): {speed}; {rows} rows in results.parquet/csv, summary.parquet/csv", out.display(), cells.len(), todo.len(), cells.len() - todo.len(),));
    Ok(RunReport { out, cells: cells.len(), skipped_done: cells.len() - todo.len(), ran: todo.len(), element_quantizations: work, elements: ran_elements, seconds })
}

/// What a merge did.
#[derive(Clone, Debug, PartialEq)]
pub struct MergeReport {
    /// Rows of the merged table.
    pub rows: usize,
    /// Cells of the whole plan that no shard holds (empty unless
    /// `allow_partial`).
    pub missing: usize,
    /// Cells of the whole plan.
    pub plan_cells: usize,
}

/// One shard folder as its manifest describes it.
struct Shard {
    dir: PathBuf,
    manifest: serde_json::Value,
    index: usize,
    of: usize,
    cells: BTreeMap<usize, store::Row>,
}

/// Join shard folders into `out`: the same tables as an unsharded run. All
/// shards must come from the same configuration and the same data, each
/// must be complete, and together they must be the whole plan; otherwise
/// the error says which cells are missing and why, unless `allow_partial`.
pub fn merge(out: &Path, shards: &[PathBuf], allow_partial: bool) -> Result<MergeReport, String> {
    if shards.is_empty() {
        return Err("no shard folders given".into());
    }
    let mut read = Vec::new();
    for dir in shards {
        let manifest = read_manifest(dir).ok_or_else(|| format!("{}: no manifest.json; is it a shard folder of `quantlab run --shard`?", dir.display()))?;
        let (index, of) = manifest
            .get("shard")
            .and_then(|s| s.as_str())
            .and_then(|s| s.split_once('/'))
            .and_then(|(i, n)| Some((i.parse::<usize>().ok()?, n.parse::<usize>().ok()?)))
            .ok_or_else(|| format!("{}: not a shard (its manifest has no `shard` I/N); it was not written by `quantlab run --shard`", dir.display()))?;
        let cells = store::load_cells(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        read.push(Shard { dir: dir.clone(), manifest, index, of, cells });
    }
    let first = &read[0];
    let plan_cells = first
        .manifest
        .get("plan_cells")
        .and_then(|c| c.as_u64())
        .ok_or_else(|| format!("{}: its manifest does not say how many cells the plan has (written by an older quantlab); run the shards again", first.dir.display()))? as usize;
    let mut seen = BTreeMap::new();
    for s in &read {
        for key in ["config_hash", "inputs", "plan_cells"] {
            if s.manifest.get(key) != first.manifest.get(key) {
                let what = if key == "inputs" { "different data" } else { "a different configuration" };
                return Err(format!("{}: comes from {what} than {} (its `{key}` differs)", s.dir.display(), first.dir.display()));
            }
        }
        if s.of != first.of {
            return Err(format!("{}: is shard {}/{}, but {} is one of {}", s.dir.display(), s.index, s.of, first.dir.display(), first.of));
        }
        if let Some(other) = seen.insert(s.index, &s.dir) {
            return Err(format!("{}: shard {}/{} is given twice (also {})", s.dir.display(), s.index, s.of, other.display()));
        }
    }
    // What is missing, and why, before anything is written.
    let mut problems = Vec::new();
    for i in (0..first.of).filter(|i| !seen.contains_key(i)) {
        problems.push(format!("shard {i}/{} was not given", first.of));
    }
    for s in &read {
        let expected = (0..plan_cells).filter(|c| c % s.of == s.index).count();
        let stray = s.cells.keys().find(|&&c| c >= plan_cells || c % s.of != s.index);
        if let Some(c) = stray {
            return Err(format!("{}: holds cell {c}, which is not one of shard {}/{}'s", s.dir.display(), s.index, s.of));
        }
        if s.cells.len() < expected {
            problems.push(format!("{} holds {} of its {expected} cells (resume it with `quantlab run --shard {}/{}`)", s.dir.display(), s.cells.len(), s.index, s.of));
        }
    }
    let held: usize = read.iter().map(|s| s.cells.len()).sum();
    let missing = plan_cells - held;
    if missing > 0 {
        let mut cells: Vec<usize> = (0..plan_cells).filter(|c| !read.iter().any(|s| s.cells.contains_key(c))).take(11).collect();
        let more = if cells.len() > 10 {
            cells.truncate(10);
            ", ..."
        } else {
            ""
        };
        let list = cells.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ");
        let what = format!("{missing} of the plan's {plan_cells} cells are missing (cells {list}{more}): {}", problems.join("; "));
        if !allow_partial {
            return Err(format!("{}: {what}; --allow-partial merges what there is", out.display()));
        }
    }
    let _lock = store::lock(out)?;
    if let Some(m) = read_manifest(out) {
        if m.get("config_hash") != first.manifest.get("config_hash") {
            return Err(format!("{}: holds results of a different configuration; merge into an empty folder", out.display()));
        }
    }
    store::clear(out).map_err(|e| format!("{}: cannot clear the earlier results: {e}", out.display()))?;
    std::fs::create_dir_all(store::cells_dir(out)).map_err(|e| format!("{}: cannot create: {e}", out.display()))?;
    for s in &read {
        for (index, row) in &s.cells {
            store::save_cell(out, *index, row).map_err(|e| format!("{}: {e}", out.display()))?;
        }
    }
    let mut m = first.manifest.clone();
    m["shard"] = serde_json::Value::Null;
    m["cells"] = serde_json::json!(held);
    m["merged_from"] = serde_json::json!(shards.iter().map(|s| s.display().to_string()).collect::<Vec<_>>());
    m["partial"] = serde_json::json!(missing > 0);
    m["finished"] = serde_json::Value::String(now());
    m["tables"] = serde_json::Value::Null;
    write_manifest(out, &m)?;
    let rows = finish_tables(out, &mut m)?;
    Ok(MergeReport { rows, missing, plan_cells })
}
