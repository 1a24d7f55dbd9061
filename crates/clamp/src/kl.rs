//! `kl`: TensorRT-style entropy calibration (Migacz, GTC 2017). A 2048-bin
//! histogram of |x| over [0, max|x|]; for every candidate threshold of `i`
//! bins (from `2^(M-1)` to 2048), the reference distribution P is the first
//! `i` bins with everything beyond folded into the last, Q is P's first `i`
//! bins merged into `2^(M-1)` levels and spread back over the bins that were
//! non-empty; the `i` minimising KL(P || Q) gives `alpha = (i + 0.5) * width`.
//! M is the format's code width; at 12 bits or more there are at least as
//! many levels as bins and nothing is clipped.

use quantlab_formats::{Clip, GroupView, ParamDoc, Params, SpecError};

use crate::{aciq_bits, symmetric, Stats, Strategy, StrategyFamily};

pub const BINS: usize = 2048;

#[derive(Debug)]
pub struct Kl;

/// The threshold (in bins) minimising KL divergence, for `levels` levels.
pub fn best_threshold(hist: &[f64], levels: usize) -> usize {
    let n = hist.len();
    let mut best = (n, f64::INFINITY);
    let mut p = vec![0.0f64; n];
    let mut q = vec![0.0f64; n];
    let mut beyond: f64 = hist[levels.min(n)..].iter().sum();
    for i in levels..=n {
        p[..i].copy_from_slice(&hist[..i]);
        p[i - 1] += beyond;
        if i < n {
            beyond -= hist[i];
        }
        // Merge hist[..i] into `levels` bins and expand over non-empty bins.
        for l in 0..levels {
            let (s, e) = (l * i / levels, (l + 1) * i / levels); // i >= levels: never empty
            let total: f64 = hist[s..e].iter().sum();
            let nonzero = hist[s..e].iter().filter(|&&h| h > 0.0).count();
            for j in s..e {
                q[j] = if hist[j] > 0.0 { total / nonzero as f64 } else { 0.0 };
            }
        }
        let (sp, sq): (f64, f64) = (p[..i].iter().sum(), q[..i].iter().sum());
        if sp == 0.0 || sq == 0.0 {
            continue;
        }
        let mut kl = 0.0;
        for j in 0..i {
            if p[j] > 0.0 {
                let pj = p[j] / sp;
                // An empty Q bin where P has mass: smooth it (as TensorRT's
                // calibrators do) instead of an infinite divergence.
                let qj = (q[j] / sq).max(1e-12);
                kl += pj * (pj / qj).ln();
            }
        }
        if kl < best.1 {
            best = (i, kl);
        }
    }
    best.0
}

impl Strategy for Kl {
    fn needs_spread(&self) -> bool {
        false
    }
    fn describe(&self) -> String {
        "kl".into()
    }
    fn choose(&self, group: GroupView<'_>, stats: &Stats) -> Option<Clip> {
        let bits = aciq_bits(group.format);
        let levels = 1usize << (bits.max(1) - 1).min(20);
        if levels >= BINS || stats.amax == 0.0 {
            return None;
        }
        let width = stats.amax as f64 / BINS as f64;
        let mut hist = vec![0.0f64; BINS];
        for &v in group.values.iter().filter(|v| v.is_finite()) {
            let b = ((v.abs() as f64 / width) as usize).min(BINS - 1);
            hist[b] += 1.0;
        }
        let i = best_threshold(&hist, levels);
        symmetric((i as f64 + 0.5) * width)
    }
}

pub struct Family;
pub static FAMILY: Family = Family;

impl StrategyFamily for Family {
    fn name(&self) -> &'static str {
        "kl"
    }
    fn summary(&self) -> &'static str {
        "TensorRT entropy calibration: the threshold minimising KL divergence (2048-bin histogram of |x|)"
    }
    fn params(&self) -> &'static [ParamDoc] {
        &[]
    }
    fn build(&self, _p: &mut Params) -> Result<Box<dyn Strategy>, SpecError> {
        Ok(Box::new(Kl))
    }
}
