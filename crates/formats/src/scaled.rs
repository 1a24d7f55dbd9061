//! Scaled formats: an element type (`element::ELEMENT_TYPES`) and a scale
//! per unit, stored in a scale encoding. One family for the compositions
//! the field compares: FP8 with an f32 scale per tensor or per channel
//! (`scaled(elem=fp8-e4m3)` with granularity `tensor` or `channel`), per
//! 1x128 block (`block=128`, DeepSeek-V3's activations), FP4 with an E4M3
//! scale per 16 (NVFP4 without its tensor scale), any element with an E8M0
//! scale (MX's rule).
//!
//! A unit is the group (`block = 0`) or `block` consecutive elements of a
//! row. `amax` is the unit's largest finite `|x|` after the clip.
//! - Real-valued encodings (`f32`, `bf16`, `fp16`, `e4m3`, `ue4m3`,
//!   `ue5m3`):
//!   `scale = amax / max_elem` in f32, clamped to the encoding's positive
//!   normal range and rounded into it (nearest-even; torchao clamps E4M3
//!   block scales to [2^-6, 448] the same way); the elements are
//!   `x * (1/scale)` in f32, rounded to the element type (saturating), and
//!   the result is `q * scale` in f32, every step in that order. A unit
//!   with no finite non-zero value gives zeros.
//! - `e8m0`: a power of two, `2^(floor(log2 amax) - emax_elem)` (rule
//!   `floor`, OCP MX) or the smallest one with `amax <= max_elem * scale`
//!   (`ceil`), the exponent clamped to [-127, 127]; scaling is exact, so
//!   the element grid is shifted instead (MX's kernel).
//! - A zero point (`zero_point=true`, unsigned elements `uintB`; GPTQ/AWQ
//!   INT4 groups): `lo`, `hi` are the unit's finite min and max cut to the
//!   clip, `s = (hi - lo) / (2^B - 1)` rounded into the scale's encoding
//!   (a constant unit: `|lo| / (2^B - 1)`), `z = clamp(rne(-lo / s), 0,
//!   2^B - 1)`, `q = clamp(round(x / s) + z, 0, 2^B - 1)` (round as the
//!   rounding mode says), result `(q - z) * s`; a unit of zeros gives
//!   zeros. The metadata is the scale and the zero point (B bits counted).
//! - Tiles (`tile=RxC`, DeepSeek-V3's 128x128 weight scales): the unit is
//!   an R x C tile of the group's rows (the last tiles of a row or column
//!   may be smaller), with its scale as above; metadata per tile in
//!   row-major tile order, codes in stream order. Stochastic rounding is
//!   keyed by the tile's first element and the position within the tile.
//! - Two levels (`tensor_scale=f32`, NVFP4): the group has a scale of its
//!   own, `s_t = amax_group / (max_elem * max_scale)` in f32 (NVFP4:
//!   amax / (6 * 448) = amax / 2688), and each block's scale is
//!   `s_b = enc(clamp((amax_block / max_elem) / s_t, min, max))`; elements
//!   are `x * ((1/s_t) / s_b)` rounded (saturating), the result
//!   `q * (s_t * s_b)`, every step in f32 in exactly that order
//!   (torchao's reference `nvfp4_quantize` with a per-tensor scale).
//!   A group with no finite non-zero value gives zeros.
//!
//! NaN stays NaN (an E8M0 unit holding a NaN becomes all NaN, OCP's scale
//! NaN); ±Inf does not enter `amax` and saturates. Metadata: the scale's
//! encoding per unit (stored as its f32 bits, or the E8M0 code), and with
//! two levels the group's f32 scale first.

use crate::bits::pow2;
use crate::bits::{clamp_keep_nan, INF, SIGN};
use crate::element::Element;
use crate::grid::{BlockRule, FloatGrid, NearestEven, Overflow};
use crate::{with_round, Clip, Family, Format, FormatError, ParamDoc, Params, Preset, RoundCtx, Rounding, Scale, ROUND_DOC};

/// How a unit's scale is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Power-of-two scale, 8-bit exponent (OCP MX).
    E8m0,
    /// IEEE single.
    F32,
    /// bfloat16.
    Bf16,
    /// IEEE half.
    Fp16,
    /// OCP FP8 E4M3 (sign bit unused).
    E4m3,
    /// E4M3 without its sign bit (NVFP4's block scales are positive).
    Ue4m3,
    /// Unsigned E5M3: bias 15, subnormals, the all-ones code NaN (E4M3's
    /// convention), so positive values `2^-17 .. 114688`: more range than
    /// UE4M3 for the same 8 bits.
    Ue5m3,
}

impl Encoding {
    /// Every encoding's name, as descriptions write it.
    pub const NAMES: [&'static str; 7] = ["e8m0", "f32", "bf16", "fp16", "e4m3", "ue4m3", "ue5m3"];

    fn from_name(name: &str) -> Encoding {
        match name {
            "e8m0" => Encoding::E8m0,
            "f32" => Encoding::F32,
            "bf16" => Encoding::Bf16,
            "fp16" => Encoding::Fp16,
            "e4m3" => Encoding::E4m3,
            "ue4m3" => Encoding::Ue4m3,
            _ => Encoding::Ue5m3,
        }
    }

    fn name(self) -> &'static str {
        Encoding::NAMES[self as usize]
    }

    /// Bits a scale takes on the wire.
    pub fn bits(self) -> u32 {
        match self {
            Encoding::E8m0 | Encoding::E4m3 | Encoding::Ue5m3 => 8,
            Encoding::Ue4m3 => 7,
            Encoding::Bf16 | Encoding::Fp16 => 16,
            Encoding::F32 => 32,
        }
    }

    /// The grid of a real-valued encoding's positive values, and its
    /// smallest normal value (`None` for f32: every f32 is kept).
    fn grid(self) -> Option<(FloatGrid, f32)> {
        let elem = match self {
            Encoding::Bf16 => "bf16",
            Encoding::Fp16 => "fp16",
            Encoding::E4m3 | Encoding::Ue4m3 => "fp8-e4m3",
            Encoding::Ue5m3 => {
                // The magnitudes of an E5M3 with E4M3's specials; no element type has it.
                let f = crate::minifloat::Minifloat::new(5, 3, None, true, crate::minifloat::Specials::Fn, true).expect("E5M3 is a valid minifloat");
                let g = FloatGrid { overflow: Overflow::Saturate, ..f.grid() };
                return Some((g, pow2(g.emin)));
            }
            Encoding::F32 | Encoding::E8m0 => return None,
        };
        let g = Element::named(elem).expect("the table holds the scale encodings").grid();
        Some((g, pow2(g.emin)))
    }
}

/// A scale encoding's values, built once per format: `round` clamps a
/// scale (finite, > 0) to the positive normal range and rounds it into
/// the encoding, nearest-even.
#[derive(Clone, Copy, Debug, PartialEq)]
struct ScaleGrid(Option<(FloatGrid, f32)>);

impl ScaleGrid {
    #[inline(always)]
    fn round(&self, scale: f32) -> f32 {
        match self.0 {
            None => scale.clamp(f32::MIN_POSITIVE, f32::MAX),
            Some((g, min)) => g.round_normal_nearest_even(scale.clamp(min, g.max)),
        }
    }

    fn max(&self) -> f32 {
        self.0.map_or(f32::MAX, |(g, _)| g.max)
    }
}

/// How a power-of-two block scale follows the block's max|x|.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowRule {
    /// OCP MX: `2^(floor(log2 amax) - emax_elem)`.
    Floor,
    /// The smallest power of two with `amax <= max_elem * scale` (NVIDIA's
    /// and torchao's RCEIL: nothing saturates).
    Ceil,
    /// torchao's `EVEN`: `amax` rounded half up to the element's mantissa
    /// bits, then `floor`.
    Even,
}

impl PowRule {
    pub(crate) fn named(name: &str) -> PowRule {
        match name {
            "ceil" => PowRule::Ceil,
            "even" => PowRule::Even,
            _ => PowRule::Floor,
        }
    }
}

/// Any element type under a scale per group or per block, optionally with a tensor scale above, zero points or shared microexponents.
#[derive(Clone, Debug, PartialEq)]
pub struct Scaled {
    elem: Element,
    /// The element's grid at scale 1, saturating.
    grid: FloatGrid,
    encoding: Encoding,
    scales: ScaleGrid,
    rule: PowRule,
    /// Elements per unit along a row; 0: the whole group.
    block: usize,
    round: Rounding,
    /// The power-of-two path (E8M0): MX's block rule.
    pow2: BlockRule,
    /// A second level: an f32 scale per group above the blocks' scales.
    group_scale: bool,
    /// An integer zero point per unit (unsigned elements).
    zero_point: bool,
    /// Units are R x C tiles of the group's rows.
    tile: Option<(usize, usize)>,
    /// The element grid's branch-free nearest-even rounding, when exact.
    ne: Option<NearestEven>,
    /// Take the step-by-step path even where a fused kernel applies (the
    /// tests compare the two).
    unfused: bool,
    /// Shared microexponents: a shift per sub-block below the E8M0 scale.
    sub: Option<SubBlocks>,
    /// Double quantization: the f32 unit scales stored in 8 bits (QLoRA).
    double_quant: bool,
}

/// Units of double quantization's second level (bitsandbytes' blocksize
/// for the absmax statistics).
const DQ_UNITS: usize = 256;

/// A group's double-quantized unit scales.
struct DoubleQuant {
    /// Each unit's range in the group, its own scale (0: nothing to
    /// scale), its 8-bit code and the scale it is dequantized with.
    units: Vec<((usize, usize), f32, u32, f32)>,
    offset: f32,
    /// One f32 per DQ_UNITS units.
    second: Vec<f32>,
}

/// The second, sub-block level of a power-of-two scale (Rouhani et al.,
/// ISCA 2023): every `len` consecutive elements of a block share a shift
/// `tau` of `bits` bits, `tau = min(2^bits - 1, E - floor(log2 amax_sub))`
/// (`E` the block's exponent, as the floor rule gives it), and take the
/// element grid `2^-tau` finer than the block's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SubBlocks {
    /// Elements per sub-block.
    pub len: usize,
    /// Bits of each sub-block's shift.
    pub bits: u32,
}

impl Scaled {
    /// Elements `elem` with a scale stored as `encoding` per `block` elements (0: per group), power-of-two scales following `rule`.
    pub fn new(elem: &str, encoding: Encoding, rule: PowRule, block: usize) -> Result<Scaled, FormatError> {
        let elem =
            Element::named(elem).ok_or_else(|| quantlab_spec::SpecError::OutOfRange { family: "scaled".into(), param: "elem".into(), value: elem.into(), range: Element::names().join(" | ") })?;
        Ok(Scaled::with_element(elem, encoding, rule, block))
    }

    /// The format of this element type (named, or a user's table).
    pub fn with_element(elem: Element, encoding: Encoding, rule: PowRule, block: usize) -> Scaled {
        let grid = FloatGrid { overflow: Overflow::Saturate, ..elem.grid() };
        let pow2 = BlockRule {
            base: grid,
            offset: -elem.emax(),
            ceil: rule == PowRule::Ceil,
            even: rule == PowRule::Even,
            smin: -127,
            smax: 127 - elem.emax(),
            nan_poisons_block: true,
            signed_zero: elem.signed_zero(),
        };
        // Tables round through their own list, never a grid kernel.
        let ne = if elem.table().is_some() { None } else { NearestEven::of(&grid) };
        Scaled {
            elem,
            grid,
            encoding,
            scales: ScaleGrid(encoding.grid()),
            rule,
            block,
            round: Rounding::NearestEven,
            pow2,
            group_scale: false,
            zero_point: false,
            tile: None,
            ne,
            unfused: false,
            sub: None,
            double_quant: false,
        }
    }

    /// The tiles of a group of `len` elements in rows of `row_len`: the
    /// positions of each tile's elements (stream order within the group),
    /// tiles in row-major order.
    fn tiles(&self, len: usize, row_len: usize) -> Vec<Vec<usize>> {
        let (tr, tc) = self.tile.expect("a tiled format");
        let row_len = row_len.clamp(1, len.max(1));
        let rows = len.div_ceil(row_len);
        let mut out = Vec::new();
        for r0 in (0..rows).step_by(tr) {
            for c0 in (0..row_len).step_by(tc) {
                let mut t = Vec::with_capacity(tr * tc);
                for r in r0..(r0 + tr).min(rows) {
                    for c in c0..(c0 + tc).min(row_len) {
                        let p = r * row_len + c;
                        if p < len {
                            t.push(p);
                        }
                    }
                }
                if !t.is_empty() {
                    out.push(t);
                }
            }
        }
        out
    }

    /// Double quantization of a group's unit scales, as bitsandbytes'
    /// `compress_statistics`: the offset is the scales' mean (in f64,
    /// rounded to f32), each run of 256 units has an f32 `m2 = max|s -
    /// offset|`, and each scale is stored as the nearest entry `q` of the
    /// dynamic map to `(s - offset) * (1/m2)` (bitsandbytes' midpoint rule),
    /// to be read back as `map[q] * m2 + offset`.
    fn double_quant_scales(&self, x: &[f32], row_len: usize, clip: Option<Clip>) -> DoubleQuant {
        let ranges = crate::tensor::unit_ranges(x.len(), row_len, self.block);
        let scales: Vec<f32> = ranges.iter().map(|&(off, len)| self.real_scale(crate::clipped_amax(&x[off..off + len], clip)).unwrap_or(0.0)).collect();
        let offset = (scales.iter().map(|&s| s as f64).sum::<f64>() / scales.len().max(1) as f64) as f32;
        let map = crate::lut::bnb_dynamic();
        let mut units = Vec::with_capacity(ranges.len());
        let mut second = Vec::with_capacity(ranges.len().div_ceil(DQ_UNITS));
        for (rs, ss) in ranges.chunks(DQ_UNITS).zip(scales.chunks(DQ_UNITS)) {
            let m2 = ss.iter().fold(0.0f32, |m, &s| m.max((s - offset).abs()));
            second.push(m2);
            let inv = 1.0 / m2;
            for (&r, &s) in rs.iter().zip(ss) {
                let q = map.round_code(if m2 > 0.0 { (s - offset) * inv } else { 0.0 }, Rounding::NearestEven, 0);
                units.push((r, s, q, map.value(q) * m2 + offset));
            }
        }
        DoubleQuant { units, offset, second }
    }

    /// Read a group's double-quantized scales back from its metadata:
    /// the dequantized scale of each unit, and the words used.
    fn double_quant_read(&self, units: usize, meta: &[u32]) -> Option<(Vec<f32>, usize)> {
        let map = crate::lut::bnb_dynamic();
        let chunks = units.div_ceil(DQ_UNITS);
        let offset = f32::from_bits(*meta.first()?);
        let second = meta.get(1..1 + chunks)?;
        let codes = meta.get(1 + chunks..1 + chunks + units)?;
        let scales = codes.iter().enumerate().map(|(u, &q)| map.value(q) * f32::from_bits(second[u / DQ_UNITS]) + offset).collect();
        Some((scales, 1 + chunks + units))
    }

    /// Sub-blocks per block (0 without a sub-block level).
    fn subs_per_block(&self) -> usize {
        self.sub.map_or(0, |sb| self.block.div_ceil(sb.len))
    }

    /// A block with shared microexponents: its exponent (or poison/empty)
    /// and each sub-block's shift, the elements quantized into `out`.
    fn quantize_micro(&self, x: &[f32], clip: Option<Clip>, ctx: RoundCtx, out: &mut [f32], shifts: &mut [u32]) -> crate::grid::BlockScale {
        use crate::grid::BlockScale;
        let sb = self.sub.expect("a sub-block level");
        let alpha = clip.map(Clip::alpha);
        let scale = self.pow2.block_scale(x, alpha);
        match scale {
            BlockScale::Poisoned => out.fill(f32::NAN),
            BlockScale::Empty => crate::zeros_like(x, out, self.elem.signed_zero()),
            BlockScale::Exp(s) => {
                let e = s - self.pow2.offset; // floor(log2 amax), clamped as the scale is
                let top = (1i32 << sb.bits) - 1;
                for (j, (xi, oi)) in x.chunks(sb.len).zip(out.chunks_mut(sb.len)).enumerate() {
                    let amax = alpha.map_or(crate::bits::finite_amax(xi), |a| crate::bits::finite_amax(xi).min(a));
                    let tau = if amax > 0.0 { (e - crate::bits::floor_log2(amax)).clamp(0, top) } else { top };
                    shifts[j] = tau as u32;
                    self.pow2.grid(s - tau).quantize(xi, oi, alpha.map(|a| (-a, a)), self.round, ctx.offset((j * sb.len) as u64));
                    if !self.elem.signed_zero() {
                        oi.iter_mut().for_each(|o| *o += 0.0);
                    }
                }
            }
        }
        scale
    }

    /// Scaled inputs rounded to the element type (saturating).
    fn round_elements(&self, x: &[f32], out: &mut [f32], ctx: RoundCtx) {
        match self.elem.table() {
            Some(t) => t.round(x, out, self.round, ctx),
            None => self.grid.quantize(x, out, None, self.round, ctx),
        }
    }

    /// The same format with another rounding mode.
    pub fn with_round(mut self, round: Rounding) -> Scaled {
        self.round = round;
        self
    }

    /// A zero-point unit's scale and zero point from its range (the range
    /// is the unit's finite min and max cut to the clip); scale 0 for a
    /// unit of zeros.
    fn zero_point_unit(&self, x: &[f32], clip: Option<Clip>) -> (f32, f32) {
        let (lo, hi) = crate::clipped_range(x, clip);
        let levels = self.grid.max;
        let raw = if hi > lo { (hi - lo) / levels } else { lo.abs() / levels };
        if !(raw > 0.0 && raw.is_finite()) {
            return (0.0, 0.0);
        }
        let s = self.scales.round(raw);
        let z = (-lo / s).round_ties_even().clamp(0.0, levels);
        (s, z)
    }

    /// `clamp(round(x / s) + z, 0, levels)` for one element, rounded as the
    /// rounding mode says; NaN stays NaN.
    fn zero_point_code(&self, v: f32, s: f32, z: f32, random: u64) -> f32 {
        if v.is_nan() {
            return f32::NAN;
        }
        let y = v / s;
        let r = match self.round {
            Rounding::NearestEven => y.round_ties_even(),
            Rounding::NearestAway => y.round(),
            Rounding::TowardZero => y.trunc(),
            Rounding::AwayFromZero => y.abs().ceil().copysign(y),
            Rounding::TowardPositive => y.ceil(),
            Rounding::TowardNegative => y.floor(),
            // The code r + z odd when inexact.
            Rounding::Odd => {
                let f = y.floor();
                if f == y || (f + z).rem_euclid(2.0) == 1.0 {
                    f
                } else {
                    f + 1.0
                }
            }
            Rounding::Stochastic | Rounding::StochasticBits(_) => {
                let f = y.floor();
                f + self.round.bernoulli(random, (y - f) as f64, 1.0) as u32 as f32
            }
        };
        (r + z).clamp(0.0, self.grid.max)
    }

    /// One zero-point unit: codes (as values) into `out`, and `(s, z)`.
    fn zero_point_levels(&self, x: &[f32], clip: Option<Clip>, ctx: RoundCtx, out: &mut [f32]) -> (f32, f32) {
        let (s, z) = self.zero_point_unit(x, clip);
        let (lo, hi) = clip.map_or((f32::NEG_INFINITY, f32::INFINITY), |c| (c.lo, c.hi));
        if s == 0.0 {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = if v.is_nan() { f32::NAN } else { z };
            }
        } else if self.round == Rounding::NearestEven {
            zero_point_nearest_even(x, out, s, z, self.grid.max, (lo, hi));
        } else {
            let stochastic = self.round.is_stochastic();
            for (i, (o, &v)) in out.iter_mut().zip(x).enumerate() {
                let v = crate::bits::clamp_keep_nan(v, lo, hi);
                *o = self.zero_point_code(v, s, z, if stochastic { ctx.bits64(i) } else { 0 });
            }
        }
        (s, z)
    }

    /// The largest value of the block scales' encoding (f32::MAX for f32).
    fn max_scale(&self) -> f32 {
        self.scales.max()
    }

    /// The group's own scale (two levels), from its amax after the clip;
    /// `None` when it has no finite non-zero value.
    fn group_scale_of(&self, x: &[f32], clip: Option<Clip>) -> Option<f32> {
        let amax = crate::clipped_amax(x, clip);
        let s = amax / (self.grid.max * self.max_scale());
        (amax > 0.0 && s > 0.0).then_some(s)
    }

    /// A two-level group's elements at scale 1 into `out`: every block's
    /// inputs scaled by `(1/s_t) / s_b`, then one rounding pass over the
    /// group (one kernel call, not one per 16 elements). Returns `s_t` and
    /// each block's `(s_b, s_t * s_b)` (zeros, and `(0, 0)`, for a block
    /// or group with no finite non-zero value).
    fn group_elements(&self, x: &[f32], row_len: usize, clip: Option<Clip>, ctx: RoundCtx, out: &mut [f32]) -> (f32, Vec<(usize, usize, f32, f32)>) {
        let ranges = crate::tensor::unit_ranges(x.len(), row_len, self.block);
        let Some(s_t) = self.group_scale_of(x, clip) else {
            crate::zeros_like(x, out, self.elem.signed_zero());
            return (0.0, ranges.into_iter().map(|(off, len)| (off, len, 0.0, 0.0)).collect());
        };
        let alpha = clip.map(Clip::alpha);
        let bound = alpha.unwrap_or(f32::INFINITY);
        let mut blocks = Vec::with_capacity(ranges.len());
        for (off, len) in ranges {
            let block = &x[off..off + len];
            let amax = block.iter().fold(0u32, |m, v| {
                let a = v.to_bits() & !crate::bits::SIGN;
                if a < crate::bits::INF && a > m {
                    a
                } else {
                    m
                }
            });
            let amax = alpha.map_or(f32::from_bits(amax), |a| f32::from_bits(amax).min(a));
            if amax <= 0.0 {
                out[off..off + len].fill(0.0); // rounded, then made signed zeros below
                blocks.push((off, len, 0.0, 0.0));
                continue;
            }
            let s_b = self.scales.round((amax / self.grid.max) / s_t);
            let inv = (1.0 / s_t) / s_b;
            for (o, &v) in out[off..off + len].iter_mut().zip(block) {
                *o = crate::bits::clamp_keep_nan(v, -bound, bound) * inv;
            }
            blocks.push((off, len, s_b, s_t * s_b));
        }
        let scaled = out.to_vec();
        self.round_elements(&scaled, out, ctx);
        for &(off, len, s_b, _) in &blocks {
            if s_b == 0.0 {
                crate::zeros_like(&x[off..off + len], &mut out[off..off + len], self.elem.signed_zero());
            }
        }
        (s_t, blocks)
    }

    /// The codes of elements at scale 1 (as `elements` leaves them); an
    /// error where an input NaN has no code in this element type.
    fn element_codes(&self, e: &[f32], codes: &mut [u32]) -> Result<(), FormatError> {
        if e.iter().any(|v| v.is_nan()) && !self.elem.value(self.elem.code(f32::NAN)).is_nan() {
            return Err(FormatError::Unsupported { format: self.describe(), why: format!("input holds NaN, which {} elements have no code for", self.elem.name()) });
        }
        for (c, &v) in codes.iter_mut().zip(e) {
            *c = self.elem.code(v);
        }
        Ok(())
    }

    /// Codes back to values at `scale` (`rescale` of their element values).
    fn decode_scaled(&self, codes: &[u32], out: &mut [f32], scale: f32) {
        for (v, &c) in out.iter_mut().zip(codes) {
            *v = self.elem.value(c);
        }
        self.rescale(out, scale);
    }

    /// Scale block elements back: `q * scale`, saturating, zeros signed as
    /// the element's codes allow.
    fn rescale(&self, out: &mut [f32], scale: f32) {
        let fix = if self.elem.signed_zero() { -0.0 } else { 0.0 }; // x + (-0.0) keeps -0
        for o in out.iter_mut() {
            *o = saturate(*o * scale) + fix;
        }
    }

    /// The real-valued scale of a unit whose `amax` (after the clip) is
    /// given; `None` when it has no finite non-zero value.
    fn real_scale(&self, amax: f32) -> Option<f32> {
        (amax > 0.0).then(|| self.scales.round(amax / self.grid.max))
    }

    /// A unit's scale and its elements at scale 1 (`x * (1/scale)` rounded
    /// to the element type), written into `out`; `None` (and zeros) when
    /// the unit has no finite non-zero value.
    fn elements(&self, x: &[f32], clip: Option<Clip>, ctx: RoundCtx, out: &mut [f32]) -> Option<f32> {
        let Some(scale) = self.real_scale(crate::clipped_amax(x, clip)) else {
            crate::zeros_like(x, out, self.elem.signed_zero());
            return None;
        };
        let inv = 1.0 / scale;
        let bound = clip.map_or(f32::INFINITY, Clip::alpha);
        // Scaled inputs go through a stack buffer, a chunk at a time.
        const CHUNK: usize = 256;
        let mut buf = [0.0f32; CHUNK];
        for (c, (xi, oi)) in x.chunks(CHUNK).zip(out.chunks_mut(CHUNK)).enumerate() {
            for (b, &v) in buf.iter_mut().zip(xi) {
                *b = crate::bits::clamp_keep_nan(v, -bound, bound) * inv;
            }
            self.round_elements(&buf[..xi.len()], oi, ctx.offset((c * CHUNK) as u64));
        }
        Some(scale)
    }

    /// Quantize one unit with a real-valued scale (or zeros).
    fn quantize_real(&self, x: &[f32], clip: Option<Clip>, ctx: RoundCtx, out: &mut [f32]) {
        if let Some(k) = self.fused() {
            return self.fused_at(&k, self.real_scale(crate::clipped_amax(x, clip)), clip, x, out);
        }
        if let Some(scale) = self.elements(x, clip, ctx, out) {
            self.rescale(out, scale);
        }
    }

    /// Elements of a unit at its real scale (`None`: all zeros), fused.
    fn fused_at(&self, k: &Fused, scale: Option<f32>, clip: Option<Clip>, x: &[f32], out: &mut [f32]) {
        match scale {
            None => crate::zeros_like(x, out, self.elem.signed_zero()),
            Some(scale) => scale_round_rescale(k, x, out, clip.map_or(f32::INFINITY, Clip::alpha), 1.0 / scale, scale),
        }
    }

    /// The fused nearest-even kernels' constants, when they apply: real
    /// scales (one level or two, no zero point) and an element grid the
    /// branch-free rounding handles exactly.
    fn fused(&self) -> Option<Fused> {
        let applies = self.round == Rounding::NearestEven && self.encoding != Encoding::E8m0 && !self.zero_point && !self.double_quant;
        if !applies || self.unfused {
            return None;
        }
        let round = match (self.ne, self.elem.table()) {
            (Some(ne), _) => ElemRound::Grid(ne),
            (None, Some(t)) => ElemRound::Table(t.small()?),
            (None, None) => return None,
        };
        Some(Fused { round, max_elem: self.grid.max, scales: self.scales, fix: if self.elem.signed_zero() { -0.0 } else { 0.0 }, signed_zero: self.elem.signed_zero() })
    }

    /// Two levels, nearest-even, fused: the group's scale, then every block
    /// in parallel runs (rows that are not whole blocks: row by row).
    fn quantize_two_level_fused(&self, k: &Fused, x: &[f32], out: &mut [f32], row_len: usize, clip: Option<Clip>) {
        use rayon::prelude::*;
        let Some(s_t) = self.group_scale_of(x, clip) else {
            return crate::zeros_like(x, out, self.elem.signed_zero());
        };
        let bound = clip.map_or(f32::INFINITY, Clip::alpha);
        let row_len = row_len.min(x.len()).max(1);
        let run = if row_len.is_multiple_of(self.block) { self.block * (8192 / self.block).max(1) } else { row_len };
        x.par_chunks(run).zip(out.par_chunks_mut(run)).for_each(|(xi, oi)| {
            real_blocks(k, xi, oi, self.block, bound, s_t, 1.0 / s_t);
        });
    }
}

impl Format for Scaled {
    fn describe(&self) -> String {
        let mut d = format!("scaled(elem={},scale={}", self.elem.name(), self.encoding.name());
        if let Some(t) = self.elem.table().filter(|_| self.elem.name() == "lut") {
            d += &format!(",values=[{}]", t.values().iter().map(f32::to_string).collect::<Vec<_>>().join(","));
        }
        match (self.encoding, self.rule) {
            (Encoding::E8m0, PowRule::Ceil) => d += ",rule=ceil",
            (Encoding::E8m0, PowRule::Even) => d += ",rule=even",
            _ => {}
        }
        if self.block > 0 {
            d += &format!(",block={}", self.block);
        }
        if self.group_scale {
            d += ",tensor_scale=f32";
        }
        if self.zero_point {
            d += ",zero_point=true";
        }
        if let Some((r, c)) = self.tile {
            d += &format!(",tile={r}x{c}");
        }
        if let Some(sb) = self.sub {
            d += &format!(",sub_block={},sub_shift={}", sb.len, sb.bits);
        }
        if self.double_quant {
            d += ",double_quant=true";
        }
        with_round(d + ")", self.round)
    }
    fn family(&self) -> &'static str {
        "scaled"
    }
    fn code_bits(&self) -> u32 {
        self.elem.bits()
    }
    fn meta_bits(&self) -> u32 {
        if self.double_quant {
            return 8;
        }
        self.encoding.bits() + if self.zero_point { self.elem.bits() } else { 0 } + self.sub.map_or(0, |sb| sb.bits * self.subs_per_block() as u32)
    }
    fn meta_words(&self) -> usize {
        1 + self.zero_point as usize + self.subs_per_block()
    }
    fn sign_symmetric(&self) -> bool {
        !self.zero_point && self.elem.table().is_none_or(|t| t.symmetric())
    }
    fn asymmetric(&self) -> bool {
        self.zero_point
    }
    fn block_len(&self) -> usize {
        self.block
    }
    fn rounding(&self) -> Rounding {
        self.round
    }
    fn group_meta_words(&self, units: usize) -> usize {
        if self.double_quant {
            return 1 + units.div_ceil(DQ_UNITS);
        }
        self.group_scale as usize
    }
    fn group_meta_bits(&self, units: usize) -> u64 {
        32 * self.group_meta_words(units) as u64
    }

    fn check_shape(&self, shape: &crate::Shape) -> Result<(), FormatError> {
        match self.tile {
            Some((r, c)) if shape.len() < 2 => Err(quantlab_spec::SpecError::OutOfRange {
                family: "scaled".into(),
                param: "tile".into(),
                value: format!("{r}x{c}"),
                range: format!("none for a tensor of shape {shape:?}: tiles cover the last two axes, so the tensor needs at least two"),
            }
            .into()),
            _ => Ok(()),
        }
    }

    fn units(&self, group_len: usize, row_len: usize) -> usize {
        match self.tile {
            Some(_) => self.tiles(group_len, row_len).len(),
            None => crate::tensor::units_in_group(group_len, row_len.max(1), self.block_len()),
        }
    }

    /// One level of real scales with the fused kernel (FP8 with a tensor
    /// scale): the scale comes from the unit's largest magnitude, then
    /// every element rounds on its own. Other kinds see the unit whole.
    fn unit_quantizer(&self, range: &crate::stats::Stats, clip: Option<Clip>) -> Option<crate::PartQuantizer<'_>> {
        let one_level = !(self.zero_point || self.group_scale || self.double_quant || self.sub.is_some() || self.tile.is_some());
        let k = self.fused().filter(|_| one_level)?;
        let scale = self.real_scale(crate::bounded_amax(range.amax, clip));
        Some(Box::new(move |x: &[f32], _: RoundCtx, out: &mut [f32]| self.fused_at(&k, scale, clip, x, out)))
    }

    /// A group level, double quantization or tiles make the group one
    /// piece; otherwise units are on their own, as by default.
    fn group_quantizer(&self, range: &crate::stats::Stats, row_len: usize, clip: Option<Clip>) -> Option<crate::PartQuantizer<'_>> {
        if self.double_quant || self.tile.is_some() || self.group_scale {
            return None;
        }
        crate::tensor::units_quantizer(self, range, row_len, clip)
    }

    fn quantize_group(&self, x: &[f32], out: &mut [f32], row_len: usize, clip: Option<Clip>, ctx: RoundCtx) {
        if self.double_quant {
            // Elements are chosen with each unit's own scale (bitsandbytes
            // quantizes before it compresses the statistics) and read back
            // with the double-quantized one.
            for ((off, len), _, _, scale) in self.double_quant_scales(x, row_len, clip).units {
                if self.elements(&x[off..off + len], clip, ctx.offset(off as u64), &mut out[off..off + len]).is_some() {
                    self.rescale(&mut out[off..off + len], scale);
                }
            }
            return;
        }
        if self.tile.is_some() {
            let (mut buf, mut q) = (Vec::new(), Vec::new());
            for t in self.tiles(x.len(), row_len) {
                buf.clear();
                buf.extend(t.iter().map(|&p| x[p]));
                q.resize(buf.len(), 0.0);
                self.quantize_unit(&buf, clip, ctx.offset(t[0] as u64), &mut q);
                for (&p, &v) in t.iter().zip(&q) {
                    out[p] = v;
                }
            }
            return;
        }
        if !self.group_scale {
            return crate::tensor::quantize_units(self, x, out, row_len, clip, ctx);
        }
        if let Some(k) = self.fused() {
            return self.quantize_two_level_fused(&k, x, out, row_len, clip);
        }
        let (_, blocks) = self.group_elements(x, row_len, clip, ctx, out);
        for (off, len, s_b, scale) in blocks {
            if s_b != 0.0 {
                self.rescale(&mut out[off..off + len], scale);
            }
        }
    }

    fn encode_group(&self, x: &[f32], row_len: usize, clip: Option<Clip>, ctx: RoundCtx, codes: &mut [u32], meta: &mut Vec<u32>) -> Result<(), FormatError> {
        if self.double_quant {
            let dq = self.double_quant_scales(x, row_len, clip);
            meta.push(dq.offset.to_bits());
            meta.extend(dq.second.iter().map(|m| m.to_bits()));
            let mut e = vec![0.0f32; x.len()];
            for &((off, len), _, q, _) in &dq.units {
                self.elements(&x[off..off + len], clip, ctx.offset(off as u64), &mut e[off..off + len]);
                meta.push(q);
            }
            return self.element_codes(&e, codes);
        }
        if self.tile.is_some() {
            for t in self.tiles(x.len(), row_len) {
                let buf: Vec<f32> = t.iter().map(|&p| x[p]).collect();
                let (mut c, mut m) = (vec![0u32; buf.len()], vec![0u32; self.meta_words()]);
                self.encode_unit(&buf, clip, ctx.offset(t[0] as u64), &mut c, &mut m)?;
                for (&p, &code) in t.iter().zip(&c) {
                    codes[p] = code;
                }
                meta.extend(m);
            }
            return Ok(());
        }
        if !self.group_scale {
            return crate::tensor::encode_units(self, x, row_len, clip, ctx, codes, meta);
        }
        let mut e = vec![0.0f32; x.len()];
        let (s_t, blocks) = self.group_elements(x, row_len, clip, ctx, &mut e);
        meta.push(s_t.to_bits());
        meta.extend(blocks.iter().map(|b| b.2.to_bits()));
        self.element_codes(&e, codes)
    }

    fn decode_group(&self, codes: &[u32], meta: &[u32], row_len: usize, out: &mut [f32]) -> Option<usize> {
        if self.double_quant {
            let ranges = crate::tensor::unit_ranges(codes.len(), row_len, self.block);
            let (scales, used) = self.double_quant_read(ranges.len(), meta)?;
            for (&(off, len), &scale) in ranges.iter().zip(&scales) {
                self.decode_scaled(&codes[off..off + len], &mut out[off..off + len], scale);
            }
            return Some(used);
        }
        if self.tile.is_some() {
            let mw = self.meta_words();
            let mut used = 0;
            for t in self.tiles(codes.len(), row_len) {
                let c: Vec<u32> = t.iter().map(|&p| codes[p]).collect();
                let mut v = vec![0.0f32; c.len()];
                self.decode_unit(&c, meta.get(used..used + mw)?, &mut v);
                used += mw;
                for (&p, &val) in t.iter().zip(&v) {
                    out[p] = val;
                }
            }
            return Some(used);
        }
        if !self.group_scale {
            return crate::tensor::decode_units(self, codes, meta, row_len, out);
        }
        let s_t = f32::from_bits(*meta.first()?);
        let mut used = 1;
        for (off, len) in crate::tensor::unit_ranges(codes.len(), row_len, self.block) {
            let s_b = f32::from_bits(*meta.get(used)?);
            used += 1;
            self.decode_scaled(&codes[off..off + len], &mut out[off..off + len], s_t * s_b);
        }
        Some(used)
    }

    /// With two levels a unit has no scale of its own: it is quantized as
    /// a group of one row.
    fn quantize_unit(&self, x: &[f32], clip: Option<Clip>, ctx: RoundCtx, out: &mut [f32]) {
        if self.zero_point {
            if self.round == Rounding::NearestEven {
                let (s, z) = self.zero_point_unit(x, clip);
                if s != 0.0 {
                    let clip = clip.map_or((f32::NEG_INFINITY, f32::INFINITY), |c| (c.lo, c.hi));
                    return zero_point_fake_nearest_even(x, out, s, z, self.grid.max, clip);
                }
            }
            let (s, z) = self.zero_point_levels(x, clip, ctx, out);
            for o in out.iter_mut() {
                *o = saturate((*o - z) * s) + 0.0;
            }
        } else if self.group_scale || self.double_quant {
            self.quantize_group(x, out, x.len(), clip, ctx);
        } else if self.sub.is_some() {
            let mut shifts = vec![0u32; self.subs_per_block().max(x.len().div_ceil(self.sub.map_or(1, |sb| sb.len)))];
            self.quantize_micro(x, clip, ctx, out, &mut shifts);
        } else if self.encoding == Encoding::E8m0 {
            self.pow2.quantize_blocks(x, out, x.len().max(1), clip.map(Clip::alpha), self.round, ctx);
        } else {
            self.quantize_real(x, clip, ctx, out);
        }
    }

    fn quantize_blocks(&self, x: &[f32], block: usize, clip: Option<Clip>, ctx: RoundCtx, out: &mut [f32]) {
        if let (Some(sb), Some((step_exp, qmax)), Rounding::NearestEven) = (self.sub, self.elem.integer_step(), self.round) {
            // Shared microexponents over integer elements: the fused kernel.
            let m = Micro { rule: self.pow2, sub_len: sb.len, top: (1 << sb.bits) - 1, step_exp, qmax: qmax as f32 };
            return micro_nearest_even(self, &m, x, out, block.max(1), clip, ctx);
        }
        if self.group_scale || self.tile.is_some() || self.sub.is_some() {
            return crate::tensor::quantize_blocks_one_by_one(self, x, block, clip, ctx, out);
        }
        match self.fused() {
            Some(k) => real_blocks(&k, x, out, block.max(1), clip.map_or(f32::INFINITY, Clip::alpha), 0.0, 0.0),
            // MX: one call for the run, whose block kernel fuses the blocks.
            None if self.encoding == Encoding::E8m0 && !self.zero_point => self.pow2.quantize_blocks(x, out, block.max(1), clip.map(Clip::alpha), self.round, ctx),
            None => crate::tensor::quantize_blocks_one_by_one(self, x, block, clip, ctx, out),
        }
    }

    fn encode_unit(&self, x: &[f32], clip: Option<Clip>, ctx: RoundCtx, codes: &mut [u32], meta: &mut [u32]) -> Result<(), FormatError> {
        if self.zero_point {
            let mut q = vec![0.0f32; x.len()];
            let (s, z) = self.zero_point_levels(x, clip, ctx, &mut q);
            if q.iter().any(|v| v.is_nan()) {
                return Err(FormatError::Unsupported { format: self.describe(), why: "input holds NaN, which unsigned integer codes have no code for".into() });
            }
            meta[0] = s.to_bits();
            meta[1] = z as u32;
            for (c, &v) in codes.iter_mut().zip(&q) {
                *c = v as u32;
            }
            return Ok(());
        }
        if let Some(sb) = self.sub {
            let mut q = vec![0.0f32; x.len()];
            let mut shifts = vec![0u32; self.subs_per_block().max(x.len().div_ceil(sb.len))];
            let scale = self.quantize_micro(x, clip, ctx, &mut q, &mut shifts);
            let s = match scale {
                crate::grid::BlockScale::Poisoned => {
                    meta[0] = 0xFF;
                    codes.fill(0);
                    return Ok(());
                }
                crate::grid::BlockScale::Exp(s) => s,
                crate::grid::BlockScale::Empty => -127,
            };
            meta[0] = (s + 127) as u32;
            for (j, m) in meta[1..].iter_mut().enumerate() {
                *m = shifts.get(j).copied().unwrap_or(0);
            }
            for (i, (c, &v)) in codes.iter_mut().zip(&q).enumerate() {
                *c = self.elem.code(crate::bits::ldexp(v, -(s - shifts[i / sb.len] as i32)));
            }
            return Ok(());
        }
        if self.encoding == Encoding::E8m0 {
            let mut q = vec![0.0f32; x.len()];
            self.quantize_unit(x, clip, ctx, &mut q);
            match self.pow2.block_scale(x, clip.map(Clip::alpha)) {
                crate::grid::BlockScale::Poisoned => {
                    meta[0] = 0xFF;
                    codes.fill(0);
                }
                scale => {
                    let s = if let crate::grid::BlockScale::Exp(s) = scale { s } else { -127 };
                    meta[0] = (s + 127) as u32;
                    for (c, &v) in codes.iter_mut().zip(&q) {
                        *c = self.elem.code(crate::bits::ldexp(v, -s));
                    }
                }
            }
            return Ok(());
        }
        let mut e = vec![0.0f32; x.len()];
        let scale = self.elements(x, clip, ctx, &mut e).unwrap_or(0.0);
        self.element_codes(&e, codes)?;
        meta[0] = scale.to_bits();
        Ok(())
    }

    fn decode_unit(&self, codes: &[u32], meta: &[u32], out: &mut [f32]) {
        if self.zero_point {
            let (s, z) = (f32::from_bits(meta[0]), meta[1] as f32);
            for (o, &c) in out.iter_mut().zip(codes) {
                *o = saturate((self.elem.value(c) - z) * s) + 0.0;
            }
            return;
        }
        if self.encoding == Encoding::E8m0 {
            if meta[0] == 0xFF {
                out.fill(f32::NAN);
                return;
            }
            let s = meta[0] as i32 - 127;
            let sub_len = self.sub.map_or(usize::MAX, |sb| sb.len);
            for (i, (o, &c)) in out.iter_mut().zip(codes).enumerate() {
                let tau = if self.sub.is_some() { meta.get(1 + i / sub_len).copied().unwrap_or(0) as i32 } else { 0 };
                *o = crate::bits::ldexp(self.elem.value(c), s - tau);
            }
            return;
        }
        self.decode_scaled(codes, out, f32::from_bits(meta[0]));
    }

    fn meta_for(&self, scale: Scale) -> Result<Vec<u32>, FormatError> {
        if self.zero_point {
            let (lo, hi) = match scale {
                Scale::Range(lo, hi) => (lo, hi),
                Scale::Max(a) => (-a, a),
                _ => return Err(FormatError::Unsupported { format: self.describe(), why: "the value table depends on the unit's range: give --min and --max".into() }),
            };
            let (s, z) = self.zero_point_unit(&[lo, hi], None);
            return Ok(vec![s.to_bits(), z as u32]);
        }
        match scale {
            // An E8M0 scale of 1: the element type's own values (`quantlab values mxfp4`).
            Scale::Fixed if self.encoding == Encoding::E8m0 => Ok(vec![127]),
            Scale::Max(a) if a.is_finite() && a > 0.0 => Ok(vec![if self.encoding == Encoding::E8m0 {
                (self.pow2.scale_exp(a) + 127) as u32
            } else if self.group_scale {
                // The block that holds the group's largest value: s_t * s_b.
                let s_t = a / (self.grid.max * self.max_scale());
                (s_t * self.scales.round((a / self.grid.max) / s_t)).to_bits()
            } else {
                self.real_scale(a).unwrap_or(0.0).to_bits()
            }]),
            _ => Err(FormatError::Unsupported { format: self.describe(), why: "the value table depends on the unit's max|x|: give a positive --max X".into() }),
        }
    }
}

/// `clamp(rne(x / s) + z, 0, levels)` for one element, branch-free (the
/// rounding is one exact add of 1.5 * 2^23 after bounding |x / s| by 2^22,
/// beyond which every result is 0 or `levels` anyway); NaN stays NaN.
#[inline(always)]
#[allow(clippy::manual_clamp)] // selects vectorise; `clamp` asserts and branches
fn zero_point_nearest_even_one(v: f32, s: f32, z: f32, levels: f32, clip: (f32, f32)) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23
    const BOUND: f32 = 4_194_304.0; // 2^22
    let c = clamp_keep_nan(v, clip.0, clip.1);
    let y = c / s;
    let y = if y > BOUND {
        BOUND
    } else if y < -BOUND {
        -BOUND
    } else {
        y
    };
    let q = ((y + MAGIC) - MAGIC) + z;
    let q = if q > levels {
        levels
    } else if q < 0.0 {
        0.0
    } else {
        q
    };
    if v.is_nan() {
        f32::NAN
    } else {
        q
    }
}

crate::simd::kernel! {
    /// The codes of a zero-point unit, nearest-even, as values.
    fn zero_point_nearest_even(x: &[f32], out: &mut [f32], s: f32, z: f32, levels: f32, clip: (f32, f32)) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = zero_point_nearest_even_one(v, s, z, levels, clip);
        }
    }
}

crate::simd::kernel! {
    /// A zero-point unit fake-quantized, nearest-even: the code and its
    /// value `(q - z) * s` (saturating, +0 for zero) in one pass.
    fn zero_point_fake_nearest_even(x: &[f32], out: &mut [f32], s: f32, z: f32, levels: f32, clip: (f32, f32)) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = saturate((zero_point_nearest_even_one(v, s, z, levels, clip) - z) * s) + 0.0;
        }
    }
}

/// The constants of the fused nearest-even kernels.
#[derive(Clone, Copy, Debug)]
struct Fused {
    round: ElemRound,
    max_elem: f32,
    scales: ScaleGrid,
    /// Added to every result: -0.0 keeps a negative zero (sign-magnitude
    /// elements), 0.0 makes it +0 (two's complement).
    fix: f32,
    signed_zero: bool,
}

/// How the fused kernels round a scaled input to the element: each kernel
/// is compiled once per kind, so the hot loop never matches.
#[derive(Clone, Copy, Debug)]
enum ElemRound {
    Grid(NearestEven),
    Table(crate::lut::SmallTable),
}

/// One unit whose scale is known: `clamp(x) * inv` rounded to the
/// element, times `scale`, saturating; the steps of `elements` and
/// `rescale` in one pass, so the same bits.
fn scale_round_rescale(k: &Fused, x: &[f32], out: &mut [f32], bound: f32, inv: f32, scale: f32) {
    crate::simd::kernel! {
        fn grid(k: &Fused, ne: &NearestEven, x: &[f32], out: &mut [f32], bound: f32, inv: f32, scale: f32) {
            scale_round_rescale_with(k, x, out, bound, inv, scale, |y| ne.round(y))
        }
    }
    crate::simd::kernel! {
        fn table(k: &Fused, t: &crate::lut::SmallTable, x: &[f32], out: &mut [f32], bound: f32, inv: f32, scale: f32) {
            scale_round_rescale_with(k, x, out, bound, inv, scale, |y| t.round(y))
        }
    }
    match &k.round {
        ElemRound::Grid(ne) => grid(k, ne, x, out, bound, inv, scale),
        ElemRound::Table(t) => table(k, t, x, out, bound, inv, scale),
    }
}

#[inline(always)]
fn scale_round_rescale_with(k: &Fused, x: &[f32], out: &mut [f32], bound: f32, inv: f32, scale: f32, round: impl Fn(f32) -> f32) {
    for (o, &v) in out.iter_mut().zip(x) {
        let q = round(clamp_keep_nan(v, -bound, bound) * inv);
        *o = saturate(q * scale) + k.fix;
    }
}

/// Consecutive blocks with real-valued scales, each block's amax, scale
/// and elements in one visit while it is in cache. `s_t > 0`: two levels
/// (block scales relative to the group's `s_t`, `inv_t = 1 / s_t`); `s_t =
/// 0`: one level. Small blocks go sixteen at a time, so their scales'
/// divisions and roundings run as vectors too.
fn real_blocks(k: &Fused, x: &[f32], out: &mut [f32], block: usize, bound: f32, s_t: f32, inv_t: f32) {
    crate::simd::kernel! {
        fn grid(k: &Fused, ne: &NearestEven, x: &[f32], out: &mut [f32], block: usize, bound: f32, s_t: f32, inv_t: f32) {
            real_blocks_with(k, x, out, block, bound, s_t, inv_t, |y| ne.round(y))
        }
    }
    crate::simd::kernel! {
        fn table(k: &Fused, t: &crate::lut::SmallTable, x: &[f32], out: &mut [f32], block: usize, bound: f32, s_t: f32, inv_t: f32) {
            real_blocks_with(k, x, out, block, bound, s_t, inv_t, |y| t.round(y))
        }
    }
    match &k.round {
        ElemRound::Grid(ne) => grid(k, ne, x, out, block, bound, s_t, inv_t),
        ElemRound::Table(t) => table(k, t, x, out, block, bound, s_t, inv_t),
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn real_blocks_with(k: &Fused, x: &[f32], out: &mut [f32], block: usize, bound: f32, s_t: f32, inv_t: f32, round: impl Fn(f32) -> f32 + Copy) {
    const B: usize = 16;
    let batch = if block <= 64 { block * B } else { usize::MAX };
    let full = if batch == usize::MAX { 0 } else { x.len() / batch * batch };
    for (xb, ob) in x[..full].chunks_exact(batch).zip(out[..full].chunks_exact_mut(batch)) {
        let mut amax = [0.0f32; B];
        for (a, xi) in amax.iter_mut().zip(xb.chunks_exact(block)) {
            *a = crate::bits::amax_of(xi).0.min(bound);
        }
        let (mut inv, mut scale) = ([0.0f32; B], [0.0f32; B]);
        match k.scales.0 {
            Some((g, min)) => {
                for b in 0..B {
                    (inv[b], scale[b]) = block_scale(amax[b], k.max_elem, s_t, inv_t, |r| g.round_normal_nearest_even(r.clamp(min, g.max)));
                }
            }
            None => {
                for b in 0..B {
                    (inv[b], scale[b]) = block_scale(amax[b], k.max_elem, s_t, inv_t, |r| r.clamp(f32::MIN_POSITIVE, f32::MAX));
                }
            }
        }
        for (b, (xi, oi)) in xb.chunks_exact(block).zip(ob.chunks_exact_mut(block)).enumerate() {
            if amax[b] <= 0.0 {
                crate::zeros_like(xi, oi, k.signed_zero);
                continue;
            }
            scale_round_rescale_with(k, xi, oi, bound, inv[b], scale[b], round);
        }
    }
    for (xi, oi) in x[full..].chunks(block).zip(out[full..].chunks_mut(block)) {
        let amax = crate::bits::amax_of(xi).0.min(bound);
        if amax <= 0.0 {
            crate::zeros_like(xi, oi, k.signed_zero);
            continue;
        }
        let (inv, scale) = block_scale(amax, k.max_elem, s_t, inv_t, |r| k.scales.round(r));
        scale_round_rescale_with(k, xi, oi, bound, inv, scale, round);
    }
}

/// The constants of the microexponent kernel.
#[derive(Clone, Copy, Debug)]
struct Micro {
    rule: BlockRule,
    sub_len: usize,
    top: i32,
    step_exp: i32,
    qmax: f32,
}

crate::simd::kernel! {
    /// Shared microexponents over integer elements, nearest-even: per block
    /// its exponent, per sub-block its shift, then one pass over the
    /// block's elements with each one's power-of-two step (exact scaling,
    /// a magic-number rounding). Blocks whose steps leave f32's normal
    /// range take `quantize_micro`.
    fn micro_nearest_even(f: &Scaled, m: &Micro, x: &[f32], out: &mut [f32], block: usize, clip: Option<Clip>, ctx: RoundCtx) {
        if block == 16 && m.sub_len == 2 && x.len().is_multiple_of(16) {
            // MX4/6/9's shape, with sizes the compiler knows: every loop
            // below unrolls into a few vector instructions.
            let (mut tau, mut inv, mut step) = ([0i32; 16], [0.0f32; 16], [0.0f32; 16]);
            for (b, (xi, oi)) in x.chunks_exact(16).zip(out.chunks_exact_mut(16)).enumerate() {
                micro_block(f, m, xi, oi, 2, clip, ctx.offset((b * 16) as u64), (&mut tau, &mut inv, &mut step));
            }
            return;
        }
        let (mut tau, mut inv, mut step) = (vec![0i32; block], vec![0.0f32; block], vec![0.0f32; block]);
        for (b, (xi, oi)) in x.chunks(block).zip(out.chunks_mut(block)).enumerate() {
            let n = xi.len();
            micro_block(f, m, xi, oi, m.sub_len, clip, ctx.offset((b * block) as u64), (&mut tau[..n], &mut inv[..n], &mut step[..n]));
        }
    }
}

/// One block of [`micro_nearest_even`], with scratch as long as the block.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn micro_block(f: &Scaled, m: &Micro, xi: &[f32], oi: &mut [f32], sub_len: usize, clip: Option<Clip>, ctx: RoundCtx, scratch: (&mut [i32], &mut [f32], &mut [f32])) {
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23
    let (tau, inv, step) = scratch;
    let alpha = clip.map_or(f32::INFINITY, Clip::alpha);
    let bound = m.qmax + 1.0;
    let (amax, nan) = crate::bits::amax_of(xi);
    if nan {
        oi.fill(f32::NAN);
        return;
    }
    let amax = amax.min(alpha);
    if amax == 0.0 {
        oi.fill(0.0);
        return;
    }
    let s = m.rule.scale_exp(amax);
    let e = s - m.rule.offset;
    let k0 = m.step_exp + s; // the step exponent at shift 0
    if k0 - m.top < -126 || k0 > 100 || e < -100 {
        let mut shifts = vec![0u32; xi.len().div_ceil(sub_len)];
        f.quantize_micro(xi, clip, ctx, oi, &mut shifts);
        return;
    }
    // Each element's shift as if alone, clamp(E - floor(log2 |x|)): the
    // sub-block's is their minimum. Zero, subnormal (E > -100 here, so the
    // largest shift anyway) and non-finite elements (which do not enter
    // amax) count as 2^-127.
    for (t, &v) in tau.iter_mut().zip(xi) {
        let a = (v.to_bits() & !SIGN).min(alpha.to_bits());
        let lg = if (0x0080_0000..INF).contains(&a) { (a >> 23) as i32 - 127 } else { -127 };
        let d = e - lg;
        *t = if d < 0 {
            0
        } else if d > m.top {
            m.top
        } else {
            d
        };
    }
    for ts in tau.chunks_mut(sub_len) {
        let low = ts.iter().fold(m.top, |a, &t| a.min(t));
        ts.iter_mut().for_each(|t| *t = low);
    }
    for ((i, st), &t) in inv.iter_mut().zip(step.iter_mut()).zip(tau.iter()) {
        let k = k0 - t;
        *i = f32::from_bits(((127 - k) as u32) << 23);
        *st = f32::from_bits(((127 + k) as u32) << 23);
    }
    for (((o, &v), &i), &st) in oi.iter_mut().zip(xi).zip(inv.iter()).zip(step.iter()) {
        let y = clamp_keep_nan(v, -alpha, alpha) * i;
        let y = if y > bound {
            bound
        } else if y < -bound {
            -bound
        } else {
            y
        };
        let q = (y + MAGIC) - MAGIC;
        let q = if q > m.qmax {
            m.qmax
        } else if q < -m.qmax {
            -m.qmax
        } else {
            q
        };
        *o = q * st + 0.0;
    }
}

/// A block's `(1 / scale, scale)` from its amax, in exactly the order of
/// the unfused path: one level `s = enc(amax / max_elem)`; two levels
/// `s_b = enc((amax / max_elem) / s_t)`, `(inv_t / s_b, s_t * s_b)`.
#[inline(always)]
fn block_scale(amax: f32, max_elem: f32, s_t: f32, inv_t: f32, enc: impl Fn(f32) -> f32) -> (f32, f32) {
    let raw = amax / max_elem;
    if s_t > 0.0 {
        let s_b = enc(raw / s_t);
        (inv_t / s_b, s_t * s_b)
    } else {
        let s = enc(raw);
        (1.0 / s, s)
    }
}

/// A product `q * scale` that rounds beyond f32's range (a unit whose amax
/// is near `f32::MAX`) is the largest finite value, the nearest f32; NaN
/// stays NaN.
#[inline(always)]
fn saturate(v: f32) -> f32 {
    let bits = v.to_bits();
    if bits & !SIGN == INF {
        f32::from_bits((bits & SIGN) | f32::MAX.to_bits())
    } else {
        v
    }
}

/// The `scaled` family.
pub struct ScaledFamily;
/// Its registry entry.
pub static FAMILY: ScaledFamily = ScaledFamily;

impl Family for ScaledFamily {
    fn name(&self) -> &'static str {
        "scaled"
    }
    fn summary(&self) -> &'static str {
        "an element type with a scale per group or per block, stored in a scale encoding (f32, bf16, fp16, e4m3, ue4m3, ue5m3, e8m0)"
    }
    fn params(&self) -> &'static [ParamDoc] {
        &[
            ParamDoc { name: "elem", default: "(required)", range: "an element type (listed at the end of `quantlab formats`)", help: "element type" },
            ParamDoc {
                name: "values",
                default: "(with elem=lut)",
                range: "2 to 65536 numbers in [-1, 1], ascending, e.g. [-1,-0.5,0,0.5,1] (the scale maps [-1, 1] to the unit's range)",
                help: "a lookup table of your own: elem=lut rounds to the nearest entry (bitsandbytes' rule)",
            },
            ParamDoc { name: "scale", default: "f32", range: "e8m0 | f32 | bf16 | fp16 | e4m3 | ue4m3 | ue5m3", help: "how each scale is stored" },
            ParamDoc { name: "rule", default: "floor", range: "floor | ceil | even", help: "e8m0 only: OCP's floor, ceil (amax never saturates; torchao's RCEIL), or torchao's EVEN" },
            ParamDoc { name: "block", default: "0", range: "0..=1048576", help: "elements per scale along a row; 0: one scale per group" },
            ParamDoc { name: "tensor_scale", default: "none", range: "none | f32", help: "a second level: an f32 scale per group above the block scales (NVFP4)" },
            ParamDoc { name: "tile", default: "none", range: "none | RxC (R, C >= 1)", help: "one scale per R x C tile of the group's rows instead of blocks (DeepSeek-V3: 128x128)" },
            ParamDoc { name: "sub_block", default: "0", range: "0..=block", help: "shared microexponents (scale=e8m0): elements per sub-block sharing a shift below the block's exponent; 0: none" },
            ParamDoc { name: "sub_shift", default: "1", range: "1..=4", help: "bits of each sub-block's shift (it makes the sub-block's grid up to 2^(2^bits - 1) finer)" },
            ParamDoc {
                name: "double_quant",
                default: "false",
                range: "true | false",
                help: "QLoRA's double quantization (scale=f32, block > 0): each block scale in 8 bits of bitsandbytes' dynamic map, minus the group's mean, over an f32 per 256 blocks",
            },
            ParamDoc { name: "zero_point", default: "false", range: "true | false", help: "an integer zero point per scale (unsigned elements: uint4, uint8)" },
            ROUND_DOC,
        ]
    }
    fn presets(&self) -> &'static [Preset] {
        &[
            Preset { name: "fp8-e4m3-scaled", params: "elem=fp8-e4m3,scale=f32", help: "FP8 E4M3 with an f32 scale per group (per tensor, or per channel with granularity channel)" },
            Preset { name: "fp8-e4m3-b128", params: "elem=fp8-e4m3,scale=f32,block=128", help: "FP8 E4M3 with an f32 scale per 1x128 block (DeepSeek-V3 activations)" },
            Preset {
                name: "nvfp4",
                params: "elem=fp4-e2m1,scale=e4m3,block=16,tensor_scale=f32",
                help: "NVIDIA NVFP4: E2M1 with an E4M3 scale per 16 under an f32 scale per group (per tensor by default)",
            },
            Preset { name: "fp8-e4m3-t128", params: "elem=fp8-e4m3,scale=f32,tile=128x128", help: "FP8 E4M3 with an f32 scale per 128x128 tile (DeepSeek-V3 weights)" },
            Preset {
                name: "int4-g128",
                params: "elem=uint4,scale=fp16,block=128,zero_point=true",
                help: "asymmetric INT4 with an fp16 scale and a 4-bit zero point per 128 elements (GPTQ/AWQ checkpoints)",
            },
            Preset { name: "nf4", params: "elem=nf4,scale=f32,block=64", help: "QLoRA's NF4 as bitsandbytes stores it: the NF4 table with an f32 absmax per 64 elements" },
            Preset {
                name: "nf4-dq",
                params: "elem=nf4,scale=f32,block=64,double_quant=true",
                help: "NF4 with QLoRA's double quantization (bitsandbytes' compress_statistics): about 4.127 bits per element",
            },
            Preset { name: "fp4-bnb", params: "elem=fp4-bnb,scale=f32,block=64", help: "bitsandbytes' FP4: its table with an f32 absmax per 64 elements" },
            Preset {
                name: "mx9",
                params: "elem=int8,scale=e8m0,block=16,sub_block=2,sub_shift=1",
                help: "shared microexponents (Rouhani et al., ISCA 2023): sign + 7 bits, an 8-bit exponent per 16 and a 1-bit shift per pair: 9 bits per element",
            },
            Preset {
                name: "mx6",
                params: "elem=int5,scale=e8m0,block=16,sub_block=2,sub_shift=1",
                help: "shared microexponents: sign + 4 bits, an 8-bit exponent per 16, a 1-bit shift per pair: 6 bits per element",
            },
            Preset {
                name: "mx4",
                params: "elem=int3,scale=e8m0,block=16,sub_block=2,sub_shift=1",
                help: "shared microexponents: sign + 2 bits, an 8-bit exponent per 16, a 1-bit shift per pair: 4 bits per element",
            },
            Preset { name: "nvfp4-blocks", params: "elem=fp4-e2m1,scale=e4m3,block=16", help: "NVFP4's blocks without its f32 tensor scale: E2M1 with an E4M3 scale per 16" },
        ]
    }
    fn build(&self, p: &mut Params) -> Result<Box<dyn Format>, FormatError> {
        let name = Element::param(p, true)?;
        let values = p.floats("values")?;
        let elem = match (name.as_str(), values) {
            ("lut", Some(v)) => Element::table_of(&v).map_err(|why| quantlab_spec::SpecError::OutOfRange { family: "scaled".into(), param: "values".into(), value: format!("{v:?}"), range: why })?,
            ("lut", None) => return Err(p.missing("values").into()),
            (_, Some(_)) => {
                return Err(quantlab_spec::SpecError::OutOfRange {
                    family: "scaled".into(),
                    param: "values".into(),
                    value: "a list".into(),
                    range: "none unless elem=lut (the named element types have their own values)".into(),
                }
                .into())
            }
            (name, None) => Element::from_text(name)?,
        };
        let elem_name = elem.name();
        let encoding = Encoding::from_name(p.choice("scale", "f32", &Encoding::NAMES)?);
        let rule = PowRule::named(p.choice("rule", "floor", &["floor", "ceil", "even"])?);
        let block = p.int("block", Some(0), 0, 1 << 20)? as usize;
        let group_scale = p.choice("tensor_scale", "none", &["none", "f32"])? == "f32";
        if group_scale && (block == 0 || encoding == Encoding::E8m0 || encoding == Encoding::F32) {
            return Err(quantlab_spec::SpecError::OutOfRange {
                family: "scaled".into(),
                param: "tensor_scale".into(),
                value: "f32".into(),
                range: "none, unless the block scales (block > 0) are in a narrower real encoding (bf16, fp16, e4m3, ue4m3) that a group scale can place".into(),
            }
            .into());
        }
        if group_scale {
            // s_t = amax / (max_elem * max_scale) needs that product finite.
            let max_elem = elem.max();
            let max_scale = ScaleGrid(encoding.grid()).max();
            if !(max_elem * max_scale).is_finite() {
                return Err(quantlab_spec::SpecError::OutOfRange {
                    family: "scaled".into(),
                    param: "scale".into(),
                    value: encoding.name().into(),
                    range: format!("an encoding whose largest value times {elem_name}'s ({max_elem:e}) stays finite in f32, so the group scale can place it (e4m3, ue4m3, ue5m3, fp16)"),
                }
                .into());
            }
        }
        let zero_point = p.flag("zero_point", false)?;
        let unsigned = elem.unsigned();
        let bad = |param: &str, value: String, range: &str| -> FormatError { quantlab_spec::SpecError::OutOfRange { family: "scaled".into(), param: param.into(), value, range: range.into() }.into() };
        if unsigned != zero_point {
            return Err(bad("zero_point", zero_point.to_string(), "true exactly when the element type is unsigned (uint4, uint8)"));
        }
        if encoding == Encoding::E8m0 && elem.table().is_some() {
            return Err(bad("scale", "e8m0".into(), "a real-valued encoding (f32, bf16, fp16, e4m3, ue4m3, ue5m3) for a lookup-table element, which has no binades to shift"));
        }
        if zero_point && (encoding == Encoding::E8m0 || group_scale) {
            return Err(bad("zero_point", "true".into(), "false with scale=e8m0 or tensor_scale=f32 (a zero point takes a real-valued scale of one level)"));
        }
        let tile = match p.text("tile", "none") {
            t if t == "none" => None,
            t => {
                let dims = t.split_once('x').and_then(|(r, c)| Some((r.trim().parse::<usize>().ok()?, c.trim().parse::<usize>().ok()?)));
                match dims {
                    Some((r, c)) if r >= 1 && c >= 1 && r <= 1 << 20 && c <= 1 << 20 => Some((r, c)),
                    _ => return Err(bad("tile", t, "none | RxC with R, C from 1 to 1048576, e.g. 128x128")),
                }
            }
        };
        if tile.is_some() && (block > 0 || group_scale) {
            return Err(bad("tile", "set".into(), "none when block > 0 or tensor_scale=f32 (a tile is the unit)"));
        }
        let sub_len = p.int("sub_block", Some(0), 0, 1 << 20)? as usize;
        let sub_bits = p.int("sub_shift", Some(1), 1, 4)? as u32;
        let sub = (sub_len > 0).then_some(SubBlocks { len: sub_len, bits: sub_bits });
        if sub.is_some() && (encoding != Encoding::E8m0 || block == 0 || sub_len > block || group_scale || zero_point) {
            return Err(bad("sub_block", sub_len.to_string(), "0, or from 1 to block with scale=e8m0 and block > 0 (shared microexponents refine a power-of-two block scale)"));
        }
        let double_quant = p.flag("double_quant", false)?;
        if double_quant && (encoding != Encoding::F32 || block == 0 || group_scale || zero_point || tile.is_some() || sub.is_some()) {
            return Err(bad("double_quant", "true".into(), "false, unless the block scales (block > 0) are f32 and form the only level (QLoRA's double quantization stores them in 8 bits)"));
        }
        let round = crate::rounding_param(p)?;
        let mut f = Scaled::with_element(elem, encoding, rule, block);
        f.sub = sub;
        f.double_quant = double_quant;
        f.round = round;
        f.group_scale = group_scale;
        f.zero_point = zero_point;
        f.tile = tile;
        Ok(Box::new(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fused nearest-even kernels give the bits of the step-by-step
    /// path (scale, round the scaled inputs, rescale) they replace, on
    /// data with zeros, signed zeros, subnormals, huge values, ±Inf, NaN
    /// and all-zero blocks, with and without a clip.
    #[test]
    fn fused_kernels_equal_the_step_by_step_path() {
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let mut x: Vec<f32> = (0..4096).map(|_| f32::from_bits(next() as u32 & 0xbfff_ffff) * 0.5).collect();
        for (i, v) in [0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 1e-40, -3e38, 6.0, 2688.0].into_iter().enumerate() {
            x[i * 37 + 5] = v;
        }
        // Blocks of normal-sized values, and of E2M1 midpoints at scale 1.
        for (i, v) in x[3000..4000].iter_mut().enumerate() {
            *v = ((next() % 2001) as f32 - 1000.0) / 300.0;
            if i % 16 < 8 {
                *v = [6.0, 0.25, -0.75, 1.25, 1.75, -2.5, 3.5, 5.0][i % 8] * if i % 32 < 16 { 1.0 } else { 0.125 };
            }
        }
        x[1000..1100].fill(0.0); // whole blocks of zeros
        x[2000..2048].iter_mut().for_each(|v| *v = -0.0);
        let cases: [(&str, Encoding, usize, bool); 10] = [
            ("nf4", Encoding::F32, 64, false),
            ("nf4", Encoding::E4m3, 16, true),
            ("fp4-bnb", Encoding::Bf16, 0, false),
            ("fp4-e2m1", Encoding::E4m3, 16, true),
            ("fp4-e2m1", Encoding::E4m3, 16, false),
            ("fp8-e4m3", Encoding::F32, 0, false),
            ("fp8-e4m3", Encoding::F32, 128, false),
            ("fp6-e2m3", Encoding::Bf16, 32, false),
            ("int8", Encoding::Fp16, 24, true),
            ("fp8-e5m2", Encoding::Ue4m3, 7, true),
        ];
        for (elem, enc, block, two) in cases {
            let mut fused = Scaled::new(elem, enc, PowRule::Floor, block).unwrap();
            fused.group_scale = two;
            assert!(fused.fused().is_some(), "{elem}");
            let plain = Scaled { unfused: true, ..fused.clone() };
            for clip in [None, Some(Clip { lo: -0.75, hi: 0.75 }), Some(Clip { lo: -1e30, hi: 1e30 })] {
                for row_len in [x.len(), 100, 64] {
                    let (mut a, mut b) = (vec![0.0f32; x.len()], vec![0.0f32; x.len()]);
                    fused.quantize_group(&x, &mut a, row_len, clip, RoundCtx::default());
                    plain.quantize_group(&x, &mut b, row_len, clip, RoundCtx::default());
                    for (i, (p, q)) in a.iter().zip(&b).enumerate() {
                        assert!(p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan()), "{} rows of {row_len} clip {clip:?}: x[{i}] = {} gives {p} fused, {q} step by step", fused.describe(), x[i]);
                    }
                }
            }
        }
    }
}
