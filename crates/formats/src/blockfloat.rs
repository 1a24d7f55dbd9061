//! Block floating point: `bits` per element (sign + `bits-1` magnitude bits)
//! and one shared 8-bit exponent per block of `block` elements along the last
//! axis (`block = 0`: one exponent per group).
//!
//! Per block: `E = floor(log2 max|x|)` over finite values (after clipping),
//! `step = 2^(E - (bits-2))`, `q = clamp(round(x/step), ±(2^(bits-1)-1))`,
//! value `q * step`. Small elements lose precision to the block maximum: the
//! weakness AdaptivFloat was designed against. An all-zero block stays zero.
//! Codes are two's complement `q`; the unused `-2^(bits-1)` encodes NaN.
//! ±Inf does not enter `E` and saturates. Metadata: `E` per block (8 bits
//! counted, an i32 word stored).

use crate::bits::{finite_amax, floor_log2, ldexp};
use crate::grid::FloatGrid;
use crate::{with_round, zeros_like, Clip, Family, Format, FormatError, ParamDoc, Params, RoundCtx, Rounding, Scale, NO_SCALE, ROUND_DOC};

#[derive(Clone, Debug, PartialEq)]
pub struct BlockFloat {
    bits: u32,
    block: usize,
    round: Rounding,
}

impl BlockFloat {
    pub fn new(bits: u32, block: usize) -> Result<Self, FormatError> {
        Params::new("bfp", Default::default()).check_int("bits", bits as i64, 2, 16)?;
        Ok(BlockFloat { bits, block, round: Rounding::NearestEven })
    }

    fn qmax(&self) -> u32 {
        (1 << (self.bits - 1)) - 1
    }

    fn grid(&self, shared_exp: i32) -> FloatGrid {
        FloatGrid::uniform(shared_exp - (self.bits as i32 - 2), self.qmax())
    }

    fn unit_exp(&self, x: &[f32], clip: Option<Clip>) -> (Option<i32>, Option<(f32, f32)>) {
        let amax = finite_amax(x);
        let (amax, lim) = match clip {
            Some(c) => (amax.min(c.alpha()), Some((-c.alpha(), c.alpha()))),
            None => (amax, None),
        };
        ((amax > 0.0).then(|| floor_log2(amax)), lim)
    }
}

impl Format for BlockFloat {
    fn describe(&self) -> String {
        with_round(format!("bfp(bits={},block={})", self.bits, self.block), self.round)
    }
    fn family(&self) -> &'static str {
        "bfp"
    }
    fn code_bits(&self) -> u32 {
        self.bits
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
        match self.unit_exp(x, clip) {
            (None, _) => zeros_like(x, out, false),
            (Some(e), lim) => {
                self.grid(e).quantize(x, out, lim, self.round, ctx);
                for o in out.iter_mut() {
                    *o += 0.0; // two's complement has one zero: -0 becomes +0
                }
            }
        }
    }

    fn encode_unit(&self, x: &[f32], clip: Option<Clip>, ctx: RoundCtx, codes: &mut [u32], meta: &mut [u32]) -> Result<(), FormatError> {
        let mut q = vec![0.0f32; x.len()];
        self.quantize_unit(x, clip, ctx, &mut q);
        let (e, _) = self.unit_exp(x, clip);
        meta[0] = e.map_or(NO_SCALE, |e| e as u32);
        let step = e.unwrap_or(0) - (self.bits as i32 - 2);
        let mask = ((1u64 << self.bits) - 1) as u32;
        for (c, &v) in codes.iter_mut().zip(&q) {
            *c = if v.is_nan() { 1 << (self.bits - 1) } else { (ldexp(v, -step) as i32 as u32) & mask };
        }
        Ok(())
    }

    fn decode_unit(&self, codes: &[u32], meta: &[u32], out: &mut [f32]) {
        let step = (meta[0] != NO_SCALE).then(|| meta[0] as i32 - (self.bits as i32 - 2));
        let shift = 32 - self.bits;
        for (o, &c) in out.iter_mut().zip(codes) {
            let q = ((c << shift) as i32) >> shift;
            *o = if q < -(self.qmax() as i32) {
                f32::NAN
            } else {
                step.map_or(0.0, |s| ldexp(q as f32, s))
            };
        }
    }

    fn meta_for(&self, scale: Scale) -> Result<Vec<u32>, FormatError> {
        match scale {
            Scale::Max(a) if a.is_finite() && a > 0.0 => Ok(vec![floor_log2(a) as u32]),
            _ => Err(FormatError::Unsupported {
                format: self.describe(),
                why: "the value table depends on the block's max|x|: give a positive --max X".into(),
            }),
        }
    }
}

pub struct BlockFloatFamily;
pub static FAMILY: BlockFloatFamily = BlockFloatFamily;

impl Family for BlockFloatFamily {
    fn name(&self) -> &'static str {
        "bfp"
    }
    fn summary(&self) -> &'static str {
        "block floating point: integer mantissas sharing one exponent per block"
    }
    fn params(&self) -> &'static [ParamDoc] {
        &[
            ParamDoc { name: "bits", default: "(required)", range: "2..=16", help: "bits per element (sign + magnitude)" },
            ParamDoc { name: "block", default: "0", range: "0..=1048576", help: "elements per shared exponent along the last axis; 0 = whole group" },
            ROUND_DOC,
        ]
    }
    fn build(&self, p: &mut Params) -> Result<Box<dyn Format>, FormatError> {
        let bits = p.int("bits", None, 2, 16)? as u32;
        let block = p.int("block", Some(0), 0, 1 << 20)? as usize;
        let round = p.rounding()?;
        Ok(Box::new(BlockFloat { bits, block, round }))
    }
}
