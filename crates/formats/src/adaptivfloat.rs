//! AdaptivFloat<n, e> (Tambe et al., DAC 2020, arXiv 1909.13271): a float
//! whose exponent bias follows each group's `max|x|`.
//!
//! Paper semantics (default), as in docs/formats.md: `exp_max = floor(log2 max|x|)`
//! over finite values (or `exp_bias + 2^e - 1` when the bias is fixed),
//! `exp_bias = exp_max - (2^e - 1)`; every binade from `2^exp_bias` to
//! `2^exp_max` carries `m = n - e - 1` mantissa bits, except that the code
//! with exponent field 0 and mantissa 0 means zero, so the smallest magnitude
//! is `value_min = 2^exp_bias (1 + 2^-m)`. Between 0 and `value_min` the
//! rounding mode decides (a tie at `value_min/2` goes to 0, the even code).
//! Above `value_max` everything saturates; ±Inf saturates and does not enter
//! `exp_max`; NaN stays NaN.
//!
//! Variant `ieee-like` (the authors' 2022 PyTorch code): exponents run from
//! `exp_max - 2^e + 3` to `exp_max`, and every `|x| < 2^(exp_max - 2^e + 3)`
//! flushes to 0 whatever the rounding mode.
//!
//! Codes: `sign | field (e bits) | mantissa (m bits)`. Paper: value =
//! `2^(field + exp_bias) (1 + mant/2^m)`, field 0 with mantissa 0 is ±0, and
//! there is no NaN code, so NaN cannot be encoded. ieee-like: field 0 is ±0,
//! fields 1..2^e-2 are the binades, field 2^e-1 is NaN; the stored bias is
//! `exp_bias = lowest exponent - 1`. Metadata: one `exp_bias` per unit
//! (counted as 8 bits; kept as an i32 word).
//!
//! When a group is so small that its grid reaches below f32's subnormals
//! (`exp_bias - m < -149`), results are the grid values rounded once more to
//! f32.

use crate::bits::{finite_amax, floor_log2, ldexp, pow2};
use crate::grid::{FloatGrid, Low, Overflow};
use crate::{with_round, zeros_like, Clip, Family, Format, FormatError, ParamDoc, Params, Preset, RoundCtx, Rounding, Scale, NO_SCALE, ROUND_DOC};

/// How the exponent field and zero are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// Tambe et al.'s code: the smallest exponent code with mantissa 0 is zero, no subnormals.
    Paper,
    /// The authors' 2022 PyTorch code: exponent field 0 is zero, the top field NaN; magnitudes below the lowest binade flush to 0.
    IeeeLike,
}

/// AdaptivFloat<n, e> (Tambe et al., DAC 2020): a minifloat whose exponent bias follows each group's max|x|.
#[derive(Clone, Debug, PartialEq)]
pub struct AdaptivFloat {
    n: u32,
    e: u32,
    m: u32,
    exp_bias: Option<i32>,
    variant: Variant,
    round: Rounding,
}

impl AdaptivFloat {
    /// Total bits `n`, exponent bits `e`, automatic bias, paper variant.
    pub fn new(n: u32, e: u32) -> Result<Self, FormatError> {
        let mut p = Params::new("adaptivfloat", Default::default());
        let mut f = Self::from_params(&mut p, Some((n, e)))?;
        f.round = Rounding::NearestEven;
        Ok(f)
    }

    fn from_params(p: &mut Params, ne: Option<(u32, u32)>) -> Result<Self, FormatError> {
        let (n, e) = match ne {
            Some((n, e)) => (p.check_int("n", n as i64, 2, 32)?, e as i64),
            None => (p.int("n", None, 2, 32)?, p.int("e", None, 1, 31)?),
        };
        let variant = match p.choice("variant", "paper", &["paper", "ieee-like"])? {
            "paper" => Variant::Paper,
            _ => Variant::IeeeLike,
        };
        let e_lo = if variant == Variant::IeeeLike { 2 } else { 1 };
        let e = p.check_int("e", e, e_lo, n - 1)?;
        let m = (n - e - 1) as u32;
        if m > 23 {
            return Err(p_range("e", e, &format!("{}..={} for n={n} (m = n-e-1 may not exceed f32's 23 mantissa bits)", n - 24, n - 1)));
        }
        let span = (1i64 << e) - 1;
        // Fixed bias: keep exp_max <= 127 and the smallest step >= 2^-149.
        let exp_bias = match p.opt_int("exp_bias", -1000, 1000)? {
            None => None,
            Some(b) => Some(p.check_int("exp_bias", b, -149 + m as i64, 127 - span)? as i32),
        };
        let round = crate::rounding_param(p)?;
        Ok(AdaptivFloat { n: n as u32, e: e as u32, m, exp_bias, variant, round })
    }

    /// Exponent field width `e`.
    pub fn exponent_bits(&self) -> u32 {
        self.e
    }

    /// The grid and the stored `exp_bias` for a unit whose largest finite
    /// magnitude (after clipping) is `amax`; `None` when there is nothing to
    /// scale by (an all-zero unit with automatic bias).
    pub fn grid(&self, amax: f32) -> Option<(FloatGrid, i32)> {
        let span = (1i64 << self.e) - 1;
        let exp_max = match self.exp_bias {
            Some(b) => (b as i64 + span) as i32,
            None if amax > 0.0 => floor_log2(amax),
            None => return None,
        };
        Some(self.grid_for_exp_max(exp_max))
    }

    fn grid_for_exp_max(&self, exp_max: i32) -> (FloatGrid, i32) {
        let m = self.m as i32;
        let span = (1i64 << self.e) - 1;
        let max = ldexp(2.0 - pow2(-m), exp_max);
        match self.variant {
            Variant::Paper => {
                let eb = (exp_max as i64 - span).max(-100_000) as i32;
                let min = ldexp(1.0 + pow2(-m), eb);
                (FloatGrid { m: self.m, emin: eb, max, low: Low::Gap { min }, overflow: Overflow::Saturate, emin_field: 0 }, eb)
            }
            Variant::IeeeLike => {
                let emin = (exp_max as i64 - span + 2).max(-100_000) as i32;
                (FloatGrid { m: self.m, emin, max, low: Low::Flush { min: pow2(emin) }, overflow: Overflow::Saturate, emin_field: 1 }, emin - 1)
            }
        }
    }

    fn grid_from_meta(&self, exp_bias: i32) -> FloatGrid {
        let span = (1i64 << self.e) - 1;
        let exp_max = match self.variant {
            Variant::Paper => exp_bias as i64 + span,
            Variant::IeeeLike => exp_bias as i64 + span - 1,
        };
        self.grid_for_exp_max(exp_max.clamp(-100_000, 100_000) as i32).0
    }

    fn unit_grid(&self, x: &[f32], clip: Option<Clip>) -> Option<UnitGrid> {
        self.grid_with(clip, || finite_amax(x))
    }

    /// The grid of a unit with this clip, or of its largest finite
    /// magnitude `amax` when unclipped.
    fn grid_with(&self, clip: Option<Clip>, amax: impl FnOnce() -> f32) -> Option<UnitGrid> {
        let (amax, lim) = match clip {
            Some(c) => (c.alpha(), Some((-c.alpha(), c.alpha()))),
            None => (amax(), None),
        };
        self.grid(amax).map(|(g, eb)| (g, eb, lim))
    }

    /// Fake-quantize elements of a unit on its grid (`None`: all zeros).
    fn quantize_on(&self, grid: Option<UnitGrid>, x: &[f32], ctx: RoundCtx, out: &mut [f32]) {
        match grid {
            None => zeros_like(x, out, true),
            Some((g, _, lim)) => g.quantize(x, out, lim, self.round, ctx),
        }
    }

    /// The codes of elements of a unit on its grid.
    fn codes_on(&self, grid: Option<UnitGrid>, x: &[f32], ctx: RoundCtx, codes: &mut [u32]) -> Result<(), FormatError> {
        let mut q = vec![0.0f32; x.len()];
        self.quantize_on(grid, x, ctx, &mut q);
        let sign_bit = 1u32 << (self.n - 1);
        for (c, &v) in codes.iter_mut().zip(&q) {
            let sign = if v.is_sign_negative() { sign_bit } else { 0 };
            *c = if v.is_nan() {
                let field = self
                    .nan_field()
                    .ok_or_else(|| FormatError::Unsupported { format: self.describe(), why: "input holds NaN, which this format has no code for (the ieee-like variant has one)".into() })?;
                field << self.m
            } else if v == 0.0 {
                sign
            } else {
                let (g, _, _) = grid.expect("non-zero output implies a grid");
                let (binade, mant) = g.decompose(v);
                let field = match self.variant {
                    Variant::Paper => binade as u32,
                    Variant::IeeeLike => binade as u32 + 1,
                };
                sign | (field << self.m) | mant
            };
        }
        Ok(())
    }

    fn nan_field(&self) -> Option<u32> {
        match self.variant {
            Variant::Paper => None,
            Variant::IeeeLike => Some((1 << self.e) - 1),
        }
    }
}

/// A unit's grid, its stored exponent bias, and the clamp range if clipped.
type UnitGrid = (FloatGrid, i32, Option<(f32, f32)>);

fn p_range(param: &str, v: impl std::fmt::Display, range: &str) -> FormatError {
    quantlab_spec::SpecError::OutOfRange { family: "adaptivfloat".into(), param: param.into(), value: v.to_string(), range: range.into() }.into()
}

impl Format for AdaptivFloat {
    fn describe(&self) -> String {
        let mut d = format!("adaptivfloat(n={},e={}", self.n, self.e);
        if let Some(b) = self.exp_bias {
            d += &format!(",exp_bias={b}");
        }
        if self.variant == Variant::IeeeLike {
            d += ",variant=ieee-like";
        }
        with_round(d + ")", self.round)
    }
    fn family(&self) -> &'static str {
        "adaptivfloat"
    }
    fn code_bits(&self) -> u32 {
        self.n
    }
    fn meta_bits(&self) -> u32 {
        if self.exp_bias.is_some() {
            0
        } else {
            8
        }
    }
    fn meta_words(&self) -> usize {
        1
    }
    fn rounding(&self) -> Rounding {
        self.round
    }

    fn quantize_unit(&self, x: &[f32], clip: Option<Clip>, ctx: RoundCtx, out: &mut [f32]) {
        self.quantize_on(self.unit_grid(x, clip), x, ctx, out)
    }

    /// The exponent bias comes from the unit's largest magnitude; once it
    /// is known, every element rounds on its own.
    fn unit_quantizer(&self, range: &crate::stats::Stats, clip: Option<Clip>) -> Option<crate::PartQuantizer<'_>> {
        let grid = self.grid_with(clip, || range.amax);
        Some(Box::new(move |x: &[f32], ctx: RoundCtx, out: &mut [f32]| self.quantize_on(grid, x, ctx, out)))
    }

    fn encode_unit(&self, x: &[f32], clip: Option<Clip>, ctx: RoundCtx, codes: &mut [u32], meta: &mut [u32]) -> Result<(), FormatError> {
        let grid = self.unit_grid(x, clip);
        meta[0] = grid.map_or(NO_SCALE, |(_, eb, _)| eb as u32);
        self.codes_on(grid, x, ctx, codes)
    }

    /// The exponent bias comes from the unit's largest magnitude; once it
    /// is known, every element's code is its own.
    fn unit_encoder(&self, range: &crate::stats::Stats, clip: Option<Clip>) -> Option<(Vec<u32>, crate::PartEncoder<'_>)> {
        let grid = self.grid_with(clip, || range.amax);
        let meta = vec![grid.map_or(NO_SCALE, |(_, eb, _)| eb as u32)];
        Some((meta, Box::new(move |x: &[f32], ctx: RoundCtx, codes: &mut [u32]| self.codes_on(grid, x, ctx, codes))))
    }

    fn decode_unit(&self, codes: &[u32], meta: &[u32], out: &mut [f32]) {
        let grid = (meta[0] != NO_SCALE).then(|| self.grid_from_meta(meta[0] as i32));
        let mant_mask = (1u32 << self.m) - 1;
        for (o, &c) in out.iter_mut().zip(codes) {
            let negative = c >> (self.n - 1) & 1 == 1;
            let field = (c >> self.m) & ((1 << self.e) - 1);
            let mant = c & mant_mask;
            let mag = if Some(field) == self.nan_field() {
                f32::NAN
            } else {
                match (&grid, self.variant) {
                    (None, _) => 0.0,
                    (_, Variant::Paper) if field == 0 && mant == 0 => 0.0,
                    (_, Variant::IeeeLike) if field == 0 => 0.0,
                    (Some(g), Variant::Paper) => g.compose(field as i32, mant),
                    (Some(g), Variant::IeeeLike) => g.compose(field as i32 - 1, mant),
                }
            };
            *o = if negative { -mag } else { mag };
        }
    }

    fn meta_for(&self, scale: Scale) -> Result<Vec<u32>, FormatError> {
        let eb = match (scale, self.exp_bias) {
            (Scale::ExpBias(b), _) => b,
            (Scale::Max(x), _) if x.is_finite() && x > 0.0 => self.grid(x).expect("x > 0").1,
            (Scale::Fixed, Some(_)) => self.grid(1.0).expect("fixed bias").1,
            _ => return Err(FormatError::Unsupported { format: self.describe(), why: "the value table depends on the scale: give a positive --max X (the group's max|x|) or --exp-bias B".into() }),
        };
        Ok(vec![eb as u32])
    }
}

/// The `adaptivfloat` family.
pub struct AdaptivFloatFamily;
/// Its registry entry.
pub static FAMILY: AdaptivFloatFamily = AdaptivFloatFamily;

impl Family for AdaptivFloatFamily {
    fn name(&self) -> &'static str {
        "adaptivfloat"
    }
    fn summary(&self) -> &'static str {
        "AdaptivFloat (Tambe et al., DAC 2020): float whose exponent bias adapts to each group's max|x|"
    }
    fn params(&self) -> &'static [ParamDoc] {
        &[
            ParamDoc { name: "n", default: "(required)", range: "2..=32", help: "total bits" },
            ParamDoc { name: "e", default: "(required)", range: "1..=n-1 (2..=n-1 for ieee-like); m = n-e-1 <= 23", help: "exponent bits" },
            ParamDoc { name: "exp_bias", default: "auto", range: "-149+m ..= 128-2^e", help: "fixed exponent bias instead of per-group" },
            ParamDoc { name: "variant", default: "paper", range: "paper | ieee-like", help: "paper (DAC'20 numpy code) or the 2022 PyTorch rewrite" },
            ROUND_DOC,
        ]
    }
    fn presets(&self) -> &'static [Preset] {
        &[]
    }
    fn build(&self, p: &mut Params) -> Result<Box<dyn Format>, FormatError> {
        Ok(Box::new(AdaptivFloat::from_params(p, None)?))
    }
}
