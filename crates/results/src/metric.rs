//! The one table of metrics. A metric is a results column that says how
//! faithful a cell was; everything else about it (the summary's
//! `<metric>_mean`/`_ci95` columns, the names a `[report]` or `[[claim]]`
//! accepts, axis labels, which end is best, log axes) is read from here.
//! Adding a metric is one line below, next to the code that computes it.

/// Which kind of sweep writes a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sweep {
    /// Tensor sweeps (`[[data]]`): one quantized tensor per cell.
    Tensor,
    /// Model sweeps (`[model]`): one model evaluation per cell.
    Model,
}

/// A metric's description.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Metric {
    /// The results column.
    pub name: &'static str,
    /// What it measures, as an axis or a table says it.
    pub label: &'static str,
    /// Its unit, or "" for a pure number.
    pub unit: &'static str,
    /// Whether larger values are better (SQNR, cosine) or smaller (errors).
    pub higher_is_better: bool,
    /// Values spanning decades are drawn on a log axis.
    pub log_axis: bool,
    /// The kind of sweep that writes it.
    pub sweep: Sweep,
}

impl Metric {
    /// `label (unit)`, or the label alone.
    pub fn axis_label(&self) -> String {
        if self.unit.is_empty() {
            self.label.to_string()
        } else {
            format!("{} ({})", self.label, self.unit)
        }
    }
}

const fn m(name: &'static str, label: &'static str, unit: &'static str, higher_is_better: bool, log_axis: bool, sweep: Sweep) -> Metric {
    Metric { name, label, unit, higher_is_better, log_axis, sweep }
}

/// Every metric, in table order: tensor sweeps' (docs/formats.md,
/// "Metrics"), then model sweeps'.
#[rustfmt::skip]
pub const METRICS: &[Metric] = &[
    m("mse", "MSE", "tensor units squared", false, true, Sweep::Tensor),
    m("rmse", "RMSE", "tensor units", false, true, Sweep::Tensor),
    m("sqnr_db", "SQNR", "dB", true, false, Sweep::Tensor),
    m("max_abs_err", "max |error|", "tensor units", false, true, Sweep::Tensor),
    m("mean_rel_err", "mean relative error", "", false, true, Sweep::Tensor),
    m("cosine", "cosine similarity", "", true, false, Sweep::Tensor),
    m("clipped_fraction", "fraction of values clipped", "", false, false, Sweep::Tensor),
    m("underflow_fraction", "fraction flushed to zero", "", false, false, Sweep::Tensor),
    m("bits_per_element", "bits per element", "", false, false, Sweep::Tensor),
    m("cos_mean", "mean cosine similarity to fp32 embeddings", "", true, false, Sweep::Model),
    m("cos_min", "minimum cosine similarity to fp32 embeddings", "", true, false, Sweep::Model),
    m("nn_agreement", "top-1 nearest-neighbour agreement with fp32", "", true, false, Sweep::Model),
    m("spearman", "Spearman correlation of pairwise similarities with fp32", "", true, false, Sweep::Model),
    m("tensor_sqnr_db", "SQNR of the quantized tensors", "dB", true, false, Sweep::Model),
    m("wire_bytes_per_sample", "bytes on the wire per sample and split point", "", false, false, Sweep::Model),
];

/// The metric of a column, if it is one.
pub fn metric(name: &str) -> Option<&'static Metric> {
    METRICS.iter().find(|m| m.name == name)
}

/// The metrics a kind of sweep writes, in table order.
pub fn of_sweep(sweep: Sweep) -> impl Iterator<Item = &'static Metric> {
    METRICS.iter().filter(move |m| m.sweep == sweep)
}

/// A metric by name, or an error naming the nearest one and the valid names.
pub fn lookup(name: &str) -> Result<&'static Metric, String> {
    metric(name).ok_or_else(|| {
        let names: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
        let hint = quantlab_spec::nearest(name, names.iter().copied()).map(|n| format!(", did you mean `{n}`?")).unwrap_or_default();
        format!("unknown metric `{name}`{hint} (valid: {})", names.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_labels_read_as_before() {
        for (i, a) in METRICS.iter().enumerate() {
            assert!(METRICS[i + 1..].iter().all(|b| b.name != a.name), "{} twice", a.name);
        }
        assert_eq!(metric("rmse").unwrap().axis_label(), "RMSE (tensor units)");
        assert_eq!(metric("tensor_sqnr_db").unwrap().axis_label(), "SQNR of the quantized tensors (dB)");
        assert_eq!(metric("cosine").unwrap().axis_label(), "cosine similarity");
        assert!(lookup("rmes").unwrap_err().contains("did you mean `rmse`"));
    }
}
