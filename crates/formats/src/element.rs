//! Element types: the fixed-scale codes a block-scaled format stores for
//! each element, one definition each, in one table ([`ELEMENT_TYPES`]).
//! The `minifloat` family's presets (`fp8-e4m3`, `bf16`, ...) and the MX
//! formats' `elem=` draw from this table, so an element type is defined
//! once, and a scaled format is an element type plus its scales.
//!
//! Two kinds exist: IEEE-like minifloats ExMy (a [`Minifloat`], with its
//! bias, subnormals and special values) and two's-complement integers
//! `q * 2^step` with `|q| <= 2^(bits-1) - 1` (OCP's MXINT8 element is
//! `int8` with step `2^-6`: values k/64).
//!
//! ```
//! use quantlab_formats::element::Element;
//! let e4m3 = Element::named("fp8-e4m3").unwrap();
//! assert_eq!((e4m3.bits(), e4m3.max(), e4m3.emax()), (8, 448.0, 8));
//! assert_eq!(e4m3.value(e4m3.code(-1.25)), -1.25);
//! ```

use std::sync::LazyLock;

use crate::bits::{floor_log2, ldexp};
use crate::grid::FloatGrid;
use crate::minifloat::{Minifloat, Specials};
use crate::Preset;

/// How an element type is built.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ElementKind {
    /// An IEEE-like minifloat with subnormals and saturation, and the
    /// default bias `2^(e-1) - 1` unless `bias` says otherwise.
    Float {
        /// Exponent bits.
        e: u32,
        /// Mantissa bits.
        m: u32,
        /// Exponent bias, when not the default.
        bias: Option<i32>,
        /// Which codes are not numbers.
        specials: Specials,
    },
    /// Two's complement `q * 2^step_exp`, `|q| <= 2^(bits-1) - 1` (the
    /// pattern `-2^(bits-1)` is unused, as microxcaling does).
    Int {
        /// Code bits.
        bits: u32,
        /// The step is `2^step_exp`.
        step_exp: i32,
    },
    /// Unsigned codes `0 .. 2^bits - 1`, valued as themselves: the element
    /// of integer formats with a zero point (GPTQ/AWQ's INT4 groups).
    UInt {
        /// Code bits.
        bits: u32,
    },
    /// A lookup table of values in [-1, 1], in code order (`lut.rs`).
    Table(&'static [f32]),
    /// IEEE P3109 `binaryKpP`, signed, extended domain, saturating (`p3109.rs`).
    P3109 {
        /// Bits.
        k: u32,
        /// Precision (mantissa bits + 1).
        p: u32,
    },
}

/// A named element type: one row of the table.
#[derive(Clone, Copy, Debug)]
pub struct ElementDef {
    /// The element type's name (`fp4-e2m1`, `int8`, `nf4`).
    pub name: &'static str,
    /// What its codes are.
    pub kind: ElementKind,
    /// One line on it, for `quantlab formats`.
    pub help: &'static str,
}

/// Every named element type.
pub static ELEMENT_TYPES: &[ElementDef] = &[
    ElementDef { name: "fp16", kind: ElementKind::Float { e: 5, m: 10, bias: None, specials: Specials::Ieee }, help: "IEEE binary16" },
    ElementDef { name: "bf16", kind: ElementKind::Float { e: 8, m: 7, bias: None, specials: Specials::Ieee }, help: "bfloat16" },
    ElementDef { name: "fp8-e4m3", kind: ElementKind::Float { e: 4, m: 3, bias: None, specials: Specials::Fn }, help: "OCP FP8 E4M3 (max 448)" },
    ElementDef { name: "fp8-e5m2", kind: ElementKind::Float { e: 5, m: 2, bias: None, specials: Specials::Ieee }, help: "OCP FP8 E5M2 (max 57344)" },
    ElementDef { name: "fp6-e3m2", kind: ElementKind::Float { e: 3, m: 2, bias: None, specials: Specials::None }, help: "OCP FP6 E3M2 (max 28)" },
    ElementDef { name: "fp6-e2m3", kind: ElementKind::Float { e: 2, m: 3, bias: None, specials: Specials::None }, help: "OCP FP6 E2M3 (max 7.5)" },
    ElementDef { name: "fp4-e2m1", kind: ElementKind::Float { e: 2, m: 1, bias: None, specials: Specials::None }, help: "OCP FP4 E2M1 (max 6)" },
    ElementDef {
        name: "fp8-e4m3fnuz",
        kind: ElementKind::Float { e: 4, m: 3, bias: Some(8), specials: Specials::Fnuz },
        help: "ml_dtypes float8_e4m3fnuz, AMD and Graphcore (max 240; no Inf, no -0, NaN is 0x80)",
    },
    ElementDef { name: "fp8-e5m2fnuz", kind: ElementKind::Float { e: 5, m: 2, bias: Some(16), specials: Specials::Fnuz }, help: "ml_dtypes float8_e5m2fnuz (max 57344; no Inf, no -0, NaN is 0x80)" },
    ElementDef {
        name: "fp8-e4m3b11fnuz",
        kind: ElementKind::Float { e: 4, m: 3, bias: Some(11), specials: Specials::Fnuz },
        help: "ml_dtypes float8_e4m3b11fnuz, bias 11 (max 30; no Inf, no -0, NaN is 0x80)",
    },
    ElementDef { name: "fp8-e3m4", kind: ElementKind::Float { e: 3, m: 4, bias: None, specials: Specials::Ieee }, help: "ml_dtypes float8_e3m4, IEEE-like (max 15.5)" },
    ElementDef { name: "int8", kind: ElementKind::Int { bits: 8, step_exp: -6 }, help: "OCP MXINT8 element: k/64, |k| <= 127" },
    ElementDef { name: "int5", kind: ElementKind::Int { bits: 5, step_exp: -3 }, help: "sign and 4 bits, k/8, |k| <= 15 (MX6's element)" },
    ElementDef { name: "int3", kind: ElementKind::Int { bits: 3, step_exp: -1 }, help: "sign and 2 bits, k/2, |k| <= 3 (MX4's element)" },
    ElementDef { name: "p3109-k8p3", kind: ElementKind::P3109 { k: 8, p: 3 }, help: "P3109 binary8p3 (E5M2-like, bias 16, max 49152)" },
    ElementDef { name: "p3109-k8p4", kind: ElementKind::P3109 { k: 8, p: 4 }, help: "P3109 binary8p4 (E4M3-like, bias 8, max 224)" },
    ElementDef { name: "p3109-k6p3", kind: ElementKind::P3109 { k: 6, p: 3 }, help: "P3109 binary6p3 (bias 4, max 12)" },
    ElementDef { name: "p3109-k4p2", kind: ElementKind::P3109 { k: 4, p: 2 }, help: "P3109 binary4p2 (bias 2, max 2)" },
    ElementDef { name: "nf4", kind: ElementKind::Table(&crate::lut::NF4), help: "QLoRA's NormalFloat4 table (bitsandbytes)" },
    ElementDef { name: "fp4-bnb", kind: ElementKind::Table(&crate::lut::FP4_BNB), help: "bitsandbytes' FP4 table (E2M1, bias 2, over 12)" },
    ElementDef { name: "uint4", kind: ElementKind::UInt { bits: 4 }, help: "unsigned 4-bit codes 0..15, for a zero point" },
    ElementDef { name: "uint8", kind: ElementKind::UInt { bits: 8 }, help: "unsigned 8-bit codes 0..255, for a zero point" },
];

/// The minifloat family's presets: the table's float element types.
pub static MINIFLOAT_PRESETS: LazyLock<Vec<Preset>> = LazyLock::new(|| {
    ELEMENT_TYPES
        .iter()
        .filter_map(|d| match d.kind {
            ElementKind::Float { e, m, bias, specials } => {
                let specials = match specials {
                    Specials::Ieee => "",
                    Specials::Fn => ",specials=fn",
                    Specials::Fnuz => ",specials=fnuz",
                    Specials::None => ",specials=none",
                };
                let bias = bias.map_or(String::new(), |b| format!(",bias={b}"));
                let params: &'static str = Box::leak(format!("e={e},m={m}{bias}{specials}").into_boxed_str());
                Some(Preset { name: d.name, params, help: d.help })
            }
            ElementKind::Int { .. } | ElementKind::UInt { .. } | ElementKind::Table(_) | ElementKind::P3109 { .. } => None,
        })
        .collect()
});

/// A built element type.
#[derive(Clone, Debug, PartialEq)]
pub struct Element {
    name: std::borrow::Cow<'static, str>,
    form: Form,
}

#[derive(Clone, Debug, PartialEq)]
enum Form {
    Float(Minifloat),
    Int { bits: u32, step_exp: i32 },
    UInt { bits: u32 },
    Table(Box<crate::lut::Lut>),
    P3109(crate::p3109::P3109),
}

impl Element {
    /// The element type of that name in [`ELEMENT_TYPES`].
    pub fn named(name: &str) -> Option<Element> {
        ELEMENT_TYPES.iter().find(|d| d.name == name).map(Element::from_def)
    }

    /// The element a registry entry describes.
    pub fn from_def(def: &ElementDef) -> Element {
        let form = match def.kind {
            ElementKind::Float { e, m, bias, specials } => Form::Float(Minifloat::new(e, m, bias, true, specials, true).expect("the table's element types are valid")),
            ElementKind::Int { bits, step_exp } => Form::Int { bits, step_exp },
            ElementKind::UInt { bits } => Form::UInt { bits },
            ElementKind::Table(values) => Form::Table(Box::new(crate::lut::Lut::new(values))),
            ElementKind::P3109 { k, p } => Form::P3109(crate::p3109::P3109::new(k, p, true, true, crate::p3109::OnOverflow::Saturate).expect("the table's element types are valid")),
        };
        Element { name: def.name.into(), form }
    }

    /// A lookup table of the user's values, named `lut`: in [-1, 1],
    /// strictly ascending, 2 to 65536 entries; codes are positions in the
    /// list.
    pub fn table_of(values: &[f64]) -> Result<Element, String> {
        let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
        if !(2..=65536).contains(&v.len()) {
            return Err(format!("2 to 65536 entries (got {})", v.len()));
        }
        if v.iter().any(|x| x.is_nan() || x.abs() > 1.0) || v.windows(2).any(|w| w[0] >= w[1]) {
            return Err("numbers in [-1, 1] in strictly ascending order (as f32); the scale maps [-1, 1] to the unit's range".into());
        }
        if v.iter().all(|&x| x == 0.0) {
            return Err("a table with a non-zero entry".into());
        }
        Ok(Element { name: "lut".into(), form: Form::Table(Box::new(crate::lut::Lut::new(&v))) })
    }

    /// Read a family's required `elem` parameter: the name of an element
    /// type of the table (signed ones only unless `unsigned_ok`).
    /// Read a family's required `elem` parameter: the name of an element
    /// type of the table (signed ones only unless `unsigned_ok`), `lut` (a
    /// user's table, whose `values` the scaled family reads), or any
    /// minifloat, e.g. `minifloat(e=2,m=5,specials=none)` (build it with
    /// [`Element::from_text`]).
    pub fn param(p: &mut crate::Params, unsigned_ok: bool) -> Result<String, quantlab_spec::SpecError> {
        let mut names: Vec<&'static str> = ELEMENT_TYPES.iter().filter(|d| unsigned_ok || !matches!(d.kind, ElementKind::UInt { .. })).map(|d| d.name).collect();
        if unsigned_ok {
            names.push("lut");
        }
        let text = p.text("elem", "");
        if text.is_empty() {
            return Err(p.missing("elem"));
        }
        if names.contains(&text.as_str()) || text.starts_with("minifloat(") {
            return Ok(text);
        }
        let hint = quantlab_spec::nearest(&text, names.iter().copied()).map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default();
        Err(quantlab_spec::SpecError::OutOfRange {
            family: p.family().into(),
            param: "elem".into(),
            value: text,
            range: format!("{} | minifloat(e=..,m=..[,bias,subnormals,specials]){hint}", names.join(" | ")),
        })
    }

    /// The element type a parameter names: a table entry, or a minifloat
    /// described in full (its parameters checked as the minifloat family
    /// checks them; it always saturates, as every element does).
    pub fn from_text(text: &str) -> Result<Element, crate::FormatError> {
        if let Some(e) = Element::named(text) {
            return Ok(e);
        }
        let spec: crate::FormatSpec = text.parse()?;
        if spec.family != "minifloat" {
            return Err(quantlab_spec::SpecError::OutOfRange {
                family: "scaled".into(),
                param: "elem".into(),
                value: text.into(),
                range: "an element type's name, or minifloat(e=..,m=..,...)".into(),
            }
            .into());
        }
        let mut p = crate::Params::new("minifloat", spec.params);
        let f = crate::minifloat::from_params(&mut p)?;
        p.finish()?;
        let name = crate::Format::describe(&f);
        Ok(Element { name: name.into(), form: Form::Float(f) })
    }

    /// The names of every element type, for parameter ranges.
    pub fn names() -> Vec<&'static str> {
        ELEMENT_TYPES.iter().map(|d| d.name).collect()
    }

    /// The element's name (or its description when written inline).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Width of one element's code.
    pub fn bits(&self) -> u32 {
        match &self.form {
            Form::Float(f) => crate::Format::code_bits(f),
            Form::Int { bits, .. } | Form::UInt { bits } => *bits,
            Form::Table(t) => t.bits(),
            Form::P3109(f) => crate::Format::code_bits(f),
        }
    }

    /// Every finite value at scale 1, ascending, each once (an element of at
    /// most 16 bits).
    pub fn values(&self) -> Vec<f32> {
        let mut v: Vec<f32> = (0..1u32 << self.bits().min(16)).map(|c| self.value(c)).filter(|v| v.is_finite()).map(|v| v + 0.0).collect();
        v.sort_by(f32::total_cmp);
        v.dedup();
        v
    }

    /// `(step_exp, qmax)` of a two's complement integer element (values
    /// `q * 2^step_exp`, `|q| <= qmax`).
    pub fn integer_step(&self) -> Option<(i32, u32)> {
        match self.form {
            Form::Int { bits, step_exp } => Some((step_exp, Element::qmax(bits))),
            _ => None,
        }
    }

    /// The lookup table, for table elements (which round through it, not
    /// through a grid).
    pub fn table(&self) -> Option<&crate::lut::Lut> {
        match &self.form {
            Form::Table(t) => Some(t),
            _ => None,
        }
    }

    /// Whether codes are unsigned levels that need a zero point.
    pub fn unsigned(&self) -> bool {
        matches!(self.form, Form::UInt { .. })
    }

    fn qmax(bits: u32) -> u32 {
        (1 << (bits - 1)) - 1
    }

    /// The element's saturating grid at scale 1: every finite value, with
    /// ±max for anything beyond.
    pub fn grid(&self) -> FloatGrid {
        match &self.form {
            Form::Float(f) => FloatGrid { overflow: crate::grid::Overflow::Saturate, ..f.grid() },
            Form::Int { bits, step_exp } => FloatGrid::uniform(*step_exp, Element::qmax(*bits)),
            // The integers up to 2^bits - 1 (a zero point shifts them).
            Form::UInt { bits } => FloatGrid::uniform(0, (1 << bits) - 1),
            // Only its max is meaningful (a table rounds through `table()`):
            // a table spans [-1, 1], which a scale maps to [-amax, amax],
            // whether or not its entries reach ±1 (Banner's 2^M bin
            // centres do not).
            Form::Table(_) => FloatGrid { max: 1.0, ..FloatGrid::uniform(0, 1) },
            Form::P3109(f) => f.grid(),
        }
    }

    /// Largest finite value at scale 1.
    pub fn max(&self) -> f32 {
        self.grid().max
    }

    /// `floor(log2(max))`: the exponent OCP's scale rule subtracts.
    pub fn emax(&self) -> i32 {
        floor_log2(self.max())
    }

    /// Whether codes keep the sign of zero (sign-magnitude floats do, but
    /// not the fnuz ones; two's complement integers have one zero, +0).
    pub fn signed_zero(&self) -> bool {
        match &self.form {
            Form::Float(f) => f.signed_zero(),
            Form::Table(t) => t.signed_zero(),
            _ => false,
        }
    }

    /// The code of `v`, a value of the grid at scale 1.
    pub fn code(&self, v: f32) -> u32 {
        match &self.form {
            Form::Float(f) => f.code(v),
            Form::Int { bits, step_exp } => {
                let q = ldexp(v, -step_exp) as i32;
                (q as u32) & ((1u64 << bits) - 1) as u32
            }
            Form::UInt { bits } => (v.max(0.0) as u32).min((1 << bits) - 1),
            Form::Table(t) => t.code(v),
            Form::P3109(f) => f.code(v + 0.0),
        }
    }

    /// The value of a code at scale 1 (NaN or ±Inf for special codes).
    pub fn value(&self, c: u32) -> f32 {
        match &self.form {
            Form::Float(f) => f.value(c),
            Form::Int { bits, step_exp } => {
                let shift = 32 - bits;
                let q = ((c << shift) as i32) >> shift;
                ldexp(q as f32, *step_exp)
            }
            Form::UInt { bits } => (c & ((1 << bits) - 1)) as f32,
            Form::Table(t) => t.value(c),
            Form::P3109(f) => f.value(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every element decodes each of its codes to a value that encodes back
    /// to that code (NaN and the unused integer pattern aside), and the
    /// table's limits are OCP's.
    #[test]
    fn codes_round_trip_and_limits_match_ocp() {
        for def in ELEMENT_TYPES {
            let e = Element::from_def(def);
            let n = e.bits().min(16);
            for c in 0..1u32 << n {
                let v = e.value(c);
                if v.is_nan() || (!e.signed_zero() && !e.unsigned() && c == 1 << (n - 1)) || v.is_infinite() {
                    continue;
                }
                assert_eq!(e.code(v), c, "{}: code {c:#x} -> {v}", def.name);
            }
        }
        let limits: Vec<(&str, f32, i32)> = ["fp8-e4m3", "fp8-e5m2", "fp6-e3m2", "fp6-e2m3", "fp4-e2m1", "int8"]
            .iter()
            .map(|n| {
                let e = Element::named(n).unwrap();
                (*n, e.max(), e.emax())
            })
            .collect();
        assert_eq!(limits, [("fp8-e4m3", 448.0, 8), ("fp8-e5m2", 57344.0, 15), ("fp6-e3m2", 28.0, 4), ("fp6-e2m3", 7.5, 2), ("fp4-e2m1", 6.0, 2), ("int8", 127.0 / 64.0, 0)]);
    }
}
