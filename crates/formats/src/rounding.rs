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
    /// The neighbour above (toward +Inf).
    TowardPositive,
    /// The neighbour below (toward -Inf).
    TowardNegative,
    /// Round to odd: an inexact value takes the neighbour whose code's last
    /// bit is 1 (exact values stay), the sticky rounding that makes a later
    /// rounding to fewer bits correct.
    Odd,
    /// Up with probability `(|x| - lo) / (hi - lo)`, drawn from a generator
    /// keyed by `(seed, element index)`, so results never depend on threads.
    Stochastic,
    /// Stochastic with N random bits (P3109's and gfloat's): the fraction
    /// `(|x| - lo) / (hi - lo)` rounded to N bits (nearest-even), then up
    /// when it plus N uniform random bits reaches 2^N. The mean is off by
    /// at most 2^-(N+1) of a step; N = 1 rounds a fraction below 1/4 down
    /// and above 3/4 up always, and in between up half the time.
    StochasticBits(u8),
    /// The magnitude form of a directed mode: the neighbour of larger
    /// magnitude when inexact. Not a user-facing name: `for_sign` makes it.
    #[doc(hidden)]
    AwayFromZero,
}

impl Rounding {
    /// The names a user writes (`stochastic(bits=N)` with N in 1..=32).
    pub const NAMES: [&'static str; 8] = ["nearest-even", "nearest-away", "toward-zero", "toward-positive", "toward-negative", "odd", "stochastic", "stochastic(bits=N)"];

    /// The name a description writes (`round=...`).
    pub fn name(self) -> String {
        match self {
            Rounding::NearestEven => "nearest-even".into(),
            Rounding::NearestAway => "nearest-away".into(),
            Rounding::TowardZero => "toward-zero".into(),
            Rounding::TowardPositive => "toward-positive".into(),
            Rounding::TowardNegative => "toward-negative".into(),
            Rounding::Odd => "odd".into(),
            Rounding::Stochastic => "stochastic".into(),
            Rounding::StochasticBits(n) => format!("stochastic(bits={n})"),
            Rounding::AwayFromZero => "away-from-zero".into(),
        }
    }

    /// The mode a name stands for.
    pub fn from_name(s: &str) -> Option<Self> {
        let s = s.trim();
        if let Some(n) = s.strip_prefix("stochastic(bits=").and_then(|r| r.strip_suffix(')')) {
            return n.trim().parse::<u8>().ok().filter(|n| (1..=32).contains(n)).map(Rounding::StochasticBits);
        }
        Some(match s {
            "nearest-even" | "rne" => Rounding::NearestEven,
            "nearest-away" | "rna" => Rounding::NearestAway,
            "toward-zero" | "rtz" => Rounding::TowardZero,
            "toward-positive" | "rtp" => Rounding::TowardPositive,
            "toward-negative" | "rtn" => Rounding::TowardNegative,
            "odd" | "rto" => Rounding::Odd,
            "stochastic" => Rounding::Stochastic,
            _ => return None,
        })
    }

    /// Whether the mode draws random bits.
    #[inline(always)]
    pub fn is_stochastic(self) -> bool {
        matches!(self, Rounding::Stochastic | Rounding::StochasticBits(_))
    }

    /// The mode on a magnitude of this sign: the directed modes become
    /// toward- or away-from-zero; the others do not depend on the sign.
    #[inline(always)]
    pub fn for_sign(self, negative: bool) -> Rounding {
        match (self, negative) {
            (Rounding::TowardPositive, false) | (Rounding::TowardNegative, true) => Rounding::AwayFromZero,
            (Rounding::TowardPositive, true) | (Rounding::TowardNegative, false) => Rounding::TowardZero,
            (mode, _) => mode,
        }
    }

    /// Whether to step from the lower neighbour to the upper one, given the
    /// exact comparison of the distances: `below` is `|x| - lo`, `above` is
    /// `hi - |x|` (any monotone measure of them), `lo_code_even` says which
    /// neighbour a tie goes to under `NearestEven` (and which one `Odd`
    /// avoids), and `p_up` (use [`Rounding::bernoulli`]) is consulted only
    /// by the stochastic modes. For magnitudes: directed modes must have
    /// gone through [`Rounding::for_sign`] (their own names here act as
    /// toward-zero and away-from-zero on a non-negative value).
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
            Rounding::TowardZero | Rounding::TowardNegative => false,
            Rounding::AwayFromZero | Rounding::TowardPositive => true,
            Rounding::Odd => lo_code_even,
            Rounding::Stochastic | Rounding::StochasticBits(_) => p_up(),
        }
    }

    /// The stochastic decision "up" with probability `num / den` (0 <= num
    /// <= den, den > 0) from 64 random bits: exact to 2^-64 for
    /// `Stochastic`; for `StochasticBits(n)` the probability is first
    /// rounded to n bits (nearest-even) and compared with n random bits.
    #[inline(always)]
    pub(crate) fn bernoulli(self, random: u64, num: f64, den: f64) -> bool {
        match self {
            Rounding::StochasticBits(n) => {
                let scale = (1u64 << n) as f64;
                let d = (num / den * scale).round_ties_even() as u64;
                d + (random >> (64 - n as u32)) >= 1u64 << n
            }
            _ => bernoulli(random, num, den),
        }
    }
}

impl fmt::Display for Rounding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// Where a scaling unit's elements sit in the tensor's element stream, so that
/// stochastic rounding draws the same number for the same element whatever
/// the thread count or the order units are processed in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundCtx {
    /// Keys stochastic rounding's random bits.
    pub seed: u64,
    /// Stream index of the unit's first element.
    pub first_index: u64,
}

impl RoundCtx {
    /// A context for `seed`.
    pub fn new(seed: u64) -> Self {
        RoundCtx { seed, first_index: 0 }
    }

    /// The same seed, moved on by `by` (one stream per group).
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
