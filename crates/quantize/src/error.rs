//! How far a quantized tensor is from its input: docs/formats.md's error
//! metrics, accumulated in one pass over the input and its fake-quantized
//! copy, and the one definition of SQNR that every sum of squares goes
//! through.

/// Error metrics of one quantized tensor (over finite inputs).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ErrorMetrics {
    /// Mean squared error.
    pub mse: f64,
    /// Its square root.
    pub rmse: f64,
    /// `10 log10(sum x^2 / sum (x - q)^2)`; +inf when exact.
    pub sqnr_db: f64,
    /// Largest `|x - q|`.
    pub max_abs_err: f64,
    /// Mean of `|x - q| / |x|` over finite `x != 0`.
    pub mean_rel_err: f64,
    /// Cosine similarity of `x` and `q` (1 when both are zero).
    pub cosine: f64,
    /// Non-zero finite inputs that became 0.
    pub underflow_fraction: f64,
    /// Finite inputs (the metrics' population).
    pub finite: usize,
    /// NaN inputs.
    pub nan_in: usize,
    /// Infinite inputs.
    pub inf_in: usize,
}

use quantlab_formats::simd::{finite, for_each_lane, for_each_lane_pair, Carry, LANES};

/// The sums over a tensor's input alone, which every cell of the tensor
/// shares: computed once per tensor ([`InputSums::of`]), not once per cell.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct InputSums {
    /// `sum x^2` over finite `x`.
    sx: f64,
    finite: usize,
    nonzero: usize,
    nan: usize,
    inf: usize,
}

/// [`InputSums`] lane by lane: `sum x^2`, then the counts of finite,
/// non-zero finite, NaN and infinite values.
type InputLanes = ([f64; LANES], [[f64; LANES]; 4]);

quantlab_formats::kernel! {
    fn input_lanes(from: InputLanes, x: &[f32]) -> InputLanes {
        // Counted in f64 (exact below 2^53 per lane) and in separate arrays:
        // u64 counters of four conditions kept this loop scalar, 8x slower
        // than the other sums.
        let (mut sx, [mut fin, mut nonzero, mut nan, mut inf]) = from;
        let one = |c: bool| if c { 1.0 } else { 0.0 };
        for_each_lane(x, |i, a32| {
            let bits = a32.to_bits() & 0x7fff_ffff;
            let finite = bits < 0x7f80_0000;
            let a = if finite { a32 as f64 } else { 0.0 };
            sx[i] += a * a;
            fin[i] += one(finite);
            nonzero[i] += one(finite && bits != 0);
            nan[i] += one(bits > 0x7f80_0000);
            inf[i] += one(bits == 0x7f80_0000);
        });
        (sx, [fin, nonzero, nan, inf])
    }
}

impl InputSums {
    /// The sums of one input tensor.
    pub fn of(x: &[f32]) -> InputSums {
        let mut pass = InputPass::default();
        pass.add(x);
        pass.finish()
    }
}

/// [`InputSums::of`] a tensor handed in consecutive pieces (of any
/// lengths): the same result, bit for bit.
#[derive(Default)]
pub struct InputPass {
    lanes: InputLanes,
    carry: Carry<1>,
}

impl InputPass {
    /// Add the next piece.
    pub fn add(&mut self, x: &[f32]) {
        let lanes = &mut self.lanes;
        self.carry.feed([x], |[x]| *lanes = input_lanes(*lanes, x));
    }

    /// The sums of everything added.
    pub fn finish(self) -> InputSums {
        let [tail] = self.carry.tail();
        let (sx, counts) = input_lanes(self.lanes, tail);
        let count = |v: &[f64; LANES]| v.iter().map(|&c| c as u64).sum::<u64>() as usize;
        InputSums { sx: sx.iter().sum(), finite: count(&counts[0]), nonzero: count(&counts[1]), nan: count(&counts[2]), inf: count(&counts[3]) }
    }
}

/// The per-cell sums, lane by lane (lane = position mod [`LANES`]).
#[derive(Clone, Copy, Default)]
struct Lanes {
    se: [f64; LANES],
    sq: [f64; LANES],
    sxq: [f64; LANES],
    maxe: [f64; LANES],
    rel: [f64; LANES],
    under: [u64; LANES],
}

quantlab_formats::kernel! {
    /// One pass over input and output, every sum kept in a register
    /// (~22 instructions per eight elements).
    /// Continues from `from`, the sums of the values before `x`, whose
    /// count is a multiple of `LANES`.
    fn accumulate(from: Lanes, x: &[f32], q: &[f32]) -> Lanes {
        // Locals rather than the struct's fields: they stay in registers.
        let Lanes { mut se, mut sq, mut sxq, mut maxe, mut rel, mut under } = from;
        for_each_lane_pair(x, q, |i, a32, b32| {
            let (a, b) = if finite(a32) { (a32 as f64, b32 as f64) } else { (0.0, 0.0) };
            let d = a - b;
            se[i] += d * d;
            sq[i] += b * b;
            sxq[i] += a * b;
            maxe[i] = if d.abs() > maxe[i] { d.abs() } else { maxe[i] };
            let nonzero = a != 0.0;
            // The relative error in f32 (its own rounding, 2^-24, is far
            // below what a mean of relative errors needs) spares an f64
            // division. Zeroed through the bits: a select here compiles to
            // masked stores that keep the sum in memory.
            let r = ((a32 - b32).abs() / a32.abs()) as f64;
            rel[i] += f64::from_bits(r.to_bits() & (nonzero as u64).wrapping_neg());
            under[i] += (nonzero && b == 0.0) as u64;
        });
        Lanes { se, sq, sxq, maxe, rel, under }
    }
}

/// Signal-to-quantization-noise ratio in dB from the sum of squared
/// inputs and the sum of squared errors: `10 log10(signal / noise)`, +inf
/// when the noise is 0 (exact).
pub fn sqnr_db(signal: f64, noise: f64) -> f64 {
    if noise == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (signal / noise).log10()
    }
}

/// Measure `q` against `x`.
pub fn measure(x: &[f32], q: &[f32]) -> ErrorMetrics {
    measure_with(&InputSums::of(x), x, q)
}

/// Measure `q` against `x`, whose own sums `input` holds (the same result as
/// [`measure`], bit for bit).
pub fn measure_with(input: &InputSums, x: &[f32], q: &[f32]) -> ErrorMetrics {
    let mut m = Measure::default();
    m.add(x, q);
    m.finish(input)
}

/// [`measure_with`] over a tensor handed in consecutive pieces (of any
/// lengths): the same sums in the same order, so the same result, bit for
/// bit, as measuring the tensor whole.
#[derive(Default)]
pub struct Measure {
    lanes: Lanes,
    carry: Carry<2>,
}

impl Measure {
    /// Add the next piece: inputs `x` and their quantized values `q`.
    pub fn add(&mut self, x: &[f32], q: &[f32]) {
        let n = x.len().min(q.len());
        let lanes = &mut self.lanes;
        self.carry.feed([&x[..n], &q[..n]], |[x, q]| *lanes = accumulate(*lanes, x, q));
    }

    /// The metrics of everything added, with the input's own sums.
    pub fn finish(self, input: &InputSums) -> ErrorMetrics {
        let [x, q] = self.carry.tail();
        let s = accumulate(self.lanes, x, q);
        let sum = |v: &[f64; LANES]| v.iter().sum::<f64>();
        let (se, sq, sxq, rel) = (sum(&s.se), sum(&s.sq), sum(&s.sxq), sum(&s.rel));
        let (sx, n, nz) = (input.sx, input.finite, input.nonzero);
        let under = s.under.iter().sum::<u64>() as usize;
        let mse = if n > 0 { se / n as f64 } else { 0.0 };
        ErrorMetrics {
            mse,
            rmse: mse.sqrt(),
            sqnr_db: sqnr_db(sx, se),
            max_abs_err: s.maxe.iter().copied().fold(0.0, f64::max),
            mean_rel_err: if nz > 0 { rel / nz as f64 } else { 0.0 },
            cosine: if sx > 0.0 && sq > 0.0 {
                sxq / (sx.sqrt() * sq.sqrt())
            } else if sx == sq {
                1.0
            } else {
                0.0
            },
            underflow_fraction: if nz > 0 { under as f64 / nz as f64 } else { 0.0 },
            finite: n,
            nan_in: input.nan,
            inf_in: input.inf,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_metrics() {
        let x = [1.0f32, -2.0, 0.5, 0.0, f32::NAN, f32::INFINITY];
        let q = [1.0f32, -1.5, 0.0, 0.0, f32::NAN, 3.0];
        let m = measure(&x, &q);
        // errors 0, -0.5, 0.5, 0 over 4 finite values
        assert_eq!((m.finite, m.nan_in, m.inf_in), (4, 1, 1));
        assert!((m.mse - 0.125).abs() < 1e-15);
        assert!((m.sqnr_db - 10.0 * (5.25f64 / 0.5).log10()).abs() < 1e-12);
        assert_eq!(m.max_abs_err, 0.5);
        assert!((m.mean_rel_err - (0.0 + 0.25 + 1.0) / 3.0).abs() < 1e-15);
        assert!((m.underflow_fraction - 1.0 / 3.0).abs() < 1e-15);
        let cos = (1.0 + 3.0) / (5.25f64.sqrt() * 3.25f64.sqrt());
        assert!((m.cosine - cos).abs() < 1e-15);
        assert_eq!(measure(&[1.0, 2.0], &[1.0, 2.0]).sqnr_db, f64::INFINITY);
    }

    /// The input's counts against a plain count: signed zeros, both
    /// infinities, NaNs of both signs, subnormals, the largest finite.
    #[test]
    fn input_sums_count_every_kind_of_value() {
        let kinds = [-0.0f32, 0.0, f32::NEG_INFINITY, f32::INFINITY, f32::NAN, -f32::NAN, f32::from_bits(1), -f32::MAX, 2.5];
        let x: Vec<f32> = (0..1001).map(|i| kinds[(i * 7) % kinds.len()]).collect();
        let s = InputSums::of(&x);
        let finite: Vec<f32> = x.iter().copied().filter(|v| v.is_finite()).collect();
        assert_eq!((s.finite, s.nan, s.inf), (finite.len(), x.iter().filter(|v| v.is_nan()).count(), x.iter().filter(|v| v.is_infinite()).count()));
        assert_eq!(s.nonzero, finite.iter().filter(|&&v| v != 0.0).count());
        assert_eq!(s.sx, crate::error::tests::lane_sum(&finite_or_zero(&x)));
    }

    fn finite_or_zero(x: &[f32]) -> Vec<f64> {
        x.iter().map(|&v| if v.is_finite() { v as f64 * v as f64 } else { 0.0 }).collect()
    }

    /// Sum by lanes (position mod LANES), then the lanes: the kernels' order.
    fn lane_sum(v: &[f64]) -> f64 {
        let mut lanes = [0.0f64; LANES];
        for (i, x) in v.iter().enumerate() {
            lanes[i % LANES] += x;
        }
        lanes.iter().sum()
    }

    /// In pieces of any lengths (shorter and longer than a run of lanes),
    /// the metrics of the whole, bit for bit.
    #[test]
    fn pieces_measure_as_the_whole() {
        let x: Vec<f32> = (0..1000).map(|i| if i % 97 == 5 { f32::NAN } else { ((i * 7919 % 613) as f32 - 300.0) / 37.0 }).collect();
        let q: Vec<f32> = x.iter().map(|v| (v * 4.0).round() / 4.0).collect();
        let whole = measure(&x, &q);
        for cuts in [vec![1000usize], vec![3, 997], vec![1, 1, 1, 5, 8, 13, 400, 571], vec![8, 16, 7, 9, 960], vec![0, 1000]] {
            let mut m = Measure::default();
            let mut at = 0;
            for &c in &cuts {
                m.add(&x[at..at + c], &q[at..at + c]);
                at += c;
            }
            let got = m.finish(&InputSums::of(&x));
            assert_eq!(format!("{got:?}"), format!("{whole:?}"));
            let mut input = InputPass::default();
            let mut at = 0;
            for &c in &cuts {
                input.add(&x[at..at + c]);
                at += c;
            }
            assert_eq!(input.finish(), InputSums::of(&x));
        }
    }
}
