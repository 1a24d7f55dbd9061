//! # quantlab-tensors
//!
//! Turns a data description into named f32 tensors: seeded synthetic
//! distributions (statrs), NumPy `.npy` files (f16, f32, f64; C or Fortran
//! order; any rank) and safetensors model weights (a file or a sharded model
//! folder, memory-mapped; f32, f16, bf16, f64, FP8 E4M3/E5M2). Each tensor keeps its name and
//! shape. [`stats::TensorStats`] summarises a tensor for `quantlab inspect`.
//!
//! Every error names the file (and tensor) and what is wrong; nothing panics
//! on a malformed file.

#![warn(missing_docs)]

pub mod entry;
pub mod glob;
mod mapped;
pub mod npy;
pub mod qlab;
pub mod safetensors_file;
pub mod stats;
pub mod synthetic;

use std::path::{Path, PathBuf};

pub use entry::{DataEntry, PlannedSource, SourceTemplate};
pub use glob::NameFilter;
pub use mapped::xxh3_prefix;
pub use npy::{read_npy, write_npy};
pub use safetensors_file::TensorInfo;

/// Write a file atomically: into a temporary file beside it, renamed over
/// `path` once complete, so a reader (or a crash, or a full disk) never
/// leaves a half-written file under the name.
pub fn write_atomically(path: &Path, write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"))?;
    let tmp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let result = std::fs::File::create(&tmp).and_then(|mut f| write(&mut f)).and_then(|_| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Why a write fed piece by piece stopped: its data (a message that does
/// not name the file), reading its input (a message naming it), or
/// writing an output. Piece walks take it as their error; the file writer
/// ([`write_atomically`]) needs an `io::Error` to drop its unfinished file,
/// so [`Stop::into_io`] sets the first two aside for the caller to report.
#[derive(Debug)]
pub enum Stop {
    /// The data: a value without a code, damaged metadata.
    Data(String),
    /// Reading the input.
    Read(String),
    /// Writing an output.
    Output(std::io::Error),
}

impl From<quantlab_formats::TensorError> for Stop {
    fn from(e: quantlab_formats::TensorError) -> Stop {
        Stop::Data(e.to_string())
    }
}

impl Stop {
    /// The error for the file writer: an output's own, or (kept in `kept`)
    /// a stop the caller reports.
    pub fn into_io(self, kept: &mut Option<Stop>) -> std::io::Error {
        match self {
            Stop::Output(e) => e,
            other => {
                *kept = Some(other);
                std::io::Error::other("stopped")
            }
        }
    }

    /// The one-line message of a kept stop: a data error after the input's
    /// name and `what` (e.g. "cannot encode: "), a read error as it is.
    pub fn message(self, input: &Path, what: &str) -> String {
        match self {
            Stop::Data(e) => format!("{}: {what}{e}", input.display()),
            Stop::Read(e) => e,
            Stop::Output(e) => e.to_string(),
        }
    }
}

/// A named tensor in row-major (C) order.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Its name (the safetensors key, the file's stem, or the distribution).
    pub name: String,
    /// The dtype it was stored as (`f32`, `f16`, `bf16`, `f64`, or `synthetic`).
    pub dtype: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values, row-major.
    pub data: Vec<f32>,
}

impl Tensor {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }
}

/// Why a tensor could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TensorError {
    /// A file that cannot be opened.
    #[error("{path}: cannot open: {source}")]
    Open {
        /// The file.
        path: String,
        /// The system's reason.
        source: std::io::Error,
    },
    /// A file whose contents cannot be read as tensors.
    #[error("{path}: {why}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong with it.
        why: String,
    },
    /// A file that cannot be written.
    #[error("{path}: cannot write: {source}")]
    Write {
        /// The file.
        path: String,
        /// The system's reason.
        source: std::io::Error,
    },
    /// A synthetic distribution that cannot be drawn.
    #[error("{0}")]
    Synthetic(String),
}

/// A tensor left out of a load: its name and why.
pub type Skipped = (String, String);

/// Where tensors come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// Values drawn from a distribution, with a shape and a seed.
    Synthetic {
        /// The distribution.
        dist: synthetic::Distribution,
        /// The tensor's shape.
        shape: Vec<usize>,
        /// The draw's seed.
        seed: u64,
    },
    /// One `.npy` file.
    Npy {
        /// The file.
        path: PathBuf,
    },
    /// A safetensors file or model folder, with name patterns.
    Safetensors {
        /// The file or folder.
        path: PathBuf,
        /// Which tensors to read.
        filter: NameFilter,
    },
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

    /// Names, dtypes and shapes of the tensors [`Source::load`] would give
    /// (headers only: no data is read or drawn), with the skipped ones.
    pub fn list(&self) -> Result<(Vec<TensorInfo>, Vec<Skipped>), TensorError> {
        match self {
            Source::Synthetic { dist, shape, .. } => Ok((vec![TensorInfo { name: synthetic_name(dist, shape), dtype: "synthetic".into(), shape: shape.clone() }], vec![])),
            Source::Npy { path } => {
                let h = npy::read_header(path)?;
                Ok((vec![TensorInfo { name: npy::tensor_name(path), dtype: h.dtype.name().into(), shape: h.shape }], vec![]))
            }
            Source::Safetensors { path, filter } => {
                let (infos, skipped) = safetensors_file::list(path, filter)?;
                Ok((infos, skipped_notes(skipped)))
            }
        }
    }

    /// Load the tensors, with a note for each one skipped (name, reason).
    pub fn load(&self) -> Result<(Vec<Tensor>, Vec<Skipped>), TensorError> {
        match self {
            Source::Synthetic { dist, shape, seed } => {
                let n = quantlab_formats::memory::checked_numel(shape).ok_or_else(|| TensorError::Synthetic(format!("shape {shape:?} is too large: its element count overflows")))?;
                let data = synthetic::generate(*dist, n, *seed).map_err(TensorError::Synthetic)?;
                Ok((vec![Tensor { name: synthetic_name(dist, shape), dtype: "synthetic".into(), shape: shape.clone(), data }], vec![]))
            }
            Source::Npy { path } => Ok((vec![read_npy(path)?], vec![])),
            Source::Safetensors { path, filter } => {
                let loaded = safetensors_file::load(path, filter)?;
                Ok((loaded.tensors, skipped_notes(loaded.skipped)))
            }
        }
    }
}

impl Source {
    /// Load one of the tensors [`Source::list`] gives, by name: a file
    /// source reads only that tensor (a streaming sweep holds one batch of
    /// tensors at a time, not the checkpoint); a synthetic source draws its
    /// one tensor. The same values as [`Source::load`], bit for bit.
    pub fn load_one(&self, name: &str) -> Result<Tensor, TensorError> {
        let missing = || format!("no tensor {} here (it was listed when the run started)", quantlab_spec::escape(name));
        match self {
            Source::Safetensors { path, filter } => safetensors_file::load_one(path, filter, name),
            Source::Npy { path } => Some(read_npy(path)?).filter(|t| t.name == name).ok_or_else(|| TensorError::Invalid { path: path.display().to_string(), why: missing() }),
            Source::Synthetic { .. } => self.load()?.0.into_iter().find(|t| t.name == name).ok_or_else(|| TensorError::Synthetic(missing())),
        }
    }
}

/// A synthetic tensor's name: its distribution and shape. The seed is not
/// part of it: draws of one distribution share it, and results carry the
/// seed in their own column.
fn synthetic_name(dist: &synthetic::Distribution, shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("{}[{}]", dist.label(), dims.join("x"))
}

fn skipped_notes(skipped: Vec<(String, String)>) -> Vec<Skipped> {
    skipped.into_iter().map(|(n, d)| (n, format!("dtype {d} is not a float type quantlab reads"))).collect()
}
