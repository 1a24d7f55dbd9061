//! Activation quantization at pipeline split points, as PipeEdge does
//! between stages: the hidden states that encoder layer i hands to layer
//! i+1 are quantized per sample before they go on, and the packed wire size
//! of each sample is counted.
//!
//! A sample is one sentence's real tokens, `[tokens, hidden]`: padded
//! positions are not sent (and are masked anyway), so results do not depend
//! on how sentences were batched. The granularity applies within a sample:
//! `tensor` is PipeEdge's per-sample scaling; `block:K` or `channel:1`
//! are finer. The wire size is the packed codes (PipeEdge's layout) plus the
//! format's metadata for that sample ([`quantlab_formats::wire_bytes`]).

use std::sync::Mutex;

use quantlab_clamp::Strategy;
use quantlab_formats::{Format, Granularity};

use crate::tally::Tally;
use crate::ModelError;

/// What was measured at the split points over a whole run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ActivationStats {
    /// Samples quantized (sentences x boundaries).
    pub samples: u64,
    /// Errors and clips pooled over the samples.
    pub tally: Tally,
    /// Bits of the quantized samples, every scale counted, unpacked
    /// (`quantlab_formats::bits_per_element` times each sample's size).
    pub bits: f64,
}

/// Quantizes hidden states at pipeline boundaries.
pub struct ActivationQuantizer<'a> {
    /// The format hidden states are quantized with.
    pub format: &'a dyn Format,
    /// The clamping strategy applied per group.
    pub strategy: &'a dyn Strategy,
    /// Within one sample's `[tokens, hidden]` tensor.
    pub granularity: Granularity,
    /// Encoder layers (counted from 1) after which the hidden states are
    /// quantized: 3 means between layer 3 and layer 4.
    pub split_after: Vec<usize>,
    /// Keys stochastic rounding, with the sentence and the boundary.
    pub seed: u64,
    stats: Mutex<ActivationStats>,
}

impl<'a> ActivationQuantizer<'a> {
    /// Quantize after the encoder layers in `split_after`, grouped by `granularity`, stochastic rounding keyed by `seed`.
    pub fn new(format: &'a dyn Format, strategy: &'a dyn Strategy, granularity: Granularity, split_after: Vec<usize>, seed: u64) -> Self {
        ActivationQuantizer { format, strategy, granularity, split_after, seed, stats: Mutex::new(ActivationStats::default()) }
    }

    /// What the quantizer has done so far.
    pub fn stats(&self) -> ActivationStats {
        *self.stats.lock().expect("no panics while holding the lock")
    }

    /// The boundaries, ascending, checked against a model of `layers`
    /// encoder layers.
    pub fn boundaries(&self, layers: usize) -> Result<Vec<usize>, ModelError> {
        check_split_after(&self.split_after, layers)?;
        let mut b = self.split_after.clone();
        b.sort_unstable();
        b.dedup();
        Ok(b)
    }

    /// Quantize, in place, each row's real tokens of a batch of hidden
    /// states (`[rows, seq, dim]`, flat); returns each row's wire bytes.
    pub(crate) fn quantize_samples(&self, hidden: &mut [f32], seq: usize, dim: usize, lengths: &[usize], lines: &[usize], boundary: usize) -> Result<Vec<usize>, ModelError> {
        let mut local = ActivationStats::default();
        let mut bytes = Vec::with_capacity(lengths.len());
        let mut q = Vec::new();
        for (r, (&len, &line)) in lengths.iter().zip(lines).enumerate() {
            let sample = &mut hidden[r * seq * dim..(r * seq + len) * dim];
            let shape = [len, dim];
            q.resize(sample.len(), 0.0);
            let seed = self.seed ^ ((line as u64) << 20 | boundary as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let fail = |e: &dyn std::fmt::Display| ModelError::new(format!("activations after layer {boundary}, sentence {}: {e}", line + 1));
            let chosen = quantlab_quantize::quantize_into(self.format, self.strategy, sample, &shape, self.granularity, seed, &mut q).map_err(|e| fail(&e))?;
            local.tally.add(sample, &q, &chosen);
            sample.copy_from_slice(&q);
            local.samples += 1;
            bytes.push(quantlab_formats::wire_bytes(self.format, &shape, self.granularity).map_err(|e| fail(&e))?);
            local.bits += quantlab_formats::bits_per_element(self.format, &shape, self.granularity).map_err(|e| fail(&e))? * sample.len() as f64;
        }
        let mut s = self.stats.lock().expect("no panics while holding the lock");
        s.samples += local.samples;
        s.bits += local.bits;
        s.tally.merge(&local.tally);
        Ok(bytes)
    }
}

/// Split points must fall between two encoder layers: 1..=layers-1.
pub fn check_split_after(split_after: &[usize], layers: usize) -> Result<(), ModelError> {
    if split_after.is_empty() {
        return Err(ModelError::new("split_after is empty: name at least one encoder layer after which hidden states are quantized, e.g. split_after = [3]"));
    }
    match split_after.iter().find(|&&b| b == 0 || b >= layers) {
        Some(b) => Err(ModelError::new(format!("split_after = {b}: the model has {layers} encoder layers, so a split point is 1..={} (after layer i, before layer i+1)", layers.saturating_sub(1)))),
        None => Ok(()),
    }
}
