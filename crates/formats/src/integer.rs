//! Uniform integer quantization: symmetric, and PipeEdge's asymmetric
//! min/max scheme (`tensor_encode`), with codes that pack into u32 words.
//!
//! Symmetric: `s = alpha / (2^(bits-1) - 1)` with `alpha` the clip bound
//! (default `max|x|` over finite values), `q` in `±(2^(bits-1) - 1)`, value
//! `q * s`; `alpha = 0` gives zeros. Codes are two's complement; the unused
//! pattern `-2^(bits-1)` encodes NaN.
//!
//! Asymmetric: `lo`, `hi` are the finite min and max after clipping,
//! `sf = hi - lo`, `q` in `[0, 2^bits - 1]`, value `q / (2^bits-1) * sf + lo`
//! (evaluated in that order in f32, as PipeEdge does); `sf = 0` makes every
//! value `lo` instead of dividing by zero. There is no NaN code.
//!
//! Both modes first normalise a unit by a power of two `2^k`: a unit whose
//! range (`alpha`, or `max(|lo|, |hi|)`) is below 1 is scaled up into
//! [1, 2), one of `2^126` or more down by 4; inputs are multiplied by `2^k`,
//! the formula above runs on the scaled values and results are multiplied
//! by `2^-k`. Multiplying by a power of two is exact (scaling up, even for
//! subnormal inputs), so wherever nothing is subnormal this is
//! bit-identical to the formula on the raw values, and where the raw
//! formula would lose precision (a scale `alpha / levels` below the normal
//! range for tiny tensors, or `hi - lo` overflowing near `f32::MAX`) it
//! keeps full precision: a tensor scaled by `2^k` quantizes to the same
//! result scaled by `2^k`. (Only in a unit reaching `2^126` can an input
//! below `2^-124` lose bits, on its way to a result of 0 or a neighbour.)
//! Metadata is the range itself (`alpha`; `lo`, `hi`) as f32, from which
//! decoding recomputes the unit.
//!
//! Rounding is to the nearest *decoded* value: `q = rne(x / s)` except within
//! an ulp of a midpoint, where the f32 rounding of `x / s` could pick the
//! farther neighbour, the exact distances to both decoded neighbours decide.
//! So quantizing equals choosing from the value table (docs/formats.md's oracle).
//! For the directed modes the neighbours are taken on the signed axis:
//! `toward-zero` picks the neighbour on zero's side of `x`, `nearest-away`
//! breaks a tie away from zero. NaN stays NaN; ±Inf clamps to the range.

use crate::bits::{clamp_keep_nan, finite_amax};
use crate::{with_round, Clip, Family, Format, FormatError, ParamDoc, Params, RoundCtx, Rounding, Scale, ROUND_DOC};

/// Where the integer grid sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Centred on 0: `q * scale`, `|q| <= 2^(bits-1) - 1`.
    Symmetric,
    /// PipeEdge's min/max: `lo + q * (hi - lo) / (2^bits - 1)`.
    Asymmetric,
}

/// Uniform integer quantization with a real scale per group.
#[derive(Clone, Debug, PartialEq)]
pub struct Integer {
    bits: u32,
    mode: Mode,
    round: Rounding,
}

/// One unit's decoding, on normalised values: `dec(q) = q * s` or
/// `q / levels * sf + lo`; the value is `dec(q) * post`.
#[derive(Clone, Copy, Debug)]
struct Unit {
    mode: Mode,
    scale: f32, // s, or sf
    lo: f32,    // asymmetric offset
    /// `2^-E` and `2^E`: inputs are multiplied by `pre`, results by `post`.
    pre: f32,
    post: f32,
    clamp: (f32, f32),
    qmin: i32,
    qmax: i32,
    levels: f32,
    /// `1/s`, or `levels/sf`: the estimate's multiplier.
    inv: f32,
}

impl Unit {
    #[inline(always)]
    fn dec(&self, q: i32) -> f32 {
        match self.mode {
            Mode::Symmetric => (q as f32 * self.scale) + 0.0,
            Mode::Asymmetric => (q as f32 / self.levels) * self.scale + self.lo,
        }
    }

    /// An index within one of the nearest (the exact choice is made against
    /// the decoded neighbours, so a reciprocal multiply is precise enough).
    #[inline(always)]
    fn estimate(&self, v: f32) -> f32 {
        let y = match self.mode {
            Mode::Symmetric => v * self.inv,
            Mode::Asymmetric => (v - self.lo) * self.inv,
        };
        rne_small(y.clamp(self.qmin as f32 - 1.0, self.qmax as f32 + 1.0))
    }

    /// The value of code `q`.
    #[inline(always)]
    fn value(&self, q: i32) -> f32 {
        finite(self.dec(q) * self.post)
    }

    /// Index of the table entry `v` rounds to (v not NaN).
    #[inline(always)]
    fn index(&self, raw: f32, mode: Rounding, random: u64) -> i32 {
        let v = clamp_keep_nan(raw * self.pre, self.clamp.0, self.clamp.1);
        if self.scale == 0.0 {
            return if self.mode == Mode::Symmetric { 0 } else { self.qmin };
        }
        let mut q = (self.estimate(v) as i32).clamp(self.qmin, self.qmax);
        while q > self.qmin && self.dec(q) > v {
            q -= 1;
        }
        while q < self.qmax && self.dec(q + 1) <= v {
            q += 1;
        }
        let lo = self.dec(q);
        if lo >= v || q == self.qmax {
            return q;
        }
        let hi = self.dec(q + 1);
        let (below, above) = (v as f64 - lo as f64, hi as f64 - v as f64);
        let up = match mode {
            Rounding::NearestEven => below > above || (below == above && q & 1 != 0),
            // The raw input's sign: a tiny input may scale to ±0.
            Rounding::NearestAway => below > above || (below == above && raw > 0.0),
            Rounding::TowardZero => raw < 0.0,
            Rounding::AwayFromZero => raw > 0.0,
            Rounding::TowardPositive => true,
            Rounding::TowardNegative => false,
            Rounding::Odd => q & 1 == 0,
            Rounding::Stochastic | Rounding::StochasticBits(_) => mode.bernoulli(random, below, hi as f64 - lo as f64),
        };
        q + up as i32
    }
}

impl Integer {
    /// `bits` code bits in `mode`, rounding to nearest even.
    pub fn new(bits: u32, mode: Mode) -> Result<Self, FormatError> {
        let p = Params::new("int", Default::default());
        let lo = if mode == Mode::Symmetric { 2 } else { 1 };
        p.check_int("bits", bits as i64, lo, 16)?;
        Ok(Integer { bits, mode, round: Rounding::NearestEven })
    }

    /// Symmetric or asymmetric.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    fn levels(&self) -> i32 {
        match self.mode {
            Mode::Symmetric => (1 << (self.bits - 1)) - 1,
            Mode::Asymmetric => (1 << self.bits) - 1,
        }
    }

    /// A unit's range, which is also its metadata: `[alpha]` (the clip
    /// bound, default the finite `max|x|`) or `[lo, hi]` (the finite min
    /// and max cut to the clip).
    fn range(&self, x: &[f32], clip: Option<Clip>) -> [f32; 2] {
        match self.mode {
            Mode::Symmetric => [clip.map_or_else(|| finite_amax(x), Clip::alpha), 0.0],
            Mode::Asymmetric => {
                let r = crate::bits::finite_range(x);
                self.range_from(0.0, (r.min, r.max), clip)
            }
        }
    }

    /// [`Self::range`] from a unit's largest finite magnitude and finite
    /// minimum and maximum.
    fn range_from(&self, amax: f32, (min, max): (f32, f32), clip: Option<Clip>) -> [f32; 2] {
        match (self.mode, clip) {
            (Mode::Symmetric, _) => [clip.map_or(amax, Clip::alpha), 0.0],
            (Mode::Asymmetric, Some(c)) => [min.clamp(c.lo, c.hi), max.clamp(c.lo, c.hi)],
            (Mode::Asymmetric, None) => [min, max],
        }
    }

    fn unit_of(&self, range: [f32; 2]) -> Unit {
        match self.mode {
            Mode::Symmetric => self.sym_unit(range[0]),
            Mode::Asymmetric => self.asym_unit(range[0], range[1]),
        }
    }

    /// The codes of elements of a unit.
    fn codes_in(&self, unit: &Unit, x: &[f32], ctx: RoundCtx, codes: &mut [u32]) -> Result<(), FormatError> {
        let stochastic = self.round.is_stochastic();
        for (i, (c, &v)) in codes.iter_mut().zip(x).enumerate() {
            *c = if v.is_nan() {
                if self.mode == Mode::Asymmetric {
                    return Err(FormatError::Unsupported { format: self.describe(), why: "input holds NaN, which asymmetric integers have no code for".into() });
                }
                1 << (self.bits - 1)
            } else {
                let random = if stochastic { ctx.bits64(i) } else { 0 };
                self.code_of(unit.index(v, self.round, random))
            };
        }
        Ok(())
    }

    /// Fake-quantize elements of a unit.
    fn quantize_in(&self, unit: &Unit, x: &[f32], ctx: RoundCtx, out: &mut [f32]) {
        if self.round == Rounding::NearestEven && unit.scale > 0.0 {
            match self.mode {
                Mode::Symmetric => symmetric_nearest_even(unit, x, out),
                Mode::Asymmetric => asymmetric_nearest_even(unit, x, out),
            }
            return;
        }
        let stochastic = self.round.is_stochastic();
        for (i, (o, &v)) in out.iter_mut().zip(x).enumerate() {
            let random = if stochastic { ctx.bits64(i) } else { 0 };
            *o = if v.is_nan() { f32::NAN } else { unit.value(unit.index(v, self.round, random)) };
        }
    }

    fn unit(&self, x: &[f32], clip: Option<Clip>) -> Unit {
        self.unit_of(self.range(x, clip))
    }

    /// The symmetric unit of clip bound `alpha` (not finite or not
    /// positive: all zeros).
    fn sym_unit(&self, alpha: f32) -> Unit {
        let levels = self.levels();
        let alpha = if alpha.is_finite() && alpha > 0.0 { alpha } else { 0.0 };
        let (pre, post) = normalisation(alpha);
        let s = (alpha * pre) / levels as f32;
        let bound = levels as f32 * s;
        let inv = if s > 0.0 { 1.0 / s } else { 0.0 };
        Unit { mode: Mode::Symmetric, scale: s, lo: 0.0, pre, post, clamp: (-bound, bound), qmin: -levels, qmax: levels, levels: levels as f32, inv }
    }

    /// The asymmetric unit of range `[lo, hi]`.
    fn asym_unit(&self, lo: f32, hi: f32) -> Unit {
        let levels = self.levels();
        let finite = |v: f32| if v.is_finite() { v } else { 0.0 };
        let (lo, hi) = (finite(lo), finite(hi));
        let (pre, post) = normalisation(lo.abs().max(hi.abs()));
        let lo = lo * pre;
        let sf = (hi * pre - lo).max(0.0);
        let top = sf + lo; // dec(levels): levels/levels is exactly 1
        let inv = if sf > 0.0 { levels as f32 / sf } else { 0.0 };
        Unit { mode: Mode::Asymmetric, scale: sf, lo, pre, post, clamp: (lo, top), qmin: 0, qmax: levels, levels: levels as f32, inv }
    }

    fn unit_from_meta(&self, meta: &[u32]) -> Unit {
        let word = |i: usize| meta.get(i).map_or(0.0, |&w| f32::from_bits(w));
        self.unit_of([word(0), word(1)])
    }

    fn code_of(&self, q: i32) -> u32 {
        (q as u32) & ((1u64 << self.bits) - 1) as u32
    }
}

crate::simd::kernel! {
/// The symmetric nearest-even loop, all in f32 so it vectorises four or eight
/// wide. The distances `|v - q s|` are exact: `v` lies within a step of both
/// candidates, so for non-zero candidates the two are within a factor of two
/// (Sterbenz), and a zero candidate subtracts nothing; where a candidate is
/// farther than that, rounding is monotone and keeps the strict order.
fn symmetric_nearest_even(unit: &Unit, x: &[f32], out: &mut [f32]) {
    let (s, inv, pre, post) = (unit.scale, unit.inv, unit.pre, unit.post);
    let levels = unit.qmax as f32;
    // No clamp of `v` is needed: clamping `q` to ±levels saturates, and for
    // |v| beyond the range (±Inf included) the outward neighbour is out of
    // range, so `q = ±levels` stands.
    #[inline(always)]
    fn one(c: f32, s: f32, inv: f32, levels: f32) -> f32 {
        let q = rne_small(c * inv);
        let q = if q > levels { levels } else if q < -levels { -levels } else { q };
        let dq = q * s;
        let n = if c > dq { q + 1.0 } else { q - 1.0 };
        let dn = n * s;
        let (e0, e1) = ((c - dq).abs(), (c - dn).abs());
        let take = n.abs() <= levels && (e1 < e0 || (e1 == e0 && is_even(n)));
        if take { dn } else { dq }
    }
    if pre == 1.0 && post == 1.0 {
        // The common unit (range from 1 to 2^126): no normalisation, and
        // `levels * s` cannot overflow.
        for (o, &v) in out.iter_mut().zip(x) {
            let r = one(v, s, inv, levels) + 0.0;
            *o = if v.is_nan() { f32::NAN } else { r };
        }
    } else {
        for (o, &v) in out.iter_mut().zip(x) {
            let r = finite((one(v * pre, s, inv, levels) + 0.0) * post);
            *o = if v.is_nan() { f32::NAN } else { r };
        }
    }
}
}

crate::simd::kernel! {
/// The asymmetric nearest-even loop: indices kept as floats (a saturating
/// `as i32` per lane would serialise the loop). The two candidates'
/// distances are compared in f32, where rounding is monotone: unequal
/// rounded distances order the exact ones the same way. Only a chunk where
/// some pair rounds equal (a tie, or too close to call, since candidates
/// may straddle zero) is done again with the distances in f64.
fn asymmetric_nearest_even(unit: &Unit, x: &[f32], out: &mut [f32]) {
    const CHUNK: usize = 256;
    for (xi, oi) in x.chunks(CHUNK).zip(out.chunks_mut(CHUNK)) {
        let mut unsure = false;
        for (o, &v) in oi.iter_mut().zip(xi) {
            *o = asym_one(unit, v, |c, dq, dn, _| {
                let (e0, e1) = ((c - dq).abs(), (c - dn).abs());
                unsure |= e0 == e1;
                e1 < e0
            });
        }
        if unsure {
            for (o, &v) in oi.iter_mut().zip(xi) {
                *o = asym_one(unit, v, |c, dq, dn, n| {
                    let (e0, e1) = ((c as f64 - dq as f64).abs(), (c as f64 - dn as f64).abs());
                    e1 < e0 || (e1 == e0 && is_even(n))
                });
            }
        }
    }
}
}

/// One element of the asymmetric kernel: the clamped input, its two
/// candidate values (`dec` exactly as `Unit::dec`: a vector division beats
/// the f64 reciprocal product it replaced, whose conversions halve the
/// lanes) and the neighbour's index; `pick(c, dq, dn, n)` says whether the
/// neighbour `dn` wins.
#[inline(always)]
fn asym_one(unit: &Unit, v: f32, mut pick: impl FnMut(f32, f32, f32, f32) -> bool) -> f32 {
    let (sf, lo, inv, levels, pre, post) = (unit.scale, unit.lo, unit.inv, unit.levels, unit.pre, unit.post);
    let dec = |q: f32| (q / levels) * sf + lo;
    let c = clamp_keep_nan(v * pre, unit.clamp.0, unit.clamp.1);
    let q = rne_small((c - lo) * inv);
    let q = if q > levels {
        levels
    } else if q < 0.0 {
        0.0
    } else {
        q
    };
    let dq = dec(q);
    let n = if c > dq { q + 1.0 } else { q - 1.0 };
    let dn = dec(n);
    let take = (n >= 0.0) & (n <= levels) & pick(c, dq, dn, n); // no short cut: selects vectorise
    let r = finite(if take { dn } else { dq } * post);
    if v.is_nan() {
        f32::NAN
    } else {
        r
    }
}

/// A table value beyond f32's range (`levels * s` rounding above
/// `f32::MAX` in a unit whose range is `f32::MAX`) saturates to the largest
/// finite value, the nearest f32.
#[inline(always)]
#[allow(clippy::manual_clamp)] // selects vectorise; `clamp` asserts and branches
fn finite(r: f32) -> f32 {
    if r > f32::MAX {
        f32::MAX
    } else if r < -f32::MAX {
        -f32::MAX
    } else {
        r
    }
}

/// `(pre, post)` for a unit whose range reaches `m`: a range below 1 is
/// scaled up to [1, 2) (`pre = 2^-E`, exact for every input, subnormal ones
/// included), a range of `2^126` or more down by 4 (so `hi - lo` and
/// `levels * s` stay finite), any other is left as it is (`(1, 1)`).
fn normalisation(m: f32) -> (f32, f32) {
    if !(m > 0.0 && m.is_finite()) {
        return (1.0, 1.0);
    }
    let e = crate::bits::floor_log2(m);
    let k = if e < 0 {
        (-e).min(126)
    } else if e >= 126 {
        -2
    } else {
        0
    };
    (crate::bits::pow2(k), crate::bits::pow2(-k))
}

/// Whether an integer-valued float (|n| < 2^22) is even.
#[inline(always)]
fn is_even(n: f32) -> bool {
    let half = n * 0.5;
    rne_small(half) == half
}

/// Round half to even for |y| <= 2^22 with one exact f32 add (no libm call:
/// `round_ties_even` is a function call on baseline x86-64).
#[inline(always)]
fn rne_small(y: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23
    (y + MAGIC) - MAGIC
}

impl Format for Integer {
    fn describe(&self) -> String {
        let mode = if self.mode == Mode::Asymmetric { ",mode=asymmetric" } else { "" };
        with_round(format!("int(bits={}{mode})", self.bits), self.round)
    }
    fn family(&self) -> &'static str {
        "int"
    }
    fn code_bits(&self) -> u32 {
        self.bits
    }
    fn meta_bits(&self) -> u32 {
        match self.mode {
            Mode::Symmetric => 32,
            Mode::Asymmetric => 64,
        }
    }
    fn meta_words(&self) -> usize {
        match self.mode {
            Mode::Symmetric => 1,
            Mode::Asymmetric => 2,
        }
    }
    fn rounding(&self) -> Rounding {
        self.round
    }
    fn sign_symmetric(&self) -> bool {
        self.mode == Mode::Symmetric
    }
    fn asymmetric(&self) -> bool {
        self.mode == Mode::Asymmetric
    }

    fn quantize_unit(&self, x: &[f32], clip: Option<Clip>, ctx: RoundCtx, out: &mut [f32]) {
        self.quantize_in(&self.unit(x, clip), x, ctx, out)
    }

    /// The step comes from the unit's range; once it is known, every
    /// element rounds on its own.
    fn unit_quantizer(&self, range: &crate::stats::Stats, clip: Option<Clip>) -> Option<crate::PartQuantizer<'_>> {
        let unit = self.unit_of(self.range_from(range.amax, (range.min, range.max), clip));
        Some(Box::new(move |x: &[f32], ctx: RoundCtx, out: &mut [f32]| self.quantize_in(&unit, x, ctx, out)))
    }

    fn encode_unit(&self, x: &[f32], clip: Option<Clip>, ctx: RoundCtx, codes: &mut [u32], meta: &mut [u32]) -> Result<(), FormatError> {
        let range = self.range(x, clip);
        for (m, r) in meta.iter_mut().zip(range) {
            *m = r.to_bits();
        }
        self.codes_in(&self.unit_of(range), x, ctx, codes)
    }

    /// The step comes from the unit's range; once it is known, every
    /// element's code is its own.
    fn unit_encoder(&self, range: &crate::stats::Stats, clip: Option<Clip>) -> Option<(Vec<u32>, crate::PartEncoder<'_>)> {
        let range = self.range_from(range.amax, (range.min, range.max), clip);
        let meta = range[..self.meta_words()].iter().map(|r| r.to_bits()).collect();
        let unit = self.unit_of(range);
        Some((meta, Box::new(move |x: &[f32], ctx: RoundCtx, codes: &mut [u32]| self.codes_in(&unit, x, ctx, codes))))
    }

    fn decode_unit(&self, codes: &[u32], meta: &[u32], out: &mut [f32]) {
        let unit = self.unit_from_meta(meta);
        let shift = 32 - self.bits;
        for (o, &c) in out.iter_mut().zip(codes) {
            *o = match self.mode {
                Mode::Symmetric => {
                    let q = ((c << shift) as i32) >> shift;
                    if q < unit.qmin {
                        f32::NAN
                    } else {
                        unit.value(q)
                    }
                }
                Mode::Asymmetric => unit.value(c as i32),
            };
        }
    }

    fn meta_for(&self, scale: Scale) -> Result<Vec<u32>, FormatError> {
        let need = || FormatError::Unsupported { format: self.describe(), why: "the value table depends on the clip range: give --max X (and --min for asymmetric)".into() };
        match (self.mode, scale) {
            (Mode::Symmetric, Scale::Max(a)) => Ok(vec![a.to_bits()]),
            (Mode::Asymmetric, Scale::Max(a)) => Ok(vec![(-a).to_bits(), a.to_bits()]),
            (Mode::Asymmetric, Scale::Range(lo, hi)) => Ok(vec![lo.to_bits(), hi.to_bits()]),
            _ => Err(need()),
        }
    }
}

/// The `int` family.
pub struct IntegerFamily;
/// Its registry entry.
pub static FAMILY: IntegerFamily = IntegerFamily;

impl Family for IntegerFamily {
    fn name(&self) -> &'static str {
        "int"
    }
    fn summary(&self) -> &'static str {
        "uniform integer: symmetric (max|x| or clip bound) or PipeEdge's asymmetric min/max"
    }
    fn params(&self) -> &'static [ParamDoc] {
        &[
            ParamDoc { name: "bits", default: "(required)", range: "2..=16 (1..=16 asymmetric)", help: "code width" },
            ParamDoc { name: "mode", default: "symmetric", range: "symmetric | asymmetric", help: "symmetric around 0, or min/max (PipeEdge)" },
            ROUND_DOC,
        ]
    }
    fn build(&self, p: &mut Params) -> Result<Box<dyn Format>, FormatError> {
        let bits = p.int("bits", None, 1, 16)?;
        let mode = match p.choice("mode", "symmetric", &["symmetric", "asymmetric"])? {
            "symmetric" => Mode::Symmetric,
            _ => Mode::Asymmetric,
        };
        if mode == Mode::Symmetric {
            p.check_int("bits", bits, 2, 16)?;
        }
        let round = crate::rounding_param(p)?;
        Ok(Box::new(Integer { bits: bits as u32, mode, round }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The asymmetric kernel's f32 distance comparison, alone in its chunk
    /// (no tie elsewhere sends it down the f64 path), against the generic
    /// index, on every midpoint and its f32 neighbours.
    #[test]
    fn asymmetric_kernel_decides_near_ties_as_the_generic_path() {
        for bits in [1u32, 2, 3, 4, 8] {
            let f = Integer::new(bits, Mode::Asymmetric).unwrap();
            for (lo, hi) in [(-1.0f32, 3.0f32), (-0.3, 0.91), (0.2, 5.7), (-7.5, -0.125), (-1e-3, 2e-5)] {
                let unit = f.asym_unit(lo, hi);
                for q in 0..unit.qmax {
                    let mid = ((unit.dec(q) as f64 + unit.dec(q + 1) as f64) / 2.0) as f32;
                    let mut v = mid.next_down().next_down();
                    for _ in 0..5 {
                        let (x, mut out) = ([lo, hi, v * unit.post], [0.0f32; 3]);
                        f.quantize_unit(&x, None, RoundCtx::default(), &mut out);
                        let want = unit.value(unit.index(x[2], Rounding::NearestEven, 0));
                        assert_eq!(out[2].to_bits(), want.to_bits(), "bits={bits} [{lo}, {hi}] v={v}");
                        v = v.next_up();
                    }
                }
            }
        }
    }
}
