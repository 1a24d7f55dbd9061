//! What quantizing a set of tensors did, pooled over them: squared values
//! and squared errors (the pooled SQNR), elements the clip moved, and the
//! clips chosen. Weight and activation quantization both keep one.

use quantlab_clamp::Chosen;

/// What quantizing a set of tensors did, pooled over them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tally {
    /// Elements quantized.
    pub elements: u64,
    /// Sum of squared values and of squared errors.
    pub sum_sq: f64,
    /// See `sum_sq`.
    pub sum_sq_err: f64,
    /// Elements that the clip moved.
    pub clipped: u64,
    /// Sum of the chosen clips (alpha) over groups, and the groups.
    pub alpha_sum: f64,
    /// See `alpha_sum`.
    pub groups: u64,
    /// Element-quantizations the clip searches made (`Chosen::searched`).
    pub searched: u64,
}

impl Tally {
    /// Count one tensor `x`, its quantized copy `q` and its clamper's choices.
    pub fn add(&mut self, x: &[f32], q: &[f32], chosen: &[Chosen]) {
        for (&a, &b) in x.iter().zip(q) {
            self.sum_sq += (a as f64) * (a as f64);
            self.sum_sq_err += ((a - b) as f64).powi(2);
        }
        self.elements += x.len() as u64;
        self.clipped += chosen.iter().map(|c| c.clipped as u64).sum::<u64>();
        self.alpha_sum += chosen.iter().map(|c| c.range.alpha() as f64).sum::<f64>();
        self.groups += chosen.len() as u64;
        self.searched += chosen.iter().map(|c| c.searched).sum::<u64>();
    }

    /// Add another tally's counts.
    pub fn merge(&mut self, other: &Tally) {
        self.elements += other.elements;
        self.sum_sq += other.sum_sq;
        self.sum_sq_err += other.sum_sq_err;
        self.clipped += other.clipped;
        self.alpha_sum += other.alpha_sum;
        self.groups += other.groups;
        self.searched += other.searched;
    }

    /// Element-quantizations made: every element once, plus the clip searches.
    pub fn quantizations(&self) -> u64 {
        self.elements + self.searched
    }

    /// `10 log10(sum x^2 / sum (x - q)^2)`; +inf when exact.
    pub fn sqnr_db(&self) -> f64 {
        quantlab_quantize::error::sqnr_db(self.sum_sq, self.sum_sq_err)
    }

    /// Share of elements the clip moved.
    pub fn clipped_fraction(&self) -> f64 {
        self.clipped as f64 / self.elements.max(1) as f64
    }

    /// Mean chosen clip over groups.
    pub fn clip_alpha(&self) -> f64 {
        self.alpha_sum / self.groups.max(1) as f64
    }
}
