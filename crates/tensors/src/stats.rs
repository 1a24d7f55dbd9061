//! Per-tensor summary for `quantlab inspect`, over finite values: the
//! shared `Stats` plus the kurtosis and the share of zeros.

use serde::Serialize;

use quantlab_formats::simd::{Carry, LANES};
use quantlab_formats::stats::{fourth_moment_lanes, FirstPass};

use crate::{Source, Tensor, TensorError};

/// What `quantlab inspect` shows for one tensor.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TensorStats {
    /// The tensor's name.
    pub name: String,
    /// Its stored dtype.
    pub dtype: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// All elements, finite or not.
    pub elements: usize,
    /// Smallest finite value.
    pub min: f64,
    /// Largest finite value.
    pub max: f64,
    /// Mean of the finite values.
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
    /// `E[(x-mean)^4] / std^4 - 3`: 0 for a Gaussian, 3 for a Laplace.
    pub excess_kurtosis: f64,
    /// `max|x| / std`: how far the largest value sits out, in standard deviations.
    pub amax_over_std: f64,
    /// Fraction of exact zeros.
    pub zero_fraction: f64,
    /// NaN values.
    pub nan: usize,
    /// Infinite values.
    pub inf: usize,
}

impl TensorStats {
    /// The summary of one tensor.
    pub fn of(t: &Tensor) -> TensorStats {
        let one = |visit: &mut dyn FnMut(&[f32])| -> Result<(), std::convert::Infallible> {
            visit(&t.data);
            Ok(())
        };
        let Ok(s) = TensorStats::of_passes(&t.name, &t.dtype, &t.shape, one);
        s
    }

    /// The summary of a tensor read in pieces, in two passes: `pass` is
    /// called twice and hands every piece, in order, to the function it is
    /// given (as for `Stats::of_passes`). The same as [`TensorStats::of`] the
    /// whole, bit for bit.
    pub fn of_passes<E>(name: &str, dtype: &str, shape: &[usize], mut pass: impl FnMut(&mut dyn FnMut(&[f32])) -> Result<(), E>) -> Result<TensorStats, E> {
        let mut first = FirstPass::default();
        let mut elements = 0;
        pass(&mut |x| {
            first.add(x);
            elements += x.len();
        })?;
        let mut second = first.finish();
        let mean = second.mean();
        let (mut m4, mut carry, mut zeros) = ([0.0f64; LANES], Carry::<1>::default(), 0usize);
        pass(&mut |x| {
            second.add(x);
            carry.feed([x], |[x]| m4 = fourth_moment_lanes(m4, x, mean));
            zeros += x.iter().filter(|&&v| v == 0.0).count();
        })?;
        let s = second.finish();
        let [tail] = carry.tail();
        let m4: f64 = fourth_moment_lanes(m4, tail, mean).iter().sum();
        let n = s.count;
        let var = s.population_var();
        let std = var.sqrt();
        let kurt = if var > 0.0 { (m4 / n as f64) / (var * var) - 3.0 } else { 0.0 };
        let (min, max, amax) = (s.min as f64, s.max as f64, s.amax as f64);
        Ok(TensorStats {
            name: name.to_string(),
            dtype: dtype.to_string(),
            shape: shape.to_vec(),
            elements,
            min: if n > 0 { min } else { 0.0 },
            max: if n > 0 { max } else { 0.0 },
            mean: s.mean,
            std,
            excess_kurtosis: kurt,
            amax_over_std: if std > 0.0 { amax / std } else { 0.0 },
            zero_fraction: if elements == 0 { 0.0 } else { zeros as f64 / elements as f64 },
            nan: s.nan,
            inf: s.inf,
        })
    }

    /// The summary of one tensor of a source, by name: a safetensors
    /// tensor is read in pieces (twice), so memory holds a piece of it,
    /// not the tensor.
    pub fn of_source(source: &Source, name: &str) -> Result<TensorStats, TensorError> {
        match source {
            Source::Safetensors { path, filter } => {
                let p = crate::safetensors_file::pieces(path, filter, name, PIECE)?;
                TensorStats::of_passes(name, &p.dtype, &p.shape, |visit| p.read(visit))
            }
            _ => source.load_one(name).map(|t| TensorStats::of(&t)),
        }
    }

    /// [`TensorStats::of_source`] for several tensors, in order, side by
    /// side on the threads of the current rayon pool.
    pub fn of_tensors(source: &Source, names: &[&str]) -> Result<Vec<TensorStats>, TensorError> {
        use rayon::prelude::*;
        names.par_iter().with_max_len(1).map(|name| TensorStats::of_source(source, name)).collect()
    }
}

/// Values read at a time by [`TensorStats::of_source`].
const PIECE: usize = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_of_a_small_tensor() {
        let t = Tensor { name: "t".into(), dtype: "f32".into(), shape: vec![5], data: vec![-2.0, -1.0, 0.0, 1.0, 2.0] };
        let s = TensorStats::of(&t);
        assert_eq!((s.min, s.max, s.mean), (-2.0, 2.0, 0.0));
        assert!((s.std - 2f64.sqrt()).abs() < 1e-12);
        // m4 = (16+1+0+1+16)/5 = 6.8, var^2 = 4: 6.8/4 - 3 = -1.3
        assert!((s.excess_kurtosis + 1.3).abs() < 1e-12);
        assert!((s.amax_over_std - 2.0 / 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(s.zero_fraction, 0.2);
    }
}
