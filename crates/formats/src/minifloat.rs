//! IEEE-like minifloats ExMy with a fixed bias: the non-adaptive "Float"
//! baseline of the AdaptivFloat paper, and FP16, BF16, FP8, FP6, FP4.
//!
//! Value of a code `sign | field | mant`: `2^(field - bias) (1 + mant/2^m)`
//! for `field >= 1`; field 0 is ±0 and, with subnormals on, the subnormals
//! `2^(1 - bias) mant/2^m`. Without subnormals nothing lies between 0 and
//! `2^(1-bias)`, and rounding between those two follows the rounding mode
//! (docs/formats.md's "nearest value of the table"; hardware flush-to-zero differs).
//!
//! `specials`: `ieee` reserves the top field (mantissa 0 is Inf, others
//! NaN); `fn` makes only the all-ones code NaN (OCP E4M3); `fnuz` makes the
//! code of -0 the only NaN and every other code finite, so there is no
//! negative zero (a result of -0 is +0) and no Inf (ml_dtypes' `*fnuz`
//! FP8s, AMD and Graphcore); `none` makes every code finite. `saturate` (default on): magnitudes above the largest finite
//! value, ±Inf included, become ±max. Off: rounding is unbounded and what
//! lands above max becomes Inf (`ieee`) or NaN (`fn`); `toward-zero` stops at
//! max; ±Inf input stays Inf (`ieee`) or becomes NaN (`fn`, `fnuz`); `none` has no
//! Inf or NaN and always saturates. NaN stays NaN, and encodes where the
//! format has a NaN code. Fixed-scale: a clip only clamps.

use crate::bits::{ldexp, pow2, INF, QNAN};
use crate::grid::{FloatGrid, Low, Overflow};
use crate::{with_round, Clip, Family, Format, FormatError, ParamDoc, Params, Preset, RoundCtx, Rounding, Scale, ROUND_DOC};

/// Which codes are not finite numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Specials {
    /// IEEE 754: the top exponent holds ±inf and NaNs.
    Ieee,
    /// OCP FP8 E4M3 ("fn"): only the all-ones magnitude (either sign) is NaN; no infinities.
    Fn,
    /// "fnuz": one NaN where -0 would be, no infinities, no -0.
    Fnuz,
    /// Every code is a finite number.
    None,
}

/// An IEEE-like minifloat ExMy with a fixed bias.
#[derive(Clone, Debug, PartialEq)]
pub struct Minifloat {
    e: u32,
    m: u32,
    bias: i32,
    subnormals: bool,
    specials: Specials,
    saturate: bool,
    round: Rounding,
    grid: FloatGrid,
}

impl Minifloat {
    /// Build from parts; errors name the offending parameter.
    pub fn new(e: u32, m: u32, bias: Option<i32>, subnormals: bool, specials: Specials, saturate: bool) -> Result<Self, FormatError> {
        let p = Params::new("minifloat", Default::default());
        p.check_int("e", e as i64, 1, 8)?;
        p.check_int("m", m as i64, 0, 23)?;
        let bias = bias.unwrap_or((1 << (e - 1)) - 1);
        let top_field = (1i32 << e) - 1;
        // Largest finite code: field and mantissa.
        let (max_field, max_mant) = match specials {
            Specials::Ieee => (top_field - 1, (1u32 << m) - 1),
            Specials::Fn if m == 0 => (top_field - 1, 0),
            Specials::Fn => (top_field, (1u32 << m) - 2),
            Specials::None | Specials::Fnuz => (top_field, (1u32 << m) - 1),
        };
        if max_field < 1 {
            return Err(quantlab_spec::SpecError::OutOfRange {
                family: "minifloat".into(),
                param: "e".into(),
                value: e.to_string(),
                range: format!("a larger e: with e={e}, m={m} and specials={specials:?} no code is a finite non-zero value").to_lowercase(),
            }
            .into());
        }
        let emin = 1 - bias;
        let emax = max_field - bias;
        // Keep every value a normal-or-subnormal f32: max <= f32::MAX and the
        // finest step >= 2^-149.
        p.check_int("bias", bias as i64, max_field as i64 - 127, 150 - m as i64)?;
        let max = ldexp(1.0 + max_mant as f32 / (1u64 << m) as f32, emax);
        let low = if subnormals { Low::Subnormal } else { Low::Gap { min: pow2(emin) } };
        let overflow = match (saturate, specials) {
            (false, Specials::Ieee) => Overflow::To(INF),
            (false, Specials::Fn | Specials::Fnuz) => Overflow::To(QNAN),
            _ => Overflow::Saturate,
        };
        let grid = FloatGrid { m, emin, max, low, overflow, emin_field: 1 };
        Ok(Minifloat { e, m, bias, subnormals, specials, saturate, round: Rounding::NearestEven, grid })
    }

    /// Largest finite value.
    pub fn max(&self) -> f32 {
        self.grid.max
    }

    /// Smallest positive value (subnormal when subnormals are on).
    pub fn min_positive(&self) -> f32 {
        if self.subnormals {
            pow2(self.grid.emin - self.m as i32)
        } else {
            pow2(self.grid.emin)
        }
    }

    /// The grid of its values (at its fixed scale).
    pub fn grid(&self) -> FloatGrid {
        self.grid
    }

    /// Whether the codes hold -0 (all but the fnuz ones).
    pub fn signed_zero(&self) -> bool {
        self.specials != Specials::Fnuz
    }

    /// The code of a value of the format (a result of quantizing): NaN gets
    /// the NaN code (0 where there is none), ±Inf the Inf pattern.
    pub fn code(&self, v: f32) -> u32 {
        let v = if self.signed_zero() { v } else { v + 0.0 }; // fnuz: -0 is +0, not the NaN code
        if v.is_nan() {
            self.nan_code().unwrap_or(0)
        } else if v.is_infinite() {
            ((v < 0.0) as u32) << (self.e + self.m) | (((1u32 << self.e) - 1) << self.m)
        } else {
            self.grid.ieee_code(v, self.e)
        }
    }

    /// The value of a code: NaN and ±Inf as the format's specials say.
    pub fn value(&self, c: u32) -> f32 {
        let top = (1u32 << self.e) - 1;
        let (negative, field, mant, v) = self.grid.ieee_value(c, self.e);
        let all_ones = field == top && mant == (1u32 << self.m) - 1;
        let fnuz_nan = self.specials == Specials::Fnuz && negative && field == 0 && mant == 0;
        if fnuz_nan || (self.specials == Specials::Fn && all_ones) {
            f32::NAN
        } else if self.specials == Specials::Ieee && field == top {
            match (mant, negative) {
                (0, false) => f32::INFINITY,
                (0, true) => f32::NEG_INFINITY,
                _ => f32::NAN,
            }
        } else if field == 0 && !self.subnormals {
            if negative {
                -0.0
            } else {
                0.0
            }
        } else {
            v
        }
    }

    fn nan_code(&self) -> Option<u32> {
        let top = ((1u32 << self.e) - 1) << self.m;
        match self.specials {
            Specials::Ieee if self.m > 0 => Some(top | 1 << (self.m - 1)),
            Specials::Fn => Some(top | ((1u32 << self.m) - 1)),
            Specials::Fnuz => Some(1 << (self.e + self.m)),
            _ => None,
        }
    }
}

impl Format for Minifloat {
    fn describe(&self) -> String {
        let mut d = format!("minifloat(e={},m={}", self.e, self.m);
        if self.bias != (1 << (self.e - 1)) - 1 {
            d += &format!(",bias={}", self.bias);
        }
        if !self.subnormals {
            d += ",subnormals=false";
        }
        match self.specials {
            Specials::Ieee => {}
            Specials::Fn => d += ",specials=fn",
            Specials::Fnuz => d += ",specials=fnuz",
            Specials::None => d += ",specials=none",
        }
        if !self.saturate {
            d += ",saturate=false";
        }
        with_round(d + ")", self.round)
    }
    fn family(&self) -> &'static str {
        "minifloat"
    }
    fn code_bits(&self) -> u32 {
        1 + self.e + self.m
    }
    fn meta_bits(&self) -> u32 {
        0
    }
    fn meta_words(&self) -> usize {
        0
    }
    fn rounding(&self) -> Rounding {
        self.round
    }

    fn quantize_unit(&self, x: &[f32], clip: Option<Clip>, ctx: RoundCtx, out: &mut [f32]) {
        self.grid.quantize(x, out, clip.map(|c| (c.lo, c.hi)), self.round, ctx);
        if let Overflow::To(special) = self.grid.overflow {
            // Inf is exact where the format has it: it is not an overflow.
            for (o, &v) in out.iter_mut().zip(x) {
                if v.is_infinite() && clip.is_none() {
                    *o = if special == INF { v } else { f32::NAN };
                }
            }
        }
        if !self.signed_zero() {
            out.iter_mut().for_each(|o| *o += 0.0); // -0 + 0 = +0
        }
    }

    fn encode_unit(&self, x: &[f32], clip: Option<Clip>, ctx: RoundCtx, codes: &mut [u32], _meta: &mut [u32]) -> Result<(), FormatError> {
        let q = crate::encode_fixed(self, x, clip, ctx, codes, |v| self.code(v));
        if self.nan_code().is_none() && q.iter().any(|v| v.is_nan()) {
            return Err(FormatError::Unsupported { format: self.describe(), why: "the result holds NaN, which this format has no code for".into() });
        }
        Ok(())
    }

    fn decode_unit(&self, codes: &[u32], _meta: &[u32], out: &mut [f32]) {
        crate::decode_fixed(codes, out, |c| self.value(c));
    }

    fn meta_for(&self, _scale: Scale) -> Result<Vec<u32>, FormatError> {
        Ok(Vec::new())
    }
}

/// A minifloat from its parameters (all but `round`): the family's
/// constructor, and an element type written as `minifloat(...)`.
pub fn from_params(p: &mut Params) -> Result<Minifloat, FormatError> {
    let e = p.int("e", None, 1, 8)? as u32;
    let m = p.int("m", None, 0, 23)? as u32;
    let bias = p.opt_int("bias", -1000, 1000)?.map(|b| b as i32);
    let subnormals = p.flag("subnormals", true)?;
    let specials = match p.choice("specials", "ieee", &["ieee", "fn", "fnuz", "none"])? {
        "ieee" => Specials::Ieee,
        "fn" => Specials::Fn,
        "fnuz" => Specials::Fnuz,
        _ => Specials::None,
    };
    let saturate = p.flag("saturate", true)?;
    Minifloat::new(e, m, bias, subnormals, specials, saturate)
}

/// The `minifloat` family.
pub struct MinifloatFamily;
/// Its registry entry.
pub static FAMILY: MinifloatFamily = MinifloatFamily;

impl Family for MinifloatFamily {
    fn name(&self) -> &'static str {
        "minifloat"
    }
    fn summary(&self) -> &'static str {
        "IEEE-like float ExMy with a fixed bias (the paper's non-adaptive Float baseline)"
    }
    fn params(&self) -> &'static [ParamDoc] {
        &[
            ParamDoc { name: "e", default: "(required)", range: "1..=8", help: "exponent bits" },
            ParamDoc { name: "m", default: "(required)", range: "0..=23", help: "mantissa bits" },
            ParamDoc { name: "bias", default: "2^(e-1)-1", range: "keeps max <= f32::MAX and the finest step >= 2^-149", help: "exponent bias" },
            ParamDoc { name: "subnormals", default: "true", range: "true | false", help: "gradual underflow below 2^(1-bias)" },
            ParamDoc {
                name: "specials",
                default: "ieee",
                range: "ieee | fn | fnuz | none",
                help: "top field Inf/NaN (ieee), only all-ones NaN (fn, OCP E4M3), only the code of -0 NaN and no -0 (fnuz), or all finite",
            },
            ParamDoc { name: "saturate", default: "true", range: "true | false", help: "clamp overflow to ±max; off: Inf (ieee) or NaN (fn, fnuz)" },
            ROUND_DOC,
        ]
    }
    /// The float element types of `element::ELEMENT_TYPES`.
    fn presets(&self) -> &'static [Preset] {
        crate::element::MINIFLOAT_PRESETS.as_slice()
    }
    fn build(&self, p: &mut Params) -> Result<Box<dyn Format>, FormatError> {
        let mut f = from_params(p)?;
        f.round = crate::rounding_param(p)?;
        Ok(Box::new(f))
    }
}
