//! # quantlab-quantize
//!
//! The group walk, above the formats and the clamping strategies: a tensor
//! is split into the groups of its granularity (`formats::Layout`), each
//! group's clip is chosen by a strategy (`clamp::choose`), and the format
//! quantizes (or encodes) the group with it. The chosen clips come back as
//! values, one per group in stream order; formats never call a strategy and
//! strategies never see more than one group.
//!
//! ```
//! use quantlab_formats::{parse, Granularity};
//! let format = parse("int(bits=4)").unwrap();
//! let strategy = quantlab_clamp::parse("percentile(p=90)").unwrap();
//! let x: Vec<f32> = (0..64).map(|i| (i as f32 - 31.5) / 8.0).collect();
//! let (q, chosen) = quantlab_quantize::quantize(&*format, &*strategy, &x, &[2, 32], Granularity::Channel { axis: 0 }, 0).unwrap();
//! assert_eq!((q.len(), chosen.len()), (64, 2));
//! assert!(chosen.iter().all(|c| c.clip.is_some() && c.clipped > 0));
//! ```

#![warn(missing_docs)]

pub mod error;
pub mod pieces;

use quantlab_clamp::Strategy;
use quantlab_formats::{quantize_group, Clip, Encoded, Format, Granularity, GroupView, Layout, Shape, TensorError};

pub use quantlab_clamp::Chosen;

/// Fake-quantize `x` into `out` (the same length), each group clipped by
/// `strategy`; the clip chosen for each group, in stream order. `seed` keys
/// stochastic rounding. Results do not depend on the thread count.
pub fn quantize_into(format: &dyn Format, strategy: &dyn Strategy, x: &[f32], shape: &Shape, gran: Granularity, seed: u64, out: &mut [f32]) -> Result<Vec<Chosen>, TensorError> {
    let layout = Layout::new(x.len(), shape, gran)?;
    format.check_shape(shape)?;
    if out.len() != x.len() {
        return Err(TensorError::ShapeMismatch { shape: shape.to_vec(), expected: x.len(), actual: out.len() });
    }
    Ok(layout.map_groups(x, out, seed, |g| {
        let chosen = quantlab_clamp::choose(strategy, GroupView { index: g.index, values: g.values, row_len: g.row_len, format });
        quantize_group(format, g.values, g.out, g.row_len, chosen.clip, g.ctx);
        chosen
    }))
}

/// [`quantize_into`] into a new buffer.
pub fn quantize(format: &dyn Format, strategy: &dyn Strategy, x: &[f32], shape: &Shape, gran: Granularity, seed: u64) -> Result<(Vec<f32>, Vec<Chosen>), TensorError> {
    let mut out = vec![0.0f32; x.len()];
    let chosen = quantize_into(format, strategy, x, shape, gran, seed, &mut out)?;
    Ok((out, chosen))
}

/// What [`encode`] makes: the fake-quantized tensor, its codes and
/// metadata (decoding them gives the same values, bit for bit), and the
/// clip chosen for each group.
pub struct EncodedTensor {
    /// The fake-quantized values (decoded codes).
    pub values: Vec<f32>,
    /// Codes and metadata.
    pub encoded: Encoded,
    /// The clip chosen for each group, in stream order.
    pub chosen: Vec<Chosen>,
}

/// Quantize and encode with one choice of clips: the strategy runs once per
/// group, and the codes are made with the clips it chose.
pub fn encode(format: &dyn Format, strategy: &dyn Strategy, x: &[f32], shape: &Shape, gran: Granularity, seed: u64) -> Result<EncodedTensor, TensorError> {
    let (values, chosen) = quantize(format, strategy, x, shape, gran, seed)?;
    let clips: Vec<Option<Clip>> = chosen.iter().map(|c| c.clip).collect();
    let encoded = quantlab_formats::encode(format, x, shape, gran, &clips, seed)?;
    Ok(EncodedTensor { values, encoded, chosen })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encoding reuses the clips the walk chose: decoding gives the
    /// quantized tensor, for every granularity and a searching strategy.
    #[test]
    fn encode_decodes_to_what_quantize_gives() {
        let x: Vec<f32> = (0..6 * 40).map(|i| ((i * 7919 % 997) as f32 / 100.0 - 5.0).powi(3) / 30.0).collect();
        for (desc, strat) in [("int(bits=4)", "mse"), ("adaptivfloat(n=6,e=3)", "aciq-laplace"), ("int(bits=5,mode=asymmetric)", "percentile(p=95)"), ("mxfp4", "mse")] {
            let f = quantlab_formats::parse(desc).unwrap();
            let s = quantlab_clamp::parse(strat).unwrap();
            for gran in [Granularity::Tensor, Granularity::Channel { axis: 0 }, Granularity::Channel { axis: 1 }, Granularity::Block { size: 16 }] {
                let e = encode(&*f, &*s, &x, &[6, 40], gran, 3).unwrap();
                let back = quantlab_formats::decode(&*f, &e.encoded).unwrap();
                assert!(back.iter().zip(&e.values).all(|(a, b)| a.to_bits() == b.to_bits()), "{desc} {strat} {gran}");
                assert_eq!(e.chosen.len(), Layout::new(x.len(), &[6, 40], gran).unwrap().groups());
                assert!(e.chosen.iter().enumerate().all(|(i, c)| c.group == i));
            }
        }
    }
}
