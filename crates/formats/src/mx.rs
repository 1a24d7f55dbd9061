//! OCP Microscaling (MX) formats, v1.0: blocks of 32 elements along the last
//! axis share one E8M0 power-of-two scale.
//!
//! Scale: `X = 2^(floor(log2 amax) - emax_elem)` (rule `floor`, the spec's),
//! or the smallest power of two with `amax <= max_elem * X` (rule `ceil`, so
//! nothing saturates), with the exponent clamped to [-127, 127] (and so that
//! `max_elem * X` stays a finite f32). `amax` is over finite values after
//! clipping. Elements are quantized as `x / X` in the element format with
//! subnormals, saturating to ±max, then multiplied back; both steps are exact
//! powers of two, so they are folded into one grid.
//!
//! Elements: any of `element::ELEMENT_TYPES`; OCP's are FP8 E4M3 (emax 8,
//! max 448), FP8 E5M2 (emax 15, max 57344), FP6 E3M2 (emax 4, max 28), FP6
//! E2M3 (emax 2, max 7.5), FP4 E2M1 (emax 2, max 6), INT8 (two's complement
//! with an implicit 2^-6, ±127/64; kept symmetric as microxcaling does, so
//! -128 is unused). Elements keep their subnormals and saturate.
//!
//! Special values, following OCP's scale NaN: a block holding a NaN becomes
//! all NaN (scale code 0xFF); ±Inf does not enter the scale and saturates.
//! Codes: FP elements `sign | exponent | mantissa` with the element's own
//! bias; INT8 two's complement. Metadata: the E8M0 code `exp + 127` per block.

use crate::bits::ldexp;
use crate::element::Element;
use crate::grid::{BlockRule, BlockScale};
use crate::{with_round, Clip, Family, Format, FormatError, ParamDoc, Params, Preset, RoundCtx, Rounding, Scale, ROUND_DOC};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleRule {
    Floor,
    Ceil,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Mx {
    elem: Element,
    rule: ScaleRule,
    block: usize,
    round: Rounding,
    blocks: BlockRule,
}

const NAN_SCALE: u32 = 0xFF;

impl Mx {
    pub fn new(elem: &str, rule: ScaleRule) -> Result<Self, FormatError> {
        let elem = Element::named(elem).ok_or_else(|| quantlab_spec::SpecError::OutOfRange {
            family: "mx".into(),
            param: "elem".into(),
            value: elem.into(),
            range: Element::names().join(" | "),
        })?;
        if elem.unsigned() {
            return Err(quantlab_spec::SpecError::OutOfRange { family: "mx".into(), param: "elem".into(), value: elem.name().into(), range: "a signed element type (unsigned ones need a zero point: the scaled family's zero_point=true)".into() }.into());
        }
        let blocks = BlockRule {
            base: elem.grid(),
            offset: -elem.emax(),
            ceil: rule == ScaleRule::Ceil,
            smin: -127,
            smax: 127 - elem.emax(),
            nan_poisons_block: true,
            signed_zero: elem.signed_zero(),
        };
        Ok(Mx { elem, rule, block: 32, round: Rounding::NearestEven, blocks })
    }

    pub fn element(&self) -> &Element {
        &self.elem
    }

    /// The shared scale exponent for a block whose amax is `amax` (> 0).
    pub fn scale_exp(&self, amax: f32) -> i32 {
        self.blocks.scale_exp(amax)
    }

    /// The element code of `v`, a value of the grid at scale `2^s`.
    fn element_code(&self, s: i32, v: f32) -> u32 {
        self.elem.code(ldexp(v, -s))
    }

    fn element_value(&self, s: i32, c: u32) -> f32 {
        ldexp(self.elem.value(c), s)
    }
}

impl Format for Mx {
    fn describe(&self) -> String {
        let mut d = format!("mx(elem={}", self.elem.name());
        if self.rule == ScaleRule::Ceil {
            d += ",scale=ceil";
        }
        if self.block != 32 {
            d += &format!(",block={}", self.block);
        }
        with_round(d + ")", self.round)
    }
    fn family(&self) -> &'static str {
        "mx"
    }
    fn code_bits(&self) -> u32 {
        self.elem.bits()
    }
    fn meta_bits(&self) -> u32 {
        8
    }
    fn meta_words(&self) -> usize {
        1
    }
    fn block_len(&self) -> usize {
        self.block
    }
    fn rounding(&self) -> Rounding {
        self.round
    }

    fn quantize_unit(&self, x: &[f32], clip: Option<Clip>, ctx: RoundCtx, out: &mut [f32]) {
        self.blocks.quantize_blocks(x, out, x.len().max(1), clip.map(Clip::alpha), self.round, ctx);
    }

    fn quantize_blocks(&self, x: &[f32], block: usize, clip: Option<Clip>, ctx: RoundCtx, out: &mut [f32]) {
        self.blocks.quantize_blocks(x, out, block, clip.map(Clip::alpha), self.round, ctx);
    }

    fn encode_unit(&self, x: &[f32], clip: Option<Clip>, ctx: RoundCtx, codes: &mut [u32], meta: &mut [u32]) -> Result<(), FormatError> {
        let mut q = vec![0.0f32; x.len()];
        self.quantize_unit(x, clip, ctx, &mut q);
        match self.blocks.block_scale(x, clip.map(Clip::alpha)) {
            BlockScale::Poisoned => {
                meta[0] = NAN_SCALE;
                codes.fill(0);
            }
            scale => {
                let s = if let BlockScale::Exp(s) = scale { s } else { -127 };
                meta[0] = (s + 127) as u32;
                for (c, &v) in codes.iter_mut().zip(&q) {
                    *c = self.element_code(s, v);
                }
            }
        }
        Ok(())
    }

    fn decode_unit(&self, codes: &[u32], meta: &[u32], out: &mut [f32]) {
        if meta[0] == NAN_SCALE {
            out.fill(f32::NAN);
            return;
        }
        let s = meta[0] as i32 - 127;
        for (o, &c) in out.iter_mut().zip(codes) {
            *o = self.element_value(s, c);
        }
    }

    fn meta_for(&self, scale: Scale) -> Result<Vec<u32>, FormatError> {
        match scale {
            Scale::Max(a) if a.is_finite() && a > 0.0 => Ok(vec![(self.scale_exp(a) + 127) as u32]),
            Scale::Fixed => Ok(vec![127]), // X = 1: the element format itself
            _ => Err(FormatError::Unsupported {
                format: self.describe(),
                why: "the value table depends on the block's max|x|: give a positive --max X".into(),
            }),
        }
    }
}

pub struct MxFamily;
pub static FAMILY: MxFamily = MxFamily;

impl Family for MxFamily {
    fn name(&self) -> &'static str {
        "mx"
    }
    fn summary(&self) -> &'static str {
        "OCP Microscaling v1.0: FP8/FP6/FP4/INT8 elements sharing an E8M0 scale per block of 32"
    }
    fn params(&self) -> &'static [ParamDoc] {
        &[
            ParamDoc { name: "elem", default: "(required)", range: "an element type: fp8-e4m3 | fp8-e5m2 | fp6-e3m2 | fp6-e2m3 | fp4-e2m1 | int8 (OCP's) | fp16 | bf16", help: "element type" },
            ParamDoc { name: "scale", default: "floor", range: "floor | ceil", help: "shared-scale rule: OCP's floor, or ceil (amax never saturates)" },
            ParamDoc { name: "block", default: "32", range: "1..=1048576", help: "elements per shared scale along the last axis" },
            ROUND_DOC,
        ]
    }
    fn presets(&self) -> &'static [Preset] {
        &[
            Preset { name: "mxfp8-e4m3", params: "elem=fp8-e4m3", help: "MXFP8 (E4M3)" },
            Preset { name: "mxfp8-e5m2", params: "elem=fp8-e5m2", help: "MXFP8 (E5M2)" },
            Preset { name: "mxfp6-e3m2", params: "elem=fp6-e3m2", help: "MXFP6 (E3M2)" },
            Preset { name: "mxfp6-e2m3", params: "elem=fp6-e2m3", help: "MXFP6 (E2M3)" },
            Preset { name: "mxfp4", params: "elem=fp4-e2m1", help: "MXFP4 (E2M1)" },
            Preset { name: "mxfp4-e2m1", params: "elem=fp4-e2m1", help: "MXFP4 (E2M1)" },
            Preset { name: "mxint8", params: "elem=int8", help: "MXINT8" },
        ]
    }
    fn build(&self, p: &mut Params) -> Result<Box<dyn Format>, FormatError> {
        let names = Element::names();
        let elem = p.choice("elem", "", &names)?;
        if elem.is_empty() {
            return Err(p.missing("elem").into());
        }
        let rule = match p.choice("scale", "floor", &["floor", "ceil"])? {
            "floor" => ScaleRule::Floor,
            _ => ScaleRule::Ceil,
        };
        let block = p.int("block", Some(32), 1, 1 << 20)? as usize;
        let round = crate::rounding_param(p)?;
        let mut mx = Mx::new(elem, rule)?;
        mx.block = block;
        mx.round = round;
        Ok(Box::new(mx))
    }
}
