//! Model sweeps (`[model]`): each cell is one evaluation of the sentence
//! embedding model over the corpus with one format x clamp x granularity x
//! seed applied to its weights or to its hidden states at the split points,
//! compared with the fp32 embeddings (computed once per run).
//!
//! Rows carry the model metrics (`cos_mean`, `cos_min`, `nn_agreement`,
//! `spearman`), the pooled SQNR of the quantized tensors
//! (`tensor_sqnr_db`, the proxy the tensor sweeps measure) and, for
//! activations, the packed wire size per sample and per split point.

use std::path::Path;
use std::time::Instant;

use quantlab_formats::Granularity;
use quantlab_model::{ActivationQuantizer, Batches, Embeddings, Model, Network, Prefix};

use crate::config::{ModelPlan, ModelTarget, Plan};
use crate::{Setting, Sweep};
use quantlab_results::store::{Row, Value, ELEMENT_QUANTIZATIONS};

pub(crate) struct ModelSweep<'p> {
    plan: &'p Plan,
    mp: &'p ModelPlan,
    model: Model,
    batches: Batches,
    /// Real tokens over all sentences.
    tokens: usize,
    /// Elements quantized per cell (the same in every cell).
    elements: u64,
    cells: Vec<Setting>,
    /// Made by `prepare`: the fp32 embeddings, the fp32 network and, for
    /// activation sweeps, its hidden states at the first split point (the
    /// first pipeline stage is the same in every cell).
    reference: Option<Embeddings>,
    fp32: Option<Network>,
    prefix: Option<Prefix>,
}

fn read_sentences(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read the sentences: {e}", path.display()))?;
    let sentences: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect();
    if sentences.len() < 2 {
        return Err(format!("{}: needs at least two sentences, one per line (nearest-neighbour agreement compares each with the others)", path.display()));
    }
    Ok(sentences)
}

impl<'p> ModelSweep<'p> {
    /// Load the model and the sentences and lay out the cells; the fp32
    /// reference waits for [`Sweep::prepare`].
    pub(crate) fn new(plan: &'p Plan, mp: &'p ModelPlan, config_file: &str) -> Result<ModelSweep<'p>, String> {
        let model = Model::load(&mp.path).map_err(|e| e.to_string())?;
        if mp.target == ModelTarget::Activations {
            quantlab_model::activations::check_split_after(&mp.split_after, model.layers()).map_err(|e| format!("{config_file}: [model] {e}"))?;
        }
        let sentences = read_sentences(&mp.sentences)?;
        let batches = model.tokenize(&sentences, mp.batch_size).map_err(|e| format!("{}: {e}", mp.sentences.display()))?;
        let tokens: usize = batches.lengths().iter().sum();
        let elements = match mp.target {
            ModelTarget::Weights => model.weights(&mp.weights).iter().map(|(_, t)| t.elem_count() as u64).sum(),
            ModelTarget::Activations => (tokens * model.hidden_size() * mp.split_after.len()) as u64,
        };
        // A sample of hidden states is [tokens, hidden]: no axis 2.
        let activations = mp.target == ModelTarget::Activations;
        let cells = Setting::all(plan, &plan.seeds, |g| !(activations && matches!(g, Granularity::Channel { axis } if axis >= 2)));
        Ok(ModelSweep { plan, mp, model, batches, tokens, elements, cells, reference: None, fp32: None, prefix: None })
    }

    fn what(&self) -> String {
        match self.mp.target {
            ModelTarget::Weights => format!("weights: {}", self.mp.weights),
            ModelTarget::Activations => {
                let s: Vec<String> = self.mp.split_after.iter().map(|b| b.to_string()).collect();
                format!("activations after layer {}", s.join(", "))
            }
        }
    }
}

impl Sweep for ModelSweep<'_> {
    fn len(&self) -> usize {
        self.cells.len()
    }

    fn elements(&self, _cell: usize) -> u64 {
        self.elements
    }

    fn summary(&self) -> String {
        format!(
            "{}: model {} ({} layers) on {} sentences of {}, quantizing {} x {}",
            self.plan.name,
            self.mp.path.display(),
            self.model.layers(),
            self.batches.sentences(),
            self.mp.sentences.display(),
            self.what(),
            Setting::axes(self.plan)
        )
    }

    fn describe(&self, cell: usize) -> String {
        format!("{} | {}", self.what(), self.cells[cell].describe(self.plan))
    }

    fn prepare(&mut self, print: &mut dyn FnMut(&str)) -> Result<(), String> {
        let start = Instant::now();
        let network = self.model.network(None).map_err(|e| e.to_string())?;
        let fp32 = network.embed(&self.batches, None).map_err(|e| e.to_string())?;
        print(&format!("fp32 reference: {} sentences embedded in {:.2} s", self.batches.sentences(), start.elapsed().as_secs_f64()));
        self.reference = Some(fp32.embeddings);
        if let (ModelTarget::Activations, Some(&first)) = (self.mp.target, self.mp.split_after.iter().min()) {
            self.prefix = Some(network.prefix(&self.batches, first).map_err(|e| e.to_string())?);
        }
        self.fp32 = Some(network);
        Ok(())
    }

    fn run(&self, cell: usize, _scratch: &mut Vec<f32>) -> Result<Row, String> {
        let c = self.cells[cell];
        let (plan, mp) = (self.plan, self.mp);
        let pf = c.format(plan);
        let strategy = c.strategy(plan);
        let gran = c.granularity(plan);
        let reference = self.reference.as_ref().expect("prepare() ran before the cells");
        let start = Instant::now();
        let mut r = Row::default();
        r.push("cell", Value::Int(cell as i64));
        r.push("source", Value::Str(self.model.name()));
        r.push("tensor", Value::Str(self.what()));
        c.push_columns(plan, &mut r);
        r.push("quantize", Value::Str(format!("{:?}", mp.target).to_lowercase()));
        let fail = |e: quantlab_model::ModelError| format!("cell {cell} ({}): {e}", pf.format.describe());
        let (embedded, columns) = match mp.target {
            ModelTarget::Weights => {
                let q = self.model.quantize_weights(&*pf.format, strategy, gran, &mp.weights, c.seed).map_err(fail)?;
                let e = self.model.network(Some(&q)).and_then(|n| n.embed(&self.batches, None)).map_err(fail)?;
                let columns = vec![
                    ("tensor_sqnr_db", Value::Float(q.tally.sqnr_db())),
                    ("clipped_fraction", Value::Float(q.tally.clipped_fraction())),
                    ("bits_per_element", Value::Float(q.bits_per_element)),
                    ("quantized_tensors", Value::Int(q.quantized as i64)),
                    ("clip_alpha", Value::Float(q.tally.clip_alpha())),
                    (ELEMENT_QUANTIZATIONS, Value::Int(q.tally.quantizations() as i64)),
                ];
                (e, columns)
            }
            ModelTarget::Activations => {
                let acts = ActivationQuantizer::new(&*pf.format, strategy, gran, mp.split_after.clone(), c.seed);
                let network = self.fp32.as_ref().expect("prepare() ran before the cells");
                let e = network.embed_from(&self.batches, Some(&acts), self.prefix.as_ref()).map_err(fail)?;
                let s = acts.stats();
                let sent: usize = e.wire_bytes.iter().flatten().sum();
                let per_sample = sent as f64 / s.samples.max(1) as f64;
                let fp32_bytes = (self.tokens * self.model.hidden_size() * 4) as f64 / self.batches.sentences().max(1) as f64;
                let columns = vec![
                    ("tensor_sqnr_db", Value::Float(s.tally.sqnr_db())),
                    ("clipped_fraction", Value::Float(s.tally.clipped_fraction())),
                    ("bits_per_element", Value::Float(s.bits / s.tally.elements.max(1) as f64)),
                    ("wire_bytes_per_sample", Value::Float(per_sample)),
                    ("fp32_bytes_per_sample", Value::Float(fp32_bytes)),
                    ("clip_alpha", Value::Float(s.tally.clip_alpha())),
                    (ELEMENT_QUANTIZATIONS, Value::Int(s.tally.quantizations() as i64)),
                ];
                (e, columns)
            }
        };
        let a = quantlab_model::compare(reference, &embedded.embeddings);
        r.push("cos_mean", Value::Float(a.cos_mean));
        r.push("cos_min", Value::Float(a.cos_min));
        r.push("nn_agreement", Value::Float(a.nn_agreement));
        r.push("spearman", Value::Float(a.spearman));
        for (name, v) in columns {
            r.push(name, v);
        }
        r.push("sentences", Value::Int(self.batches.sentences() as i64));
        r.push("time_ms", Value::Float(start.elapsed().as_secs_f64() * 1e3));
        Ok(r)
    }
}
