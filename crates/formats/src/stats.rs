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
        let mut first = FirstPass::default();
        first.add(x);
        let mut second = first.finish();
        second.add(x);
        second.finish()
    }

    /// [`Stats::of`] a tensor read in pieces, in two passes: `pass` is
    /// called twice and hands every piece, in order, to the function it is
    /// given (pieces of any lengths; the same in both passes). The same
    /// result as `Stats::of` the whole, bit for bit.
    pub fn of_passes<E>(mut pass: impl FnMut(&mut dyn FnMut(&[f32])) -> Result<(), E>) -> Result<Stats, E> {
        let mut first = FirstPass::default();
        pass(&mut |x| first.add(x))?;
        let mut second = first.finish();
        pass(&mut |x| second.add(x))?;
        Ok(second.finish())
    }

    /// Counts, min, max and amax only (one light pass); the spread fields are
    /// 0. Min and max order `-0 < +0` (`finite_range`'s integer keys).
    pub fn range_of(x: &[f32]) -> Stats {
        Stats::from_range(crate::bits::finite_range(x))
    }

    fn from_range(r: crate::bits::Range) -> Stats {
        let crate::bits::Range { count, nan, inf, min, max } = r;
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

use crate::simd::{finite, for_each_lane, Carry, LANES};

/// The first pass of [`Stats::of`] over pieces: the range and the sums
/// the mean comes from.
#[derive(Default)]
pub struct FirstPass {
    range: Option<crate::bits::Range>,
    sums: ([f64; LANES], [f64; LANES]),
    carry: Carry<1>,
}

impl FirstPass {
    /// Add the next piece.
    pub fn add(&mut self, x: &[f32]) {
        let r = crate::bits::finite_range(x);
        self.range = Some(match self.range {
            None => r,
            Some(a) => merge(a, r),
        });
        let sums = &mut self.sums;
        self.carry.feed([x], |[x]| *sums = sum_lanes(*sums, x));
    }

    /// The range, and the second pass (which needs the mean).
    pub fn finish(self) -> SecondPass {
        let r = self.range.unwrap_or_default();
        let [tail] = self.carry.tail();
        let (sum, sq) = sum_lanes(self.sums, tail);
        let range = Stats::from_range(r);
        let count = range.count as f64;
        let mean = if range.count > 0 { sum.iter().sum::<f64>() / count } else { 0.0 };
        SecondPass { range, mean, mean_sq: if range.count > 0 { sq.iter().sum::<f64>() / count } else { 0.0 }, devs: ([0.0; LANES], [0.0; LANES]), carry: Carry::default() }
    }
}

/// Two pieces' ranges as the range of both. Finite values order by
/// `total_cmp` as the range's integer keys do (-0 < +0).
fn merge(a: crate::bits::Range, b: crate::bits::Range) -> crate::bits::Range {
    let (nan, inf) = (a.nan + b.nan, a.inf + b.inf);
    if a.count == 0 || b.count == 0 {
        let r = if a.count == 0 { b } else { a };
        return crate::bits::Range { nan, inf, ..r };
    }
    let min = if a.min.total_cmp(&b.min).is_le() { a.min } else { b.min };
    let max = if a.max.total_cmp(&b.max).is_ge() { a.max } else { b.max };
    crate::bits::Range { count: a.count + b.count, nan, inf, min, max }
}

/// The second pass of [`Stats::of`] over the same pieces: the deviations
/// from the mean.
pub struct SecondPass {
    range: Stats,
    mean: f64,
    mean_sq: f64,
    devs: ([f64; LANES], [f64; LANES]),
    carry: Carry<1>,
}

impl SecondPass {
    /// The range fields of the statistics (known after the first pass;
    /// what [`Stats::range_of`] gives).
    pub fn range(&self) -> Stats {
        self.range
    }

    /// The mean of the finite values (known after the first pass).
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// Add the next piece.
    pub fn add(&mut self, x: &[f32]) {
        if self.range.count == 0 {
            return;
        }
        let (devs, mean) = (&mut self.devs, self.mean);
        self.carry.feed([x], |[x]| *devs = deviation_lanes(*devs, x, mean));
    }

    /// The statistics.
    pub fn finish(self) -> Stats {
        let range = self.range;
        if range.count == 0 {
            return range;
        }
        let [tail] = self.carry.tail();
        let (abs, sq) = deviation_lanes(self.devs, tail, self.mean);
        let (abs_dev, sq_dev) = (abs.iter().sum::<f64>(), sq.iter().sum::<f64>());
        let count = range.count as f64;
        Stats { mean: self.mean, mean_abs_dev: abs_dev / count, var: if range.count > 1 { sq_dev / (count - 1.0) } else { 0.0 }, mean_sq: self.mean_sq, ..range }
    }
}

crate::kernel! {
    /// Sum and sum of squares of the finite values, lane by lane, from the
    /// lanes of the values before (a multiple of `LANES` of them). (Counts,
    /// min and max come from `finite_range`: one loop doing all of it
    /// stayed scalar.)
    fn sum_lanes(from: ([f64; LANES], [f64; LANES]), x: &[f32]) -> ([f64; LANES], [f64; LANES]) {
        let (mut sum, mut sq) = from;
        for_each_lane(x, |i, v| {
            let f = if finite(v) { v as f64 } else { 0.0 };
            sum[i] += f;
            sq[i] += f * f;
        });
        (sum, sq)
    }
}

crate::kernel! {
    /// Sums of |x - mean| and (x - mean)^2 over finite values, lane by lane.
    fn deviation_lanes(from: ([f64; LANES], [f64; LANES]), x: &[f32], mean: f64) -> ([f64; LANES], [f64; LANES]) {
        let (mut abs, mut sq) = from;
        for_each_lane(x, |i, v| {
            let d = v as f64 - mean;
            let d = if finite(v) { d } else { 0.0 };
            abs[i] += d.abs();
            sq[i] += d * d;
        });
        (abs, sq)
    }
}

crate::kernel! {
    /// Sums of (x - mean)^4 over finite values (the kurtosis' numerator),
    /// lane by lane, from the lanes of the values before (a multiple of
    /// `LANES` of them; `simd::Carry` keeps them so).
    pub fn fourth_moment_lanes(from: [f64; LANES], x: &[f32], mean: f64) -> [f64; LANES] {
        let mut m4 = from;
        for_each_lane(x, |i, v| {
            let d = if finite(v) { v as f64 - mean } else { 0.0 };
            m4[i] += (d * d) * (d * d);
        });
        m4
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

    /// Two passes over pieces of any lengths (empty ones, pieces with no
    /// finite value, -0 against +0 across pieces) give the whole's
    /// statistics, bit for bit.
    #[test]
    fn pieces_in_two_passes_are_the_whole() {
        let x: Vec<f32> = (0..2000)
            .map(|i| match i % 101 {
                3 => f32::NAN,
                7 => f32::NEG_INFINITY,
                11 => -0.0,
                12 => 0.0,
                _ => ((i * 7919 % 1013) as f32 - 500.0) / 17.0,
            })
            .collect();
        for cuts in [vec![2000], vec![1, 2, 3, 5, 8, 1981], vec![0, 16, 0, 7, 1977], vec![3; 666].into_iter().chain([2]).collect()] {
            let got = Stats::of_passes::<()>(|visit| {
                let mut at = 0;
                for &c in &cuts {
                    visit(&x[at..at + c]);
                    at += c;
                }
                Ok(())
            })
            .unwrap();
            assert_eq!(format!("{got:?}"), format!("{:?}", Stats::of(&x)), "{cuts:?}");
        }
        // Pieces that hold no finite value, around ones that do; signed zeros.
        let y = [f32::NAN, -0.0, 0.0, f32::INFINITY, 5.0, -0.0];
        for split in 0..=y.len() {
            let got = Stats::of_passes::<()>(|visit| {
                visit(&y[..split]);
                visit(&y[split..]);
                Ok(())
            })
            .unwrap();
            let whole = Stats::of(&y);
            assert_eq!(format!("{got:?}"), format!("{whole:?}"), "split at {split}");
            assert!(got.min.is_sign_negative() && got.min == 0.0);
        }
        assert_eq!(Stats::of_passes::<()>(|_| Ok(())).unwrap(), Stats::of(&[]));
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
