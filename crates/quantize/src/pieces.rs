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
use quantlab_formats::stats::Stats;
use quantlab_formats::{quantize_group, split_lengths, Format, Granularity, GroupView, Layout, RoundCtx, Shape, TensorError};

/// Values each thread quantizes at a time within a part of a large group.
const PART_STEP: usize = 1 << 16;

/// Whether [`quantize_pieces`] can walk a tensor of this shape: not when
/// its groups are channels along an inner axis (gathered, not runs of the
/// tensor), nor when a group is larger than a piece and the format must
/// see such a group whole (a group level, tiles).
pub fn splits(format: &dyn Format, shape: &Shape, gran: Granularity, piece: usize) -> bool {
    let Some(numel) = quantlab_formats::memory::checked_numel(shape) else { return false };
    let Ok(layout) = Layout::new(numel, shape, gran) else { return false };
    let Some(mut runs) = layout.runs() else { return false };
    // Every group has the first one's length or less.
    let largest = runs.next().map_or(0, |(_, l)| l);
    largest <= piece || format.group_quantizer(&Stats::default(), layout.row_len(), None).is_some()
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
    let layout = Layout::new(x.len(), shape, gran)?;
    format.check_shape(shape)?;
    if !splits(format, shape, gran, piece) {
        return Ok(false);
    }
    let runs = layout.runs().expect("splits: contiguous groups");
    let walk = Walk { format, strategy, x, whole, ctx: RoundCtx::new(seed), row_len: layout.row_len() };
    let piece = piece.max(1);
    let mut pending = Pending::default();
    for (index, (s, l)) in runs.enumerate() {
        if l <= piece {
            if pending.values + l > piece {
                walk.small_groups(&mut pending, scratch, &mut sink);
            }
            if pending.groups.is_empty() {
                pending.first = index;
            }
            pending.groups.push((s, l));
            pending.values += l;
        } else {
            walk.small_groups(&mut pending, scratch, &mut sink);
            walk.large_group(index, s, l, piece, scratch, &mut sink);
        }
    }
    walk.small_groups(&mut pending, scratch, &mut sink);
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

/// Where pieces go: (input, quantized values, the clips of the groups that end in it).
type Sink<'a> = dyn FnMut(&[f32], &[f32], &[Chosen]) + 'a;

/// What every group of one walk shares.
struct Walk<'a> {
    format: &'a dyn Format,
    strategy: &'a dyn Strategy,
    x: &'a [f32],
    whole: Option<&'a Stats>,
    ctx: RoundCtx,
    row_len: usize,
}

impl Walk<'_> {
    /// Quantize the pending groups (in parallel) as one piece.
    fn small_groups(&self, pending: &mut Pending, scratch: &mut Vec<f32>, sink: &mut Sink<'_>) {
        let (first, groups) = (pending.first, std::mem::take(&mut pending.groups));
        pending.values = 0;
        let (Some(&(start, _)), Some(&(s, l))) = (groups.first(), groups.last()) else { return };
        let end = s + l;
        scratch.resize(end - start, 0.0);
        let outs = split_lengths(&mut scratch[..], groups.iter().map(|g| g.1));
        let chosen: Vec<Chosen> = groups
            .par_iter()
            .zip(outs.into_par_iter())
            .enumerate()
            .with_min_len(16)
            .map(|(k, (&(s, l), out))| {
                let values = &self.x[s..s + l];
                let chosen = quantlab_clamp::choose(self.strategy, GroupView { index: first + k, values, row_len: self.row_len, format: self.format });
                quantize_group(self.format, values, out, self.row_len, chosen.clip, self.ctx.offset(s as u64));
                chosen
            })
            .collect();
        sink(&self.x[start..end], scratch, &chosen);
    }

    /// A group larger than a piece: its clip chosen on all of it, then
    /// quantized in parts (each in parallel steps).
    fn large_group(&self, index: usize, s: usize, l: usize, piece: usize, scratch: &mut Vec<f32>, sink: &mut Sink<'_>) {
        let (format, row_len, values) = (self.format, self.row_len, &self.x[s..s + l]);
        let view = GroupView { index, values, row_len, format };
        let stats = match self.whole.filter(|_| l == self.x.len()) {
            Some(&stats) => stats,
            None if self.strategy.needs_spread() => Stats::of(values),
            None => Stats::range_of(values),
        };
        let chosen = quantlab_clamp::choose_with(self.strategy, view, &stats);
        let part_of = format.group_quantizer(&stats, row_len, chosen.clip).expect("splits: the format quantizes parts");
        // Parts and steps start at row boundaries, where blocks restart (a
        // whole-group unit splits anywhere).
        let align = if format.block_len() == 0 { 1 } else { row_len.max(1) };
        let rows = |n: usize| (n / align).max(1) * align;
        let (part, step) = (rows(piece), rows(PART_STEP));
        let mut a = 0;
        while a < l {
            let b = (a + part).min(l);
            scratch.resize(b - a, 0.0);
            scratch.par_chunks_mut(step).zip(values[a..b].par_chunks(step)).enumerate().for_each(|(i, (out, xi))| part_of(xi, self.ctx.offset((s + a + i * step) as u64), out));
            let last = if b == l { std::slice::from_ref(&chosen) } else { &[] };
            sink(&values[a..b], scratch, last);
            a = b;
        }
    }
}
