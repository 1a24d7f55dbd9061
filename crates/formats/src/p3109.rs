//! IEEE P3109 `binaryKpP`: K-bit floats of precision P (P - 1 stored
//! mantissa bits), the coming standard for 8-bit and smaller formats,
//! following Graphcore's gfloat (`format_info_p3109`, `round_ndarray`).
//!
//! Signed: a sign bit, `e = K - P` exponent bits, bias `floor(2^(K-P-1))`.
//! Unsigned: no sign bit, `e = K - P + 1`, bias `2^(K-P)`. Both have
//! subnormals, no negative zero (a negative result that rounds to zero is
//! +0) and one NaN: the code of -0 (`2^(K-1)`) when signed, the all-ones
//! code when unsigned. Domain `extended`: the largest magnitude code below
//! the NaN is ±Inf; `finite`: it is a number. Overflow (what rounds beyond
//! the largest finite value): `saturate` to it, `inf` (extended only), or
//! `nan`; an Inf input is Inf where the domain has it (otherwise it
//! overflows; saturating, it is the largest finite value). Unsigned formats take a negative input to NaN, or to 0 when
//! saturating (gfloat leaves negative inputs to unsigned formats
//! undefined). Values must fit f32: at most 2^127 and no finer than
//! 2^-149.
//!
//! ```
//! use quantlab_formats::parse;
//! let f = parse("p3109(k=8,p=3)").unwrap(); // E5M2-like, bias 16
//! let mut out = [0.0f32; 3];
//! f.quantize_unit(&[1.1, -0.0, 1e9], None, Default::default(), &mut out);
//! assert_eq!(out, [1.0, 0.0, 49152.0]);
//! ```

use crate::bits::{INF, QNAN};
use crate::grid::{FloatGrid, Low, Overflow};
use crate::{with_round, Clip, Family, Format, FormatError, ParamDoc, Params, RoundCtx, Rounding, Scale, ROUND_DOC};

/// What overflow becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnOverflow {
    /// Saturate to the largest finite value.
    Saturate,
    /// Go to ±infinity (extended domain).
    Inf,
    /// Go to NaN.
    Nan,
}

/// IEEE P3109 `binaryKpP` (gfloat's definition).
#[derive(Clone, Debug, PartialEq)]
pub struct P3109 {
    k: u32,
    p: u32,
    signed: bool,
    extended: bool,
    overflow: OnOverflow,
    round: Rounding,
    grid: FloatGrid,
}

impl P3109 {
    /// `k` bits, precision `p`, signed or not, extended (with infinities) or finite domain.
    pub fn new(k: u32, p: u32, signed: bool, extended: bool, overflow: OnOverflow) -> Result<P3109, FormatError> {
        let params = Params::new("p3109", Default::default());
        params.check_int("k", k as i64, 3, 16)?;
        params.check_int("p", p as i64, 1, if signed { k as i64 - 1 } else { k as i64 })?;
        let bad = |param: &str, value: String, range: String| -> FormatError { quantlab_spec::SpecError::OutOfRange { family: "p3109".into(), param: param.into(), value, range }.into() };
        if overflow == OnOverflow::Inf && !extended {
            return Err(bad("overflow", "inf".into(), "saturate | nan in the finite domain, which has no Inf".into()));
        }
        let m = p - 1;
        let bias: i32 = if signed { (1i64 << (k - p)) as i32 / 2 } else { 1 << (k - p) };
        let emin = 1 - bias;
        let f = P3109 { k, p, signed, extended, overflow, round: Rounding::NearestEven, grid: FloatGrid { m, emin, max: 0.0, low: Low::Subnormal, overflow: Overflow::Saturate, emin_field: 1 } };
        let (max, step) = (f.magnitude(f.max_code()), 2f64.powi(emin - m as i32));
        if !max.is_finite() || step < 2f64.powi(-149) {
            return Err(bad("p", p.to_string(), format!("a precision whose values fit f32 at k={k} (largest 2^{}, finest step 2^{})", emin + (1i32 << (k - p + !signed as u32)) - 2, emin - m as i32)));
        }
        let grid = FloatGrid {
            max,
            overflow: match overflow {
                OnOverflow::Saturate => Overflow::Saturate,
                OnOverflow::Inf => Overflow::To(INF),
                OnOverflow::Nan => Overflow::To(QNAN),
            },
            ..f.grid
        };
        Ok(P3109 { grid, ..f })
    }

    /// Magnitude codes run from 0 to here (the NaN, and Inf when extended, above).
    fn max_code(&self) -> u32 {
        let top = if self.signed { (1u32 << (self.k - 1)) - 1 } else { (1u32 << self.k) - 2 };
        top - self.extended as u32
    }

    fn nan_code(&self) -> u32 {
        if self.signed {
            1 << (self.k - 1)
        } else {
            (1 << self.k) - 1
        }
    }

    /// Exponent bits: K - P signed, K - P + 1 unsigned.
    fn ebits(&self) -> u32 {
        self.k - self.p + !self.signed as u32
    }

    /// The value of a magnitude code (IEEE-style: field 0 subnormal).
    fn magnitude(&self, c: u32) -> f32 {
        self.grid.ieee_value(c, self.ebits()).3
    }

    /// The grid of its values (at its fixed scale).
    pub fn grid(&self) -> FloatGrid {
        self.grid
    }

    /// The code of a result of quantizing.
    pub fn code(&self, v: f32) -> u32 {
        if v.is_nan() {
            return self.nan_code();
        }
        let mag = if v.is_infinite() { self.max_code() + 1 } else { self.grid.ieee_code(v.abs(), self.ebits()) };
        let sign = (self.signed && v < 0.0) as u32;
        sign << (self.k - 1) | mag
    }

    /// The value of a code.
    pub fn value(&self, c: u32) -> f32 {
        let c = c & ((1u64 << self.k) - 1) as u32;
        if c == self.nan_code() {
            return f32::NAN;
        }
        let (negative, mag) = if self.signed { (c >> (self.k - 1) == 1, c & ((1 << (self.k - 1)) - 1)) } else { (false, c) };
        let v = if self.extended && mag == self.max_code() + 1 { f32::INFINITY } else { self.magnitude(mag) };
        if negative {
            -v
        } else {
            v
        }
    }
}

impl Format for P3109 {
    fn describe(&self) -> String {
        let mut d = format!("p3109(k={},p={}", self.k, self.p);
        if !self.signed {
            d += ",signed=false";
        }
        if !self.extended {
            d += ",domain=finite";
        }
        match self.overflow {
            OnOverflow::Saturate => {}
            OnOverflow::Inf => d += ",overflow=inf",
            OnOverflow::Nan => d += ",overflow=nan",
        }
        with_round(d + ")", self.round)
    }
    fn family(&self) -> &'static str {
        "p3109"
    }
    fn code_bits(&self) -> u32 {
        self.k
    }
    fn meta_bits(&self) -> u32 {
        0
    }
    fn meta_words(&self) -> usize {
        0
    }
    fn sign_symmetric(&self) -> bool {
        self.signed
    }
    fn rounding(&self) -> Rounding {
        self.round
    }

    fn quantize_unit(&self, x: &[f32], clip: Option<Clip>, ctx: RoundCtx, out: &mut [f32]) {
        self.grid.quantize(x, out, clip.map(|c| (c.lo, c.hi)), self.round, ctx);
        for (o, &v) in out.iter_mut().zip(x) {
            if v.is_infinite() && clip.is_none() && self.extended && self.overflow != OnOverflow::Saturate && (self.signed || v > 0.0) {
                *o = v; // Inf is exact where the domain has it
            }
            if !self.signed && v < 0.0 {
                *o = if self.overflow == OnOverflow::Saturate { 0.0 } else { f32::NAN };
            }
            *o += 0.0; // no negative zero
        }
    }

    fn encode_unit(&self, x: &[f32], clip: Option<Clip>, ctx: RoundCtx, codes: &mut [u32], _meta: &mut [u32]) -> Result<(), FormatError> {
        crate::encode_fixed(self, x, clip, ctx, codes, |v| self.code(v));
        Ok(())
    }

    fn decode_unit(&self, codes: &[u32], _meta: &[u32], out: &mut [f32]) {
        crate::decode_fixed(codes, out, |c| self.value(c));
    }

    fn meta_for(&self, _scale: Scale) -> Result<Vec<u32>, FormatError> {
        Ok(Vec::new())
    }
}

/// The `p3109` family.
pub struct P3109Family;
/// Its registry entry.
pub static FAMILY: P3109Family = P3109Family;

impl Family for P3109Family {
    fn name(&self) -> &'static str {
        "p3109"
    }
    fn summary(&self) -> &'static str {
        "IEEE P3109 binaryKpP: K bits, precision P, one NaN, no -0, extended (Inf) or finite domain (gfloat's definition)"
    }
    fn params(&self) -> &'static [ParamDoc] {
        &[
            ParamDoc { name: "k", default: "(required)", range: "3..=16", help: "bits per value" },
            ParamDoc { name: "p", default: "(required)", range: "1..=k-1 signed, 1..=k unsigned, values within f32", help: "precision: stored mantissa bits + 1" },
            ParamDoc { name: "signed", default: "true", range: "true | false", help: "a sign bit, or non-negative values only" },
            ParamDoc { name: "domain", default: "extended", range: "extended | finite", help: "the top magnitude code is Inf (extended) or a number (finite)" },
            ParamDoc { name: "overflow", default: "saturate", range: "saturate | inf | nan", help: "what rounds beyond the largest finite value becomes (inf: extended only)" },
            ROUND_DOC,
        ]
    }
    fn build(&self, p: &mut Params) -> Result<Box<dyn Format>, FormatError> {
        let k = p.int("k", None, 3, 16)? as u32;
        let prec = p.int("p", None, 1, 16)? as u32;
        let signed = p.flag("signed", true)?;
        let extended = p.choice("domain", "extended", &["extended", "finite"])? == "extended";
        let overflow = match p.choice("overflow", "saturate", &["saturate", "inf", "nan"])? {
            "saturate" => OnOverflow::Saturate,
            "inf" => OnOverflow::Inf,
            _ => OnOverflow::Nan,
        };
        let round = crate::rounding_param(p)?;
        let mut f = P3109::new(k, prec, signed, extended, overflow)?;
        f.round = round;
        Ok(Box::new(f))
    }
}
