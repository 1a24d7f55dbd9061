//! # quantlab-clamp
//!
//! Clamping strategies: given one group of values and the format it will be
//! quantized with, choose the clip range, either a symmetric bound `alpha` or
//! `[lo, hi]`. Values outside are clamped, and scaled formats take their
//! scale from the clip (`docs/formats.md`, "Clamping strategies"; Banner
//! et al. 2019 "ACIQ"; PipeEdge's `clamp_op.py`).
//!
//! Every strategy works with every format, per tensor, channel or block:
//! [`choose`] applies one to a group and returns what it chose as a value
//! (the group walk, `quantlab-quantize`, calls it for each group). Adding a strategy is one new file with a
//! [`StrategyFamily`] and one line in [`STRATEGIES`].
//!
//! ## What "M bits" means
//! ACIQ's closed forms model a uniform quantizer with `2^M` bins on
//! `[-alpha, alpha]`. M is the format's code width (`Format::code_bits`):
//! exact for integers, an approximation for float-like formats (AdaptivFloat,
//! minifloat, block float, MX, posit), whose grids are not uniform. For those,
//! `mse` (which measures the actual format) and `percentile` are the sound
//! choices; the ACIQ rules are offered so the comparison can be made.

#![warn(missing_docs)]

pub mod math;

mod aciq_gauss;
mod aciq_gelu;
mod aciq_laplace;
mod kl;
mod mse;
mod none;
mod percentile;
mod pipeedge_auto;
mod ratio;
mod spread;

use std::fmt;

use quantlab_formats::{Clip, Format, GroupView, ParamDoc, Params, Spec, SpecError};

pub use quantlab_formats::stats::Stats;

/// Most quantization passes the `mse` strategy makes over a group.
pub const MSE_PASSES: usize = mse::COARSE + mse::REFINE;

/// A clamping strategy.
pub trait Strategy: Send + Sync + fmt::Debug {
    /// Canonical description; parses back to an equal strategy.
    fn describe(&self) -> String;
    /// The clip for one group, `None` to leave the group's own range.
    /// `stats` summarise the group's finite values (there is at least one);
    /// their spread fields are filled only if [`Strategy::needs_spread`].
    fn choose(&self, group: GroupView<'_>, stats: &Stats) -> Option<Clip>;
    /// Whether `choose` reads `mean`, `mean_abs_dev`, `var` or `mean_sq`
    /// (a second pass over the group).
    fn needs_spread(&self) -> bool {
        true
    }
    /// Whether `choose` reads the group's values, beyond `stats` and their
    /// count (a search, a percentile, a histogram). One that does not can
    /// clip a group too large to hold from its statistics alone
    /// ([`decide`]; its `GroupView` then holds no values).
    fn reads_values(&self) -> bool {
        true
    }
    /// Element-quantizations `choose` makes on a group of `len` elements
    /// (rows of `row_len`) in `format`: the passes of a search that
    /// quantizes candidate clips (`mse`), 0 for a rule that computes its
    /// clip. The runner counts them in its throughput, since they are the
    /// cost of the strategy, not of the runner.
    fn search_quantizations(&self, _len: usize, _row_len: usize, _format: &dyn Format) -> u64 {
        0
    }
}

/// One family of strategies: name, documentation, constructor.
pub trait StrategyFamily: Sync {
    /// The strategy's name, as a description starts.
    fn name(&self) -> &'static str;
    /// One line on what it does, for `quantlab strategies`.
    fn summary(&self) -> &'static str;
    /// Its parameters, defaults and ranges.
    fn params(&self) -> &'static [ParamDoc];
    /// Build a strategy from range-checked parameters.
    fn build(&self, params: &mut Params) -> Result<Box<dyn Strategy>, SpecError>;
}

/// The registry: every strategy quantlab knows.
#[rustfmt::skip] // one line per strategy: adding one is one line
pub static STRATEGIES: &[&dyn StrategyFamily] = &[
    &none::FAMILY,
    &aciq_laplace::FAMILY,
    &aciq_gauss::FAMILY,
    &aciq_gelu::FAMILY,
    &pipeedge_auto::FAMILY,
    &percentile::FAMILY,
    &mse::FAMILY,
    &kl::FAMILY,
    &ratio::FAMILY,
    &spread::FAMILY,
];

/// Build a strategy from its description.
pub fn build(spec: &Spec) -> Result<Box<dyn Strategy>, SpecError> {
    let family = STRATEGIES.iter().find(|f| f.name() == spec.family).ok_or_else(|| SpecError::UnknownFamily {
        kind: "clamping strategy",
        name: spec.family.clone(),
        known: STRATEGIES.iter().map(|f| f.name()).collect::<Vec<_>>().join(", "),
    })?;
    let mut p = Params::new(family.name(), spec.params.clone());
    let strategy = family.build(&mut p)?;
    p.finish()?;
    Ok(strategy)
}

/// Parse and build in one step: `none`, `aciq-laplace(estimator=std)`,
/// `percentile(p=99.99)`, `mse`, `kl`, `ratio(r=0.8)`, `pipeedge-auto`.
pub fn parse(text: &str) -> Result<Box<dyn Strategy>, SpecError> {
    build(&text.parse()?)
}

/// The bit width M that ACIQ's closed forms use for `format`.
pub fn aciq_bits(format: &dyn Format) -> u32 {
    format.code_bits()
}

/// A symmetric clip, or `None` when `alpha` is not a usable positive bound
/// (an all-equal group has no spread: it is left unclipped rather than
/// collapsed to zero). Rules computed in f64 can exceed f32's range for
/// groups near `f32::MAX` (ACIQ's `W(3*4^M) b`); a clip beyond every f32
/// is the largest one, never `inf`.
pub(crate) fn symmetric(alpha: f64) -> Option<Clip> {
    (alpha.is_finite() && alpha > 0.0).then(|| Clip::symmetric(to_f32(alpha)))
}

/// An f64 bound as f32, saturating at `±f32::MAX` instead of rounding to
/// infinity.
pub(crate) fn to_f32(v: f64) -> f32 {
    v.clamp(-(f32::MAX as f64), f32::MAX as f64) as f32
}

/// What a strategy chose for one group, as the results table shows it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Chosen {
    /// The group's position in stream order.
    pub group: usize,
    /// The clip applied, `None` when the group kept its own range.
    pub clip: Option<Clip>,
    /// The range the format actually used: the clip, or the group's
    /// min/max (`alpha` = max|x| for symmetric formats).
    pub range: Clip,
    /// Whether the format wanted a symmetric clip.
    pub symmetric: bool,
    /// Finite values of the group outside the clip (clamped).
    pub clipped: usize,
    /// Finite values of the group.
    pub finite: usize,
    /// NaN values of the group.
    pub nan: usize,
    /// Infinite values of the group.
    pub inf: usize,
    /// Element-quantizations the strategy made to choose
    /// ([`Strategy::search_quantizations`]).
    pub searched: u64,
}

impl fmt::Display for Chosen {
    /// `alpha=<value>` for symmetric formats, `lo=<value> hi=<value>` otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.symmetric {
            write!(f, "alpha={}", self.range.alpha())
        } else {
            write!(f, "lo={} hi={}", self.range.lo, self.range.hi)
        }
    }
}

/// Apply a strategy to one group: the clip it chooses, with what the
/// results table shows of it. A group with no finite value, or whose finite
/// values are all equal, is left unclipped (it has no spread to trade
/// against rounding, so it keeps its value).
pub fn choose(strategy: &dyn Strategy, group: GroupView<'_>) -> Chosen {
    let stats = if strategy.needs_spread() { Stats::of(group.values) } else { Stats::range_of(group.values) };
    choose_with(strategy, group, &stats)
}

/// [`choose`] for a group whose statistics are known: `stats` must be
/// `Stats::of(group.values)` or, for a strategy that does not need the
/// spread, `Stats::range_of(group.values)` (a tensor sweep has its
/// tensors' statistics, so a group that is a whole tensor is not read
/// again for them).
pub fn choose_with(strategy: &dyn Strategy, group: GroupView<'_>, stats: &Stats) -> Chosen {
    let mut chosen = decide_view(strategy, group, group.values.len(), stats);
    if let Some((lo, hi)) = chosen.bounds() {
        chosen.clipped = quantlab_formats::stats::count_outside(group.values, lo, hi);
    }
    chosen
}

/// [`choose_with`] for a group too large to hold, from its statistics
/// alone: its index, its `len` values in rows of `row_len`, the format and
/// `stats` (as for `choose_with`). Only for a strategy that does not
/// [`Strategy::reads_values`]. `clipped` is left 0: the caller counts the
/// finite values outside [`Chosen::bounds`] as it reads them.
pub fn decide(strategy: &dyn Strategy, index: usize, len: usize, row_len: usize, format: &dyn Format, stats: &Stats) -> Chosen {
    debug_assert!(!strategy.reads_values(), "{} reads values", strategy.describe());
    decide_view(strategy, GroupView { index, values: &[], row_len, format }, len, stats)
}

fn decide_view(strategy: &dyn Strategy, group: GroupView<'_>, len: usize, stats: &Stats) -> Chosen {
    let stats = if strategy.needs_spread() { *stats } else { Stats { count: stats.count, nan: stats.nan, inf: stats.inf, min: stats.min, max: stats.max, amax: stats.amax, ..Stats::default() } };
    let decides = stats.count > 0 && stats.min != stats.max;
    let clip = if decides { strategy.choose(group, &stats) } else { None };
    let symmetric = !group.format.asymmetric();
    let own = if symmetric { Clip::symmetric(stats.amax) } else { Clip { lo: stats.min.min(stats.max), hi: stats.max.max(stats.min) } };
    let own = if stats.count == 0 { Clip { lo: 0.0, hi: 0.0 } } else { own };
    let range = match clip {
        None => own,
        Some(c) if symmetric => Clip::symmetric(c.alpha()),
        // Asymmetric formats use the data range cut to the clip.
        Some(c) => Clip { lo: own.lo.clamp(c.lo, c.hi), hi: own.hi.clamp(c.lo, c.hi) },
    };
    let searched = if decides { strategy.search_quantizations(len, group.row_len, group.format) } else { 0 };
    Chosen { group: group.index, clip, range, symmetric, clipped: 0, finite: stats.count, nan: stats.nan, inf: stats.inf, searched }
}

impl Chosen {
    /// The bounds finite values are clamped to, when the group is clipped.
    pub fn bounds(&self) -> Option<(f32, f32)> {
        self.clip.map(|c| if self.symmetric { (-c.alpha(), c.alpha()) } else { (c.lo, c.hi) })
    }
}

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
