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
    /// The tensors read.
    pub tensors: Vec<Tensor>,
    /// Tensors not read, with the reason (dtype, filter).
    pub skipped: Vec<(String, String)>,
}

fn invalid(path: &Path, why: impl Into<String>) -> TensorError {
    TensorError::Invalid { path: path.display().to_string(), why: why.into() }
}

/// The files of a model: `path` itself, or for a folder the shards named by
/// `model.safetensors.index.json` (plain file names inside the folder: an
/// absolute path or a `..` is refused), or else every `*.safetensors` in it.
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
        let mut files: Vec<String> = Vec::new();
        for (tensor, file) in map {
            let file = file.as_str().ok_or_else(|| invalid(&index, format!("`weight_map` entry {} is not a file name", escape(tensor))))?;
            let inside = Path::new(file).components().all(|c| matches!(c, std::path::Component::Normal(_)));
            if !inside || file.is_empty() {
                return Err(invalid(&index, format!("`weight_map` points {} outside the model folder at {}; shards must be files inside it", escape(tensor), escape(file))));
            }
            files.push(file.to_string());
        }
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

/// User text in a message, quoted, control characters escaped.
fn escape(s: &str) -> String {
    format!("\"{}\"", quantlab_spec::escape(s))
}

/// Reject a header whose JSON object names a tensor twice. JSON parsers
/// (the `safetensors` crate's included) keep the last duplicate silently,
/// so the file would mean different things to different readers.
fn check_unique_names(file: &Path, bytes: &[u8]) -> Result<(), TensorError> {
    struct Unique(Option<String>);
    impl<'de> serde::Deserialize<'de> for Unique {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Unique;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Unique, A::Error> {
                    let mut seen = std::collections::HashSet::new();
                    let mut dup = None;
                    while let Some(key) = map.next_key::<String>()? {
                        map.next_value::<serde::de::IgnoredAny>()?;
                        if !seen.insert(key.clone()) && dup.is_none() {
                            dup = Some(key);
                        }
                    }
                    Ok(Unique(dup))
                }
            }
            d.deserialize_map(V)
        }
    }
    let Some(len) = bytes.get(..8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes"))) else { return Ok(()) };
    // The safetensors crate validates lengths; only a header it can read matters here.
    let Some(header) = usize::try_from(len).ok().and_then(|l| bytes.get(8..8usize.checked_add(l)?)) else { return Ok(()) };
    match serde_json::from_slice::<Unique>(header) {
        Ok(Unique(Some(name))) => Err(invalid(file, format!("not a valid safetensors file: the header names tensor {} twice", escape(&name)))),
        _ => Ok(()),
    }
}

/// What a selected tensor is, without its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// The tensor's key.
    pub name: String,
    /// As stored (`f32`, `bf16`, ...).
    pub dtype: String,
    /// Its shape.
    pub shape: Vec<usize>,
}

/// Visit the selected tensors of a safetensors file or model folder, in
/// name order within each file, each file memory-mapped and validated. An
/// include pattern that selects nothing is an error (a typo should not
/// silently yield an empty sweep).
fn for_each_selected(path: &Path, filter: &NameFilter, mut visit: impl FnMut(&Path, String, safetensors::tensor::TensorView<'_>, u64) -> Result<(), TensorError>) -> Result<(), TensorError> {
    let mut matched = vec![false; filter.include.len()];
    let mut names = std::collections::HashMap::new();
    for file in model_files(path)? {
        let f = File::open(&file).map_err(|source| TensorError::Open { path: file.display().to_string(), source })?;
        // SAFETY: the map is read-only and lives only during this call; a
        // file changed underneath by another process is outside our control,
        // as with any mapped read.
        let map = unsafe { memmap2::Mmap::map(&f) }.map_err(|source| TensorError::Open { path: file.display().to_string(), source })?;
        check_unique_names(&file, &map)?;
        let st = SafeTensors::deserialize(&map).map_err(|e| invalid(&file, format!("not a valid safetensors file: {e}")))?;
        let mut views = st.tensors();
        views.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, view) in views {
            if !filter.selects(&name) {
                continue;
            }
            if let Some(other) = names.insert(name.clone(), file.clone()) {
                return Err(invalid(&file, format!("tensor {} is also in {}; a model's shards must not repeat a tensor", escape(&name), other.display())));
            }
            for (m, p) in matched.iter_mut().zip(&filter.include) {
                *m |= crate::glob::matches(p, &name);
            }
            // Where its bytes start in the file (the view borrows the map).
            let offset = (view.data().as_ptr() as usize - map.as_ptr() as usize) as u64;
            visit(&file, name, view, offset)?;
        }
    }
    if let Some(i) = matched.iter().position(|m| !m) {
        return Err(invalid(path, format!("--include `{}` matches no tensor (after excludes {:?})", filter.include[i], filter.exclude)));
    }
    Ok(())
}

/// Selected tensors whose dtype quantlab does not read: (name, dtype).
pub type Skipped = Vec<(String, String)>;

/// Names, dtypes and shapes of the selected tensors (headers only: no
/// tensor data is read), and the selected tensors of dtypes quantlab does
/// not read (name, dtype).
pub fn list(path: &Path, filter: &NameFilter) -> Result<(Vec<TensorInfo>, Skipped), TensorError> {
    let (mut infos, mut skipped) = (Vec::new(), Vec::new());
    for_each_selected(path, filter, |_, name, view, _| {
        if readable(view.dtype()) {
            infos.push(TensorInfo { name, dtype: dtype_name(view.dtype()), shape: view.shape().to_vec() });
        } else {
            skipped.push((name, dtype_name(view.dtype())));
        }
        Ok(())
    })?;
    Ok((infos, skipped))
}

fn readable(dtype: Dtype) -> bool {
    matches!(dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16 | Dtype::F64 | Dtype::F8_E4M3 | Dtype::F8_E5M2)
}

/// OCP FP8 E4M3 ("fn": bias 7, subnormals, no infinities, S.1111.111 NaN) as f32, exactly.
fn e4m3fn(b: u8) -> f32 {
    let (e, m) = ((b >> 3) & 0xf, b & 7);
    let magnitude = match (e, m) {
        (15, 7) => f32::NAN,
        (0, _) => m as f32 / 512.0,
        _ => (8 + m) as f32 * f32::from_bits(((e as u32 + 127 - 10) << 23).max(1)),
    };
    if b & 0x80 != 0 {
        -magnitude
    } else {
        magnitude
    }
}

/// Bytes per element of a dtype quantlab reads.
fn width(dtype: Dtype) -> usize {
    dtype.bitsize() / 8
}

/// Convert little-endian elements of `dtype` (one per `width(dtype)` bytes
/// of `bytes`) into `out`; `false` for a dtype quantlab does not read.
fn convert(dtype: Dtype, bytes: &[u8], out: &mut [f32]) -> bool {
    let mut each = |w: usize, f: &dyn Fn(&[u8]) -> f32| out.iter_mut().zip(bytes.chunks_exact(w)).for_each(|(o, c)| *o = f(c));
    match dtype {
        Dtype::F32 => each(4, &|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        Dtype::F16 => each(2, &|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()),
        Dtype::BF16 => each(2, &|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()),
        Dtype::F64 => each(8, &|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32),
        // E5M2 is the upper byte of an IEEE half.
        Dtype::F8_E5M2 => each(1, &|c| half::f16::from_bits((c[0] as u16) << 8).to_f32()),
        Dtype::F8_E4M3 => each(1, &|c| e4m3fn(c[0])),
        _ => return false,
    }
    true
}

/// Convert one tensor's little-endian bytes to f32; `None` for other dtypes.
fn to_f32(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    let mut out = vec![0.0f32; bytes.len() / width(dtype).max(1)];
    convert(dtype, bytes, &mut out).then_some(out)
}

/// Values converted per read when a tensor is read from its file.
const READ_ELEMENTS: usize = 1 << 20;

/// Read `numel` elements of `dtype` that start `offset` bytes into `file`
/// and convert them to f32, piece by piece on every thread.
fn read_converted(file: &Path, offset: u64, dtype: Dtype, numel: usize) -> Result<Vec<f32>, TensorError> {
    use rayon::prelude::*;
    let f = File::open(file).map_err(|source| TensorError::Open { path: file.display().to_string(), source })?;
    let w = width(dtype);
    let mut out = vec![0.0f32; numel];
    out.par_chunks_mut(READ_ELEMENTS).enumerate().try_for_each(|(i, o)| read_piece(&f, file, offset + (i * READ_ELEMENTS * w) as u64, dtype, o))?;
    Ok(out)
}

/// Convert the `out.len()` elements of `dtype` that start `start` bytes into
/// `f` into `out`, mapped piece by piece (`mapped`).
fn read_piece(f: &File, path: &Path, start: u64, dtype: Dtype, out: &mut [f32]) -> Result<(), TensorError> {
    crate::mapped::with_bytes(f, path, start, out.len() * width(dtype), |bytes| {
        convert(dtype, bytes, out);
    })
}

fn dtype_name(d: Dtype) -> String {
    format!("{d:?}").to_lowercase()
}

/// Load the selected tensors of a safetensors file or model folder, in
/// name order within each file (see [`list`] for what is selected). Their
/// f32 copies are checked against the machine's memory before any is made.
pub fn load(path: &Path, filter: &NameFilter) -> Result<Loaded, TensorError> {
    let (infos, _) = list(path, filter)?;
    let total = quantlab_formats::memory::total_numel(infos.iter().map(|t| t.shape.as_slice())).unwrap_or(usize::MAX);
    quantlab_formats::memory::check(total, 4, || format!("{} tensors as f32", infos.len())).map_err(|e| invalid(path, e.to_string()))?;
    let mut loaded = Loaded::default();
    for_each_selected(path, filter, |_, name, view, _| {
        match to_f32(view.dtype(), view.data()) {
            Some(data) => loaded.tensors.push(Tensor { name, dtype: dtype_name(view.dtype()), shape: view.shape().to_vec(), data }),
            None => loaded.skipped.push((name, dtype_name(view.dtype()))),
        }
        Ok(())
    })?;
    Ok(loaded)
}

/// Where one selected tensor's bytes are.
struct Located {
    file: PathBuf,
    offset: u64,
    dtype: Dtype,
    shape: Vec<usize>,
    numel: usize,
}

/// Find one selected tensor by name, from the headers alone.
fn locate(path: &Path, filter: &NameFilter, name: &str) -> Result<Located, TensorError> {
    let mut found = None;
    for_each_selected(path, filter, |file, n, view, offset| {
        if n == name {
            if !readable(view.dtype()) {
                return Err(invalid(file, format!("tensor {} has dtype {}, which quantlab does not read", escape(name), dtype_name(view.dtype()))));
            }
            let numel = quantlab_formats::memory::checked_numel(view.shape()).unwrap_or(usize::MAX);
            found = Some(Located { file: file.to_path_buf(), offset, dtype: view.dtype(), shape: view.shape().to_vec(), numel });
        }
        Ok(())
    })?;
    found.ok_or_else(|| invalid(path, format!("no tensor {} (it was listed when the run started)", escape(name))))
}

/// Load one selected tensor by name (a streaming sweep reads its tensors one
/// at a time). Its bytes are read in mapped pieces, each unmapped once
/// converted (`read_piece`), so memory holds only its f32 copy.
pub fn load_one(path: &Path, filter: &NameFilter, name: &str) -> Result<Tensor, TensorError> {
    let t = locate(path, filter, name)?;
    quantlab_formats::memory::check(t.numel, 4, || format!("tensor {} as f32", escape(name))).map_err(|e| invalid(&t.file, e.to_string()))?;
    let data = read_converted(&t.file, t.offset, t.dtype, t.numel)?;
    Ok(Tensor { name: name.to_string(), dtype: dtype_name(t.dtype), shape: t.shape, data })
}

/// One selected tensor, to be read in pieces of at most `piece` values,
/// each read from the file when it is needed: memory holds one piece,
/// whatever the tensor's size.
pub fn pieces(path: &Path, filter: &NameFilter, name: &str, piece: usize) -> Result<Pieces, TensorError> {
    let t = locate(path, filter, name)?;
    let f = File::open(&t.file).map_err(|source| TensorError::Open { path: t.file.display().to_string(), source })?;
    Ok(Pieces { dtype: dtype_name(t.dtype), shape: t.shape.clone(), located: t, file: f, piece: piece.max(1) })
}

/// A tensor to be read in pieces ([`pieces`]), as many times as
/// wanted (two-pass statistics read it twice).
pub struct Pieces {
    /// Its dtype as stored.
    pub dtype: String,
    /// Its shape.
    pub shape: Vec<usize>,
    located: Located,
    file: File,
    piece: usize,
}

impl Pieces {
    /// Read the tensor once, piece by piece, into `visit`.
    pub fn read(&self, visit: &mut dyn FnMut(&[f32])) -> Result<(), TensorError> {
        let Located { file, offset, dtype, numel, .. } = &self.located;
        let mut values = Vec::new();
        let mut at = 0;
        while at < *numel {
            let n = self.piece.min(numel - at);
            values.resize(n, 0.0);
            read_piece(&self.file, file, offset + (at * width(*dtype)) as u64, *dtype, &mut values)?;
            visit(&values);
            at += n;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A piece past the end of its file (cut short after its header was
    /// read) is an error naming the file, not a SIGBUS from the map.
    #[test]
    fn a_piece_past_the_end_is_an_error() {
        let path = std::env::temp_dir().join(format!("quantlab-piece-{}.bin", std::process::id()));
        std::fs::write(&path, (0..100u8).collect::<Vec<u8>>()).unwrap();
        let f = File::open(&path).unwrap();
        let mut out = [0.0f32; 10];
        read_piece(&f, &path, 60, Dtype::F32, &mut out).unwrap();
        assert_eq!(out[0], f32::from_le_bytes([60, 61, 62, 63]));
        let e = read_piece(&f, &path, 64, Dtype::F32, &mut out).unwrap_err().to_string();
        assert!(e.contains("quantlab-piece") && e.contains("100 bytes, shorter than its header says"), "{e}");
        std::fs::remove_file(&path).ok();
    }
}
