//! `mse`: the clip that minimises the actual quantization MSE of the group
//! in the actual format, found through the format trait, so it serves
//! AdaptivFloat, MX or posit as well as integers.
//!
//! The search is over a shrink factor `t` in (0, 1]: a symmetric clip
//! `t * max|x|`, or for asymmetric formats the range `[t * min, t * max]`.
//! A coarse grid of [`COARSE`] points is followed by a golden-section
//! refinement of [`REFINE`] evaluations around the best, so a group costs at
//! most `COARSE + REFINE` = 38 quantization passes. With `sample=N`, groups
//! larger than N are searched on evenly spaced whole units (rows, or blocks
//! of the format) totalling about N elements.

use quantlab_formats::{quantize_group, Clip, Format, GroupView, ParamDoc, Params, RoundCtx, SpecError};

use quantlab_formats::simd::{finite, for_each_lane_pair, LANES};

use crate::{Stats, Strategy, StrategyFamily};

pub const COARSE: usize = 20;
pub const REFINE: usize = 18;

#[derive(Debug)]
pub struct MseSearch {
    /// Search on a subsample of about this many elements (0: all).
    pub sample: usize,
}

fn candidate(t: f64, stats: &Stats, asymmetric: bool) -> Clip {
    if asymmetric {
        Clip { lo: crate::to_f32(t * stats.min as f64), hi: crate::to_f32(t * stats.max as f64) }
    } else {
        Clip::symmetric((t * stats.amax as f64) as f32)
    }
}

/// Mean squared error of quantizing `x` (rows of `row_len`, `finite` of
/// them finite) with `clip`.
fn quantization_mse(group: GroupView<'_>, x: &[f32], finite: usize, row_len: usize, clip: Clip, scratch: &mut [f32]) -> f64 {
    quantize_group(group.format, x, scratch, row_len, Some(clip), RoundCtx::default());
    squared_error(x, scratch) / finite.max(1) as f64
}

quantlab_formats::kernel! {
    /// Sum of squared differences over finite `x`, in the fixed lane order
    /// of `quantlab_formats::simd::LANES`.
    fn squared_error(x: &[f32], q: &[f32]) -> f64 {
        let mut se = [0.0f64; LANES];
        for_each_lane_pair(x, q, |i, a, b| {
            let d = a as f64 - b as f64;
            let d = if finite(a) { d } else { 0.0 };
            se[i] += d * d;
        });
        se.iter().sum()
    }
}

/// How many segments of `seg` elements [`subsample`] takes from `len`:
/// enough for `want` elements, at least one, at most all whole segments.
fn segments_taken(len: usize, seg: usize, want: usize) -> usize {
    want.div_ceil(seg).clamp(1, (len / seg).max(1))
}

/// Evenly spaced whole segments (units of `seg` elements) of about `want`
/// elements: `segments_taken` of them (all of `x` if it is shorter than one).
fn subsample(x: &[f32], seg: usize, want: usize) -> Vec<f32> {
    let segs = x.len() / seg;
    let take = segments_taken(x.len(), seg, want);
    (0..take)
        .flat_map(|i| {
            let s = i * segs / take * seg;
            x[s..(s + seg).min(x.len())].iter().copied()
        })
        .collect()
}

impl MseSearch {
    /// The unit the search subsamples a group of `len` elements in whole
    /// runs of, or `None` to search the whole group.
    fn sample_unit(&self, len: usize, row_len: usize, format: &dyn Format) -> Option<usize> {
        (self.sample > 0 && len > self.sample).then(|| match format.block_len() {
            0 if row_len <= self.sample / 8 => row_len,
            0 => 1024.min(row_len),
            b => b.min(row_len),
        })
    }
}

impl Strategy for MseSearch {
    fn needs_spread(&self) -> bool {
        false
    }
    fn describe(&self) -> String {
        if self.sample == 0 {
            "mse".into()
        } else {
            format!("mse(sample={})", self.sample)
        }
    }

    /// Every candidate quantizes the searched elements once: `COARSE +
    /// REFINE` passes over the group, or over its subsample.
    fn search_quantizations(&self, len: usize, row_len: usize, format: &dyn Format) -> u64 {
        let searched = match self.sample_unit(len, row_len.max(1), format) {
            Some(unit) => (segments_taken(len, unit, self.sample) * unit).min(len),
            None => len,
        };
        ((COARSE + REFINE) * searched) as u64
    }

    fn choose(&self, group: GroupView<'_>, stats: &Stats) -> Option<Clip> {
        if stats.amax == 0.0 {
            return None;
        }
        let asymmetric = group.format.asymmetric();
        let mut row_len = group.row_len.max(1);
        let sampled;
        // The finite values searched: the group's are counted in `stats`.
        let (x, finite) = match self.sample_unit(group.values.len(), row_len, group.format) {
            Some(unit) => {
                sampled = subsample(group.values, unit, self.sample);
                row_len = unit;
                (&sampled[..], sampled.iter().filter(|v| v.is_finite()).count())
            }
            None => (group.values, stats.count),
        };
        let mut scratch = vec![0.0f32; x.len()];
        let mut eval = |t: f64| quantization_mse(group, x, finite, row_len, candidate(t, stats, asymmetric), &mut scratch);
        let step = 1.0 / COARSE as f64;
        let (mut best_t, mut best) = (1.0, f64::INFINITY);
        for k in 1..=COARSE {
            let t = k as f64 * step;
            let e = eval(t);
            if e < best {
                (best_t, best) = (t, e);
            }
        }
        // Golden-section refinement in the bracket around the coarse best.
        let (mut lo, mut hi) = ((best_t - step).max(step * 0.05), (best_t + step).min(1.0));
        let r = (5f64.sqrt() - 1.0) / 2.0;
        let (mut c, mut d) = (hi - r * (hi - lo), lo + r * (hi - lo));
        let (mut fc, mut fd) = (eval(c), eval(d));
        for _ in 2..REFINE {
            if fc < fd {
                (hi, d, fd) = (d, c, fc);
                c = hi - r * (hi - lo);
                fc = eval(c);
            } else {
                (lo, c, fc) = (c, d, fd);
                d = lo + r * (hi - lo);
                fd = eval(d);
            }
        }
        for (t, e) in [(c, fc), (d, fd)] {
            if e < best {
                (best_t, best) = (t, e);
            }
        }
        Some(candidate(best_t, stats, asymmetric))
    }
}

pub struct Family;
pub static FAMILY: Family = Family;

impl StrategyFamily for Family {
    fn name(&self) -> &'static str {
        "mse"
    }
    fn summary(&self) -> &'static str {
        "search the clip minimising the actual quantization MSE (at most 38 passes)"
    }
    fn params(&self) -> &'static [ParamDoc] {
        &[ParamDoc { name: "sample", default: "0 (all)", range: "0..=2^40", help: "search on a subsample of about this many elements" }]
    }
    fn build(&self, p: &mut Params) -> Result<Box<dyn Strategy>, SpecError> {
        let sample = p.int("sample", Some(0), 0, 1 << 40)? as usize;
        Ok(Box::new(MseSearch { sample }))
    }
}
