//! The group walk a piece at a time, for tensors whose quantized copy
//! should not be held whole (a 500 M-value embedding matrix is 2 GB as
//! f32, and a sweep runs several cells of it at once).
//!
//! Small groups (channels, blocks) are gathered into pieces of whole
//! groups; a group larger than a piece has its clip chosen on all of it
//! and is then quantized in parts that start at its row boundaries, by the
//! format's [`Format::group_quantizer`]. Every value, clip and rounding
//! context is the one [`crate::quantize_into`] gives.

use rayon::prelude::*;

use quantlab_clamp::{Chosen, Strategy};
use quantlab_formats::stats::{count_outside, FirstPass, Stats};
use quantlab_formats::{quantize_group, split_lengths, Format, Granularity, GroupView, Layout, RoundCtx, Shape, TensorError};

/// Values each thread quantizes at a time within a part of a large group.
const PART_STEP: usize = 1 << 16;

/// Whether [`quantize_pieces`] can walk a tensor of this shape: not when
/// its groups are channels along an inner axis (gathered, not runs of the
/// tensor), nor when a group is larger than a piece and the format must
/// see such a group whole (a group level, tiles).
pub use quantlab_formats::splits;

/// Whether [`quantize_streamed`] can walk a tensor of this shape: it
/// [`splits`], and a group larger than a piece can be clipped from its
/// statistics (a strategy that does not [`Strategy::reads_values`]).
pub fn streams(format: &dyn Format, strategy: &dyn Strategy, shape: &Shape, gran: Granularity, piece: usize) -> bool {
    let small = quantlab_formats::largest_group(shape, gran).is_some_and(|l| l <= piece.max(1));
    splits(format, shape, gran, piece) && (small || !strategy.reads_values())
}

/// [`crate::quantize_into`] a piece at a time: `sink` gets consecutive
/// pieces of the tensor in order, each as (its input, its fake-quantized
/// values, the clips chosen for the groups that end in it), pieces of
/// about `piece` values (whole groups, or whole rows of one large group),
/// the quantized values in `scratch`. Concatenated, the pieces are what
/// `quantize_into` makes, bit for bit. `whole`, when the caller has it,
/// is `Stats::of(x)`: a group that is the whole tensor then has its clip
/// chosen without reading it again. `Ok(false)`, with nothing done, when
/// the tensor does not split ([`splits`]).
#[allow(clippy::too_many_arguments)]
pub fn quantize_pieces(
    format: &dyn Format,
    strategy: &dyn Strategy,
    x: &[f32],
    shape: &Shape,
    gran: Granularity,
    seed: u64,
    piece: usize,
    whole: Option<&Stats>,
    scratch: &mut Vec<f32>,
    mut sink: impl FnMut(&[f32], &[f32], &[Chosen]),
) -> Result<bool, TensorError> {
    let mut values = Values::Memory { x, whole };
    walk::<TensorError>(format, strategy, &mut values, shape, gran, seed, piece, scratch, None, &mut |p| {
        sink(p.x, p.q, p.chosen);
        Ok(())
    })
}

/// [`quantize_pieces`] for a tensor that is not in memory (a file larger
/// than memory): `read(start, out)` fills `out` with the values from
/// `start` on, as they are needed, so memory holds a piece of input and
/// one of output. A group larger than a piece is read in pieces: once for
/// its range (twice when the strategy needs the spread), once to quantize
/// it. `Ok(false)`, with nothing done, when the tensor does not split, or
/// a group larger than a piece would have to be seen whole by its strategy
/// ([`Strategy::reads_values`]: a percentile, a search).
#[allow(clippy::too_many_arguments)]
pub fn quantize_streamed<E: From<TensorError>>(
    format: &dyn Format,
    strategy: &dyn Strategy,
    shape: &Shape,
    gran: Granularity,
    seed: u64,
    piece: usize,
    read: &mut Read<'_, E>,
    sink: &mut Sink<'_, E>,
) -> Result<bool, E> {
    read_walk(format, strategy, shape, gran, seed, piece, read, None, &mut |p| sink(p.x, p.q, p.chosen))
}

/// The walk over values read on demand, with codes or without, after the
/// checks that it can be done.
#[allow(clippy::too_many_arguments)]
fn read_walk<E: From<TensorError>>(
    format: &dyn Format,
    strategy: &dyn Strategy,
    shape: &Shape,
    gran: Granularity,
    seed: u64,
    piece: usize,
    read: &mut Read<'_, E>,
    codes: Option<&mut Codes>,
    sink: &mut PieceSink<'_, E>,
) -> Result<bool, E> {
    let numel = quantlab_formats::memory::checked_numel(shape).ok_or_else(|| TensorError::TooLarge(shape.to_vec()))?;
    Layout::new(numel, shape, gran)?;
    let can = match codes {
        None => streams(format, strategy, shape, gran, piece),
        Some(_) => encode_streams(format, strategy, shape, gran, piece),
    };
    if !can {
        return Ok(false);
    }
    let mut values = Values::Read { read, numel, buffer: Vec::new() };
    walk(format, strategy, &mut values, shape, gran, seed, piece, &mut Vec::new(), codes, sink)
}

/// Whether [`encode_streamed`] can walk a tensor of this shape: it
/// [`streams`], and a group larger than a piece can be encoded in parts
/// (`formats::group_encoder`).
pub fn encode_streams(format: &dyn Format, strategy: &dyn Strategy, shape: &Shape, gran: Granularity, piece: usize) -> bool {
    let Ok((groups, row_len)) = quantlab_formats::group_lengths(shape, gran) else { return false };
    let small = groups.iter().all(|g| g.0 <= piece.max(1));
    streams(format, strategy, shape, gran, piece) && (small || quantlab_formats::group_encoder(format, &Stats::default(), row_len, None).is_some())
}

/// [`quantize_streamed`] that also encodes: `sink` gets, with each
/// piece's input and values, its codes and the metadata words completed
/// in it, in the order of [`crate::encode`]'s (the container's) codes and
/// metadata, bit for bit. `Ok(false)`, with nothing done, when the tensor
/// does not stream this way ([`encode_streams`]). An input the format has
/// no code for (NaN in most formats) is an error.
#[allow(clippy::too_many_arguments)]
pub fn encode_streamed<E: From<TensorError>>(
    format: &dyn Format,
    strategy: &dyn Strategy,
    shape: &Shape,
    gran: Granularity,
    seed: u64,
    piece: usize,
    read: &mut Read<'_, E>,
    sink: &mut EncodeSink<'_, E>,
) -> Result<bool, E> {
    read_walk(format, strategy, shape, gran, seed, piece, read, Some(&mut Codes::default()), &mut |p| sink(p.x, p.q, p.codes, p.meta))
}

/// Where encoded pieces go: (input, values, codes, the metadata words
/// completed in the piece).
pub type EncodeSink<'a, E> = dyn FnMut(&[f32], &[f32], &[u32], &[u32]) -> Result<(), E> + 'a;

/// A piece as the walk hands it out.
struct Piece<'a> {
    x: &'a [f32],
    q: &'a [f32],
    chosen: &'a [Chosen],
    codes: &'a [u32],
    meta: &'a [u32],
}

/// Codes and metadata of the piece being encoded.
#[derive(Default)]
struct Codes {
    codes: Vec<u32>,
    meta: Vec<u32>,
}

/// Where a walk's input values are.
enum Values<'a, E> {
    /// In memory, with the whole's statistics when the caller has them.
    Memory { x: &'a [f32], whole: Option<&'a Stats> },
    /// Read on demand into `buffer`.
    Read { read: &'a mut Read<'a, E>, numel: usize, buffer: Vec<f32> },
}

impl<E> Values<'_, E> {
    fn len(&self) -> usize {
        match self {
            Values::Memory { x, .. } => x.len(),
            Values::Read { numel, .. } => *numel,
        }
    }

    /// Values `start..end`.
    fn get(&mut self, start: usize, end: usize) -> Result<&[f32], E> {
        match self {
            Values::Memory { x, .. } => Ok(&x[start..end]),
            Values::Read { read, buffer, .. } => {
                buffer.resize(end - start, 0.0);
                read(start, buffer)?;
                Ok(buffer)
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn walk<E: From<TensorError>>(
    format: &dyn Format,
    strategy: &dyn Strategy,
    values: &mut Values<'_, E>,
    shape: &Shape,
    gran: Granularity,
    seed: u64,
    piece: usize,
    scratch: &mut Vec<f32>,
    mut codes: Option<&mut Codes>,
    sink: &mut PieceSink<'_, E>,
) -> Result<bool, E> {
    let layout = Layout::new(values.len(), shape, gran)?;
    format.check_shape(shape).map_err(TensorError::from)?;
    if !splits(format, shape, gran, piece) {
        return Ok(false);
    }
    let runs = layout.runs().expect("splits: contiguous groups");
    let walk = Walk { format, strategy, ctx: RoundCtx::new(seed), row_len: layout.row_len() };
    let piece = piece.max(1);
    let mut pending = Pending::default();
    for (index, (s, l)) in runs.enumerate() {
        if l <= piece {
            if pending.values + l > piece {
                walk.small_groups(values, &mut pending, scratch, codes.as_deref_mut(), sink)?;
            }
            if pending.groups.is_empty() {
                pending.first = index;
            }
            pending.groups.push((s, l));
            pending.values += l;
        } else {
            walk.small_groups(values, &mut pending, scratch, codes.as_deref_mut(), sink)?;
            walk.large_group(values, index, s, l, piece, scratch, codes.as_deref_mut(), sink)?;
        }
    }
    walk.small_groups(values, &mut pending, scratch, codes, sink)?;
    Ok(true)
}

/// Consecutive small groups waiting to be quantized as one piece.
#[derive(Default)]
struct Pending {
    /// The first one's index.
    first: usize,
    /// Their runs (start, len).
    groups: Vec<(usize, usize)>,
    /// Their values.
    values: usize,
}

/// Where pieces go: (input, quantized values, the clips of the groups that
/// end in it).
pub type Sink<'a, E> = dyn FnMut(&[f32], &[f32], &[Chosen]) -> Result<(), E> + 'a;

/// Where the walk's pieces go.
type PieceSink<'a, E> = dyn FnMut(Piece<'_>) -> Result<(), E> + 'a;

/// Where values come from: `(start, out)` fills `out` with the values from
/// `start` on.
pub type Read<'a, E> = dyn FnMut(usize, &mut [f32]) -> Result<(), E> + 'a;

/// What every group of one walk shares.
struct Walk<'a> {
    format: &'a dyn Format,
    strategy: &'a dyn Strategy,
    ctx: RoundCtx,
    row_len: usize,
}

impl Walk<'_> {
    /// Quantize the pending groups (in parallel) as one piece.
    fn small_groups<E: From<TensorError>>(&self, values: &mut Values<'_, E>, pending: &mut Pending, scratch: &mut Vec<f32>, codes: Option<&mut Codes>, sink: &mut PieceSink<'_, E>) -> Result<(), E> {
        let (first, groups) = (pending.first, std::mem::take(&mut pending.groups));
        pending.values = 0;
        let (Some(&(start, _)), Some(&(s, l))) = (groups.first(), groups.last()) else { return Ok(()) };
        let end = s + l;
        let x = values.get(start, end)?;
        scratch.resize(end - start, 0.0);
        let outs = split_lengths(&mut scratch[..], groups.iter().map(|g| g.1));
        let chosen: Vec<Chosen> = groups
            .par_iter()
            .zip(outs.into_par_iter())
            .enumerate()
            .with_min_len(16)
            .map(|(k, (&(s, l), out))| {
                let values = &x[s - start..s - start + l];
                let chosen = quantlab_clamp::choose(self.strategy, GroupView { index: first + k, values, row_len: self.row_len, format: self.format });
                quantize_group(self.format, values, out, self.row_len, chosen.clip, self.ctx.offset(s as u64));
                chosen
            })
            .collect();
        let Some(c) = codes else { return sink(Piece { x, q: scratch, chosen: &chosen, codes: &[], meta: &[] }) };
        c.codes.resize(end - start, 0);
        c.meta.clear();
        for (&(s, l), chosen) in groups.iter().zip(&chosen) {
            let range = s - start..s - start + l;
            self.format.encode_group(&x[range.clone()], self.row_len, chosen.clip, self.ctx.offset(s as u64), &mut c.codes[range], &mut c.meta).map_err(TensorError::from)?;
        }
        sink(Piece { x, q: scratch, chosen: &chosen, codes: &c.codes, meta: &c.meta })
    }

    /// A group larger than a piece: its clip chosen on all of it (in
    /// memory) or on its statistics (read in pieces), then quantized in
    /// parts (each in parallel steps).
    #[allow(clippy::too_many_arguments)]
    fn large_group<E: From<TensorError>>(
        &self,
        values: &mut Values<'_, E>,
        index: usize,
        s: usize,
        l: usize,
        piece: usize,
        scratch: &mut Vec<f32>,
        mut codes: Option<&mut Codes>,
        sink: &mut PieceSink<'_, E>,
    ) -> Result<(), E> {
        let (format, row_len) = (self.format, self.row_len);
        // Parts and steps start at row boundaries, where blocks restart (a
        // whole-group unit splits anywhere).
        let align = if format.block_len() == 0 { 1 } else { row_len.max(1) };
        let rows = |n: usize| (n / align).max(1) * align;
        let (part, step) = (rows(piece), rows(PART_STEP));
        let parts = |each: &mut dyn FnMut(usize, usize) -> Result<(), E>| -> Result<(), E> {
            let mut a = 0;
            while a < l {
                let b = (a + part).min(l);
                each(a, b)?;
                a = b;
            }
            Ok(())
        };
        let (mut chosen, stats) = match values {
            Values::Memory { x, whole } => {
                let group = &x[s..s + l];
                let stats = match whole.filter(|_| l == x.len()) {
                    Some(&stats) => stats,
                    None if self.strategy.needs_spread() => Stats::of(group),
                    None => Stats::range_of(group),
                };
                (quantlab_clamp::choose_with(self.strategy, GroupView { index, values: group, row_len, format }, &stats), stats)
            }
            Values::Read { .. } => {
                let mut first = FirstPass::default();
                parts(&mut |a, b| {
                    first.add(values.get(s + a, s + b)?);
                    Ok(())
                })?;
                let mut second = first.finish();
                let stats = if self.strategy.needs_spread() {
                    parts(&mut |a, b| {
                        second.add(values.get(s + a, s + b)?);
                        Ok(())
                    })?;
                    second.finish()
                } else {
                    second.range()
                };
                (quantlab_clamp::decide(self.strategy, index, l, row_len, format, &stats), stats)
            }
        };
        let counted = matches!(values, Values::Memory { .. });
        let part_of = format.group_quantizer(&stats, row_len, chosen.clip).expect("splits: the format quantizes parts");
        let mut encoder = codes.is_some().then(|| quantlab_formats::group_encoder(format, &stats, row_len, chosen.clip).expect("encode_streams: the format encodes parts"));
        parts(&mut |a, b| {
            let x = values.get(s + a, s + b)?;
            scratch.resize(b - a, 0.0);
            scratch.par_chunks_mut(step).zip(x.par_chunks(step)).enumerate().for_each(|(i, (out, xi))| part_of(xi, self.ctx.offset((s + a + i * step) as u64), out));
            if let (false, Some((lo, hi))) = (counted, chosen.bounds()) {
                chosen.clipped += count_outside(x, lo, hi);
            }
            let last = if b == l { std::slice::from_ref(&chosen) } else { &[] };
            let (Some(c), Some(encoder)) = (codes.as_deref_mut(), encoder.as_mut()) else { return sink(Piece { x, q: scratch, chosen: last, codes: &[], meta: &[] }) };
            c.codes.resize(b - a, 0);
            c.meta.clear();
            encoder.part(x, self.ctx.offset((s + a) as u64), &mut c.codes, &mut c.meta).map_err(TensorError::from)?;
            sink(Piece { x, q: scratch, chosen: last, codes: &c.codes, meta: &c.meta })
        })
    }
}
