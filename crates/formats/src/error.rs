//! Errors of format construction, encoding and value listing.

use quantlab_spec::SpecError;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum FormatError {
    /// A description that cannot be read, or a parameter out of range.
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("{format}: {why}")]
    Unsupported { format: String, why: String },
}
