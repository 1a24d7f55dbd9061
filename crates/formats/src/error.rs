//! Errors of format construction, encoding and value listing.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum FormatError {
    #[error("cannot read format `{text}`: {why}")]
    Syntax { text: String, why: String },
    #[error("unknown format family `{name}`; known: {known}")]
    UnknownFamily { name: String, known: String },
    #[error("{family}: missing parameter `{param}`")]
    Missing { family: String, param: String },
    #[error("{family}: parameter `{param}` = {value} is out of range; valid: {range}")]
    OutOfRange { family: String, param: String, value: String, range: String },
    #[error("{family} has no parameter `{param}`; its parameters: {known}")]
    UnknownParam { family: String, param: String, known: String },
    #[error("{format}: {why}")]
    Unsupported { format: String, why: String },
}
