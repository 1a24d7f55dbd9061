//! The statistics every strategy draws on, over the finite values of a group
//! (NaN and ±Inf are ignored and counted).

/// Summary of one group's finite values.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GroupStats {
    /// Finite values.
    pub count: usize,
    pub nan: usize,
    pub inf: usize,
    pub min: f32,
    pub max: f32,
    /// Largest finite |x|.
    pub amax: f32,
    pub mean: f64,
    /// `mean(|x - mean|)`: ACIQ's Laplace `b`.
    pub mean_abs_dev: f64,
    /// Sample variance (n - 1 in the denominator, as `torch.std`).
    pub var: f64,
    /// `mean(x^2)`.
    pub mean_sq: f64,
}

impl GroupStats {
    /// Two passes (mean first, then deviations) in f64 for accuracy.
    pub fn of(x: &[f32]) -> GroupStats {
        let (mut count, mut nan, mut inf) = (0usize, 0usize, 0usize);
        let (mut min, mut max, mut sum, mut sum_sq) = (f32::INFINITY, f32::NEG_INFINITY, 0.0f64, 0.0f64);
        for &v in x {
            if v.is_nan() {
                nan += 1;
            } else if v.is_infinite() {
                inf += 1;
            } else {
                count += 1;
                min = min.min(v);
                max = max.max(v);
                sum += v as f64;
                sum_sq += v as f64 * v as f64;
            }
        }
        if count == 0 {
            return GroupStats { nan, inf, ..GroupStats::default() };
        }
        let mean = sum / count as f64;
        let (mut abs_dev, mut sq_dev) = (0.0f64, 0.0f64);
        for &v in x.iter().filter(|v| v.is_finite()) {
            let d = v as f64 - mean;
            abs_dev += d.abs();
            sq_dev += d * d;
        }
        GroupStats {
            count,
            nan,
            inf,
            min,
            max,
            amax: min.abs().max(max.abs()),
            mean,
            mean_abs_dev: abs_dev / count as f64,
            var: if count > 1 { sq_dev / (count - 1) as f64 } else { 0.0 },
            mean_sq: sum_sq / count as f64,
        }
    }

    pub fn std(&self) -> f64 {
        self.var.sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignores_and_counts_non_finite() {
        let s = GroupStats::of(&[1.0, -3.0, f32::NAN, f32::INFINITY, 2.0, f32::NEG_INFINITY]);
        assert_eq!((s.count, s.nan, s.inf), (3, 1, 2));
        assert_eq!((s.min, s.max, s.amax), (-3.0, 2.0, 3.0));
        assert_eq!(s.mean, 0.0);
        assert!((s.mean_abs_dev - 2.0).abs() < 1e-12);
        assert!((s.var - 7.0).abs() < 1e-12);
        assert!((s.mean_sq - 14.0 / 3.0).abs() < 1e-12);
        assert_eq!(GroupStats::of(&[]).count, 0);
    }
}
