//! Posit<n, es> (Gustafson & Yonemoto 2017; Posit Standard 2022 generalised
//! to any `es`): `(-1)^s useed^k 2^exp (1 + f)`, `useed = 2^(2^es)`.
//!
//! Rounding is on the bit pattern, as SPEC.md says: the infinitely precise
//! pattern of `|x|` is cut to `n - 1` bits and the rounding mode decides from
//! the cut bits. Where exponent bits are cut, the midpoint between two posits
//! is therefore the value of the `(n+1)`-bit posit between them (a geometric
//! mean), not their arithmetic mean. A non-zero never rounds to 0 (it stays
//! at least minpos) and magnitudes saturate at maxpos, in every mode.
//! NaN and ±Inf become NaR (decoded as NaN). Negative values are the two's
//! complement of the positive code, so every mode is sign-symmetric.
//! `es` is limited so that maxpos and minpos are normal f32 numbers, which
//! makes decoding exact.

use crate::bits::{INF, SIGN};
use crate::{with_round, Clip, Family, Format, FormatError, ParamDoc, Params, RoundCtx, Rounding, Scale, ROUND_DOC};

#[derive(Clone, Debug, PartialEq)]
pub struct Posit {
    n: u32,
    es: u32,
    round: Rounding,
}

impl Posit {
    pub fn new(n: u32, es: u32) -> Result<Self, FormatError> {
        let p = Params::new("posit", Default::default());
        p.check_int("n", n as i64, 2, 16)?;
        p.check_int("es", es as i64, 0, Self::max_es(n) as i64)?;
        Ok(Posit { n, es, round: Rounding::NearestEven })
    }

    /// Largest `es` with `2^es (n-2) <= 126`, so maxpos fits a normal f32.
    fn max_es(n: u32) -> u32 {
        (0..=4).rev().find(|&es| (1u32 << es) * n.saturating_sub(2) <= 126).unwrap_or(0)
    }

    fn nar(&self) -> u32 {
        1 << (self.n - 1)
    }

    fn maxpos_code(&self) -> u32 {
        self.nar() - 1
    }

    /// Code of a finite, positive magnitude.
    fn encode_magnitude(&self, a: f32, random: u64) -> u32 {
        let n = self.n as i32;
        let bits = a.to_bits();
        // Exponent and 23-bit fraction below the leading one (subnormals normalised).
        let (e, frac) = if bits >= 0x0080_0000 {
            ((bits >> 23) as i32 - 127, (bits & 0x7f_ffff) as u64)
        } else {
            let p = 31 - bits.leading_zeros() as i32; // position of the leading one
            (p - 149, ((bits << (23 - p)) & 0x7f_ffff) as u64)
        };
        let k = e >> self.es; // floor division
        if k > n - 2 {
            return self.maxpos_code();
        }
        if k < -(n - 2) {
            return 1; // minpos: never round to zero
        }
        let exp = (e - (k << self.es)) as u64;
        // Regime bits: k+1 ones then 0, or -k zeros then 1.
        let (regime, rlen) = if k >= 0 { (((1u64 << (k + 1)) - 1) << 1, k as u32 + 2) } else { (1u64, (-k) as u32 + 1) };
        let body = (((regime << self.es) | exp) << 23) | frac;
        let len = rlen + self.es + 23;
        let keep = self.n - 1;
        let (mut code, cut, cut_len) = if len > keep {
            let sh = len - keep;
            (body >> sh, body & ((1u64 << sh) - 1), sh)
        } else {
            (body << (keep - len), 0, 0)
        };
        if cut_len > 0 {
            let half = 1u64 << (cut_len - 1);
            let up = match self.round {
                Rounding::NearestEven => cut > half || (cut == half && code & 1 == 1),
                Rounding::NearestAway => cut >= half,
                Rounding::TowardZero => false,
                Rounding::Stochastic => (random >> (64 - cut_len)) < cut,
            };
            code += up as u64;
        }
        (code as u32).clamp(1, self.maxpos_code())
    }

    fn encode_value(&self, v: f32, random: u64) -> u32 {
        let a = v.to_bits() & !SIGN;
        if a >= INF {
            return self.nar();
        }
        if a == 0 {
            return 0;
        }
        let code = self.encode_magnitude(f32::from_bits(a), random);
        if v < 0.0 {
            code.wrapping_neg() & ((1u64 << self.n) - 1) as u32
        } else {
            code
        }
    }

    fn decode_code(&self, c: u32) -> f32 {
        let mask = ((1u64 << self.n) - 1) as u32;
        let c = c & mask;
        if c == 0 {
            return 0.0;
        }
        if c == self.nar() {
            return f32::NAN;
        }
        let negative = c & self.nar() != 0;
        let mag = if negative { c.wrapping_neg() & mask } else { c };
        // Bits after the sign, left-aligned in a u32.
        let body = mag << (32 - (self.n - 1));
        let first = body >> 31;
        let run = if first == 1 { body.leading_ones() } else { body.leading_zeros() }.min(self.n - 1);
        let k = if first == 1 { run as i32 - 1 } else { -(run as i32) };
        let used = (run + 1).min(self.n - 1); // regime plus its terminator
        let rest = if used >= 32 { 0 } else { body << used };
        let rest_len = (self.n - 1).saturating_sub(used);
        let exp = if self.es == 0 { 0 } else { rest >> (32 - self.es) };
        let fbits = rest_len.saturating_sub(self.es);
        let frac = if fbits == 0 { 0 } else { (rest << self.es) >> (32 - fbits) };
        // 2^scale (1 + frac/2^fbits), built directly: the es limit keeps
        // scale within f32's normal range and fbits <= 13.
        let scale = (k << self.es) + exp as i32;
        let v = (((scale + 127) as u32) << 23) | (frac << (23 - fbits));
        f32::from_bits(v | if negative { SIGN } else { 0 })
    }
}

impl Format for Posit {
    fn describe(&self) -> String {
        with_round(format!("posit(n={},es={})", self.n, self.es), self.round)
    }
    fn family(&self) -> &'static str {
        "posit"
    }
    fn code_bits(&self) -> u32 {
        self.n
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
        let stochastic = self.round == Rounding::Stochastic;
        for (i, (o, &v)) in out.iter_mut().zip(x).enumerate() {
            let v = match clip {
                Some(c) => crate::bits::clamp_keep_nan(v, c.lo, c.hi),
                None => v,
            };
            let random = if stochastic { ctx.bits64(i) } else { 0 };
            *o = self.decode_code(self.encode_value(v, random));
        }
    }

    fn encode_unit(&self, x: &[f32], clip: Option<Clip>, ctx: RoundCtx, codes: &mut [u32], _meta: &mut [u32]) -> Result<(), FormatError> {
        let stochastic = self.round == Rounding::Stochastic;
        for (i, (c, &v)) in codes.iter_mut().zip(x).enumerate() {
            let v = match clip {
                Some(cl) => crate::bits::clamp_keep_nan(v, cl.lo, cl.hi),
                None => v,
            };
            *c = self.encode_value(v, if stochastic { ctx.bits64(i) } else { 0 });
        }
        Ok(())
    }

    fn decode_unit(&self, codes: &[u32], _meta: &[u32], out: &mut [f32]) {
        for (o, &c) in out.iter_mut().zip(codes) {
            *o = self.decode_code(c);
        }
    }

    fn meta_for(&self, _scale: Scale) -> Result<Vec<u32>, FormatError> {
        Ok(Vec::new())
    }
}

pub struct PositFamily;
pub static FAMILY: PositFamily = PositFamily;

impl Family for PositFamily {
    fn name(&self) -> &'static str {
        "posit"
    }
    fn summary(&self) -> &'static str {
        "posit<n,es>: tapered precision, rounding on the bit pattern, saturating at maxpos"
    }
    fn params(&self) -> &'static [ParamDoc] {
        &[
            ParamDoc { name: "n", default: "(required)", range: "2..=16", help: "total bits" },
            ParamDoc { name: "es", default: "(required)", range: "0..=max with 2^es*(n-2) <= 126 (3 for n=16)", help: "exponent bits" },
            ROUND_DOC,
        ]
    }
    fn build(&self, p: &mut Params) -> Result<Box<dyn Format>, FormatError> {
        let n = p.int("n", None, 2, 16)? as u32;
        let es = p.int("es", None, 0, 4)? as u32;
        let mut f = Posit::new(n, es)?;
        f.round = p.rounding()?;
        Ok(Box::new(f))
    }
}
