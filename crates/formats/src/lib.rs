//! # quantlab-formats
//!
//! Low-precision number formats, exact to the bit: AdaptivFloat, uniform
//! integer (symmetric and PipeEdge's asymmetric), block floating point, OCP
//! MX, IEEE-like minifloats and posits. `docs/formats.md` ("Number formats")
//! fixes what each one computes; each file's doc comment records the choices
//! docs/formats.md leaves open.
//!
//! Everything outside this crate sees a format only through the [`Format`]
//! trait, built from a [`FormatSpec`] by [`build`]. Adding a format is one new
//! file with a [`Family`] and one line in [`FAMILIES`].
//!
//! A tensor is quantized in *groups* (its [`Granularity`]); a block format
//! further splits each group's rows into *units* of [`Format::block_len`]
//! elements, each with its own scale. [`Layout`] is that split (and the one
//! parallel walk over groups); [`quantize`], [`encode`] and [`decode`] run
//! it without a clamping strategy (the `quantlab-quantize` crate adds one);
//! the results never depend on the thread count.

#![warn(missing_docs)]

pub mod adaptivfloat;
pub mod bits;
pub mod blockfloat;
mod container;
pub mod element;
mod error;
pub mod grid;
pub mod integer;
pub mod lut;
pub mod memory;
pub mod minifloat;
pub mod mx;
pub mod p3109;
pub mod packing;
pub mod posit;
pub mod rounding;
pub mod scaled;
#[macro_use]
pub mod simd;
pub mod stats;
mod tensor;

use std::fmt;

pub use container::{ContainerInfo, ContainerWriter};
pub use error::FormatError;
pub use quantlab_spec::{ParamDoc, ParamValue, Params, Spec, SpecError};
pub use rounding::{RoundCtx, Rounding};

/// A [`Spec`] that describes a number format.
pub type FormatSpec = Spec;

/// Encodes part of a unit whose metadata was fixed from all of it
/// ([`Format::unit_encoder`]): `(part, ctx, codes)`.
pub type PartEncoder<'a> = Box<dyn Fn(&[f32], RoundCtx, &mut [u32]) -> Result<(), FormatError> + Send + Sync + 'a>;

/// Fake-quantizes part of a unit or group whose scale was fixed from all of
/// its values ([`Format::unit_quantizer`], [`Format::group_quantizer`]):
/// `(part, ctx, out)`, with `ctx` the rounding context of the part's first
/// element.
pub type PartQuantizer<'a> = Box<dyn Fn(&[f32], RoundCtx, &mut [f32]) + Send + Sync + 'a>;

/// The `round` parameter every family takes.
pub const ROUND_DOC: ParamDoc = ParamDoc {
    name: "round",
    default: "nearest-even",
    range: "nearest-even | nearest-away | toward-zero | toward-positive | toward-negative | odd | stochastic | stochastic(bits=N)",
    help: "rounding mode",
};

/// Read the `round` parameter.
pub fn rounding_param(p: &mut Params) -> Result<Rounding, SpecError> {
    let text = p.text("round", "nearest-even");
    Rounding::from_name(&text).ok_or_else(|| SpecError::OutOfRange { family: p.family().into(), param: "round".into(), value: text, range: Rounding::NAMES.join(" | ") + " (N from 1 to 32)" })
}
pub use tensor::{
    bits_per_element, decode, decode_pieces, encode, group_encoder, group_lengths, largest_group, quantize, quantize_group, quantize_into, split_lengths, splits, wire_bytes, CodeRead, Encoded,
    Granularity, GroupEncoder, GroupSlot, GroupView, Layout, Shape, TensorError,
};

/// A clip range applied to a group before quantizing: values outside
/// `[lo, hi]` are clamped, and scaled formats derive their scale from it.
/// Symmetric formats use `max(|lo|, |hi|)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Clip {
    /// Lower bound.
    pub lo: f32,
    /// Upper bound.
    pub hi: f32,
}

impl Clip {
    /// `[-alpha, alpha]`.
    pub fn symmetric(alpha: f32) -> Clip {
        Clip { lo: -alpha.abs(), hi: alpha.abs() }
    }

    /// The symmetric bound `max(|lo|, |hi|)`.
    pub fn alpha(self) -> f32 {
        self.lo.abs().max(self.hi.abs())
    }
}

/// The scale a value table is listed for (`quantlab values`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scale {
    /// The format's own fixed scale; scaled formats refuse.
    Fixed,
    /// The scaling unit's largest magnitude (after clipping).
    Max(f32),
    /// A range `[lo, hi]` (asymmetric integer).
    Range(f32, f32),
    /// An explicit AdaptivFloat exponent bias.
    ExpBias(i32),
}

/// A number format. Every method is exact and deterministic.
pub trait Format: Send + Sync + fmt::Debug {
    /// Canonical description; `build(&describe().parse()?)` gives an equal format.
    fn describe(&self) -> String;
    /// The family's name (`int`, `mx`, ...).
    fn family(&self) -> &'static str;
    /// Width of one element's code.
    fn code_bits(&self) -> u32;
    /// Metadata bits per scaling unit (0 for fixed-scale formats), as counted
    /// in bits per element.
    fn meta_bits(&self) -> u32;
    /// u32 words of metadata per unit in encoded form.
    fn meta_words(&self) -> usize;
    /// Elements per scaling unit along the last axis; 0: the whole group.
    fn block_len(&self) -> usize {
        0
    }
    /// The rounding mode its values are rounded with.
    fn rounding(&self) -> Rounding;
    /// `Q(-x) == -Q(x)` for every `x` (up to the sign of zero).
    fn sign_symmetric(&self) -> bool {
        true
    }
    /// Clipping gives a range `[lo, hi]` rather than a symmetric bound.
    fn asymmetric(&self) -> bool {
        false
    }
    /// Fake-quantize (quantize then dequantize) one scaling unit.
    fn quantize_unit(&self, x: &[f32], clip: Option<Clip>, ctx: RoundCtx, out: &mut [f32]);
    /// Fake-quantize consecutive units of `block` elements (the last may be
    /// shorter) that share `clip`; `ctx` is the first unit's. Block formats
    /// override this with a fused loop; the result must equal calling
    /// `quantize_unit` on each unit.
    fn quantize_blocks(&self, x: &[f32], block: usize, clip: Option<Clip>, ctx: RoundCtx, out: &mut [f32]) {
        tensor::quantize_blocks_one_by_one(self, x, block, clip, ctx, out)
    }
    /// Encode one unit: `codes[i]` holds element `i`'s code in its low
    /// `code_bits` bits; `meta` receives `meta_words` words. Errors where the
    /// format has no code for an input (NaN in a format without NaN).
    fn encode_unit(&self, x: &[f32], clip: Option<Clip>, ctx: RoundCtx, codes: &mut [u32], meta: &mut [u32]) -> Result<(), FormatError>;
    /// Decode codes that share one unit's metadata.
    fn decode_unit(&self, codes: &[u32], meta: &[u32], out: &mut [f32]);
    /// The metadata a unit has when quantized at `scale`.
    fn meta_for(&self, scale: Scale) -> Result<Vec<u32>, FormatError>;

    /// Representable non-negative values at `scale`, ascending, for formats
    /// of at most 16 bits: every code decoded.
    fn values(&self, scale: Scale) -> Result<Vec<f32>, FormatError> {
        Ok(self.grid(scale)?.into_iter().filter(|v| v.is_sign_positive()).collect())
    }

    /// Every finite representable value at `scale`, both signs, ascending,
    /// `-0` folded into `+0` (the grid a histogram is drawn against), for
    /// formats of at most 16 bits: every code decoded.
    fn grid(&self, scale: Scale) -> Result<Vec<f32>, FormatError> {
        let n = self.code_bits();
        if n > 16 {
            return Err(FormatError::Unsupported { format: self.describe(), why: format!("{n}-bit codes: value tables are listed for formats of at most 16 bits") });
        }
        let meta = self.meta_for(scale)?;
        let codes: Vec<u32> = (0..1u32 << n).collect();
        let mut out = vec![0.0f32; codes.len()];
        self.decode_unit(&codes, &meta, &mut out);
        let mut v: Vec<f32> = out.into_iter().filter(|v| v.is_finite()).map(|v| if v == 0.0 { 0.0 } else { v }).collect();
        v.sort_by(f32::total_cmp);
        v.dedup();
        Ok(v)
    }

    /// Metadata words stored once per group of `units` units, before its
    /// units' (a level above the units: NVFP4's tensor scale, double
    /// quantization's offset and second-level scales); 0 for formats with
    /// one level.
    fn group_meta_words(&self, _units: usize) -> usize {
        0
    }
    /// Metadata bits of a group of `units` units' own level, as counted in
    /// bits per element.
    fn group_meta_bits(&self, _units: usize) -> u64 {
        0
    }

    /// A quantizer of one whole-group unit (`block_len() == 0`), fixed from
    /// the range of its values (`range`: [`stats::Stats::range_of`] them;
    /// its count, min, max and amax are read) and the clip, that
    /// fake-quantizes any run of the unit's elements exactly as
    /// [`Format::quantize_unit`] does them within the whole: what lets a
    /// tensor larger than memory be quantized a piece at a time, its range
    /// found by a pass over the pieces. `None`: the unit must be seen whole
    /// (whether it is `None` depends on the format alone). The default
    /// serves formats without unit metadata, whose values depend on nothing
    /// but the element, the clip and its rounding context.
    fn unit_quantizer(&self, _range: &stats::Stats, clip: Option<Clip>) -> Option<PartQuantizer<'_>> {
        (self.meta_words() == 0).then(|| Box::new(move |x: &[f32], ctx: RoundCtx, out: &mut [f32]| self.quantize_unit(x, clip, ctx, out)) as PartQuantizer<'_>)
    }

    /// The encoding counterpart of [`Format::unit_quantizer`]: the unit's
    /// metadata (`meta_words` words) fixed from its range and clip, and an
    /// encoder of any run of its elements that gives the codes
    /// [`Format::encode_unit`] gives them within the whole. `None`: the unit
    /// must be seen whole (whether it is `None` depends on the format
    /// alone). The default serves formats without unit metadata.
    fn unit_encoder(&self, _range: &stats::Stats, clip: Option<Clip>) -> Option<(Vec<u32>, PartEncoder<'_>)> {
        (self.meta_words() == 0).then(|| (Vec::new(), Box::new(move |x: &[f32], ctx: RoundCtx, codes: &mut [u32]| self.encode_unit(x, clip, ctx, codes, &mut [])) as PartEncoder<'_>))
    }

    /// A quantizer of one group (rows of `row_len`; `range` as for
    /// [`Format::unit_quantizer`]) in parts that start at row boundaries,
    /// each exactly as [`Format::quantize_group`] does it within the whole;
    /// `None` when the group must be seen whole (whether it is `None`
    /// depends on the format alone). The default matches the default
    /// `quantize_group`: blocks are quantized on their own, a whole-group
    /// unit by [`Format::unit_quantizer`]. A format that overrides
    /// `quantize_group` overrides this too.
    fn group_quantizer(&self, range: &stats::Stats, row_len: usize, clip: Option<Clip>) -> Option<PartQuantizer<'_>> {
        tensor::units_quantizer(self, range, row_len, clip)
    }

    /// Fake-quantize one group (rows of `row_len`) with its clip. The
    /// default quantizes its units independently; formats with a group
    /// level override it.
    fn quantize_group(&self, x: &[f32], out: &mut [f32], row_len: usize, clip: Option<Clip>, ctx: RoundCtx) {
        tensor::quantize_units(self, x, out, row_len, clip, ctx)
    }

    /// Encode one group: its codes into `codes` (one per element), its
    /// metadata appended to `meta` (`group_meta_words`, then `meta_words`
    /// per unit).
    fn encode_group(&self, x: &[f32], row_len: usize, clip: Option<Clip>, ctx: RoundCtx, codes: &mut [u32], meta: &mut Vec<u32>) -> Result<(), FormatError> {
        tensor::encode_units(self, x, row_len, clip, ctx, codes, meta)
    }

    /// Decode one group from its codes and the metadata that starts at
    /// `meta`; the metadata words it used, or `None` when `meta` is short.
    fn decode_group(&self, codes: &[u32], meta: &[u32], row_len: usize, out: &mut [f32]) -> Option<usize> {
        tensor::decode_units(self, codes, meta, row_len, out)
    }

    /// Whether the format can quantize a tensor of this shape (a layout
    /// that needs rows refuses a 1-D tensor), checked before any work.
    fn check_shape(&self, _shape: &Shape) -> Result<(), FormatError> {
        Ok(())
    }

    /// Scaling units in a group of `group_len` elements in rows of
    /// `row_len` (by default: blocks of `block_len` along each row).
    fn units(&self, group_len: usize, row_len: usize) -> usize {
        tensor::units_in_group(group_len, row_len.max(1), self.block_len())
    }
}

/// A named alias of a family with fixed parameters (`fp8-e4m3`, `mxint8`).
#[derive(Clone, Copy, Debug)]
pub struct Preset {
    /// The preset's name, usable wherever a format is.
    pub name: &'static str,
    /// What it stands for: a description with every parameter.
    pub params: &'static str,
    /// One line on where it comes from.
    pub help: &'static str,
}

/// One family of formats: its name, documentation, presets and constructor.
pub trait Family: Sync {
    /// The family's name, as a description starts.
    fn name(&self) -> &'static str;
    /// One line on what it is, for `quantlab formats`.
    fn summary(&self) -> &'static str;
    /// Its parameters, defaults and ranges.
    fn params(&self) -> &'static [ParamDoc];
    /// Named instances of it.
    fn presets(&self) -> &'static [Preset] {
        &[]
    }
    /// Build a format from range-checked parameters.
    fn build(&self, params: &mut Params) -> Result<Box<dyn Format>, FormatError>;
}

/// The registry: every family quantlab knows.
#[rustfmt::skip] // one line per family: adding one is one line
pub static FAMILIES: &[&dyn Family] = &[
    &adaptivfloat::FAMILY,
    &integer::FAMILY,
    &blockfloat::FAMILY,
    &mx::FAMILY,
    &scaled::FAMILY,
    &p3109::FAMILY,
    &minifloat::FAMILY,
    &posit::FAMILY,
];

/// Build a format from its description.
pub fn build(spec: &FormatSpec) -> Result<Box<dyn Format>, FormatError> {
    if let Some(family) = FAMILIES.iter().find(|f| f.name() == spec.family) {
        return build_with(*family, spec.params.clone());
    }
    for family in FAMILIES {
        if let Some(preset) = family.presets().iter().find(|p| p.name == spec.family) {
            let base: FormatSpec = format!("{}({})", family.name(), preset.params).parse()?;
            let mut params = base.params;
            params.extend(spec.params.clone());
            return build_with(*family, params);
        }
    }
    let mut known: Vec<&str> = FAMILIES.iter().map(|f| f.name()).collect();
    known.extend(FAMILIES.iter().flat_map(|f| f.presets().iter().map(|p| p.name)));
    Err(SpecError::UnknownFamily { kind: "format family", name: spec.family.clone(), known: known.join(", ") }.into())
}

fn build_with(family: &dyn Family, params: std::collections::BTreeMap<String, ParamValue>) -> Result<Box<dyn Format>, FormatError> {
    let mut p = Params::new(family.name(), params);
    let format = family.build(&mut p)?;
    p.finish()?;
    Ok(format)
}

/// Parse and build in one step.
pub fn parse(text: &str) -> Result<Box<dyn Format>, FormatError> {
    build(&text.parse()?)
}

/// Append `,round=...` to a description when the mode is not the default.
pub(crate) fn with_round(mut desc: String, round: Rounding) -> String {
    if round != Rounding::NearestEven {
        desc.insert_str(desc.len() - 1, &format!(",round={round}"));
    }
    desc
}

/// The finite min and max of `x`, cut to `clip` when there is one: the
/// range an asymmetric unit (PipeEdge's integer, a zero point) scales to.
pub(crate) fn clipped_range(x: &[f32], clip: Option<Clip>) -> (f32, f32) {
    let r = bits::finite_range(x);
    match clip {
        Some(c) => (r.min.clamp(c.lo, c.hi), r.max.clamp(c.lo, c.hi)),
        None => (r.min, r.max),
    }
}

/// The largest finite |x|, bounded by `clip`'s alpha when there is one: the
/// amax a symmetric unit's scale is derived from.
pub(crate) fn clipped_amax(x: &[f32], clip: Option<Clip>) -> f32 {
    bounded_amax(bits::finite_amax(x), clip)
}

/// A largest finite |x| bounded by `clip`'s alpha when there is one.
pub(crate) fn bounded_amax(amax: f32, clip: Option<Clip>) -> f32 {
    clip.map_or(amax, |c| amax.min(c.alpha()))
}

/// Sign-preserving zeros (NaN kept) for a unit with nothing to scale by.
pub(crate) fn zeros_like(x: &[f32], out: &mut [f32], keep_sign: bool) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = if v.is_nan() {
            f32::NAN
        } else if keep_sign && v.is_sign_negative() {
            -0.0
        } else {
            0.0
        };
    }
}

/// `encode_unit` of a fixed-scale format (no metadata): quantize, then
/// each result's code.
pub(crate) fn encode_fixed<F: Format + ?Sized>(f: &F, x: &[f32], clip: Option<Clip>, ctx: RoundCtx, codes: &mut [u32], code: impl Fn(f32) -> u32) -> Vec<f32> {
    let mut q = vec![0.0f32; x.len()];
    f.quantize_unit(x, clip, ctx, &mut q);
    for (c, &v) in codes.iter_mut().zip(&q) {
        *c = code(v);
    }
    q
}

/// `decode_unit` of a fixed-scale format: each code's value.
pub(crate) fn decode_fixed(codes: &[u32], out: &mut [f32], value: impl Fn(u32) -> f32) {
    for (o, &c) in out.iter_mut().zip(codes) {
        *o = value(c);
    }
}

/// Marks "this unit had nothing to scale" in a metadata word.
pub(crate) const NO_SCALE: u32 = i32::MIN as u32;

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
