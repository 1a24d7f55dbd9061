//! Errors of format construction, encoding and value listing.

use quantlab_spec::SpecError;
use thiserror::Error;

/// Why a format cannot be built or used.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum FormatError {
    /// A description that cannot be read, or a parameter out of range.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// The format cannot do what was asked (a tile on a 1-D tensor, a scale that cannot hold its range).
    #[error("{format}: {why}")]
    Unsupported {
        /// The format's description.
        format: String,
        /// What it cannot do.
        why: String,
    },
}
