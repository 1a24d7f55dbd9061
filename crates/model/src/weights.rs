//! Weight quantization: which of BERT's tensors are quantized, and a
//! quantized copy of the model's weights, made once per setting.
//!
//! Each selected tensor is quantized on its own, in its stored layout
//! (Linear weights are `[out_features, in_features]`, so `channel:0` is one
//! scale per output neuron, as is usual for weights). A granularity whose
//! channel axis a tensor does not have (a bias under `channel:1`) quantizes
//! that tensor per tensor. Tensors not selected, and the pooler (unused by
//! sentence embeddings), keep their fp32 values.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use candle_core::Tensor;

use crate::tally::Tally;

/// A kind of BERT weight tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WeightKind {
    /// The weight matrix of a Linear layer of the encoder: attention query,
    /// key, value and output, intermediate, output.
    Linear,
    /// Word, position and token-type embedding tables.
    Embeddings,
    /// The biases of the encoder's Linear layers.
    Biases,
    /// LayerNorm scales and shifts (embeddings' and every layer's).
    LayerNorm,
}

impl WeightKind {
    /// Every kind, in the order `quantlab` lists them.
    pub const ALL: [WeightKind; 4] = [WeightKind::Linear, WeightKind::Embeddings, WeightKind::Biases, WeightKind::LayerNorm];

    /// The kind's name in a configuration.
    pub fn name(self) -> &'static str {
        match self {
            WeightKind::Linear => "linear",
            WeightKind::Embeddings => "embeddings",
            WeightKind::Biases => "biases",
            WeightKind::LayerNorm => "layer-norm",
        }
    }

    /// The kind of a tensor from its name (without a `bert.` prefix);
    /// `None` for tensors never quantized (the pooler, buffers).
    pub fn of(name: &str) -> Option<WeightKind> {
        if name.contains("LayerNorm.") {
            Some(WeightKind::LayerNorm)
        } else if name.starts_with("embeddings.") && name.ends_with("embeddings.weight") {
            Some(WeightKind::Embeddings)
        } else if name.starts_with("encoder.") && name.ends_with(".bias") {
            Some(WeightKind::Biases)
        } else if name.starts_with("encoder.") && name.ends_with(".weight") {
            Some(WeightKind::Linear)
        } else {
            None
        }
    }
}

impl fmt::Display for WeightKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for WeightKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        WeightKind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            let names: Vec<&str> = WeightKind::ALL.iter().map(|k| k.name()).collect();
            format!("unknown weight kind `{s}` (valid: {})", names.join(", "))
        })
    }
}

/// The kinds of weight tensor to quantize; default: Linear weights only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightSelection(pub Vec<WeightKind>);

impl Default for WeightSelection {
    fn default() -> Self {
        WeightSelection(vec![WeightKind::Linear])
    }
}

impl WeightSelection {
    /// Whether weights of `kind` (None: not a known kind) are quantized.
    pub fn selects(&self, kind: Option<WeightKind>) -> bool {
        kind.is_some_and(|k| self.0.contains(&k))
    }
}

impl fmt::Display for WeightSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|k| k.name()).collect();
        f.write_str(&names.join("+"))
    }
}

/// A copy of the model's weights with the selected tensors quantized, and
/// what quantizing them did.
pub struct QuantizedWeights {
    /// The quantized tensors by name.
    pub tensors: HashMap<String, Tensor>,
    /// Tensors quantized.
    pub quantized: usize,
    /// Errors and clips pooled over the quantized tensors.
    pub tally: Tally,
    /// Bits per element with metadata, over the quantized elements.
    pub bits_per_element: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_of_bert_tensor_names() {
        assert_eq!(WeightKind::of("encoder.layer.0.attention.self.query.weight"), Some(WeightKind::Linear));
        assert_eq!(WeightKind::of("encoder.layer.5.output.dense.weight"), Some(WeightKind::Linear));
        assert_eq!(WeightKind::of("encoder.layer.5.output.dense.bias"), Some(WeightKind::Biases));
        assert_eq!(WeightKind::of("encoder.layer.5.output.LayerNorm.weight"), Some(WeightKind::LayerNorm));
        assert_eq!(WeightKind::of("embeddings.LayerNorm.bias"), Some(WeightKind::LayerNorm));
        assert_eq!(WeightKind::of("embeddings.word_embeddings.weight"), Some(WeightKind::Embeddings));
        assert_eq!(WeightKind::of("embeddings.position_ids"), None);
        assert_eq!(WeightKind::of("pooler.dense.weight"), None);
        assert_eq!("layer-norm".parse::<WeightKind>(), Ok(WeightKind::LayerNorm));
        assert!("layernorm".parse::<WeightKind>().unwrap_err().contains("layer-norm"));
    }
}
