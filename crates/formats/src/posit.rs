//! Posit<n, es> (Gustafson & Yonemoto 2017; Posit Standard 2022 generalised
//! to any `es`): `(-1)^s useed^k 2^exp (1 + f)`, `useed = 2^(2^es)`.
//!
//! Rounding is on the bit pattern, as docs/formats.md says: the infinitely precise
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

/// A posit<n, es>, rounding on the bit pattern.
#[derive(Clone, Debug, PartialEq)]
pub struct Posit {
    n: u32,
    es: u32,
    round: Rounding,
    /// Nearest-even rounding per f32 binade (indexed by the biased exponent).
    table: Box<[Binade]>,
}

/// How nearest-even rounds every magnitude in one f32 binade `[2^E, 2^(E+1))`.
/// Where the binade holds all `es` exponent bits and `fb >= 0` fraction bits,
/// posits there are a float grid: round the f32 pattern's low `sh = 23 - fb`
/// bits (a carry lands on `2^(E+1)`, the next posit). Where exponent bits are
/// cut, every magnitude truncates to the same code: the result is its value
/// `lo` or the next posit `hi`, split at the (n+1)-bit posit `thr`.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
struct Binade {
    complete: bool,
    sh: u32,
    /// Code parity of `2^E` when `sh == 23` (no fraction bits kept).
    lsb: u32,
    lo: u32,
    hi: u32,
    thr: u32,
    tie_up: bool,
}

impl Posit {
    /// `n` bits, `es` exponent bits.
    pub fn new(n: u32, es: u32) -> Result<Self, FormatError> {
        let p = Params::new("posit", Default::default());
        p.check_int("n", n as i64, 2, 16)?;
        p.check_int("es", es as i64, 0, Self::max_es(n) as i64)?;
        Ok(Self::with(n, es, Rounding::NearestEven))
    }

    fn with(n: u32, es: u32, round: Rounding) -> Self {
        let mut p = Posit { n, es, round, table: Box::new([]) };
        p.table = p.build_table();
        p
    }

    fn build_table(&self) -> Box<[Binade]> {
        let n = self.n as i32;
        let wider = Posit { n: self.n + 1, es: self.es, round: self.round, table: Box::new([]) };
        let value = |c: u32| self.decode_code(c).to_bits();
        let (minpos, maxpos) = (value(1), value(self.maxpos_code()));
        let fixed = |v: u32| Binade { complete: false, lo: v, hi: v, ..Binade::default() };
        (0..256i32)
            .map(|b| {
                let e = b - 127;
                let k = e >> self.es;
                if b == 0 || b == 255 || k < -(n - 2) {
                    return fixed(minpos); // f32 subnormals (and below minpos)
                }
                if k > n - 2 {
                    return fixed(maxpos);
                }
                let regime_len = if k >= 0 { k + 2 } else { 1 - k };
                let avail = n - 1 - regime_len;
                let pow2 = (b as u32) << 23;
                let code = self.encode_magnitude::<2>(pow2, 0, Rounding::TowardZero); // truncation: the binade's code
                if avail >= self.es as i32 {
                    let fb = (avail - self.es as i32) as u32;
                    Binade { complete: true, sh: 23 - fb, lsb: code & 1, ..Binade::default() }
                } else {
                    let hi_code = (code + 1).min(self.maxpos_code());
                    Binade { complete: false, sh: 0, lsb: 0, lo: value(code), hi: value(hi_code), thr: wider.decode_code(2 * code + 1).to_bits(), tie_up: code & 1 == 1 }
                }
            })
            .collect()
    }

    /// Nearest-even through the binade table: scalar and branch-free.
    fn quantize_nearest_even(&self, x: &[f32], clip: Option<(f32, f32)>, out: &mut [f32]) {
        let (lo, hi) = clip.unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
        let table: &[Binade; 256] = self.table[..].try_into().expect("256 binades");
        let (minpos, maxpos) = (table[0].lo as i32, self.decode_code(self.maxpos_code()).to_bits() as i32);
        for (o, &v) in out.iter_mut().zip(x) {
            let bits = crate::bits::clamp_keep_nan(v, lo, hi).to_bits();
            let a = bits & !SIGN;
            let t = &table[(a >> 23) as usize];
            let mask = (1u32 << t.sh) - 1;
            let lsb = if t.sh == 23 { t.lsb } else { (a >> t.sh) & 1 };
            let on_grid = ((a + (mask >> 1) + lsb) & !mask) as i32;
            let up = a > t.thr || (a == t.thr && t.tie_up);
            let between = if up { t.hi } else { t.lo } as i32;
            let r = if t.complete { on_grid } else { between }.clamp(minpos, maxpos) as u32;
            let r = if a == 0 { 0 } else { r | (bits & SIGN) };
            *o = if a >= INF { f32::NAN } else { f32::from_bits(r) };
        }
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

    /// Code of a finite, positive magnitude pattern `a`, rounding with
    /// `MODE` (a `Rounding as u8`). Branch-free apart from f32 subnormals:
    /// the regime is chosen by selects on a clamped `k`, and 23 fraction bits
    /// always overflow the at most 15 kept bits, so there is always a cut.
    #[inline(always)]
    fn encode_magnitude<const MODE: u8>(&self, a: u32, random: u64, mode: Rounding) -> u32 {
        let n = self.n as i32;
        let es = self.es;
        // Exponent and 23-bit fraction below the leading one.
        let (e, frac) = if a >= 0x0080_0000 {
            ((a >> 23) as i32 - 127, (a & 0x7f_ffff) as u64)
        } else {
            let p = 31 - a.leading_zeros() as i32; // position of the leading one
            (p - 149, ((a << (23 - p)) & 0x7f_ffff) as u64)
        };
        let k = e >> es; // floor division
        let kc = k.clamp(-(n - 1), n - 1);
        let exp = (e - (k << es)) as u64;
        // Regime: kc+1 ones then 0 (length |kc|+2), or -kc zeros then 1
        // (length |kc|+1); arithmetic selects, as the sign of k is random.
        let ge = (kc >= 0) as u64;
        let ka = kc.unsigned_abs();
        let rlen = ka + 1 + ge as u32;
        let regime = ge * ((1u64 << (ka + 2)) - 2) + (1 - ge);
        let body = (((regime << es) | exp) << 23) | frac;
        let sh = rlen + es + 23 - (self.n - 1); // >= 10
        let code = body >> sh;
        let cut = body & ((1u64 << sh) - 1);
        let half = 1u64 << (sh - 1);
        let up = match MODE {
            0 => cut > half || (cut == half && code & 1 == 1),
            1 => cut >= half,
            2 => false,
            3 => (random >> (64 - sh)) < cut,
            // The other modes, decided at run time (`mode` is per sign).
            _ => match mode {
                Rounding::AwayFromZero => cut > 0,
                Rounding::Odd => cut > 0 && code & 1 == 0,
                Rounding::StochasticBits(n) if (n as u32) < sh => {
                    let drop = sh - n as u32;
                    let (q, r) = (cut >> drop, cut & ((1u64 << drop) - 1));
                    let d = q + (r > 1u64 << (drop - 1) || (r == 1u64 << (drop - 1) && q & 1 == 1)) as u64;
                    d + (random >> (64 - n as u32)) >= 1u64 << n
                }
                Rounding::StochasticBits(_) => (random >> (64 - sh)) < cut,
                _ => false,
            },
        };
        let code = ((code + up as u64) as u32).clamp(1, self.maxpos_code());
        // Beyond maxpos saturate; below minpos stay at minpos (never 0).
        if k > n - 2 {
            self.maxpos_code()
        } else if k < -(n - 2) {
            1
        } else {
            code
        }
    }

    #[inline(always)]
    fn encode_value<const MODE: u8>(&self, v: f32, random: u64) -> u32 {
        let a = v.to_bits() & !SIGN;
        let mode = if MODE == 4 { self.round.for_sign(v.to_bits() >> 31 == 1) } else { Rounding::NearestEven };
        let code = self.encode_magnitude::<MODE>(a.max(1), random, mode);
        let m = 0u32.wrapping_sub(v.to_bits() >> 31); // all ones when negative
        let signed = ((code ^ m).wrapping_sub(m)) & self.mask();
        if a >= INF {
            self.nar()
        } else if a == 0 {
            0
        } else {
            signed
        }
    }

    fn mask(&self) -> u32 {
        ((1u64 << self.n) - 1) as u32
    }

    #[inline(always)]
    fn decode_code(&self, c: u32) -> f32 {
        let n1 = self.n - 1;
        let c = c & self.mask();
        let sign = (c >> n1) & 1;
        let m = 0u32.wrapping_sub(sign);
        let mag = ((c ^ m).wrapping_sub(m)) & self.mask();
        // Bits after the sign, left-aligned in a u32.
        let body = mag << (32 - n1);
        let first = body >> 31;
        let run = (body ^ 0u32.wrapping_sub(first)).leading_zeros().min(n1);
        let f = first as i32;
        let k = f * (2 * run as i32 - 1) - run as i32;
        let used = (run + 1).min(n1); // regime plus its terminator
        let rest = (body as u64) << (32 + used); // remaining bits at the top of a u64
        let rest_len = n1 - used;
        let exp = if self.es == 0 { 0 } else { (rest >> (64 - self.es)) as i32 };
        let fbits = rest_len.saturating_sub(self.es);
        let frac = ((rest << self.es) >> 1 >> (63 - fbits)) as u32 & ((1u32 << fbits) - 1);
        // 2^scale (1 + frac/2^fbits), built directly: the es limit keeps
        // scale within f32's normal range and fbits <= 13.
        let scale = (k << self.es) + exp;
        let v = (((scale + 127) as u32) << 23) | (frac << (23 - fbits));
        let v = f32::from_bits(v | sign << 31);
        if c == 0 {
            0.0
        } else if c == self.nar() {
            f32::NAN
        } else {
            v
        }
    }

    /// Fake-quantize with `MODE`: one flat loop the compiler can inline.
    fn quantize_with<const MODE: u8>(&self, x: &[f32], clip: Option<(f32, f32)>, ctx: RoundCtx, out: &mut [f32]) {
        let (lo, hi) = clip.unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
        for (i, (o, &v)) in out.iter_mut().zip(x).enumerate() {
            let v = crate::bits::clamp_keep_nan(v, lo, hi);
            let random = if MODE == 3 || (MODE == 4 && self.round.is_stochastic()) { ctx.bits64(i) } else { 0 };
            *o = self.decode_code(self.encode_value::<MODE>(v, random));
        }
    }

    fn encode_with<const MODE: u8>(&self, x: &[f32], clip: Option<(f32, f32)>, ctx: RoundCtx, codes: &mut [u32]) {
        let (lo, hi) = clip.unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
        for (i, (c, &v)) in codes.iter_mut().zip(x).enumerate() {
            let random = if MODE == 3 || (MODE == 4 && self.round.is_stochastic()) { ctx.bits64(i) } else { 0 };
            *c = self.encode_value::<MODE>(crate::bits::clamp_keep_nan(v, lo, hi), random);
        }
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
        let clip = clip.map(|c| (c.lo, c.hi));
        match self.round {
            Rounding::NearestEven => self.quantize_nearest_even(x, clip, out),
            Rounding::NearestAway => self.quantize_with::<1>(x, clip, ctx, out),
            Rounding::TowardZero => self.quantize_with::<2>(x, clip, ctx, out),
            Rounding::Stochastic => self.quantize_with::<3>(x, clip, ctx, out),
            _ => self.quantize_with::<4>(x, clip, ctx, out),
        }
    }

    fn encode_unit(&self, x: &[f32], clip: Option<Clip>, ctx: RoundCtx, codes: &mut [u32], _meta: &mut [u32]) -> Result<(), FormatError> {
        let clip = clip.map(|c| (c.lo, c.hi));
        match self.round {
            Rounding::NearestEven => self.encode_with::<0>(x, clip, ctx, codes),
            Rounding::NearestAway => self.encode_with::<1>(x, clip, ctx, codes),
            Rounding::TowardZero => self.encode_with::<2>(x, clip, ctx, codes),
            Rounding::Stochastic => self.encode_with::<3>(x, clip, ctx, codes),
            _ => self.encode_with::<4>(x, clip, ctx, codes),
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

/// The `posit` family.
pub struct PositFamily;
/// Its registry entry.
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
        let f = Posit::new(n, es)?;
        Ok(Box::new(Posit::with(f.n, f.es, crate::rounding_param(p)?)))
    }
}
