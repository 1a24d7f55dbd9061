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

/// bitsandbytes' 8-bit dynamic map (`create_dynamic_map()`, signed, 7
/// exponent bits), the code the absmax scales take under double
/// quantization, as f32 bit patterns in code order (printed from
/// bitsandbytes 0.50.2: a table, not a computation, so nothing is re-derived).
pub static BNB_DYNAMIC: [u32; 256] = [
    0xbf7e3333, 0xbf7a999a, 0xbf770000, 0xbf736666, 0xbf6fcccd, 0xbf6c3333, 0xbf68999a, 0xbf650000, 0xbf616666, 0xbf5dcccd, 0xbf5a3333, 0xbf56999a, 0xbf530000, 0xbf4f6666, 0xbf4bcccd, 0xbf483333,
    0xbf44999a, 0xbf410000, 0xbf3d6666, 0xbf39cccd, 0xbf363334, 0xbf32999a, 0xbf2f0000, 0xbf2b6666, 0xbf27cccd, 0xbf243334, 0xbf20999a, 0xbf1d0000, 0xbf196666, 0xbf15cccd, 0xbf123334, 0xbf0e999a,
    0xbf0b0000, 0xbf076666, 0xbf03cccc, 0xbf003333, 0xbef93332, 0xbef20000, 0xbeeacccc, 0xbee3999a, 0xbedc6666, 0xbed53333, 0xbece0000, 0xbec6cccc, 0xbebf999a, 0xbeb86666, 0xbeb13333, 0xbeaa0000,
    0xbea2cccc, 0xbe9b999a, 0xbe946666, 0xbe8d3334, 0xbe860000, 0xbe7d9999, 0xbe6f3333, 0xbe60cccd, 0xbe526666, 0xbe440000, 0xbe35999a, 0xbe273333, 0xbe18cccd, 0xbe0a6666, 0xbdf80000, 0xbddb3334,
    0xbdc9eb85, 0xbdc428f7, 0xbdbe6667, 0xbdb8a3d7, 0xbdb2e148, 0xbdad1eb8, 0xbda75c2a, 0xbda1999a, 0xbd9bd70a, 0xbd96147b, 0xbd9051eb, 0xbd8a8f5d, 0xbd84cccd, 0xbd7e147b, 0xbd728f5d, 0xbd670a3d,
    0xbd5b851f, 0xbd500000, 0xbd447ae1, 0xbd38f5c3, 0xbd2d70a3, 0xbd21eb85, 0xbd166667, 0xbd0ae148, 0xbcfeb852, 0xbce7ae15, 0xbcd0a3d7, 0xbcb9999a, 0xbca28f5d, 0xbc8b851f, 0xbc68f5c3, 0xbc3ae148,
    0xbc1f3b64, 0xbc160418, 0xbc0ccccd, 0xbc039581, 0xbbf4bc6a, 0xbbe24dd3, 0xbbcfdf3b, 0xbbbd70a4, 0xbbab020d, 0xbb989374, 0xbb8624dd, 0xbb676c8a, 0xbb428f5c, 0xbb1db22d, 0xbaf1a9fc, 0xbaa7ef9d,
    0xba7765ff, 0xba59e83e, 0xba3c6a80, 0xba1eecc1, 0xba016f01, 0xb9c7e283, 0xb98ce705, 0xb923d70b, 0xb8ba1f4b, 0xb88aefb3, 0xb8378034, 0xb7b24206, 0xb70205ff, 0xb65a1a94, 0xb513a3b7, 0x00000000,
    0x3513a3b7, 0x365a1a94, 0x370205ff, 0x37b24206, 0x38378034, 0x388aefb3, 0x38ba1f4b, 0x3923d70b, 0x398ce705, 0x39c7e283, 0x3a016f01, 0x3a1eecc1, 0x3a3c6a80, 0x3a59e83e, 0x3a7765ff, 0x3aa7ef9d,
    0x3af1a9fc, 0x3b1db22d, 0x3b428f5c, 0x3b676c8a, 0x3b8624dd, 0x3b989374, 0x3bab020d, 0x3bbd70a4, 0x3bcfdf3b, 0x3be24dd3, 0x3bf4bc6a, 0x3c039581, 0x3c0ccccd, 0x3c160418, 0x3c1f3b64, 0x3c3ae148,
    0x3c68f5c3, 0x3c8b851f, 0x3ca28f5d, 0x3cb9999a, 0x3cd0a3d7, 0x3ce7ae15, 0x3cfeb852, 0x3d0ae148, 0x3d166667, 0x3d21eb85, 0x3d2d70a3, 0x3d38f5c3, 0x3d447ae1, 0x3d500000, 0x3d5b851f, 0x3d670a3d,
    0x3d728f5d, 0x3d7e147b, 0x3d84cccd, 0x3d8a8f5d, 0x3d9051eb, 0x3d96147b, 0x3d9bd70a, 0x3da1999a, 0x3da75c2a, 0x3dad1eb8, 0x3db2e148, 0x3db8a3d7, 0x3dbe6667, 0x3dc428f7, 0x3dc9eb85, 0x3ddb3334,
    0x3df80000, 0x3e0a6666, 0x3e18cccd, 0x3e273333, 0x3e35999a, 0x3e440000, 0x3e526666, 0x3e60cccd, 0x3e6f3333, 0x3e7d9999, 0x3e860000, 0x3e8d3334, 0x3e946666, 0x3e9b999a, 0x3ea2cccc, 0x3eaa0000,
    0x3eb13333, 0x3eb86666, 0x3ebf999a, 0x3ec6cccc, 0x3ece0000, 0x3ed53333, 0x3edc6666, 0x3ee3999a, 0x3eeacccc, 0x3ef20000, 0x3ef93332, 0x3f003333, 0x3f03cccc, 0x3f076666, 0x3f0b0000, 0x3f0e999a,
    0x3f123334, 0x3f15cccd, 0x3f196666, 0x3f1d0000, 0x3f20999a, 0x3f243334, 0x3f27cccd, 0x3f2b6666, 0x3f2f0000, 0x3f32999a, 0x3f363334, 0x3f39cccd, 0x3f3d6666, 0x3f410000, 0x3f44999a, 0x3f483333,
    0x3f4bcccd, 0x3f4f6666, 0x3f530000, 0x3f56999a, 0x3f5a3333, 0x3f5dcccd, 0x3f616666, 0x3f650000, 0x3f68999a, 0x3f6c3333, 0x3f6fcccd, 0x3f736666, 0x3f770000, 0x3f7a999a, 0x3f7e3333, 0x3f800000,
];

/// [`BNB_DYNAMIC`] as a table to round to.
pub fn bnb_dynamic() -> &'static Lut {
    static TABLE: std::sync::LazyLock<Lut> = std::sync::LazyLock::new(|| Lut::new(&BNB_DYNAMIC.map(f32::from_bits)));
    &TABLE
}

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

    /// Entries in the table.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Whether the table has no entries.
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

    /// The value of a code (its index).
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
