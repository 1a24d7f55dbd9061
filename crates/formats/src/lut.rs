//! Lookup-table element types: a list of values (QLoRA's NF4,
//! bitsandbytes' FP4), the code of a value being its position in the list.
//!
//! Rounding follows bitsandbytes exactly: the entries sorted (a stable
//! sort, so of two equal entries such as FP4's 0 and -0 the one listed
//! first comes first), the midpoints between sorted neighbours computed
//! in f32 as `(a + b) / 2`, and `x` takes the entry after every midpoint
//! strictly below it (`torch.bucketize`): a value exactly on a midpoint
//! goes to the lower entry. That is `nearest-even` for a table, whose
//! entries have no code parity; `nearest-away` sends a tie away from zero,
//! `toward-zero`, `toward-positive`, `toward-negative` take the neighbour
//! their names say, `odd` the neighbour with an odd code (the lower one if
//! both are), `stochastic` the upper neighbour with probability `(x - lo) /
//! (hi - lo)` (with N bits: that probability rounded to N bits). Beyond the ends, the
//! end entries (saturation); NaN stays NaN (tables have no NaN code).
//!
//! ```
//! use quantlab_formats::lut::Lut;
//! let nf4 = Lut::new(&quantlab_formats::lut::NF4);
//! let mut out = [0.0f32; 3];
//! nf4.round(&[0.9, -0.04, 2.0], &mut out, quantlab_formats::Rounding::NearestEven, Default::default());
//! assert_eq!(out, [1.0, 0.0, 1.0]);
//! ```

use crate::rounding::{RoundCtx, Rounding};

/// QLoRA's NormalFloat4 (bitsandbytes' `get_4bit_type("nf4")`, its
/// doubles rounded to f32 as torch does), in code order.
pub static NF4: [f32; 16] = {
    const RAW: [f64; 16] = [
        -1.0,
        -0.6961928009986877,
        -0.5250730514526367,
        -0.39491748809814453,
        -0.28444138169288635,
        -0.18477343022823334,
        -0.09105003625154495,
        0.0,
        0.07958029955625534,
        0.16093020141124725,
        0.24611230194568634,
        0.33791524171829224,
        0.44070982933044434,
        0.5626170039176941,
        0.7229568362236023,
        1.0,
    ];
    let mut t = [0.0f32; 16];
    let mut i = 0;
    while i < 16 {
        t[i] = RAW[i] as f32;
        i += 1;
    }
    t
};

/// bitsandbytes' FP4 (`get_4bit_type("fp4")`): 1 sign, 2 exponent, 1 mantissa
/// bits with bias 2 and no implicit bit below, divided by its largest value
/// (12) in f32, in code order. Codes 0 and 8 are both +0 (bitsandbytes
/// writes code 8 as the integer `-0`): inputs rounding to zero from above
/// take code 8 there and code 0 here, with the same value.
pub static FP4_BNB: [f32; 16] = {
    const RAW: [f32; 16] = [0.0, 0.0625, 8.0, 12.0, 4.0, 6.0, 2.0, 3.0, 0.0, -0.0625, -8.0, -12.0, -4.0, -6.0, -2.0, -3.0];
    let mut t = [0.0f32; 16];
    let mut i = 0;
    while i < 16 {
        t[i] = RAW[i] / 12.0;
        i += 1;
    }
    t
};

/// A table ready to round to.
#[derive(Clone, Debug, PartialEq)]
pub struct Lut {
    /// Entries in code order.
    codes: Vec<f32>,
    /// Entries sorted (stable), with their codes.
    sorted: Vec<(f32, u32)>,
    /// `(sorted[i] + sorted[i + 1]) / 2` in f32.
    mids: Vec<f32>,
}

impl Lut {
    /// The table of these entries (finite, at least two).
    pub fn new(values: &[f32]) -> Lut {
        let mut sorted: Vec<(f32, u32)> = values.iter().enumerate().map(|(i, &v)| (v, i as u32)).collect();
        sorted.sort_by(|a, b| a.0.partial_cmp(&b.0).expect("finite entries"));
        let mids = sorted.windows(2).map(|w| (w[0].0 + w[1].0) / 2.0).collect();
        Lut { codes: values.to_vec(), sorted, mids }
    }

    /// The entries in code order.
    pub fn values(&self) -> &[f32] {
        &self.codes
    }

    pub fn len(&self) -> usize {
        self.codes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Largest |entry|.
    pub fn max(&self) -> f32 {
        self.codes.iter().fold(0.0f32, |m, v| m.max(v.abs()))
    }

    /// Whether `-v` is an entry for every entry `v` (NF4 is not).
    pub fn symmetric(&self) -> bool {
        self.codes.iter().all(|v| self.codes.contains(&-v))
    }

    /// Whether -0 is an entry of its own.
    pub fn signed_zero(&self) -> bool {
        self.codes.iter().any(|v| v.to_bits() == (-0.0f32).to_bits())
    }

    /// Bits a code takes.
    pub fn bits(&self) -> u32 {
        usize::BITS - (self.codes.len() - 1).leading_zeros()
    }

    pub fn value(&self, code: u32) -> f32 {
        self.codes.get(code as usize).copied().unwrap_or(f32::NAN)
    }

    /// The code of an entry (the first listed of equal entries, or of the
    /// sorted position `rounding` picked: see [`Lut::round_code`]).
    pub fn code(&self, v: f32) -> u32 {
        self.codes.iter().position(|c| c.to_bits() == v.to_bits()).or_else(|| self.codes.iter().position(|&c| c == v)).unwrap_or(0) as u32
    }

    /// The sorted position `v` rounds to (v not NaN).
    #[inline]
    fn position(&self, v: f32, mode: Rounding, random: u64) -> usize {
        let k = self.mids.iter().filter(|&&m| m < v).count();
        match mode {
            Rounding::NearestEven => k,
            Rounding::NearestAway => k + (v > 0.0 && k < self.mids.len() && self.mids[k] == v) as usize,
            _ => {
                // The neighbours lo <= v <= hi among the sorted entries.
                let below = self.sorted.iter().filter(|e| e.0 <= v).count();
                if below == 0 {
                    return 0;
                }
                let lo = below - 1;
                if lo + 1 == self.sorted.len() || self.sorted[lo].0 == v {
                    return lo;
                }
                let (a, b) = (self.sorted[lo].0 as f64, self.sorted[lo + 1].0 as f64);
                let up = match mode {
                    Rounding::TowardZero => v < 0.0,
                    Rounding::AwayFromZero => v > 0.0,
                    Rounding::TowardPositive => true,
                    Rounding::TowardNegative => false,
                    // The neighbour whose code is odd (the lower one if both are).
                    Rounding::Odd => self.sorted[lo].1 & 1 == 0 && self.sorted[lo + 1].1 & 1 == 1,
                    _ => mode.bernoulli(random, v as f64 - a, b - a),
                };
                lo + up as usize
            }
        }
    }

    /// The code `v` rounds to.
    pub fn round_code(&self, v: f32, mode: Rounding, random: u64) -> u32 {
        self.sorted[self.position(v, mode, random)].1
    }

    /// The branch-free form of nearest-even rounding, for tables of at most
    /// 16 entries.
    pub fn small(&self) -> Option<SmallTable> {
        if self.sorted.len() > 16 {
            return None;
        }
        let mut t = SmallTable { mids: [f32::INFINITY; 15], vals: [self.sorted[self.sorted.len() - 1].0; 16] };
        for (i, e) in self.sorted.iter().enumerate() {
            t.vals[i] = e.0;
        }
        t.mids[..self.mids.len()].copy_from_slice(&self.mids);
        Some(t)
    }

    /// Round each value to its entry.
    pub fn round(&self, x: &[f32], out: &mut [f32], mode: Rounding, ctx: RoundCtx) {
        let stochastic = mode.is_stochastic();
        for (i, (o, &v)) in out.iter_mut().zip(x).enumerate() {
            *o = if v.is_nan() { f32::NAN } else { self.sorted[self.position(v, mode, if stochastic { ctx.bits64(i) } else { 0 })].0 };
        }
    }
}

/// A table of at most 16 entries, padded (midpoints +Inf), rounded with a
/// chain of compares and selects that vectorises.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SmallTable {
    mids: [f32; 15],
    vals: [f32; 16],
}

impl SmallTable {
    /// The entry after every midpoint strictly below `y` (NaN stays NaN):
    /// [`Lut::round`]'s nearest-even.
    #[inline(always)]
    pub fn round(&self, y: f32) -> f32 {
        let mut v = self.vals[0];
        for k in 0..15 {
            v = if y > self.mids[k] { self.vals[k + 1] } else { v };
        }
        if y.is_nan() {
            f32::NAN
        } else {
            v
        }
    }
}
