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

use crate::bits::{floor_log2, ldexp};
use crate::grid::{BlockRule, BlockScale, FloatGrid};
use crate::{with_round, Clip, Family, Format, FormatError, ParamDoc, Params, RoundCtx, Rounding, Scale, NO_SCALE, ROUND_DOC};

/// Block floating point: one shared exponent per block (or group), `bits`-bit sign-magnitude mantissas.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockFloat {
    bits: u32,
    block: usize,
    round: Rounding,
    blocks: BlockRule,
}

impl BlockFloat {
    /// `bits` code bits, blocks of `block` elements (0: one block per group).
    pub fn new(bits: u32, block: usize) -> Result<Self, FormatError> {
        Params::new("bfp", Default::default()).check_int("bits", bits as i64, 2, 16)?;
        Ok(Self::with(bits, block, Rounding::NearestEven))
    }

    fn with(bits: u32, block: usize, round: Rounding) -> Self {
        let qmax = (1u32 << (bits - 1)) - 1;
        // At E = 0 the step is 2^-(bits-2); a block's grid is this one shifted
        // by E = floor(log2 amax) binades.
        let blocks =
            BlockRule { base: FloatGrid::uniform(-(bits as i32 - 2), qmax), offset: 0, ceil: false, even: false, smin: i32::MIN / 2, smax: i32::MAX / 2, nan_poisons_block: false, signed_zero: false };
        BlockFloat { bits, block, round, blocks }
    }

    fn qmax(&self) -> u32 {
        (1 << (self.bits - 1)) - 1
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
        self.blocks.quantize_blocks(x, out, x.len().max(1), clip.map(Clip::alpha), self.round, ctx);
    }

    fn quantize_blocks(&self, x: &[f32], block: usize, clip: Option<Clip>, ctx: RoundCtx, out: &mut [f32]) {
        self.blocks.quantize_blocks(x, out, block, clip.map(Clip::alpha), self.round, ctx);
    }

    fn encode_unit(&self, x: &[f32], clip: Option<Clip>, ctx: RoundCtx, codes: &mut [u32], meta: &mut [u32]) -> Result<(), FormatError> {
        let mut q = vec![0.0f32; x.len()];
        self.quantize_unit(x, clip, ctx, &mut q);
        let e = match self.blocks.block_scale(x, clip.map(Clip::alpha)) {
            BlockScale::Exp(e) => Some(e),
            BlockScale::Empty | BlockScale::Poisoned => None, // BFP never poisons
        };
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
            *o = if q < -(self.qmax() as i32) { f32::NAN } else { step.map_or(0.0, |s| ldexp(q as f32, s)) };
        }
    }

    fn meta_for(&self, scale: Scale) -> Result<Vec<u32>, FormatError> {
        match scale {
            Scale::Max(a) if a.is_finite() && a > 0.0 => Ok(vec![floor_log2(a) as u32]),
            _ => Err(FormatError::Unsupported { format: self.describe(), why: "the value table depends on the block's max|x|: give a positive --max X".into() }),
        }
    }
}

/// The `bfp` family.
pub struct BlockFloatFamily;
/// Its registry entry.
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
        let round = crate::rounding_param(p)?;
        Ok(Box::new(BlockFloat::with(bits, block, round)))
    }
}
