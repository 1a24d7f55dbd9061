//! Tensor sweeps: cells are tensor x format x clamp x granularity x seed;
//! each tensor is loaded once and shared by its cells.
//!
//! Tensors stream: the cells to run are cut into batches of consecutive
//! tensors holding at most [`WINDOW_ELEMENTS`] values (or one tensor, when
//! it alone is larger); a batch's tensors are read (a file source reads
//! only those tensors), its cells run in parallel, and the tensors are
//! dropped before the next batch. Memory follows the largest batch, not
//! the checkpoint; cells, their order and their results are the same.

use std::time::Instant;

use quantlab_formats::memory;
use quantlab_formats::Granularity;
use quantlab_tensors::{Tensor, TensorInfo};

use crate::config::{self, Plan};
use quantlab_formats::stats::Stats;

use crate::{Setting, Sweep};
use quantlab_results::store::{Row, Value, ELEMENT_QUANTIZATIONS};

/// One tensor the sweep measures, as listed (name and shape, no data), and
/// the seed it is drawn with (synthetic data), or `None` (files: any seed).
struct Entry {
    source: String,
    /// Its place in the plan's sources.
    source_index: usize,
    info: TensorInfo,
    drawn_with: Option<u64>,
}

/// A tensor's data, loaded by [`Sweep::prepare`] (a dry run never loads).
struct Loaded {
    tensor: Tensor,
    /// The facts the reports plot (value ranges, DAC'20 Figure 1; the
    /// Laplace scale b for Banner's alpha/b axis).
    stats: Stats,
    /// The metrics' sums over the input alone, shared by the tensor's cells.
    input: quantlab_quantize::error::InputSums,
}

impl Loaded {
    fn new(tensor: Tensor) -> Loaded {
        let (stats, input) = rayon::join(|| Stats::of(&tensor.data), || quantlab_quantize::error::InputSums::of(&tensor.data));
        Loaded { stats, input, tensor }
    }
}

/// One cell: a tensor and a setting; its index is its place in the list.
#[derive(Clone, Copy, Debug)]
struct Cell {
    tensor: usize,
    setting: Setting,
}

fn applies(g: Granularity, shape: &[usize]) -> bool {
    match g {
        Granularity::Channel { axis } => axis < shape.len(),
        _ => true,
    }
}

/// The draws of a source, in sweep order: one per seed for synthetic data
/// (`Some(seed)`), one for a file (`None`: any seed).
fn draws(plan: &Plan, s: &config::PlannedSource) -> Vec<Option<u64>> {
    match &s.source {
        config::SourceTemplate::Synthetic { .. } => plan.seeds.iter().map(|&seed| Some(seed)).collect(),
        config::SourceTemplate::Fixed(_) => vec![None],
    }
}

/// Values held in memory at once by one batch of tensors (256 MiB as f32):
/// small sweeps load everything at once, as before streaming; a checkpoint
/// of billions of values streams through in pieces of this size.
pub(crate) const WINDOW_ELEMENTS: usize = 1 << 26;

/// The tensors of every source in sweep order (synthetic sources once per
/// seed), from their headers alone.
fn list_tensors(plan: &Plan) -> Result<(Vec<Entry>, Vec<String>), String> {
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    for (source_index, s) in plan.sources.iter().enumerate() {
        for seed in draws(plan, s) {
            let (infos, skipped) = s.source.source(seed.unwrap_or(0)).list().map_err(|e| e.to_string())?;
            if seed.is_none_or(|s| s == plan.seeds[0]) {
                notes.extend(skipped.into_iter().map(|(n, why)| format!("{}: skipped {n}: {why}", s.label)));
            }
            out.extend(infos.into_iter().map(|info| Entry { source: s.label.clone(), source_index, info, drawn_with: seed }));
        }
    }
    Ok((out, notes))
}

/// Read one listed tensor; a file that no longer matches its listing is an error.
fn load_entry(plan: &Plan, e: &Entry) -> Result<Loaded, String> {
    let source = plan.sources[e.source_index].source.source(e.drawn_with.unwrap_or(0));
    let t = source.load_one(&e.info.name).map_err(|err| format!("{}: {err}", e.source))?;
    if t.shape != e.info.shape {
        return Err(format!("{}: tensor {} changed while the run started (listed with shape {:?}, now {:?})", e.source, e.info.name, e.info.shape, t.shape));
    }
    Ok(Loaded::new(t))
}

fn numel(e: &Entry) -> usize {
    memory::checked_numel(&e.info.shape).unwrap_or(usize::MAX)
}

fn cells_of(plan: &Plan, entries: &[Entry]) -> Vec<Cell> {
    let mut cells = Vec::new();
    for (tensor, e) in entries.iter().enumerate() {
        let seeds: Vec<u64> = e.drawn_with.map_or_else(|| plan.seeds.clone(), |s| vec![s]);
        let settings = Setting::all(plan, &seeds, |g| applies(g, &e.info.shape));
        cells.extend(settings.into_iter().map(|setting| Cell { tensor, setting }));
    }
    cells
}

/// Values quantized at a time per cell (1 MiB of scratch per thread, in a
/// core's L2 cache; 16 MiB pieces ran no faster): a
/// tensor larger than this is quantized and measured in pieces, so a
/// cell holds a piece of output, not a copy of the tensor.
pub(crate) const PIECE_ELEMENTS: usize = 1 << 18;

/// The scratch values one cell needs: a piece, or the whole tensor when
/// it cannot be split (channels along an inner axis, a format that sees
/// a large group whole).
fn scratch_elements(plan: &Plan, entry: &Entry, setting: Setting) -> usize {
    let n = numel(entry);
    match quantlab_quantize::pieces::splits(&*setting.format(plan).format, &entry.info.shape, setting.granularity(plan), PIECE_ELEMENTS) {
        true => n.min(PIECE_ELEMENTS),
        false => n,
    }
}

/// The chosen clips of a cell, summed in stream order as they come.
#[derive(Debug)]
struct ClipSums {
    groups: usize,
    clipped: usize,
    searched: u64,
    /// Sums of alpha, lo and hi; from -0.0 as `Iterator::sum` starts.
    alpha: f64,
    lo: f64,
    hi: f64,
}

impl ClipSums {
    fn new() -> ClipSums {
        ClipSums { groups: 0, clipped: 0, searched: 0, alpha: -0.0, lo: -0.0, hi: -0.0 }
    }

    fn add(&mut self, chosen: &[quantlab_clamp::Chosen]) {
        for c in chosen {
            self.groups += 1;
            self.clipped += c.clipped;
            self.searched += c.searched;
            self.alpha += c.range.alpha() as f64;
            self.lo += c.range.lo as f64;
            self.hi += c.range.hi as f64;
        }
    }

    fn mean(&self, sum: f64) -> f64 {
        sum / self.groups.max(1) as f64
    }
}

/// Quantize a loaded tensor and measure it, in pieces when it splits (the
/// tensor whole otherwise): the error metrics and the clips' sums.
fn quantize_and_measure(
    format: &dyn quantlab_formats::Format,
    strategy: &dyn quantlab_clamp::Strategy,
    lt: &Loaded,
    gran: Granularity,
    seed: u64,
    scratch: &mut Vec<f32>,
) -> Result<(quantlab_quantize::error::ErrorMetrics, ClipSums), quantlab_formats::TensorError> {
    let t = &lt.tensor;
    let (mut measure, mut clips) = (quantlab_quantize::error::Measure::default(), ClipSums::new());
    let split = quantlab_quantize::pieces::quantize_pieces(format, strategy, &t.data, &t.shape, gran, seed, PIECE_ELEMENTS, Some(&lt.stats), scratch, |x, q, chosen| {
        measure.add(x, q);
        clips.add(chosen);
    })?;
    if !split {
        scratch.resize(t.data.len(), 0.0);
        let chosen = quantlab_quantize::quantize_into(format, strategy, &t.data, &t.shape, gran, seed, scratch)?;
        measure.add(&t.data, scratch);
        clips.add(&chosen);
    }
    // A piece-sized scratch is kept for the thread's next cell; a whole
    // tensor's is not.
    if scratch.len() > PIECE_ELEMENTS {
        *scratch = Vec::new();
    }
    Ok((measure.finish(&lt.input), clips))
}

fn run_cell(plan: &Plan, entry: &Entry, lt: &Loaded, index: usize, cell: Cell, scratch: &mut Vec<f32>) -> Result<Row, String> {
    let setting = cell.setting;
    let t = &lt.tensor;
    let pf = setting.format(plan);
    let gran = setting.granularity(plan);
    let start = Instant::now();
    let (m, clips) = quantize_and_measure(&*pf.format, setting.strategy(plan), lt, gran, setting.seed, scratch).map_err(|e| format!("{}: {e}", t.name))?;
    let elapsed = start.elapsed().as_secs_f64() * 1e3;
    let mut r = Row::default();
    r.push("cell", Value::Int(index as i64));
    r.push("source", Value::Str(entry.source.clone()));
    r.push("tensor", Value::Str(t.name.clone()));
    r.push("shape", Value::Str(t.shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x")));
    r.push("numel", Value::Int(t.data.len() as i64));
    setting.push_columns(plan, &mut r);
    r.push("mse", Value::Float(m.mse));
    r.push("rmse", Value::Float(m.rmse));
    r.push("sqnr_db", Value::Float(m.sqnr_db));
    r.push("max_abs_err", Value::Float(m.max_abs_err));
    r.push("mean_rel_err", Value::Float(m.mean_rel_err));
    r.push("cosine", Value::Float(m.cosine));
    r.push("clipped_fraction", Value::Float(clips.clipped as f64 / m.finite.max(1) as f64));
    r.push("underflow_fraction", Value::Float(m.underflow_fraction));
    r.push("bits_per_element", Value::Float(quantlab_formats::bits_per_element(&*pf.format, &t.shape, gran).unwrap_or(f64::NAN)));
    r.push("finite", Value::Int(m.finite as i64));
    r.push("nan_in", Value::Int(m.nan_in as i64));
    r.push("inf_in", Value::Int(m.inf_in as i64));
    r.push("groups", Value::Int(clips.groups as i64));
    r.push(ELEMENT_QUANTIZATIONS, Value::Int((t.data.len() as u64 + clips.searched) as i64));
    r.push("clip_alpha", Value::Float(clips.mean(clips.alpha)));
    r.push("clip_lo", Value::Float(clips.mean(clips.lo)));
    r.push("clip_hi", Value::Float(clips.mean(clips.hi)));
    r.push("x_min", Value::Float(lt.stats.min as f64));
    r.push("x_max", Value::Float(lt.stats.max as f64));
    r.push("x_std", Value::Float(lt.stats.std()));
    r.push("x_b", Value::Float(lt.stats.mean_abs_dev));
    r.push("time_ms", Value::Float(elapsed));
    Ok(r)
}

/// A sweep over tensors.
pub(crate) struct TensorSweep<'p> {
    plan: &'p Plan,
    entries: Vec<Entry>,
    /// The tensors of the batch being run, by entry.
    loaded: Vec<Option<Loaded>>,
    /// The most values a batch of tensors holds.
    window: usize,
    cells: Vec<Cell>,
}

impl<'p> TensorSweep<'p> {
    /// The most scratch values one of these cells needs.
    fn scratch(&self, cells: &[usize]) -> u128 {
        cells.iter().map(|&c| scratch_elements(self.plan, &self.entries[self.cells[c].tensor], self.cells[c].setting) as u128).max().unwrap_or(0)
    }

    /// The distinct tensors of some cells, in order.
    fn tensors_of(&self, cells: &[usize]) -> Vec<usize> {
        let mut out: Vec<usize> = cells.iter().map(|&c| self.cells[c].tensor).collect();
        out.dedup();
        out
    }

    /// List every tensor (headers only) and lay out the cells; notes are
    /// skipped tensors. Data is loaded by `prepare`, for a real run only.
    pub(crate) fn new(plan: &'p Plan) -> Result<(TensorSweep<'p>, Vec<String>), String> {
        let (entries, notes) = list_tensors(plan)?;
        let cells = cells_of(plan, &entries);
        let loaded = entries.iter().map(|_| None).collect();
        Ok((TensorSweep { plan, entries, loaded, cells, window: WINDOW_ELEMENTS }, notes))
    }
}

impl Sweep for TensorSweep<'_> {
    fn len(&self) -> usize {
        self.cells.len()
    }

    fn elements(&self, cell: usize) -> u64 {
        memory::checked_numel(&self.entries[self.cells[cell].tensor].info.shape).map_or(u64::MAX, |n| n as u64)
    }

    /// The passes of the clip search over each group (all of them: a group
    /// whose values are all equal is not searched, so a cell can do less).
    fn planned_search(&self, cell: usize) -> u64 {
        let Cell { tensor, setting } = self.cells[cell];
        let (format, strategy) = (&*setting.format(self.plan).format, setting.strategy(self.plan));
        match quantlab_formats::group_lengths(&self.entries[tensor].info.shape, setting.granularity(self.plan)) {
            Ok((groups, row_len)) => groups.iter().map(|&(len, n)| strategy.search_quantizations(len, row_len, format).saturating_mul(n as u64)).fold(0u64, u64::saturating_add),
            Err(_) => 0,
        }
    }

    fn summary(&self) -> String {
        let plan = self.plan;
        let elements = self.entries.iter().map(|e| numel(e) as u128).sum::<u128>();
        let largest = self.entries.iter().map(|e| numel(e) as u128).max().unwrap_or(0);
        let fits = match memory::physical_memory() {
            Some(m) if largest * 4 > m as u128 => format!(", its largest tensor more than this machine's {}: a run would refuse", memory::human_bytes(m as u128)),
            _ => String::new(),
        };
        format!(
            "{}: {} sources -> {} tensors ({} as f32{fits}; synthetic data drawn per seed) x {}",
            plan.name,
            plan.sources.len(),
            self.entries.len(),
            memory::human_bytes(elements * 4),
            Setting::axes(plan)
        )
    }

    fn describe(&self, cell: usize) -> String {
        let c = self.cells[cell];
        format!("{} | {}", self.entries[c.tensor].info.name, c.setting.describe(self.plan))
    }

    /// Consecutive cells whose tensors together hold at most the window's
    /// values (a larger tensor alone).
    fn batches(&self, todo: &[usize]) -> Vec<Vec<usize>> {
        let mut out: Vec<Vec<usize>> = Vec::new();
        let (mut held, mut last) = (0usize, None);
        for &cell in todo {
            let t = self.cells[cell].tensor;
            if last != Some(t) {
                let n = numel(&self.entries[t]);
                if last.is_none() || held.saturating_add(n) > self.window {
                    out.push(Vec::new());
                    held = 0;
                }
                held = held.saturating_add(n);
                last = Some(t);
            }
            out.last_mut().expect("a batch was started").push(cell);
        }
        out
    }

    /// The budget pays for the largest scratch a cell needs, once per
    /// worker; what is left is the window of tensors held at once, which
    /// must hold the largest tensor.
    fn set_memory_budget(&mut self, bytes: u64, cells: &[usize], threads: usize) -> Result<(), String> {
        let (largest, name) = cells.iter().map(|&c| &self.entries[self.cells[c].tensor]).map(|e| (numel(e) as u128, e.info.name.as_str())).max_by_key(|(n, _)| *n).unwrap_or((0, ""));
        let scratch = self.scratch(cells) * 4 * threads as u128;
        let need = largest * 4 + scratch;
        if (bytes as u128) < need {
            return Err(format!(
                "--memory {} is less than one tensor needs: the largest, {name} ({} as f32), plus scratch for each of {threads} worker threads ({} in all): at least {} (or fewer --threads)",
                memory::human_bytes(bytes as u128),
                memory::human_bytes(largest * 4),
                memory::human_bytes(scratch),
                memory::human_bytes(need)
            ));
        }
        self.window = usize::try_from((bytes as u128 - scratch) / 4).unwrap_or(usize::MAX);
        Ok(())
    }

    fn memory_plan(&self, cells: &[usize]) -> Option<String> {
        let batches = self.batches(cells);
        let peak = batches.iter().map(|b| self.tensors_of(b).iter().map(|&t| numel(&self.entries[t]) as u128).sum::<u128>()).max().unwrap_or(0);
        Some(format!(
            "memory: tensors stream in {} batch{} of at most {} as f32 at a time, plus {} of scratch per worker thread",
            batches.len(),
            if batches.len() == 1 { "" } else { "es" },
            memory::human_bytes(peak * 4),
            memory::human_bytes(self.scratch(cells) * 4)
        ))
    }

    /// Drop the tensors the batch does not use and read those it does.
    fn load(&mut self, batch: &[usize]) -> Result<(), String> {
        let wanted = self.tensors_of(batch);
        for (i, l) in self.loaded.iter_mut().enumerate() {
            if !wanted.contains(&i) {
                *l = None;
            }
        }
        let total = memory::total_numel(wanted.iter().map(|&t| self.entries[t].info.shape.as_slice())).unwrap_or(usize::MAX);
        memory::check(total, 4, || format!("{}: a batch of {} tensors as f32", self.plan.name, wanted.len())).map_err(|e| e.to_string())?;
        for t in wanted {
            if self.loaded[t].is_none() {
                self.loaded[t] = Some(load_entry(self.plan, &self.entries[t])?);
            }
        }
        Ok(())
    }

    fn run(&self, cell: usize, scratch: &mut Vec<f32>) -> Result<Row, String> {
        let c = self.cells[cell];
        let loaded = self.loaded[c.tensor].as_ref().ok_or_else(|| format!("cell {cell}: its tensor was not loaded with its batch"))?;
        run_cell(self.plan, &self.entries[c.tensor], loaded, cell, c, scratch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tensor larger than a piece, quantized and measured in pieces (or
    /// whole, where it does not split): the metrics and clip sums of the
    /// whole walk, bit for bit.
    #[test]
    fn a_cell_in_pieces_measures_as_the_whole() {
        let shape = vec![1200, 300];
        let data = quantlab_tensors::synthetic::generate(quantlab_tensors::synthetic::Distribution::parse("student-t(nu=3)").unwrap(), 360_000, 4).unwrap();
        let lt = Loaded::new(Tensor { name: "t".into(), dtype: "f32".into(), shape: shape.clone(), data });
        assert!(lt.tensor.data.len() > PIECE_ELEMENTS);
        let cases = [
            ("adaptivfloat(n=8,e=3)", "none", Granularity::Tensor),
            ("int(bits=4,round=stochastic)", "aciq-laplace", Granularity::Tensor),
            ("int(bits=8)", "mse", Granularity::Channel { axis: 0 }),
            ("mxfp4", "percentile(p=99.9)", Granularity::Tensor),
            ("nvfp4", "none", Granularity::Tensor),
            ("int(bits=6,mode=asymmetric)", "none", Granularity::Channel { axis: 1 }),
            ("bfp(bits=8,block=16)", "none", Granularity::Block { size: 64 }),
        ];
        let mut scratch = Vec::new();
        for (f, s, gran) in cases {
            let (format, strategy) = (quantlab_formats::parse(f).unwrap(), quantlab_clamp::parse(s).unwrap());
            let (m, clips) = quantize_and_measure(&*format, &*strategy, &lt, gran, 9, &mut scratch).unwrap();
            let (q, chosen) = quantlab_quantize::quantize(&*format, &*strategy, &lt.tensor.data, &shape, gran, 9).unwrap();
            assert_eq!(format!("{m:?}"), format!("{:?}", quantlab_quantize::error::measure(&lt.tensor.data, &q)), "{f} {s} {gran}");
            let mut whole = ClipSums::new();
            whole.add(&chosen);
            assert_eq!(format!("{clips:?}"), format!("{whole:?}"), "{f} {s} {gran}");
            assert!(scratch.len() <= PIECE_ELEMENTS, "{f}: a whole scratch kept");
        }
    }
}
