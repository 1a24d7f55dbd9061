//! # quantlab-tensors
//!
//! Turns data descriptions into named f32 tensors for quantlab. Today: NumPy
//! `.npy` files (f16, f32, f64; C or Fortran order; any rank), read and
//! written with the `npyz` crate. Synthetic distributions and safetensors
//! model weights come next (issue 4).
//!
//! Every error names the file and what is wrong with it; nothing panics on a
//! malformed file.

mod npy;
pub mod synthetic;

pub use npy::{read_npy, write_npy};

/// A named tensor in row-major (C) order.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub name: String,
    /// The dtype it was stored as (`f32`, `f16`, ...).
    pub dtype: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Tensor {
    pub fn numel(&self) -> usize {
        self.data.len()
    }
}

/// Why a tensor could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TensorError {
    #[error("{path}: cannot open: {source}")]
    Open { path: String, source: std::io::Error },
    #[error("{path}: {why}")]
    Invalid { path: String, why: String },
    #[error("{path}: cannot write: {source}")]
    Write { path: String, source: std::io::Error },
}
