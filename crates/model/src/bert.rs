//! A sentence-transformers BERT model folder and its forward pass.
//!
//! [`Model`] holds what is on disk: `config.json`, `tokenizer.json`,
//! `model.safetensors` (fp32, kept as loaded) and, when present,
//! `sentence_bert_config.json` (the maximum sequence length). A
//! [`Network`] is one set of weights ready to run: the fp32 ones or a
//! quantized copy. [`Batches`] are tokenized sentences, made once per run.
//!
//! The forward pass is sentence-transformers' for all-MiniLM-L6-v2: BERT
//! (embeddings, then the encoder layers), mean pooling over the real tokens
//! (the attention mask), then L2 normalisation (`x / max(|x|, 1e-12)`, as
//! `torch.nn.functional.normalize`). The encoder runs in stages split at
//! the activation quantizer's boundaries, so hidden states can be quantized
//! where a pipeline would send them.
//!
//! Sentences are batched in order of token length (fewer padded positions);
//! a padded position is masked out of attention and pooling, so a
//! sentence's embedding does not depend on its batch.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertEncoder, BertModel, Config};
use quantlab_clamp::Strategy;
use quantlab_formats::{Format, Granularity};
use tokenizers::{Tokenizer, TruncationParams};

use crate::activations::ActivationQuantizer;
use crate::metrics::Embeddings;
use crate::tally::Tally;
use crate::weights::{QuantizedWeights, WeightKind, WeightSelection};
use crate::{ModelError, FETCH_HINT};

/// A sentence-transformers BERT model folder, loaded.
pub struct Model {
    /// The folder it was loaded from.
    pub dir: PathBuf,
    config: Config,
    tokenizer: Tokenizer,
    /// The weights as in `model.safetensors`, converted to f32.
    tensors: HashMap<String, Tensor>,
    /// `"bert."` when the weight names carry it, else empty.
    prefix: String,
    max_seq_len: usize,
}

/// One set of weights, ready to embed sentences.
pub struct Network {
    /// BERT's embeddings (a BertModel with no encoder layers).
    embeddings: BertModel,
    encoder: BertEncoder,
    hidden: usize,
}

/// Tokenized sentences in batches of similar length.
pub struct Batches {
    batches: Vec<Batch>,
    sentences: usize,
}

struct Batch {
    ids: Tensor,
    type_ids: Tensor,
    mask: Tensor,
    /// Real tokens (with `[CLS]` and `[SEP]`) of each row.
    lengths: Vec<usize>,
    /// Each row's line in the input.
    lines: Vec<usize>,
    seq: usize,
}

impl Batches {
    /// Sentences in all batches.
    pub fn sentences(&self) -> usize {
        self.sentences
    }

    /// Tokens per sentence (real ones, with `[CLS]` and `[SEP]`), in input order.
    pub fn lengths(&self) -> Vec<usize> {
        let mut out = vec![0; self.sentences];
        for b in &self.batches {
            for (&line, &len) in b.lines.iter().zip(&b.lengths) {
                out[line] = len;
            }
        }
        out
    }
}

/// Embeddings of a run, with what the pipeline sent.
#[derive(Clone, Debug)]
pub struct Embedded {
    /// The sentence embeddings.
    pub embeddings: Embeddings,
    /// Per activation boundary, the packed wire bytes of each sentence
    /// (input order); empty without activation quantization.
    pub wire_bytes: Vec<Vec<usize>>,
}

fn read_text(path: &Path) -> Result<String, ModelError> {
    std::fs::read_to_string(path).map_err(|e| ModelError::new(format!("{}: cannot read: {e}; {FETCH_HINT}", path.display())))
}

impl Model {
    /// Load a model folder. A missing folder or file, or a `config.json`
    /// that does not fit `model.safetensors`, is one error line that says
    /// to run `scripts/fetch-minilm.sh`.
    pub fn load(dir: &Path) -> Result<Model, ModelError> {
        if !dir.is_dir() {
            return Err(ModelError::new(format!("{}: no model folder here; {FETCH_HINT}", dir.display())));
        }
        for file in ["config.json", "tokenizer.json", "model.safetensors"] {
            if !dir.join(file).is_file() {
                return Err(ModelError::new(format!("{}: missing {file} (a sentence-transformers BERT folder has config.json, tokenizer.json and model.safetensors); {FETCH_HINT}", dir.display())));
            }
        }
        let config_path = dir.join("config.json");
        let config: Config = serde_json::from_str(&read_text(&config_path)?).map_err(|e| ModelError::new(format!("{}: not a BERT config: {e}; {FETCH_HINT}", config_path.display())))?;
        let tokenizer =
            Tokenizer::from_file(dir.join("tokenizer.json")).map_err(|e| ModelError::new(format!("{}: cannot read the tokenizer: {e}; {FETCH_HINT}", dir.join("tokenizer.json").display())))?;
        let weights_path = dir.join("model.safetensors");
        let raw =
            candle_core::safetensors::load(&weights_path, &Device::Cpu).map_err(|e| ModelError::new(format!("{}: not a readable safetensors file: {e}; {FETCH_HINT}", weights_path.display())))?;
        let mut tensors = HashMap::with_capacity(raw.len());
        for (name, t) in raw {
            let t = t.to_dtype(DType::F32).map_err(|e| ModelError::new(format!("{}: tensor {name}: {e}", weights_path.display())))?;
            tensors.insert(name, t);
        }
        let prefix = if tensors.contains_key("bert.embeddings.word_embeddings.weight") { "bert." } else { "" }.to_string();
        // sentence-transformers truncates at max_seq_length (256 for
        // MiniLM), not at the tokenizer file's own setting.
        let st_max = std::fs::read_to_string(dir.join("sentence_bert_config.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v.get("max_seq_length").and_then(|m| m.as_u64()))
            .map(|m| m as usize);
        let max_seq_len = st_max.unwrap_or(config.max_position_embeddings).min(config.max_position_embeddings);
        let model = Model { dir: dir.to_path_buf(), config, tokenizer, tensors, prefix, max_seq_len };
        let vocab = model.tokenizer.get_vocab_size(true);
        if vocab > model.config.vocab_size {
            return Err(ModelError::new(format!("{}: tokenizer.json has {vocab} tokens but config.json says vocab_size = {}; {FETCH_HINT}", dir.display(), model.config.vocab_size)));
        }
        model.network(None).map_err(|e| ModelError::new(format!("{}: config.json does not match model.safetensors ({e}); {FETCH_HINT}", dir.display())))?;
        Ok(model)
    }

    /// Encoder layers.
    pub fn layers(&self) -> usize {
        self.config.num_hidden_layers
    }

    /// Width of the hidden states.
    pub fn hidden_size(&self) -> usize {
        self.config.hidden_size
    }

    /// The folder's name, for tables (`minilm`).
    pub fn name(&self) -> String {
        self.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| self.dir.display().to_string())
    }

    /// Every weight tensor, by name, as loaded (f32).
    pub fn tensors(&self) -> &HashMap<String, Tensor> {
        &self.tensors
    }

    /// A tensor name without the optional `bert.` prefix.
    pub(crate) fn local_name<'a>(&self, name: &'a str) -> &'a str {
        name.strip_prefix(self.prefix.as_str()).unwrap_or(name)
    }

    /// Build a network from the fp32 weights, or from a quantized copy.
    pub fn network(&self, quantized: Option<&QuantizedWeights>) -> Result<Network, ModelError> {
        let tensors = match quantized {
            None => self.tensors.clone(),
            Some(q) => q.tensors.clone(),
        };
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
        let vb = if self.prefix.is_empty() { vb } else { vb.pp("bert") };
        let no_layers = Config { num_hidden_layers: 0, ..self.config.clone() };
        let embeddings = BertModel::load(vb.clone(), &no_layers).map_err(|e| ModelError::candle("embeddings", e))?;
        let encoder = BertEncoder::load(vb.pp("encoder"), &self.config).map_err(|e| ModelError::candle("encoder", e))?;
        Ok(Network { embeddings, encoder, hidden: self.config.hidden_size })
    }

    /// Tokenize sentences into batches of at most `batch_size`, in order
    /// of token length (ties in input order).
    pub fn tokenize(&self, sentences: &[String], batch_size: usize) -> Result<Batches, ModelError> {
        let mut tokenizer = self.tokenizer.clone();
        tokenizer.with_truncation(Some(TruncationParams { max_length: self.max_seq_len, ..Default::default() })).map_err(|e| ModelError::new(format!("tokenizer: {e}")))?;
        tokenizer.with_padding(None);
        let mut encoded = Vec::with_capacity(sentences.len());
        for (line, s) in sentences.iter().enumerate() {
            let enc = tokenizer.encode(s.as_str(), true).map_err(|e| ModelError::new(format!("line {}: cannot tokenize: {e}", line + 1)))?;
            encoded.push((line, enc.get_ids().to_vec()));
        }
        encoded.sort_by_key(|(line, ids)| (ids.len(), *line));
        let pad = self.config.pad_token_id as u32;
        let mut batches = Vec::new();
        for chunk in encoded.chunks(batch_size.max(1)) {
            let seq = chunk.iter().map(|(_, ids)| ids.len()).max().unwrap_or(0).max(1);
            let rows = chunk.len();
            let (mut ids, mut mask) = (vec![pad; rows * seq], vec![0u32; rows * seq]);
            for (r, (_, toks)) in chunk.iter().enumerate() {
                ids[r * seq..r * seq + toks.len()].copy_from_slice(toks);
                mask[r * seq..r * seq + toks.len()].fill(1);
            }
            let t = |v: Vec<u32>| Tensor::from_vec(v, (rows, seq), &Device::Cpu).map_err(|e| ModelError::candle("batch", e));
            batches.push(Batch {
                ids: t(ids)?,
                type_ids: t(vec![0; rows * seq])?,
                mask: t(mask)?,
                lengths: chunk.iter().map(|(_, ids)| ids.len()).collect(),
                lines: chunk.iter().map(|(line, _)| *line).collect(),
                seq,
            });
        }
        Ok(Batches { batches, sentences: sentences.len() })
    }
}

/// BERT's additive attention mask: 0 where attended, f32::MIN where padded.
fn extended_mask(mask: &Tensor) -> candle_core::Result<Tensor> {
    let m = mask.to_dtype(DType::F32)?.unsqueeze(1)?.unsqueeze(1)?;
    (m.ones_like()? - &m)?.affine(f32::MIN as f64, 0.0)
}

/// Hidden states of every batch after the first `after` encoder layers of
/// one network: what its first pipeline stage sends, the same for every
/// activation setting, so a sweep computes it once.
pub struct Prefix {
    after: usize,
    states: Vec<Tensor>,
}

impl Network {
    /// The encoder layers `layers` (from 0) as one pipeline stage.
    fn stage(&self, layers: std::ops::Range<usize>) -> BertEncoder {
        // BertEncoder's other field is private: clone, then keep the range.
        let mut stage = self.encoder.clone();
        stage.layers = self.encoder.layers[layers].to_vec();
        stage
    }

    /// Embed every sentence: L2-normalised mean-pooled BERT outputs, in
    /// input order, with the hidden states quantized at the quantizer's
    /// boundaries if one is given.
    pub fn embed(&self, batches: &Batches, activations: Option<&ActivationQuantizer>) -> Result<Embedded, ModelError> {
        self.embed_from(batches, activations, None)
    }

    /// The hidden states after encoder layer `after` (0: the embeddings).
    pub fn prefix(&self, batches: &Batches, after: usize) -> Result<Prefix, ModelError> {
        let states = batches
            .batches
            .iter()
            .map(|b| {
                let hidden = self.embeddings.forward(&b.ids, &b.type_ids, Some(&b.mask))?;
                self.stage(0..after.min(self.encoder.layers.len())).forward(&hidden, &extended_mask(&b.mask)?)
            })
            .collect::<candle_core::Result<Vec<_>>>()
            .map_err(|e| ModelError::candle("prefix", e))?;
        Ok(Prefix { after, states })
    }

    /// [`Network::embed`], starting from a [`Prefix`] of this network when
    /// it ends at or before the first boundary (else from the embeddings).
    pub fn embed_from(&self, batches: &Batches, activations: Option<&ActivationQuantizer>, prefix: Option<&Prefix>) -> Result<Embedded, ModelError> {
        let layers = self.encoder.layers.len();
        let boundaries = match activations {
            Some(a) => a.boundaries(layers)?,
            None => vec![],
        };
        let prefix = prefix.filter(|p| p.after <= boundaries.first().copied().unwrap_or(layers) && p.states.len() == batches.batches.len());
        let dim = self.hidden;
        let mut data = vec![0.0f32; batches.sentences * dim];
        let mut wire_bytes = vec![vec![0usize; batches.sentences]; boundaries.len()];
        for (i, b) in batches.batches.iter().enumerate() {
            let run = |what: &str, e: candle_core::Error| ModelError::candle(what, e);
            let (mut hidden, mut start) = match prefix {
                Some(p) => (p.states[i].clone(), p.after),
                None => (self.embeddings.forward(&b.ids, &b.type_ids, Some(&b.mask)).map_err(|e| run("embeddings", e))?, 0),
            };
            let ext = extended_mask(&b.mask).map_err(|e| run("attention mask", e))?;
            for (k, &end) in boundaries.iter().chain(std::iter::once(&layers)).enumerate() {
                hidden = self.stage(start..end).forward(&hidden, &ext).map_err(|e| run("encoder", e))?;
                if let (Some(q), true) = (activations, k < boundaries.len()) {
                    let mut flat = hidden.flatten_all().and_then(|h| h.to_vec1::<f32>()).map_err(|e| run("hidden states", e))?;
                    let bytes = q.quantize_samples(&mut flat, b.seq, dim, &b.lengths, &b.lines, end)?;
                    for (&line, n) in b.lines.iter().zip(bytes) {
                        wire_bytes[k][line] = n;
                    }
                    hidden = Tensor::from_vec(flat, (b.lines.len(), b.seq, dim), &Device::Cpu).map_err(|e| run("hidden states", e))?;
                }
                start = end;
            }
            let flat = hidden.flatten_all().and_then(|h| h.to_vec1::<f32>()).map_err(|e| run("output", e))?;
            for (r, (&line, &len)) in b.lines.iter().zip(&b.lengths).enumerate() {
                let out = &mut data[line * dim..(line + 1) * dim];
                mean_pool_normalised(&flat[r * b.seq * dim..(r * b.seq + len) * dim], dim, out);
            }
        }
        Ok(Embedded { embeddings: Embeddings { rows: batches.sentences, dim, data }, wire_bytes })
    }
}

/// Mean of `tokens` (rows of `dim`), then divided by its L2 norm (at least 1e-12).
fn mean_pool_normalised(tokens: &[f32], dim: usize, out: &mut [f32]) {
    let n = (tokens.len() / dim).max(1);
    let mut acc = vec![0.0f64; dim];
    for tok in tokens.chunks_exact(dim) {
        for (a, &v) in acc.iter_mut().zip(tok) {
            *a += v as f64;
        }
    }
    let mean: Vec<f64> = acc.iter().map(|a| a / n as f64).collect();
    let norm = mean.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
    for (o, m) in out.iter_mut().zip(&mean) {
        *o = (m / norm) as f32;
    }
}

/// Weight quantization (`weights.rs`: which tensors, and how).
impl Model {
    /// The weight tensors `selection` picks, in name order.
    pub fn weights(&self, selection: &WeightSelection) -> Vec<(&String, &Tensor)> {
        let mut picked: Vec<(&String, &Tensor)> = self.tensors().iter().filter(|(name, _)| selection.selects(WeightKind::of(self.local_name(name)))).collect();
        picked.sort_by_key(|(name, _)| *name);
        picked
    }

    /// A copy of the weights with those `selection` picks quantized with a
    /// format, a clamping strategy and a granularity (`weights.rs` says how).
    /// `seed` keys stochastic rounding (combined with each tensor's position
    /// among the selected, in name order).
    pub fn quantize_weights(&self, format: &dyn Format, strategy: &dyn Strategy, gran: Granularity, selection: &WeightSelection, seed: u64) -> Result<QuantizedWeights, ModelError> {
        let mut out = QuantizedWeights { tensors: self.tensors().clone(), quantized: 0, tally: Tally::default(), bits_per_element: 0.0 };
        let mut bits = 0.0f64;
        for (i, (name, t)) in self.weights(selection).into_iter().enumerate() {
            let shape = t.dims().to_vec();
            let data = t.flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(|e| ModelError::candle(name, e))?;
            let gran = match gran {
                Granularity::Channel { axis } if axis >= shape.len() => Granularity::Tensor,
                g => g,
            };
            let mut q = vec![0.0f32; data.len()];
            let chosen = quantlab_quantize::quantize_into(format, strategy, &data, &shape, gran, seed.wrapping_add(i as u64), &mut q).map_err(|e| ModelError::new(format!("{name}: {e}")))?;
            out.tally.add(&data, &q, &chosen);
            let bpe = quantlab_formats::bits_per_element(format, &shape, gran).map_err(|e| ModelError::new(format!("{name}: {e}")))?;
            bits += bpe * data.len() as f64;
            out.quantized += 1;
            out.tensors.insert(name.clone(), Tensor::from_vec(q, shape, &Device::Cpu).map_err(|e| ModelError::candle(name, e))?);
        }
        out.bits_per_element = bits / out.tally.elements.max(1) as f64;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_averages_real_tokens_and_normalises() {
        let mut out = [0.0f32; 2];
        mean_pool_normalised(&[3.0, 0.0, 3.0, 8.0], 2, &mut out);
        assert!((out[0] - 0.6).abs() < 1e-7 && (out[1] - 0.8).abs() < 1e-7, "{out:?}");
        mean_pool_normalised(&[0.0, 0.0], 2, &mut out);
        assert_eq!(out, [0.0, 0.0]);
    }
}
