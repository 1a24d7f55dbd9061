//! The one summary of a set of values, over its finite values (NaN and ±Inf
//! are ignored and counted): what every clamping strategy draws on for a
//! group, what a tensor sweep records of its input (`x_min`, `x_std`,
//! `x_b`) and what `quantlab inspect` shows of a tensor.

/// Summary of a set of finite values (a group, a tensor).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// Finite values.
    pub count: usize,
    /// NaN values.
    pub nan: usize,
    /// Infinite values.
    pub inf: usize,
    /// Smallest finite value.
    pub min: f32,
    /// Largest finite value.
    pub max: f32,
    /// Largest finite |x|.
    pub amax: f32,
    /// Mean.
    pub mean: f64,
    /// `mean(|x - mean|)`: ACIQ's Laplace `b`.
    pub mean_abs_dev: f64,
    /// Sample variance (n - 1 in the denominator, as `torch.std`).
    pub var: f64,
    /// `mean(x^2)`.
    pub mean_sq: f64,
}

impl Stats {
    /// [`Stats::range_of`], then the sums (the mean first, then the
    /// deviations from it), accumulated in f64 over eight independent lanes:
    /// a fixed summation order (deterministic) that vectorises.
    pub fn of(x: &[f32]) -> Stats {
        let range = Stats::range_of(x);
        if range.count == 0 {
            return range;
        }
        let count = range.count as f64;
        let (sum, sum_sq) = sums(x);
        let mean = sum / count;
        let (abs_dev, sq_dev) = deviations(x, mean);
        Stats { mean, mean_abs_dev: abs_dev / count, var: if range.count > 1 { sq_dev / (count - 1.0) } else { 0.0 }, mean_sq: sum_sq / count, ..range }
    }

    /// Counts, min, max and amax only (one light pass); the spread fields are
    /// 0. Min and max order `-0 < +0` (`finite_range`'s integer keys).
    pub fn range_of(x: &[f32]) -> Stats {
        let crate::bits::Range { count, nan, inf, min, max } = crate::bits::finite_range(x);
        if count == 0 {
            return Stats { nan, inf, ..Stats::default() };
        }
        Stats { count, nan, inf, min, max, amax: min.abs().max(max.abs()), ..Stats::default() }
    }

    /// Sample standard deviation.
    pub fn std(&self) -> f64 {
        self.var.sqrt()
    }

    /// Population variance (`n` in the denominator).
    pub fn population_var(&self) -> f64 {
        if self.count > 1 {
            self.var * (self.count - 1) as f64 / self.count as f64
        } else {
            0.0
        }
    }
}

use crate::simd::{finite, for_each_lane, LANES};

crate::kernel! {
    /// Sum and sum of squares of the finite values. (Counts, min and max come
    /// from `finite_range`: one loop doing all of it stayed scalar.)
    fn sums(x: &[f32]) -> (f64, f64) {
        let (mut sum, mut sq) = ([0.0f64; LANES], [0.0f64; LANES]);
        for_each_lane(x, |i, v| {
            let f = if finite(v) { v as f64 } else { 0.0 };
            sum[i] += f;
            sq[i] += f * f;
        });
        (sum.iter().sum(), sq.iter().sum())
    }
}

crate::kernel! {
    /// Sums of |x - mean| and (x - mean)^2 over finite values.
    fn deviations(x: &[f32], mean: f64) -> (f64, f64) {
        let (mut abs, mut sq) = ([0.0f64; LANES], [0.0f64; LANES]);
        for_each_lane(x, |i, v| {
            let d = v as f64 - mean;
            let d = if finite(v) { d } else { 0.0 };
            abs[i] += d.abs();
            sq[i] += d * d;
        });
        (abs.iter().sum(), sq.iter().sum())
    }
}

crate::kernel! {
    /// Sum of (x - mean)^4 over finite values (the kurtosis' numerator).
    pub fn fourth_moment_sum(x: &[f32], mean: f64) -> f64 {
        let mut m4 = [0.0f64; LANES];
        for_each_lane(x, |i, v| {
            let d = if finite(v) { v as f64 - mean } else { 0.0 };
            m4[i] += (d * d) * (d * d);
        });
        m4.iter().sum()
    }
}

crate::kernel! {
    /// Finite values outside `[lo, hi]`: the elements a clip moves.
    pub fn count_outside(x: &[f32], lo: f32, hi: f32) -> usize {
        let mut n = [0u64; LANES];
        for_each_lane(x, |i, v| n[i] += (finite(v) && (v < lo || v > hi)) as u64);
        n.iter().sum::<u64>() as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_of_agrees_with_the_full_statistics() {
        let x = [1.0f32, -3.0, f32::NAN, f32::INFINITY, 2.0, -0.0, f32::NEG_INFINITY, 1e-40];
        let (full, range) = (Stats::of(&x), Stats::range_of(&x));
        assert_eq!((range.count, range.nan, range.inf, range.min, range.max, range.amax), (full.count, full.nan, full.inf, full.min, full.max, full.amax));
        assert_eq!(Stats::range_of(&[f32::NAN]).count, 0);
    }

    #[test]
    fn ignores_and_counts_non_finite() {
        let s = Stats::of(&[1.0, -3.0, f32::NAN, f32::INFINITY, 2.0, f32::NEG_INFINITY]);
        assert_eq!((s.count, s.nan, s.inf), (3, 1, 2));
        assert_eq!((s.min, s.max, s.amax), (-3.0, 2.0, 3.0));
        assert_eq!(s.mean, 0.0);
        assert!((s.mean_abs_dev - 2.0).abs() < 1e-12);
        assert!((s.var - 7.0).abs() < 1e-12);
        assert!((s.mean_sq - 14.0 / 3.0).abs() < 1e-12);
        assert_eq!(Stats::of(&[]).count, 0);
    }
}
