//! # quantlab-tensors
//!
//! Turns a data description into named f32 tensors: seeded synthetic
//! distributions (statrs), NumPy `.npy` files (f16, f32, f64; C or Fortran
//! order; any rank) and safetensors model weights (a file or a sharded model
//! folder, memory-mapped; f32, f16, bf16, f64). Each tensor keeps its name and
//! shape. [`stats::TensorStats`] summarises a tensor for `quantlab inspect`.
//!
//! Every error names the file (and tensor) and what is wrong; nothing panics
//! on a malformed file.

pub mod glob;
mod npy;
pub mod safetensors_file;
pub mod stats;
pub mod synthetic;

use std::path::{Path, PathBuf};

pub use glob::NameFilter;
pub use npy::{read_npy, write_npy};

/// A named tensor in row-major (C) order.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub name: String,
    /// The dtype it was stored as (`f32`, `f16`, `bf16`, `f64`, or `synthetic`).
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
    #[error("{0}")]
    Synthetic(String),
}

/// A tensor left out of a load: its name and why.
pub type Skipped = (String, String);

/// Where tensors come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// Values drawn from a distribution, with a shape and a seed.
    Synthetic { dist: synthetic::Distribution, shape: Vec<usize>, seed: u64 },
    /// One `.npy` file.
    Npy { path: PathBuf },
    /// A safetensors file or model folder, with name patterns.
    Safetensors { path: PathBuf, filter: NameFilter },
}

impl Source {
    /// A file or folder path, by its kind: `.npy`, otherwise safetensors.
    pub fn from_path(path: &Path, filter: NameFilter) -> Source {
        if path.extension().is_some_and(|e| e == "npy") {
            Source::Npy { path: path.to_path_buf() }
        } else {
            Source::Safetensors { path: path.to_path_buf(), filter }
        }
    }

    /// Load the tensors, with a note for each one skipped (name, reason).
    pub fn load(&self) -> Result<(Vec<Tensor>, Vec<Skipped>), TensorError> {
        match self {
            Source::Synthetic { dist, shape, seed } => {
                let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| TensorError::Synthetic(format!("shape {shape:?} is too large")))?;
                let data = synthetic::generate(*dist, n, *seed).map_err(TensorError::Synthetic)?;
                let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
                // The seed is not part of the name: draws of one distribution
                // share it, and results carry the seed in their own column.
                let name = format!("{}[{}]", dist.label(), dims.join("x"));
                Ok((vec![Tensor { name, dtype: "synthetic".into(), shape: shape.clone(), data }], vec![]))
            }
            Source::Npy { path } => Ok((vec![read_npy(path)?], vec![])),
            Source::Safetensors { path, filter } => {
                let loaded = safetensors_file::load(path, filter)?;
                let skipped = loaded.skipped.into_iter().map(|(n, d)| (n, format!("dtype {d} is not a float type quantlab reads"))).collect();
                Ok((loaded.tensors, skipped))
            }
        }
    }
}
