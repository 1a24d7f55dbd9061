//! safetensors model weights: one file, or a (sharded) model folder, memory
//! mapped and converted to f32 (from f32, f16, bf16 or f64). Tensors of
//! other dtypes (integers, bool, 8-bit floats) are skipped with a note.
//! Validation is the `safetensors` crate's: the header must parse, every
//! dtype must be known, and every tensor's bytes must lie inside the file and
//! match its shape, so nothing is read past the end of a buffer.

use std::fs::File;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};

use crate::glob::NameFilter;
use crate::{Tensor, TensorError};

/// What a load produced: the selected float tensors, and the selected
/// tensors skipped for their dtype (name, dtype).
#[derive(Debug, Default)]
pub struct Loaded {
    pub tensors: Vec<Tensor>,
    pub skipped: Vec<(String, String)>,
}

fn invalid(path: &Path, why: impl Into<String>) -> TensorError {
    TensorError::Invalid { path: path.display().to_string(), why: why.into() }
}

/// The files of a model: `path` itself, or for a folder the shards named by
/// `model.safetensors.index.json`, or else every `*.safetensors` in it.
pub fn model_files(path: &Path) -> Result<Vec<PathBuf>, TensorError> {
    if !path.exists() {
        return Err(TensorError::Open { path: path.display().to_string(), source: std::io::Error::from(std::io::ErrorKind::NotFound) });
    }
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let index = path.join("model.safetensors.index.json");
    if index.exists() {
        let text = std::fs::read_to_string(&index).map_err(|source| TensorError::Open { path: index.display().to_string(), source })?;
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| invalid(&index, format!("not valid JSON ({e})")))?;
        let map = json.get("weight_map").and_then(|m| m.as_object()).ok_or_else(|| invalid(&index, "no `weight_map` object"))?;
        let mut files: Vec<String> = map.values().filter_map(|v| v.as_str().map(str::to_string)).collect();
        files.sort();
        files.dedup();
        if files.is_empty() {
            return Err(invalid(&index, "`weight_map` names no file"));
        }
        return Ok(files.into_iter().map(|f| path.join(f)).collect());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|source| TensorError::Open { path: path.display().to_string(), source })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(invalid(path, "folder holds no .safetensors file and no model.safetensors.index.json"));
    }
    Ok(files)
}

/// Convert one tensor's little-endian bytes to f32; `None` for other dtypes.
fn to_f32(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    Some(match dtype {
        Dtype::F32 => bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        Dtype::F16 => bytes.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        Dtype::BF16 => bytes.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        Dtype::F64 => bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32).collect(),
        _ => return None,
    })
}

fn dtype_name(d: Dtype) -> String {
    format!("{d:?}").to_lowercase()
}

/// Load the selected tensors of a safetensors file or model folder, in name
/// order within each file. An include pattern that selects nothing is an
/// error (a typo should not silently yield an empty sweep).
pub fn load(path: &Path, filter: &NameFilter) -> Result<Loaded, TensorError> {
    let mut loaded = Loaded::default();
    let mut matched = vec![false; filter.include.len()];
    for file in model_files(path)? {
        let f = File::open(&file).map_err(|source| TensorError::Open { path: file.display().to_string(), source })?;
        // SAFETY: the map is read-only and lives only during this call; a
        // file changed underneath by another process is outside our control,
        // as with any mapped read.
        let map = unsafe { memmap2::Mmap::map(&f) }.map_err(|source| TensorError::Open { path: file.display().to_string(), source })?;
        let st = SafeTensors::deserialize(&map).map_err(|e| invalid(&file, format!("not a valid safetensors file: {e}")))?;
        let mut views = st.tensors();
        views.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, view) in views {
            if !filter.selects(&name) {
                continue;
            }
            for (m, p) in matched.iter_mut().zip(&filter.include) {
                *m |= crate::glob::matches(p, &name);
            }
            match to_f32(view.dtype(), view.data()) {
                Some(data) => loaded.tensors.push(Tensor { name, dtype: dtype_name(view.dtype()), shape: view.shape().to_vec(), data }),
                None => loaded.skipped.push((name, dtype_name(view.dtype()))),
            }
        }
    }
    if let Some(i) = matched.iter().position(|m| !m) {
        return Err(invalid(path, format!("--include `{}` matches no tensor (after excludes {:?})", filter.include[i], filter.exclude)));
    }
    Ok(loaded)
}
