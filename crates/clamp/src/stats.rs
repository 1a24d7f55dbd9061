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
    /// Two passes (mean first, then deviations), accumulated in f64 over
    /// eight independent lanes: a fixed summation order (deterministic) that
    /// vectorises.
    pub fn of(x: &[f32]) -> GroupStats {
        let first = first_pass(x);
        let (count, nan, inf, min, max, sum, sum_sq) = first;
        if count == 0 {
            return GroupStats { nan, inf, ..GroupStats::default() };
        }
        let mean = sum / count as f64;
        let (abs_dev, sq_dev) = deviations(x, mean);
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

    /// Counts, min, max and amax only (one light pass); the spread fields are 0.
    pub fn range_of(x: &[f32]) -> GroupStats {
        let quantlab_formats::bits::Range { count, nan, inf, min, max } = quantlab_formats::bits::finite_range(x);
        if count == 0 {
            return GroupStats { nan, inf, ..GroupStats::default() };
        }
        GroupStats { count, nan, inf, min, max, amax: min.abs().max(max.abs()), ..GroupStats::default() }
    }

    pub fn std(&self) -> f64 {
        self.var.sqrt()
    }
}

const LANES: usize = 8;

quantlab_formats::kernel! {
    /// Finite count, NaN and Inf counts, finite min and max, sum, sum of squares.
    fn first_pass(x: &[f32]) -> (usize, usize, usize, f32, f32, f64, f64) {
        let (mut cnt, mut nan, mut inf) = ([0u64; LANES], [0u64; LANES], [0u64; LANES]);
        let (mut lo, mut hi) = ([f32::INFINITY; LANES], [f32::NEG_INFINITY; LANES]);
        let (mut sum, mut sq) = ([0.0f64; LANES], [0.0f64; LANES]);
        let chunks = x.chunks_exact(LANES);
        let tail = chunks.remainder();
        let mut lane = |i: usize, v: f32| {
            let finite = v.is_finite();
            cnt[i] += finite as u64;
            nan[i] += v.is_nan() as u64;
            inf[i] += v.is_infinite() as u64;
            let f = if finite { v } else { 0.0 };
            lo[i] = if finite && v < lo[i] { v } else { lo[i] };
            hi[i] = if finite && v > hi[i] { v } else { hi[i] };
            sum[i] += f as f64;
            sq[i] += f as f64 * f as f64;
        };
        for c in chunks {
            for (i, &v) in c.iter().enumerate() {
                lane(i, v);
            }
        }
        for (i, &v) in tail.iter().enumerate() {
            lane(i, v);
        }
        (
            cnt.iter().sum::<u64>() as usize,
            nan.iter().sum::<u64>() as usize,
            inf.iter().sum::<u64>() as usize,
            lo.iter().copied().fold(f32::INFINITY, f32::min),
            hi.iter().copied().fold(f32::NEG_INFINITY, f32::max),
            sum.iter().sum(),
            sq.iter().sum(),
        )
    }
}

quantlab_formats::kernel! {
    /// Sums of |x - mean| and (x - mean)^2 over finite values.
    fn deviations(x: &[f32], mean: f64) -> (f64, f64) {
        let (mut abs, mut sq) = ([0.0f64; LANES], [0.0f64; LANES]);
        let chunks = x.chunks_exact(LANES);
        let tail = chunks.remainder();
        let mut lane = |i: usize, v: f32| {
            let d = if v.is_finite() { v as f64 - mean } else { 0.0 };
            abs[i] += d.abs();
            sq[i] += d * d;
        };
        for c in chunks {
            for (i, &v) in c.iter().enumerate() {
                lane(i, v);
            }
        }
        for (i, &v) in tail.iter().enumerate() {
            lane(i, v);
        }
        (abs.iter().sum(), sq.iter().sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_of_agrees_with_the_full_statistics() {
        let x = [1.0f32, -3.0, f32::NAN, f32::INFINITY, 2.0, -0.0, f32::NEG_INFINITY, 1e-40];
        let (full, range) = (GroupStats::of(&x), GroupStats::range_of(&x));
        assert_eq!((range.count, range.nan, range.inf, range.min, range.max, range.amax), (full.count, full.nan, full.inf, full.min, full.max, full.amax));
        assert_eq!(GroupStats::range_of(&[f32::NAN]).count, 0);
    }

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
