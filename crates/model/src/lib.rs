//! # quantlab-model
//!
//! Model in the loop. Tensor error is a proxy; this crate measures what a
//! number format does to a real model: sentence-transformers
//! all-MiniLM-L6-v2 (a 6-layer BERT encoder, mean pooling over the tokens,
//! L2 normalisation), run on the CPU with candle (`candle-transformers`'
//! BERT) and the model's own `tokenizer.json` (the `tokenizers` crate).
//!
//! Two things can be quantized, with any format, clamping strategy and
//! granularity of quantlab:
//! - **weights** ([`weights`]): by default the weight matrix of every Linear
//!   layer of the encoder, each its own tensor; embeddings, biases and
//!   LayerNorm parameters on request. Quantized once, before inference.
//! - **activations** ([`activations`]), as PipeEdge does between pipeline
//!   stages: the hidden states handed from encoder layer i to layer i+1,
//!   quantized per sample, with the packed wire size per sample.
//!
//! [`metrics`] compares quantized embeddings with fp32 ones: cosine
//! similarity (mean, min), top-1 nearest-neighbour agreement and the
//! Spearman correlation of the pairwise-similarity matrices. [`tiny`]
//! writes a small random BERT (weights, config, tokenizer) so that tests
//! run every code path without the real model.

#![warn(missing_docs)]

pub mod activations;
pub mod bert;
pub mod metrics;
pub mod tally;
pub mod tiny;
pub mod weights;

pub use activations::ActivationQuantizer;
pub use bert::{Batches, Embedded, Model, Network, Prefix};
pub use metrics::{compare, Agreement, Embeddings};
pub use tally::Tally;
pub use weights::{QuantizedWeights, WeightKind, WeightSelection};

/// What to do when the model is missing or broken.
pub const FETCH_HINT: &str = "run scripts/fetch-minilm.sh to fetch all-MiniLM-L6-v2 into data/minilm";

/// A model error, with the file it concerns and what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelError(pub String);

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ModelError {}

impl ModelError {
    pub(crate) fn new(message: impl Into<String>) -> ModelError {
        ModelError(message.into())
    }

    /// A candle error while running the model (not a user mistake: shapes
    /// were checked when the model was loaded).
    pub(crate) fn candle(what: &str, e: candle_core::Error) -> ModelError {
        ModelError(format!("{what}: {e}"))
    }
}
