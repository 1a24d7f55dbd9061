//! Quantizing whole tensors: granularity splits a tensor into groups (one
//! clip per group), a block format splits each group's rows into units (one
//! scale per unit), and units run in parallel.
//!
//! Element stream order: groups in order, each group's elements in row-major
//! order. Stochastic rounding is keyed by an element's position in that
//! stream, so results are identical whatever the thread count.

use std::fmt;
use std::str::FromStr;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::{Clip, Format, FormatError, RoundCtx};

/// A tensor's dimensions, outermost first.
pub type Shape = [usize];

/// How a tensor is split into groups that share a clip and a scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Granularity {
    /// One group.
    #[default]
    Tensor,
    /// One group per index along `axis` (0: output channels, or PipeEdge's
    /// per-sample outer dimension).
    Channel {
        /// The axis whose indices are the groups.
        axis: usize,
    },
    /// `size` consecutive elements of the last axis (rows are never crossed;
    /// a row's last block may be shorter).
    Block {
        /// Elements per block.
        size: usize,
    },
}

impl fmt::Display for Granularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Granularity::Tensor => f.write_str("tensor"),
            Granularity::Channel { axis } => write!(f, "channel:{axis}"),
            Granularity::Block { size } => write!(f, "block:{size}"),
        }
    }
}

impl FromStr for Granularity {
    type Err = String;

    /// `tensor`, `channel`, `channel:AXIS`, `block:K`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("granularity `{s}` is not one of: tensor, channel, channel:AXIS, block:K (K >= 1)");
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n.trim(), Some(a.trim())),
            None => (s.trim(), None),
        };
        let num = |a: Option<&str>| a.map(|a| a.parse::<usize>().map_err(|_| bad())).transpose();
        match name {
            "tensor" if arg.is_none() => Ok(Granularity::Tensor),
            "channel" => Ok(Granularity::Channel { axis: num(arg)?.unwrap_or(0) }),
            "block" => match num(arg)? {
                Some(size) if size >= 1 => Ok(Granularity::Block { size }),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }
}

/// Why a tensor cannot be quantized, encoded or decoded.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum TensorError {
    /// The data's length is not the shape's element count.
    #[error("shape {shape:?} holds {expected} elements but the data has {actual}")]
    ShapeMismatch {
        /// The shape given.
        shape: Vec<usize>,
        /// Its element count.
        expected: usize,
        /// The data's length.
        actual: usize,
    },
    /// `channel:AXIS` on a tensor without that axis.
    #[error("granularity channel:{axis} needs a tensor of rank > {axis}, but its shape is {shape:?}")]
    BadAxis {
        /// The axis asked for.
        axis: usize,
        /// The tensor's shape.
        shape: Vec<usize>,
    },
    /// The shape's element count overflows.
    #[error("shape {0:?} is too large: its element count overflows")]
    TooLarge(Vec<usize>),
    /// Codes or metadata that do not fit together.
    #[error("encoded data is inconsistent: {0}")]
    Corrupt(String),
    /// The format refused.
    #[error(transparent)]
    Format(#[from] FormatError),
}

/// One group as a clamping strategy sees it.
#[derive(Clone, Copy)]
pub struct GroupView<'a> {
    /// Position of the group in stream order.
    pub index: usize,
    /// Its values, in stream order.
    pub values: &'a [f32],
    /// Length of the group's rows (the last axis within the group), which
    /// decides where block formats put their block boundaries.
    pub row_len: usize,
    /// The format it will be quantized with.
    pub format: &'a dyn Format,
}

/// One group as the group walk hands it to its work: its place in stream
/// order, its values (gathered when the group is strided), where its result
/// goes, the length of its rows and the rounding context of its first
/// element.
pub struct GroupSlot<'a> {
    /// Position of the group in stream order.
    pub index: usize,
    /// Its input values.
    pub values: &'a [f32],
    /// Where its quantized values go (same length).
    pub out: &'a mut [f32],
    /// The length of its rows (where blocks restart).
    pub row_len: usize,
    /// The group's rounding context.
    pub ctx: RoundCtx,
}

/// How a tensor splits into the groups of a granularity: contiguous runs,
/// or channel groups along an inner axis (gathered and scattered back).
/// [`Layout::map_groups`] hands every group to a function in parallel and
/// collects what it returns in stream order: the one walk over groups that
/// quantizing, clipping (the `quantlab-quantize` crate) and measuring use.
#[derive(Clone, Debug)]
pub struct Layout {
    numel: usize,
    row_len: usize,
    kind: LayoutKind,
}

#[derive(Clone, Debug)]
enum LayoutKind {
    /// Consecutive groups of `len` (the last may be shorter within each row
    /// of `row`, for block granularity).
    Contiguous { len: usize, row: usize },
    /// Channel groups along an inner axis.
    Strided { channels: usize, outer: usize, inner: usize },
}

impl Layout {
    /// The layout of a tensor of `numel` elements of this shape.
    pub fn new(numel: usize, shape: &Shape, gran: Granularity) -> Result<Layout, TensorError> {
        let expected = crate::memory::checked_numel(shape).ok_or_else(|| TensorError::TooLarge(shape.to_vec()))?;
        if expected != numel {
            return Err(TensorError::ShapeMismatch { shape: shape.to_vec(), expected, actual: numel });
        }
        let last = shape.last().copied().unwrap_or(1).max(1);
        let numel1 = numel.max(1);
        Ok(match gran {
            Granularity::Tensor => Layout { numel, row_len: last, kind: LayoutKind::Contiguous { len: numel1, row: numel1 } },
            Granularity::Block { size } => Layout { numel, row_len: size.min(last), kind: LayoutKind::Contiguous { len: size.max(1), row: last } },
            Granularity::Channel { axis } => {
                if axis >= shape.len() {
                    return Err(TensorError::BadAxis { axis, shape: shape.to_vec() });
                }
                let outer: usize = shape[..axis].iter().product();
                let channels = shape[axis].max(1);
                let inner: usize = shape[axis + 1..].iter().product();
                let row_len = if axis + 1 == shape.len() { 1 } else { last };
                if outer == 1 {
                    let len = inner.max(1);
                    Layout { numel, row_len, kind: LayoutKind::Contiguous { len, row: numel1 } }
                } else {
                    Layout { numel, row_len, kind: LayoutKind::Strided { channels, outer, inner } }
                }
            }
        })
    }

    /// The length of the groups' rows (what a clamping strategy sees as
    /// [`GroupView::row_len`]).
    pub fn row_len(&self) -> usize {
        self.row_len
    }

    /// How many groups there are.
    pub fn groups(&self) -> usize {
        match self.kind {
            LayoutKind::Contiguous { len, row } => runs(self.numel, len, row).count(),
            LayoutKind::Strided { channels, .. } => channels,
        }
    }

    /// Run `work` on every group, in parallel, and collect what it returns
    /// in stream order. `x` and `out` have the tensor's length; each group's
    /// result is written into its `out` (scattered back for strided groups).
    /// Results do not depend on the thread count.
    pub fn map_groups<T: Send>(&self, x: &[f32], out: &mut [f32], seed: u64, work: impl Fn(GroupSlot<'_>) -> T + Sync) -> Vec<T> {
        let ctx = RoundCtx::new(seed);
        let row_len = self.row_len;
        match self.kind {
            LayoutKind::Contiguous { len, row } => {
                let groups = self.contiguous_groups(len, row);
                let slices = split_lengths(out, groups.iter().map(|g| g.1));
                groups
                    .par_iter()
                    .enumerate()
                    .zip(slices.into_par_iter())
                    .with_min_len(16)
                    .map(|((index, &(s, l)), out)| work(GroupSlot { index, values: &x[s..s + l], out, row_len, ctx: ctx.offset(s as u64) }))
                    .collect()
            }
            LayoutKind::Strided { channels, outer, inner } => {
                let group_len = outer * inner;
                let results: Vec<(Vec<f32>, T)> = (0..channels)
                    .into_par_iter()
                    .map(|g| {
                        let gathered: Vec<f32> = Layout::strided_positions(channels, outer, inner, g).map(|p| x[p]).collect();
                        let mut o = vec![0.0f32; group_len];
                        let t = work(GroupSlot { index: g, values: &gathered, out: &mut o, row_len, ctx: ctx.offset((g * group_len) as u64) });
                        (o, t)
                    })
                    .collect();
                results
                    .into_iter()
                    .enumerate()
                    .map(|(g, (r, t))| {
                        for (p, &v) in Layout::strided_positions(channels, outer, inner, g).zip(&r) {
                            out[p] = v;
                        }
                        t
                    })
                    .collect()
            }
        }
    }

    /// Contiguous groups as (start, len), in stream order.
    fn contiguous_groups(&self, len: usize, row: usize) -> Vec<(usize, usize)> {
        runs(self.numel, len, row).collect()
    }

    /// The groups as (start, len), in stream order, when each is one run of
    /// the tensor (every granularity but channels along an inner axis);
    /// `None` for strided groups. Lazy: a tensor can have billions.
    pub fn runs(&self) -> Option<impl Iterator<Item = (usize, usize)>> {
        match self.kind {
            LayoutKind::Contiguous { len, row } => Some(runs(self.numel, len, row)),
            LayoutKind::Strided { .. } => None,
        }
    }

    /// Tensor positions of a strided group's elements, in stream order.
    fn strided_positions(channels: usize, outer: usize, inner: usize, g: usize) -> impl Iterator<Item = usize> {
        (0..outer).flat_map(move |o| {
            let base = (o * channels + g) * inner;
            base..base + inner
        })
    }
}

/// Groups of `len` along rows of `row` (the last of a row may be shorter).
fn runs(numel: usize, len: usize, row: usize) -> impl Iterator<Item = (usize, usize)> {
    let (mut s, mut row_end) = (0, 0);
    std::iter::from_fn(move || {
        if s >= numel {
            return None;
        }
        if s == row_end {
            row_end = (s + row).min(numel);
        }
        let l = len.min(row_end - s);
        s += l;
        Some((s - l, l))
    })
}

/// Number of scaling units in a group of `group_len` elements with rows of
/// `row_len` and units of `block` (0: one unit per group).
pub(crate) fn units_in_group(group_len: usize, row_len: usize, block: usize) -> usize {
    if block == 0 || group_len == 0 {
        return 1;
    }
    let row_len = row_len.min(group_len).max(1);
    (group_len / row_len) * row_len.div_ceil(block) + (group_len % row_len).div_ceil(block)
}

/// Unit boundaries inside a group: (offset, len), in stream order.
pub(crate) fn unit_ranges(group_len: usize, row_len: usize, block: usize) -> Vec<(usize, usize)> {
    if block == 0 {
        return vec![(0, group_len)];
    }
    let row_len = row_len.min(group_len).max(1);
    let mut v = Vec::with_capacity(units_in_group(group_len, row_len, block));
    let mut row = 0;
    while row < group_len {
        let end = (row + row_len).min(group_len);
        let mut s = row;
        while s < end {
            let l = block.min(end - s);
            v.push((s, l));
            s += l;
        }
        row = end;
    }
    v
}

/// Split `out` into consecutive disjoint slices of the given lengths.
pub fn split_lengths(out: &mut [f32], lengths: impl Iterator<Item = usize>) -> Vec<&mut [f32]> {
    let mut slices = Vec::with_capacity(lengths.size_hint().0);
    let mut rest = out;
    for l in lengths {
        let (head, tail) = rest.split_at_mut(l);
        slices.push(head);
        rest = tail;
    }
    slices
}

/// Fake-quantize one group (already contiguous, rows of `row_len`) into
/// `out` with a given clip, unit by unit: exactly what [`quantize`] does to
/// each group, so clamping strategies can evaluate candidate clips.
pub fn quantize_group(format: &dyn Format, x: &[f32], out: &mut [f32], row_len: usize, clip: Option<Clip>, ctx: RoundCtx) {
    format.quantize_group(x, out, row_len, clip, ctx);
}

/// [`Format::quantize_group`]'s default: every unit on its own.
pub fn quantize_units<F: Format + ?Sized>(format: &F, x: &[f32], out: &mut [f32], row_len: usize, clip: Option<Clip>, ctx: RoundCtx) {
    let block = format.block_len();
    let row_len = row_len.min(x.len()).max(1);
    if block == 0 || x.len() <= block.min(row_len) {
        format.quantize_unit(x, clip, ctx, out);
    } else if row_len.is_multiple_of(block) && x.len().is_multiple_of(row_len) {
        // Every unit is exactly one block: hand out runs of whole blocks.
        let run = block * (8192 / block).max(1);
        x.par_chunks(run).zip(out.par_chunks_mut(run)).enumerate().for_each(|(r, (xi, oi))| {
            format.quantize_blocks(xi, block, clip, ctx.offset((r * run) as u64), oi);
        });
    } else {
        let ranges = unit_ranges(x.len(), row_len, block);
        let slices = split_lengths(out, ranges.iter().map(|r| r.1));
        ranges.par_iter().zip(slices.into_par_iter()).with_min_len(64).for_each(|(&(off, l), o)| {
            format.quantize_unit(&x[off..off + l], clip, ctx.offset(off as u64), o);
        });
    }
}

/// [`Format::group_quantizer`]'s default, for groups whose units are on
/// their own: blocks within rows, or one unit by its
/// [`Format::unit_quantizer`].
pub(crate) fn units_quantizer<'a, F: Format + ?Sized>(format: &'a F, range: &crate::stats::Stats, row_len: usize, clip: Option<Clip>) -> Option<crate::PartQuantizer<'a>> {
    if format.block_len() == 0 {
        return format.unit_quantizer(range, clip);
    }
    Some(Box::new(move |x: &[f32], ctx: RoundCtx, out: &mut [f32]| quantize_units(format, x, out, row_len, clip, ctx)))
}

/// [`Format::quantize_blocks`]'s default: `quantize_unit` on each block.
pub(crate) fn quantize_blocks_one_by_one<F: Format + ?Sized>(format: &F, x: &[f32], block: usize, clip: Option<Clip>, ctx: RoundCtx, out: &mut [f32]) {
    for (u, (xi, oi)) in x.chunks(block.max(1)).zip(out.chunks_mut(block.max(1))).enumerate() {
        format.quantize_unit(xi, clip, ctx.offset((u * block) as u64), oi);
    }
}

/// [`Format::encode_group`]'s default: the units in order, each with its
/// `meta_words`.
pub fn encode_units<F: Format + ?Sized>(format: &F, x: &[f32], row_len: usize, clip: Option<Clip>, ctx: RoundCtx, codes: &mut [u32], meta: &mut Vec<u32>) -> Result<(), FormatError> {
    let mw = format.meta_words();
    for (off, len) in unit_ranges(x.len(), row_len, format.block_len()) {
        let mut m = vec![0u32; mw];
        format.encode_unit(&x[off..off + len], clip, ctx.offset(off as u64), &mut codes[off..off + len], &mut m)?;
        meta.extend(m);
    }
    Ok(())
}

/// [`Format::decode_group`]'s default.
pub fn decode_units<F: Format + ?Sized>(format: &F, codes: &[u32], meta: &[u32], row_len: usize, out: &mut [f32]) -> Option<usize> {
    let mw = format.meta_words();
    let mut used = 0;
    for (off, len) in unit_ranges(codes.len(), row_len, format.block_len()) {
        let m = meta.get(used..used + mw)?;
        format.decode_unit(&codes[off..off + len], m, &mut out[off..off + len]);
        used += mw;
    }
    Some(used)
}

/// Fake-quantize a tensor without clipping: quantize then dequantize every
/// element, each unit with its own scale. `seed` keys stochastic rounding.
/// (With a clamping strategy: the `quantlab-quantize` crate.)
pub fn quantize(format: &dyn Format, x: &[f32], shape: &Shape, gran: Granularity, seed: u64) -> Result<Vec<f32>, TensorError> {
    let mut out = vec![0.0f32; x.len()];
    quantize_into(format, x, shape, gran, seed, &mut out)?;
    Ok(out)
}

/// [`quantize`] into a caller's buffer of the same length as `x`.
pub fn quantize_into(format: &dyn Format, x: &[f32], shape: &Shape, gran: Granularity, seed: u64, out: &mut [f32]) -> Result<(), TensorError> {
    let layout = Layout::new(x.len(), shape, gran)?;
    format.check_shape(shape)?;
    if out.len() != x.len() {
        return Err(TensorError::ShapeMismatch { shape: shape.to_vec(), expected: x.len(), actual: out.len() });
    }
    layout.map_groups(x, out, seed, |g| quantize_group(format, g.values, g.out, g.row_len, None, g.ctx));
    Ok(())
}

/// A tensor's codes and metadata, in stream order.
#[derive(Clone, Debug, PartialEq)]
pub struct Encoded {
    /// The format's description.
    pub format: String,
    /// The tensor's shape.
    pub shape: Vec<usize>,
    /// How it was grouped.
    pub granularity: Granularity,
    /// Bits of each code.
    pub code_bits: u32,
    /// One code per element, stream order.
    pub codes: Vec<u32>,
    /// Per group in stream order: the group's own words, then
    /// `meta_words` words per unit.
    pub meta: Vec<u32>,
    /// Metadata words per unit.
    pub meta_words: usize,
    /// Metadata bits per unit as the format counts them (wire size).
    pub meta_bits: u32,
    /// Groups, and the words and counted bits of all groups' own levels.
    pub groups: usize,
    /// Words of all groups' own levels in `meta`.
    pub group_words: usize,
    /// Bits of all groups' own levels as counted.
    pub group_bits: u64,
}

impl Encoded {
    /// Bytes on the wire: packed codes plus the metadata of every level as
    /// counted.
    pub fn wire_bytes(&self) -> usize {
        crate::packing::packed_len(self.codes.len(), self.code_bits) * 4 + (self.units() as u64 * self.meta_bits as u64 + self.group_bits).div_ceil(8) as usize
    }

    /// Units: the metadata words below the group levels, `meta_words` each.
    pub fn units(&self) -> usize {
        self.meta.len().saturating_sub(self.group_words).checked_div(self.meta_words).unwrap_or(0)
    }

    /// Bits per element on the wire: [`Encoded::wire_bytes`] over the
    /// elements (codes packed into u32 words, so 6-bit codes take 6.4 bits);
    /// [`bits_per_element`] counts codes at their width.
    pub fn wire_bits_per_element(&self) -> f64 {
        self.wire_bytes() as f64 * 8.0 / self.codes.len().max(1) as f64
    }
}

/// Bytes on the wire of a tensor of this shape encoded at this granularity,
/// without encoding it: packed codes plus metadata, exactly what
/// [`Encoded::wire_bytes`] counts for the same tensor (it depends only on
/// the shape). PipeEdge's per-sample wire size is this for one sample.
pub fn wire_bytes(format: &dyn Format, shape: &Shape, gran: Granularity) -> Result<usize, TensorError> {
    let (numel, meta) = metadata_bits(format, shape, gran)?;
    Ok(crate::packing::packed_len(numel, format.code_bits()) * 4 + (meta as usize).div_ceil(8))
}

/// Bits per element of a tensor of this shape at this granularity: each
/// code at its width plus every level's metadata (scales, zero points,
/// shifts, group scales), as a format stores them, without the u32
/// packing of [`wire_bytes`]. The one definition of a result's
/// `bits_per_element` (NVFP4 4.5, MXFP4 4.25, MX6 6).
pub fn bits_per_element(format: &dyn Format, shape: &Shape, gran: Granularity) -> Result<f64, TensorError> {
    let (numel, meta) = metadata_bits(format, shape, gran)?;
    Ok(format.code_bits() as f64 + meta as f64 / numel.max(1) as f64)
}

/// The element count and the metadata bits of every level.
fn metadata_bits(format: &dyn Format, shape: &Shape, gran: Granularity) -> Result<(usize, u64), TensorError> {
    let c = group_counts(format, shape, gran)?;
    Ok((c.numel, c.units as u64 * format.meta_bits() as u64 + c.group_bits))
}

/// How many units and groups a tensor of this shape has at this
/// granularity, and the words and bits of its groups' own levels: what an
/// encoding of it holds, known from the shape alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GroupCounts {
    /// Elements.
    pub numel: usize,
    /// Scaling units (whether or not the format stores words per unit).
    pub units: usize,
    /// Groups.
    pub groups: usize,
    /// Words of all groups' own levels.
    pub group_words: usize,
    /// Bits of all groups' own levels as counted.
    pub group_bits: u64,
}

/// [`GroupCounts`] of a tensor of this shape at this granularity.
pub(crate) fn group_counts(format: &dyn Format, shape: &Shape, gran: Granularity) -> Result<GroupCounts, TensorError> {
    let (lengths, row_len) = group_lengths(shape, gran)?;
    let numel = crate::memory::checked_numel(shape).ok_or_else(|| TensorError::TooLarge(shape.to_vec()))?;
    let mut c = GroupCounts { numel, units: 0, groups: 0, group_words: 0, group_bits: 0 };
    for &(len, n) in &lengths {
        let u = format.units(len, row_len);
        c.units += n * u;
        c.groups += n;
        c.group_words += n * format.group_meta_words(u);
        c.group_bits += n as u64 * format.group_meta_bits(u);
    }
    Ok(c)
}

/// The groups of a tensor of this shape at this granularity, as (length,
/// how many groups have it), ascending by length (at most three lengths:
/// a shape's groups differ only where a row or the tensor ends early), and
/// the length of the groups' rows (what a clamping strategy sees as
/// [`GroupView::row_len`]). Computed from the shape alone, in constant
/// space, so a plan can be costed for any size.
pub fn group_lengths(shape: &Shape, gran: Granularity) -> Result<(Vec<(usize, usize)>, usize), TensorError> {
    let numel = crate::memory::checked_numel(shape).ok_or_else(|| TensorError::TooLarge(shape.to_vec()))?;
    let plan = Layout::new(numel, shape, gran)?;
    let mut lengths = std::collections::BTreeMap::new();
    let mut add = |len: usize, n: usize| {
        if n > 0 && len > 0 {
            *lengths.entry(len).or_insert(0usize) += n;
        }
    };
    match plan.kind {
        LayoutKind::Contiguous { len, row } => {
            // Whole rows of `row` elements, then a shorter last one.
            for (row_len, rows) in [(row, numel / row), (numel % row, 1)] {
                if rows > 0 && row_len > 0 {
                    add(len.min(row_len), rows * (row_len / len.min(row_len)));
                    add(row_len % len.min(row_len), rows);
                }
            }
        }
        LayoutKind::Strided { channels, outer, inner } => add(outer * inner, channels),
    }
    if numel == 0 {
        lengths.clear();
    }
    Ok((lengths.into_iter().collect(), plan.row_len))
}

/// Where one group's elements are: a run of the tensor, or (channels along
/// an inner axis) its positions.
enum GroupAt {
    Run(usize, usize),
    Positions(Vec<usize>),
}

/// The groups of a layout in stream order, lazily (a tensor can have
/// billions of elements; listing every position took 8 bytes each).
fn group_runs(plan: &Layout) -> Box<dyn Iterator<Item = GroupAt> + '_> {
    match plan.kind {
        LayoutKind::Contiguous { len, row } => Box::new(runs(plan.numel, len, row).map(|(s, l)| GroupAt::Run(s, l))),
        LayoutKind::Strided { channels, outer, inner } => Box::new((0..channels).map(move |g| GroupAt::Positions(Layout::strided_positions(channels, outer, inner, g).collect()))),
    }
}

/// Groups of a tensor as lists of tensor positions (stream order).
#[cfg(test)]
fn group_positions(plan: &Layout) -> Vec<Vec<usize>> {
    let positions = |g| match g {
        GroupAt::Run(s, l) => (s..s + l).collect(),
        GroupAt::Positions(p) => p,
    };
    group_runs(plan).map(positions).collect()
}

/// A group's metadata ran out before its codes did.
fn meta_ends_early() -> TensorError {
    TensorError::Corrupt("metadata ends early".into())
}

/// Encode a tensor to codes and metadata, group `g` clipped to `clips[g]`
/// (the clips a clamping strategy chose, as the group walk returns them;
/// an empty slice: no clip).
pub fn encode(format: &dyn Format, x: &[f32], shape: &Shape, gran: Granularity, clips: &[Option<Clip>], seed: u64) -> Result<Encoded, TensorError> {
    let plan = Layout::new(x.len(), shape, gran)?;
    format.check_shape(shape)?;
    let mut codes = vec![0u32; x.len()];
    let mut meta = Vec::new();
    let ctx = RoundCtx::new(seed);
    let mut base = 0;
    let (mut group_words, mut group_bits, mut groups) = (0, 0, 0);
    let mut gathered = Vec::new();
    for (g, group) in group_runs(&plan).enumerate() {
        // A run of the tensor is read in place; a strided group gathered.
        let group: &[f32] = match group {
            GroupAt::Run(s, l) => &x[s..s + l],
            GroupAt::Positions(p) => {
                gathered.clear();
                gathered.extend(p.iter().map(|&p| x[p]));
                &gathered
            }
        };
        let clip = clips.get(g).copied().flatten();
        format.encode_group(group, plan.row_len, clip, ctx.offset(base as u64), &mut codes[base..base + group.len()], &mut meta)?;
        let units = format.units(group.len(), plan.row_len);
        group_words += format.group_meta_words(units);
        group_bits += format.group_meta_bits(units);
        base += group.len();
        groups += 1;
    }
    Ok(Encoded {
        format: format.describe(),
        shape: shape.to_vec(),
        granularity: gran,
        code_bits: format.code_bits(),
        codes,
        meta,
        meta_words: format.meta_words(),
        meta_bits: format.meta_bits(),
        groups,
        group_words,
        group_bits,
    })
}

/// Whether a format works on a group in row-aligned parts: no group level
/// and no tiles (its [`Format::group_quantizer`] exists; whether it does
/// depends on the format alone).
fn parts_allowed(format: &dyn Format, row_len: usize) -> bool {
    format.group_quantizer(&crate::stats::Stats::default(), row_len, None).is_some()
}

/// The largest group of a tensor of this shape at this granularity
/// (`None` for a shape or granularity that does not apply).
pub fn largest_group(shape: &Shape, gran: Granularity) -> Option<usize> {
    group_lengths(shape, gran).ok().map(|(groups, _)| groups.iter().map(|g| g.0).max().unwrap_or(0))
}

/// Whether a tensor of this shape can be worked on a piece of at most
/// `piece` values at a time (quantized, encoded or decoded in pieces): its
/// groups are runs of the tensor (not channels along an inner axis), and
/// a group larger than a piece can be split into row-aligned parts (no
/// group level, no tiles).
pub fn splits(format: &dyn Format, shape: &Shape, gran: Granularity, piece: usize) -> bool {
    let Some(numel) = crate::memory::checked_numel(shape) else { return false };
    let Ok(layout) = Layout::new(numel, shape, gran) else { return false };
    let (Some(_), Some(largest)) = (layout.runs(), largest_group(shape, gran)) else { return false };
    largest <= piece.max(1) || parts_allowed(format, layout.row_len)
}

/// One group encoded a part at a time, parts in order and starting at row
/// boundaries ([`group_encoder`]): the codes and metadata `encode` gives
/// the whole group.
pub struct GroupEncoder<'a> {
    format: &'a dyn Format,
    row_len: usize,
    clip: Option<Clip>,
    /// A whole-group unit: its metadata, and whether it was handed out.
    unit: Option<(Vec<u32>, crate::PartEncoder<'a>, bool)>,
}

/// An encoder of one group in parts, from the group's range (`Stats`,
/// as for [`Format::unit_quantizer`]) and clip; `None` when the group must
/// be encoded whole (a group level, tiles, or a unit without a
/// [`Format::unit_encoder`]; whether it is `None` depends on the format
/// alone).
pub fn group_encoder<'a>(format: &'a dyn Format, range: &crate::stats::Stats, row_len: usize, clip: Option<Clip>) -> Option<GroupEncoder<'a>> {
    if !parts_allowed(format, row_len) {
        return None;
    }
    let unit = match format.block_len() {
        0 => format.unit_encoder(range, clip).map(|(meta, enc)| (meta, enc, false)),
        _ => None,
    };
    if format.block_len() == 0 && unit.is_none() {
        return None;
    }
    Some(GroupEncoder { format, row_len, clip, unit })
}

impl GroupEncoder<'_> {
    /// Encode the next part (`ctx`: its first element's), its codes into
    /// `codes` and any metadata it completes appended to `meta`.
    pub fn part(&mut self, x: &[f32], ctx: RoundCtx, codes: &mut [u32], meta: &mut Vec<u32>) -> Result<(), FormatError> {
        match &mut self.unit {
            Some((m, encode, handed)) => {
                if !*handed {
                    meta.extend_from_slice(m);
                    *handed = true;
                }
                encode(x, ctx, codes)
            }
            None => encode_units(self.format, x, self.row_len, self.clip, ctx, codes, meta),
        }
    }
}

/// Where codes come from: `(start, out)` fills `out` with the codes from
/// `start` on, in stream order.
pub type CodeRead<'a, E> = dyn FnMut(usize, &mut [u32]) -> Result<(), E> + 'a;

/// [`decode`] a piece at a time, for a container larger than memory: the
/// codes are read on demand (`codes`), `meta` holds all the metadata
/// (a small fraction of the codes), and `sink` gets the values in tensor
/// order, in consecutive pieces of about `piece` values (whole groups, or
/// whole rows of one large group). The same values as `decode`, bit for
/// bit. `Ok(false)`, with nothing done, when the tensor does not
/// [`splits`].
pub fn decode_pieces<E: From<TensorError>>(
    format: &dyn Format,
    shape: &Shape,
    gran: Granularity,
    meta: &[u32],
    piece: usize,
    codes: &mut CodeRead<'_, E>,
    sink: &mut dyn FnMut(&[f32]) -> Result<(), E>,
) -> Result<bool, E> {
    let numel = crate::memory::checked_numel(shape).ok_or_else(|| TensorError::TooLarge(shape.to_vec()))?;
    let layout = Layout::new(numel, shape, gran)?;
    if !splits(format, shape, gran, piece) {
        return Ok(false);
    }
    let runs = layout.runs().expect("splits: contiguous groups");
    let (row_len, piece) = (layout.row_len, piece.max(1));
    let mut d = Decoding { format, meta, row_len, mi: 0, codes: Vec::new(), out: Vec::new() };
    let mut pending: Vec<(usize, usize)> = Vec::new();
    for (s, l) in runs {
        if l <= piece {
            if pending.first().is_some_and(|&(first, _)| s + l - first > piece) {
                d.groups(&mut pending, codes, sink)?;
            }
            pending.push((s, l));
            continue;
        }
        d.groups(&mut pending, codes, sink)?;
        // One large group, in parts of whole rows (a whole-group unit in
        // parts of any length, each decoded with the unit's metadata).
        let unit = format.block_len() == 0;
        let align = if unit { 1 } else { row_len.max(1) };
        let part = (piece / align).max(1) * align;
        let mw = format.meta_words();
        let mut a = 0;
        while a < l {
            let b = (a + part).min(l);
            d.read(s + a, b - a, codes)?;
            let mi = d.mi;
            if unit {
                format.decode_unit(&d.codes, meta.get(mi..mi + mw).ok_or_else(meta_ends_early)?, &mut d.out);
            } else {
                d.mi += decode_units(format, &d.codes, &meta[mi.min(meta.len())..], row_len, &mut d.out).ok_or_else(meta_ends_early)?;
            }
            sink(&d.out)?;
            a = b;
        }
        if unit {
            d.mi += mw;
        }
    }
    d.groups(&mut pending, codes, sink)?;
    if d.mi != meta.len() {
        return Err(TensorError::Corrupt(format!("{} metadata words left over", meta.len() - d.mi)).into());
    }
    Ok(true)
}

/// A [`decode_pieces`] under way: the metadata words used so far, and the
/// piece's codes and values.
struct Decoding<'a> {
    format: &'a dyn Format,
    meta: &'a [u32],
    row_len: usize,
    mi: usize,
    codes: Vec<u32>,
    out: Vec<f32>,
}

impl Decoding<'_> {
    /// Read `len` codes from `start` on.
    fn read<E>(&mut self, start: usize, len: usize, codes: &mut CodeRead<'_, E>) -> Result<(), E> {
        self.codes.resize(len, 0);
        self.out.resize(len, 0.0);
        codes(start, &mut self.codes)
    }

    /// Decode the pending whole groups as one piece.
    fn groups<E: From<TensorError>>(&mut self, pending: &mut Vec<(usize, usize)>, codes: &mut CodeRead<'_, E>, sink: &mut dyn FnMut(&[f32]) -> Result<(), E>) -> Result<(), E> {
        let (Some(&(start, _)), Some(&(s, l))) = (pending.first(), pending.last()) else { return Ok(()) };
        self.read(start, s + l - start, codes)?;
        for &(s, l) in pending.iter() {
            let range = s - start..s - start + l;
            let meta = &self.meta[self.mi.min(self.meta.len())..];
            self.mi += self.format.decode_group(&self.codes[range.clone()], meta, self.row_len, &mut self.out[range]).ok_or_else(meta_ends_early)?;
        }
        pending.clear();
        sink(&self.out)
    }
}

/// Decode codes and metadata back to a tensor (in its original layout).
pub fn decode(format: &dyn Format, enc: &Encoded) -> Result<Vec<f32>, TensorError> {
    let numel: usize = enc.shape.iter().product();
    if enc.codes.len() != numel {
        return Err(TensorError::Corrupt(format!("{} codes for shape {:?}", enc.codes.len(), enc.shape)));
    }
    let plan = Layout::new(numel, &enc.shape, enc.granularity)?;
    let mut out = vec![0.0f32; numel];
    let (mut ci, mut mi) = (0usize, 0usize);
    let mut vals = Vec::new();
    for group in group_runs(&plan) {
        let len = match &group {
            GroupAt::Run(_, l) => *l,
            GroupAt::Positions(p) => p.len(),
        };
        let codes = &enc.codes[ci..ci + len];
        let meta = &enc.meta[mi.min(enc.meta.len())..];
        // A run is decoded in place; a strided group scattered back.
        mi += match &group {
            GroupAt::Run(s, l) => format.decode_group(codes, meta, plan.row_len, &mut out[*s..s + l]),
            GroupAt::Positions(p) => {
                vals.resize(len, 0.0);
                let used = format.decode_group(codes, meta, plan.row_len, &mut vals);
                for (&p, &v) in p.iter().zip(&vals) {
                    out[p] = v;
                }
                used
            }
        }
        .ok_or_else(meta_ends_early)?;
        ci += len;
    }
    if mi != enc.meta.len() {
        return Err(TensorError::Corrupt(format!("{} metadata words left over", enc.meta.len() - mi)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn granularity_parses_and_prints() {
        for s in ["tensor", "channel:0", "channel:2", "block:32"] {
            assert_eq!(s.parse::<Granularity>().unwrap().to_string(), s);
        }
        assert_eq!("channel".parse::<Granularity>().unwrap(), Granularity::Channel { axis: 0 });
        for bad in ["block", "block:0", "chan", "tensor:1", "channel:x"] {
            assert!(bad.parse::<Granularity>().is_err(), "{bad}");
        }
    }

    #[test]
    fn unit_counts_match_ranges() {
        for (g, r, b) in [(100, 10, 4), (64, 64, 32), (10, 3, 2), (7, 7, 0), (96, 32, 32), (5, 100, 2)] {
            assert_eq!(unit_ranges(g, r, b).len(), units_in_group(g, r, b), "{g} {r} {b}");
            assert_eq!(unit_ranges(g, r, b).iter().map(|u| u.1).sum::<usize>(), g);
        }
    }

    /// `group_lengths` counts the groups the walk hands out.
    #[test]
    fn group_lengths_are_the_groups_quantize_shows() {
        for (shape, gran) in [
            (vec![6, 10], Granularity::Tensor),
            (vec![6, 10], Granularity::Channel { axis: 0 }),
            (vec![6, 10], Granularity::Channel { axis: 1 }),
            (vec![2, 3, 4], Granularity::Channel { axis: 1 }),
            (vec![6, 10], Granularity::Block { size: 4 }),
            (vec![6, 10], Granularity::Block { size: 5 }),
            (vec![6, 10], Granularity::Block { size: 64 }),
            (vec![7], Granularity::Block { size: 3 }),
            (vec![], Granularity::Tensor),
        ] {
            let n = shape.iter().product::<usize>();
            let x: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let layout = Layout::new(n, &shape, gran).unwrap();
            let seen = layout.map_groups(&x, &mut vec![0.0; n], 0, |g| (g.index, g.values.len(), g.row_len));
            assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), (0..seen.len()).collect::<Vec<_>>(), "stream order");
            assert_eq!(seen.len(), layout.groups());
            let mut counted = std::collections::BTreeMap::new();
            for &(_, len, _) in &seen {
                *counted.entry(len).or_insert(0usize) += 1;
            }
            let (lengths, row_len) = group_lengths(&shape, gran).unwrap();
            assert_eq!(lengths, counted.into_iter().collect::<Vec<_>>(), "{shape:?} {gran}");
            assert!(seen.iter().all(|&(_, _, r)| r == row_len), "{shape:?} {gran}");
        }
        // Any size is costed without allocating per group.
        let (l, _) = group_lengths(&[1 << 40, 3], Granularity::Block { size: 2 }).unwrap();
        assert_eq!(l, vec![(1, 1 << 40), (2, 1 << 40)]);
        assert!(matches!(group_lengths(&[usize::MAX, 2], Granularity::Tensor), Err(TensorError::TooLarge(_))));
    }

    #[test]
    fn strided_groups_cover_every_position_once() {
        let plan = Layout::new(24, &[2, 3, 4], Granularity::Channel { axis: 1 }).unwrap();
        let mut all: Vec<usize> = group_positions(&plan).concat();
        assert_eq!(group_positions(&plan)[1], vec![4, 5, 6, 7, 16, 17, 18, 19]);
        all.sort();
        assert_eq!(all, (0..24).collect::<Vec<_>>());
    }
}
