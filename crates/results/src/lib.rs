//! # quantlab-results
//!
//! A results folder, the one contract between the runner that writes it
//! and the reports that read it: one [`Row`] per finished cell (a file in
//! `cells/`, written atomically), the tables rebuilt from them
//! (`results.*`, one row per cell; `summary.*`, mean and 95% interval over
//! seeds), the manifest's fingerprint of those tables and its
//! [`SweepSummary`], the folder lock, and the table of [`METRICS`].
//!
//! It knows nothing of formats, data or models: a row is named values.
//!
//! ```
//! use quantlab_results::{Row, Value, summarise};
//! let row = |seed: i64, rmse: f64| {
//!     let mut r = Row::default();
//!     r.push("format", Value::Str("int(bits=4)".into()));
//!     r.push("seed", Value::Int(seed));
//!     r.push("rmse", Value::Float(rmse));
//!     r
//! };
//! let summary = summarise(&[row(0, 0.1), row(1, 0.3)]);
//! assert_eq!(summary[0].get("seeds"), Some(&Value::Int(2)));
//! assert_eq!(summary[0].get("rmse_mean"), Some(&Value::Float(0.2)));
//! ```

#![warn(missing_docs)]

pub mod metric;
pub mod store;

pub use metric::{Metric, Sweep, METRICS};
pub use store::{mean_ci95, summarise, Row, Value};

use serde::{Deserialize, Serialize};

/// What a sweep was, as its manifest records it (`"sweep"`), so a report
/// describes a results folder without the runner or its configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SweepSummary {
    /// The seeds, in the configuration's order.
    pub seeds: Vec<u64>,
    /// The data sources' labels (empty for a model sweep).
    pub sources: Vec<String>,
    /// Expanded formats.
    pub formats: usize,
    /// Clamping strategies.
    pub clamps: usize,
    /// Granularities.
    pub granularities: usize,
    /// A model sweep's model, corpus and what it quantized.
    pub model: Option<ModelSummary>,
}

/// The model of a model sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// The model folder.
    pub path: String,
    /// The corpus file.
    pub sentences: String,
    /// `weights` or `activations`.
    pub quantize: String,
}

impl SweepSummary {
    /// The summary a manifest holds.
    pub fn of_manifest(manifest: &serde_json::Value, origin: &str) -> Result<SweepSummary, String> {
        let s = manifest
            .get("sweep")
            .filter(|s| !s.is_null())
            .ok_or_else(|| format!("{origin}: has no `sweep` entry (written by an older quantlab); run `quantlab run --fresh` on its configuration to rebuild the folder"))?;
        serde_json::from_value(s.clone()).map_err(|e| format!("{origin}: its `sweep` entry is not readable: {e}"))
    }
}
