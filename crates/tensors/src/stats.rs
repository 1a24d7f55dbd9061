//! Per-tensor summary for `quantlab inspect`, over finite values: the
//! shared [`Stats`] plus the kurtosis and the share of zeros.

use serde::Serialize;

use quantlab_formats::stats::{fourth_moment_sum, Stats};

use crate::Tensor;

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
        let s = Stats::of(&t.data);
        let n = s.count;
        let var = s.population_var();
        let std = var.sqrt();
        let kurt = if var > 0.0 { (fourth_moment_sum(&t.data, s.mean) / n as f64) / (var * var) - 3.0 } else { 0.0 };
        let zeros = t.data.iter().filter(|&&v| v == 0.0).count();
        let (min, max, mean, amax) = (s.min as f64, s.max as f64, s.mean, s.amax as f64);
        let (nan, inf) = (s.nan, s.inf);
        TensorStats {
            name: t.name.clone(),
            dtype: t.dtype.clone(),
            shape: t.shape.clone(),
            elements: t.data.len(),
            min: if n > 0 { min } else { 0.0 },
            max: if n > 0 { max } else { 0.0 },
            mean,
            std,
            excess_kurtosis: kurt,
            amax_over_std: if std > 0.0 { amax / std } else { 0.0 },
            zero_fraction: if t.data.is_empty() { 0.0 } else { zeros as f64 / t.data.len() as f64 },
            nan,
            inf,
        }
    }
}

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
