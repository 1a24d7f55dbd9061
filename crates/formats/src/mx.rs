//! OCP Microscaling (MX) formats, v1.0: blocks of 32 elements along the last
//! axis share one E8M0 power-of-two scale. The `mx` family and its presets
//! (`mxfp8-e4m3`, `mxfp4`, `mxint8`, ...) are names for the scaled family
//! with an E8M0 scale (`scaled(elem=E,scale=e8m0,block=32)`), which holds
//! the one implementation.
//!
//! Scale: `X = 2^(floor(log2 amax) - emax_elem)` (rule `floor`, the spec's),
//! or the smallest power of two with `amax <= max_elem * X` (rule `ceil`, so
//! nothing saturates), with the exponent clamped to [-127, 127] (and so that
//! `max_elem * X` stays a finite f32). `amax` is over finite values after
//! clipping. Elements are quantized as `x / X` in the element format with
//! subnormals, saturating to ±max, then multiplied back; both steps are exact
//! powers of two, so they are folded into one grid.
//!
//! Elements: any signed type of `element::ELEMENT_TYPES`; OCP's are FP8
//! E4M3 (emax 8, max 448), FP8 E5M2 (emax 15, max 57344), FP6 E3M2 (emax 4,
//! max 28), FP6 E2M3 (emax 2, max 7.5), FP4 E2M1 (emax 2, max 6), INT8 (two's
//! complement with an implicit 2^-6, ±127/64; kept symmetric as microxcaling
//! does, so -128 is unused). Elements keep their subnormals and saturate.
//!
//! Special values, following OCP's scale NaN: a block holding a NaN becomes
//! all NaN (scale code 0xFF); ±Inf does not enter the scale and saturates.
//! Codes: FP elements `sign | exponent | mantissa` with the element's own
//! bias; INT8 two's complement. Metadata: the E8M0 code `exp + 127` per block.

use crate::element::Element;
use crate::scaled::{Encoding, PowRule, Scaled};
use crate::{Family, Format, FormatError, ParamDoc, Params, Preset, ROUND_DOC};

/// The `mx` family (OCP Microscaling).
pub struct MxFamily;
/// Its registry entry.
pub static FAMILY: MxFamily = MxFamily;

impl Family for MxFamily {
    fn name(&self) -> &'static str {
        "mx"
    }
    fn summary(&self) -> &'static str {
        "OCP Microscaling v1.0: FP8/FP6/FP4/INT8 elements sharing an E8M0 scale per block of 32 (the scaled family with scale=e8m0)"
    }
    fn params(&self) -> &'static [ParamDoc] {
        &[
            ParamDoc { name: "elem", default: "(required)", range: "a signed element type: fp8-e4m3 | fp8-e5m2 | fp6-e3m2 | fp6-e2m3 | fp4-e2m1 | int8 (OCP's) | fp16 | bf16", help: "element type" },
            ParamDoc { name: "scale", default: "floor", range: "floor | ceil | even", help: "shared-scale rule: OCP's floor, ceil (amax never saturates; torchao's RCEIL), or torchao's EVEN" },
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
        let elem = Element::from_text(&Element::param(p, false)?)?;
        let rule = PowRule::named(p.choice("scale", "floor", &["floor", "ceil", "even"])?);
        let block = p.int("block", Some(32), 1, 1 << 20)? as usize;
        let round = crate::rounding_param(p)?;
        Ok(Box::new(Scaled::with_element(elem, Encoding::E8m0, rule, block).with_round(round)))
    }
}
