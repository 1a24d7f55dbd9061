//! Rounding modes shared by every format, and the counter-based random source
//! behind `stochastic` rounding.

use std::fmt;

/// How a value between two representable neighbours is resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Rounding {
    /// Nearest; a tie goes to the neighbour whose code's last bit is 0: the
    /// even mantissa, or with no mantissa bits (`m = 0`) the even exponent
    /// field, as IEEE 754 and P3109 do.
    #[default]
    NearestEven,
    /// Nearest; a tie goes to the neighbour of larger magnitude
    /// (QPyTorch floats, microxcaling's default).
    NearestAway,
    /// The neighbour of smaller magnitude (truncation).
    TowardZero,
    /// Up with probability `(|x| - lo) / (hi - lo)`, drawn from a generator
    /// keyed by `(seed, element index)`, so results never depend on threads.
    Stochastic,
}

impl Rounding {
    pub const NAMES: [&'static str; 4] = ["nearest-even", "nearest-away", "toward-zero", "stochastic"];

    pub fn name(self) -> &'static str {
        match self {
            Rounding::NearestEven => "nearest-even",
            Rounding::NearestAway => "nearest-away",
            Rounding::TowardZero => "toward-zero",
            Rounding::Stochastic => "stochastic",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "nearest-even" | "rne" => Rounding::NearestEven,
            "nearest-away" | "rna" => Rounding::NearestAway,
            "toward-zero" | "rtz" => Rounding::TowardZero,
            "stochastic" => Rounding::Stochastic,
            _ => return None,
        })
    }

    /// Whether to step from the lower neighbour to the upper one, given the
    /// exact comparison of the distances: `below` is `|x| - lo`, `above` is
    /// `hi - |x|` (any monotone measure of them), `lo_code_even` says which
    /// neighbour a tie goes to under `NearestEven`, and `p_up` is consulted
    /// only by `Stochastic`.
    #[inline(always)]
    pub(crate) fn step_up(self, cmp: std::cmp::Ordering, lo_code_even: bool, p_up: impl FnOnce() -> bool) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Rounding::NearestEven => match cmp {
                Less => false,
                Greater => true,
                Equal => !lo_code_even,
            },
            Rounding::NearestAway => cmp != Less,
            Rounding::TowardZero => false,
            Rounding::Stochastic => p_up(),
        }
    }
}

impl fmt::Display for Rounding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a scaling unit's elements sit in the tensor's element stream, so that
/// stochastic rounding draws the same number for the same element whatever
/// the thread count or the order units are processed in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundCtx {
    pub seed: u64,
    /// Stream index of the unit's first element.
    pub first_index: u64,
}

impl RoundCtx {
    pub fn new(seed: u64) -> Self {
        RoundCtx { seed, first_index: 0 }
    }

    pub fn offset(self, by: u64) -> Self {
        RoundCtx { seed: self.seed, first_index: self.first_index + by }
    }

    /// 64 uniform random bits for element `i` of the unit.
    #[inline(always)]
    pub fn bits64(self, i: usize) -> u64 {
        let idx = self.first_index.wrapping_add(i as u64);
        splitmix64(self.seed ^ splitmix64(idx.wrapping_add(0x632B_E59B_D9B4_E019)))
    }

}

/// SplitMix64's finaliser: a bijective mixer good enough for dithering.
#[inline(always)]
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `true` with probability `num / den` (0 <= num <= den, den > 0) using 64
/// random bits; exact to 2^-64.
#[inline(always)]
pub(crate) fn bernoulli(random: u64, num: f64, den: f64) -> bool {
    // random / 2^64 < num / den  <=>  random < num/den * 2^64
    (random as f64) < num / den * 18_446_744_073_709_551_616.0
}
