//! Tensor sweeps: cells are tensor x format x clamp x granularity x seed;
//! each tensor is loaded once and shared by its cells.

use std::time::Instant;

use quantlab_clamp::Clamper;
use quantlab_formats::Granularity;
use quantlab_tensors::Tensor;

use crate::config::{self, Plan};
use crate::store::{Row, Value, ELEMENT_QUANTIZATIONS};
use crate::{metrics, Setting, Sweep};

/// One tensor the sweep measures: loaded data and the seed it was drawn with
/// (synthetic data), or `None` (files: any seed).
struct Loaded {
    source: String,
    tensor: Tensor,
    drawn_with: Option<u64>,
    stats: ValueStats,
    /// The metrics' sums over the input alone, shared by the tensor's cells.
    input: metrics::InputSums,
}

impl Loaded {
    fn new(source: &str, tensor: Tensor, drawn_with: Option<u64>) -> Loaded {
        Loaded { source: source.to_string(), stats: ValueStats::of(&tensor), input: metrics::InputSums::of(&tensor.data), tensor, drawn_with }
    }
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

fn load_tensors(plan: &Plan) -> Result<(Vec<Loaded>, Vec<String>), String> {
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    for s in &plan.sources {
        match &s.source {
            config::SourceTemplate::Synthetic { .. } => {
                for &seed in &plan.seeds {
                    let (ts, _) = s.source.source(seed).load().map_err(|e| e.to_string())?;
                    out.extend(ts.into_iter().map(|tensor| Loaded::new(&s.label, tensor, Some(seed))));
                }
            }
            config::SourceTemplate::Fixed(src) => {
                let (ts, skipped) = src.load().map_err(|e| e.to_string())?;
                notes.extend(skipped.into_iter().map(|(n, why)| format!("{}: skipped {n}: {why}", s.label)));
                out.extend(ts.into_iter().map(|tensor| Loaded::new(&s.label, tensor, None)));
            }
        }
    }
    Ok((out, notes))
}

fn cells_of(plan: &Plan, tensors: &[Loaded]) -> Vec<Cell> {
    let mut cells = Vec::new();
    for (tensor, lt) in tensors.iter().enumerate() {
        let seeds: Vec<u64> = lt.drawn_with.map_or_else(|| plan.seeds.clone(), |s| vec![s]);
        let settings = Setting::all(plan, &seeds, |g| applies(g, &lt.tensor.shape));
        cells.extend(settings.into_iter().map(|setting| Cell { tensor, setting }));
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

fn run_cell(plan: &Plan, tensors: &[Loaded], index: usize, cell: Cell, scratch: &mut Vec<f32>) -> Result<Row, String> {
    let lt = &tensors[cell.tensor];
    let setting = cell.setting;
    let t = &lt.tensor;
    let pf = setting.format(plan);
    let gran = setting.granularity(plan);
    let clamper = Clamper::new(setting.strategy(plan));
    let start = Instant::now();
    scratch.resize(t.data.len(), 0.0);
    quantlab_formats::quantize_into(&*pf.format, &t.data, &t.shape, gran, Some(&clamper), setting.seed, scratch).map_err(|e| format!("{}: {e}", t.name))?;
    let m = metrics::measure_with(&lt.input, &t.data, scratch);
    let elapsed = start.elapsed().as_secs_f64() * 1e3;
    let chosen = clamper.chosen();
    let clipped: usize = chosen.iter().map(|c| c.clipped).sum();
    let (group_len, row_len) = group_shape(gran, &t.shape);
    let mean = |f: &dyn Fn(&quantlab_clamp::Chosen) -> f32| chosen.iter().map(|c| f(c) as f64).sum::<f64>() / chosen.len().max(1) as f64;
    let mut r = Row::default();
    r.push("cell", Value::Int(index as i64));
    r.push("source", Value::Str(lt.source.clone()));
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
    r.push("clipped_fraction", Value::Float(clipped as f64 / m.finite.max(1) as f64));
    r.push("underflow_fraction", Value::Float(m.underflow_fraction));
    r.push("bits_per_element", Value::Float(pf.format.bits_per_element(group_len, row_len)));
    r.push("finite", Value::Int(m.finite as i64));
    r.push("nan_in", Value::Int(m.nan_in as i64));
    r.push("inf_in", Value::Int(m.inf_in as i64));
    r.push("groups", Value::Int(chosen.len() as i64));
    let searched: u64 = chosen.iter().map(|c| c.searched).sum();
    r.push(ELEMENT_QUANTIZATIONS, Value::Int((t.data.len() as u64 + searched) as i64));
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


/// A sweep over tensors.
pub(crate) struct TensorSweep<'p> {
    plan: &'p Plan,
    tensors: Vec<Loaded>,
    cells: Vec<Cell>,
}

impl<'p> TensorSweep<'p> {
    /// Load every tensor (once) and lay out the cells; notes are skipped tensors.
    pub(crate) fn new(plan: &'p Plan) -> Result<(TensorSweep<'p>, Vec<String>), String> {
        let (tensors, notes) = load_tensors(plan)?;
        let cells = cells_of(plan, &tensors);
        Ok((TensorSweep { plan, tensors, cells }, notes))
    }
}

impl Sweep for TensorSweep<'_> {
    fn len(&self) -> usize {
        self.cells.len()
    }

    fn elements(&self, cell: usize) -> u64 {
        self.tensors[self.cells[cell].tensor].tensor.data.len() as u64
    }

    /// The passes of the clip search over each group (all of them: a group
    /// whose values are all equal is not searched, so a cell can do less).
    fn planned_search(&self, cell: usize) -> u64 {
        let Cell { tensor, setting } = self.cells[cell];
        let (format, strategy) = (&*setting.format(self.plan).format, setting.strategy(self.plan));
        match quantlab_formats::group_lengths(&self.tensors[tensor].tensor.shape, setting.granularity(self.plan)) {
            Ok((groups, row_len)) => groups.iter().map(|&len| strategy.search_quantizations(len, row_len, format)).sum(),
            Err(_) => 0,
        }
    }

    fn summary(&self) -> String {
        let plan = self.plan;
        format!("{}: {} sources -> {} tensors (synthetic data drawn per seed) x {}", plan.name, plan.sources.len(), self.tensors.len(), Setting::axes(plan))
    }

    fn describe(&self, cell: usize) -> String {
        let c = self.cells[cell];
        format!("{} | {}", self.tensors[c.tensor].tensor.name, c.setting.describe(self.plan))
    }

    fn run(&self, cell: usize, scratch: &mut Vec<f32>) -> Result<Row, String> {
        run_cell(self.plan, &self.tensors, cell, self.cells[cell], scratch)
    }
}
