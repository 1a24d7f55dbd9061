//! Errors of format construction, encoding and value listing.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum FormatError {
    #[error("cannot read format `{text}`: {why}")]
    Syntax { text: String, why: String },
    /// `kind` is what was looked up: "format family", "clipping strategy".
    #[error("unknown {kind} `{name}`; known: {known}")]
    UnknownFamily { kind: &'static str, name: String, known: String },
    #[error("{family}: missing parameter `{param}`")]
    Missing { family: String, param: String },
    #[error("{family}: parameter `{param}` = {value} is out of range; valid: {range}")]
    OutOfRange { family: String, param: String, value: String, range: String },
    #[error("{family} has no parameter `{param}`; its parameters: {known}")]
    UnknownParam { family: String, param: String, known: String },
    #[error("{format}: {why}")]
    Unsupported { format: String, why: String },
}
