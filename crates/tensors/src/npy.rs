//! `.npy` reading and writing (NumPy's format, versions 1.0 to 3.0).
//!
//! The header is parsed here rather than by a general crate so that a file
//! is held to what it claims before any data is allocated: the shape's
//! element count is computed without overflow, the data must be exactly as
//! long as shape x dtype says (a file with missing or extra bytes is an
//! error, not silently cut), and the buffer is checked against the
//! machine's memory first. Every error is one line naming the file.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use quantlab_formats::memory;
use quantlab_spec::escape;

use crate::{Tensor, TensorError};

fn invalid(path: &Path, why: impl Into<String>) -> TensorError {
    TensorError::Invalid { path: path.display().to_string(), why: why.into() }
}

/// The element types quantlab reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NpyDtype {
    /// Little- or big-endian IEEE half.
    F16,
    /// IEEE single.
    F32,
    /// IEEE double.
    F64,
}

impl NpyDtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            NpyDtype::F16 => 2,
            NpyDtype::F32 => 4,
            NpyDtype::F64 => 8,
        }
    }

    /// NumPy's name for it (`<f4`, ...) without the byte order.
    pub fn name(self) -> &'static str {
        match self {
            NpyDtype::F16 => "f16",
            NpyDtype::F32 => "f32",
            NpyDtype::F64 => "f64",
        }
    }
}

/// What an `.npy` header says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpyHeader {
    /// The element type.
    pub dtype: NpyDtype,
    /// Whether the data is big-endian.
    pub big_endian: bool,
    /// Whether the data is in column-major order.
    pub fortran_order: bool,
    /// The array's shape.
    pub shape: Vec<usize>,
    /// Elements (the shape's product, checked).
    pub numel: usize,
    /// Where the data starts.
    pub data_offset: usize,
}

impl NpyHeader {
    /// Bytes of data the header promises.
    pub fn data_bytes(&self) -> Option<usize> {
        self.numel.checked_mul(self.dtype.size())
    }
}

/// Parse the header at the start of `bytes` (the first few hundred bytes of
/// a file are enough; the error says when more are needed).
pub fn parse_header(bytes: &[u8]) -> Result<NpyHeader, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a valid .npy file (no \\x93NUMPY magic)".into());
    }
    let (len, start) = match (bytes[6], bytes[7]) {
        (1, 0) => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        (2 | 3, 0) if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        (major, minor) => return Err(format!("not a valid .npy file (format version {major}.{minor}; quantlab reads 1.0, 2.0 and 3.0)")),
    };
    let end = start.checked_add(len).ok_or("not a valid .npy file (header length overflows)")?;
    let text = bytes.get(start..end).ok_or("not a valid .npy file (the header runs past the end of the file)")?;
    let text = std::str::from_utf8(text).map_err(|_| "not a valid .npy file (the header is not text)")?;
    let dict = parse_dict(text).map_err(|e| format!("not a valid .npy file (header dict: {e})"))?;
    let mut descr = None;
    let mut fortran = None;
    let mut shape = None;
    for (key, value) in dict {
        let slot_taken = match (key.as_str(), value) {
            ("descr", Lit::Str(s)) => descr.replace(s).is_some(),
            ("fortran_order", Lit::Bool(b)) => fortran.replace(b).is_some(),
            ("shape", Lit::Tuple(t)) => shape.replace(t).is_some(),
            ("descr", _) => return Err("dtype is not a plain float type (a structured dtype); quantlab reads f16, f32 and f64".into()),
            (k @ ("fortran_order" | "shape"), _) => return Err(format!("not a valid .npy file (header key '{}' has the wrong type)", escape(k))),
            (k, _) => return Err(format!("not a valid .npy file (unknown header key '{}')", escape(k))),
        };
        if slot_taken {
            return Err(format!("not a valid .npy file (header key '{}' appears twice)", escape(&key)));
        }
    }
    let descr = descr.ok_or("not a valid .npy file (header lacks 'descr')")?;
    let fortran_order = fortran.ok_or("not a valid .npy file (header lacks 'fortran_order')")?;
    let shape = shape.ok_or("not a valid .npy file (header lacks 'shape')")?;
    let (big_endian, kind) = match descr.as_bytes().first() {
        Some(b'<') | Some(b'=') => (false, &descr[1..]),
        Some(b'>') => (true, &descr[1..]),
        _ => (false, descr.as_str()),
    };
    let dtype = match kind {
        "f2" | "e" => NpyDtype::F16,
        "f4" | "f" => NpyDtype::F32,
        "f8" | "d" => NpyDtype::F64,
        _ => return Err(format!("dtype '{}' is not supported; quantlab reads f16, f32 and f64", escape(&descr))),
    };
    let numel = memory::checked_numel(&shape).ok_or_else(|| format!("shape {shape:?} is too large: its element count overflows"))?;
    Ok(NpyHeader { dtype, big_endian, fortran_order, shape, numel, data_offset: end })
}

/// A value of the header dict.
enum Lit {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
}

/// The header's Python dict literal: string keys; string, boolean or
/// tuple-of-integers values; trailing commas allowed.
fn parse_dict(text: &str) -> Result<Vec<(String, Lit)>, String> {
    let mut p = Cursor { s: text.as_bytes(), i: 0 };
    p.expect(b'{')?;
    let mut out = Vec::new();
    loop {
        p.skip_ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.expect(b':')?;
        p.skip_ws();
        let value = match p.peek() {
            Some(b'\'' | b'"') => Lit::Str(p.string()?),
            Some(b'(') => Lit::Tuple(p.tuple()?),
            Some(b'T' | b'F') => Lit::Bool(p.boolean()?),
            _ => return Err(format!("value of '{}' at byte {} is not a string, boolean or tuple", escape(&key), p.i)),
        };
        out.push((key, value));
        p.skip_ws();
        if !p.eat(b',') {
            p.expect(b'}')?;
            break;
        }
    }
    p.skip_ws();
    if p.i != p.s.len() {
        return Err(format!("unexpected text after the dict at byte {}", p.i));
    }
    Ok(out)
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        let hit = self.peek() == Some(c);
        self.i += hit as usize;
        hit
    }
    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", c as char, self.i))
        }
    }
    fn string(&mut self) -> Result<String, String> {
        self.skip_ws();
        let quote = self.peek().filter(|c| *c == b'\'' || *c == b'"').ok_or_else(|| format!("expected a quoted string at byte {}", self.i))?;
        let start = self.i + 1;
        let len = self.s[start..].iter().position(|&c| c == quote || c == b'\\').ok_or("unterminated string")?;
        if self.s[start + len] == b'\\' {
            return Err("escapes in header strings are not supported".into());
        }
        self.i = start + len + 1;
        Ok(String::from_utf8_lossy(&self.s[start..start + len]).into_owned())
    }
    fn boolean(&mut self) -> Result<bool, String> {
        for (word, v) in [(&b"True"[..], true), (&b"False"[..], false)] {
            if self.s[self.i..].starts_with(word) {
                self.i += word.len();
                return Ok(v);
            }
        }
        Err(format!("expected True or False at byte {}", self.i))
    }
    fn tuple(&mut self) -> Result<Vec<usize>, String> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            self.skip_ws();
            if self.eat(b')') {
                return Ok(dims);
            }
            let start = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.i += 1;
            }
            let digits = std::str::from_utf8(&self.s[start..self.i]).expect("ASCII digits");
            let d = digits.parse::<usize>().map_err(|_| format!("shape entry at byte {start} is not a dimension (a non-negative integer below 2^64)"))?;
            // numpy writes `5L` for Python 2 longs.
            self.i += (self.peek() == Some(b'L')) as usize;
            dims.push(d);
            if !self.eat(b',') {
                self.expect(b')')?;
                return Ok(dims);
            }
        }
    }
}

/// The tensor name of an `.npy` file: its file stem.
pub fn tensor_name(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Open an `.npy` file and read its header, checking that the data is
/// exactly as long as the header says.
fn open(path: &Path) -> Result<(File, NpyHeader, Vec<u8>), TensorError> {
    let open_err = |source| TensorError::Open { path: path.display().to_string(), source };
    let mut file = File::open(path).map_err(open_err)?;
    let file_len = file.metadata().map_err(open_err)?.len();
    let mut head = Vec::new();
    (&mut file).take(65_536 + 12).read_to_end(&mut head).map_err(open_err)?;
    let h = parse_header(&head).map_err(|e| invalid(path, e))?;
    let data_len = file_len.saturating_sub(h.data_offset as u64);
    let expected = h.data_bytes().ok_or_else(|| invalid(path, format!("shape {:?} of {} is too large: its byte count overflows", h.shape, h.dtype.name())))?;
    if data_len != expected as u64 {
        let how = if data_len < expected as u64 { "the data ends early" } else { "there is data beyond what the shape describes" };
        return Err(invalid(path, format!("the header's shape {:?} of {} needs {expected} bytes of data but the file holds {data_len} ({how})", h.shape, h.dtype.name())));
    }
    Ok((file, h, head))
}

/// The header of an `.npy` file, checked against the file's length.
pub fn read_header(path: &Path) -> Result<NpyHeader, TensorError> {
    open(path).map(|(_, h, _)| h)
}

/// Read a `.npy` file of f16, f32 or f64 values (either byte order) as f32,
/// in C order.
pub fn read_npy(path: &Path) -> Result<Tensor, TensorError> {
    let (mut file, h, mut head) = open(path)?;
    let mut data: Vec<f32> = memory::zeroed(h.numel, || format!("shape {:?}", h.shape)).map_err(|e| invalid(path, e.to_string()))?;
    // The bytes already read past the header, then the rest in chunks.
    let mut pending: Vec<u8> = head.split_off(h.data_offset.min(head.len()));
    let size = h.dtype.size();
    let mut filled = 0usize;
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let whole = pending.len() / size * size;
        convert(h.dtype, h.big_endian, &pending[..whole], &mut data[filled..filled + whole / size]);
        filled += whole / size;
        pending.drain(..whole);
        if filled == h.numel {
            break;
        }
        let n = file.read(&mut chunk).map_err(|e| invalid(path, format!("cannot read the data: {e}")))?;
        if n == 0 {
            return Err(invalid(path, "the data ends early (the file shrank while being read)"));
        }
        pending.extend_from_slice(&chunk[..n]);
    }
    let data = if h.fortran_order { fortran_to_c(&data, &h.shape) } else { data };
    Ok(Tensor { name: tensor_name(path), dtype: h.dtype.name().into(), shape: h.shape, data })
}

/// A C-order `.npy` file read in pieces, each mapped on its own: memory
/// holds a piece, whatever the file's size.
pub struct NpyPieces {
    file: std::fs::File,
    path: std::path::PathBuf,
    header: NpyHeader,
}

impl NpyPieces {
    /// Open a file to read in pieces; `None` for Fortran order (its values
    /// are put in C order by [`read_npy`], which needs them all).
    pub fn open(path: &Path) -> Result<Option<NpyPieces>, TensorError> {
        let (file, header, _) = open(path)?;
        Ok((!header.fortran_order).then(|| NpyPieces { file, path: path.to_path_buf(), header }))
    }

    /// Its header.
    pub fn header(&self) -> &NpyHeader {
        &self.header
    }

    /// Values `start..start + out.len()`, as f32, into `out`.
    pub fn read(&self, start: usize, out: &mut [f32]) -> Result<(), TensorError> {
        let (h, size) = (&self.header, self.header.dtype.size());
        crate::mapped::with_bytes(&self.file, &self.path, (h.data_offset + start * size) as u64, out.len() * size, |bytes| convert(h.dtype, h.big_endian, bytes, out))
    }
}

/// Decode whole elements of `bytes` into `out`.
fn convert(dtype: NpyDtype, big_endian: bool, bytes: &[u8], out: &mut [f32]) {
    macro_rules! each {
        ($n:literal, $f:expr) => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact($n)) {
                let mut b: [u8; $n] = c.try_into().expect("chunk size");
                if big_endian {
                    b.reverse();
                }
                *o = $f(b);
            }
        };
    }
    match dtype {
        NpyDtype::F16 => each!(2, |b| half::f16::from_le_bytes(b).to_f32()),
        NpyDtype::F32 => each!(4, f32::from_le_bytes),
        NpyDtype::F64 => each!(8, |b| f64::from_le_bytes(b) as f32),
    }
}

/// Reorder column-major data to row-major.
fn fortran_to_c(data: &[f32], shape: &[usize]) -> Vec<f32> {
    let rank = shape.len();
    let mut out = Vec::with_capacity(data.len());
    let mut idx = vec![0usize; rank];
    // Fortran strides: the first axis varies fastest.
    let mut fstride = vec![1usize; rank];
    for a in 1..rank {
        fstride[a] = fstride[a - 1] * shape[a - 1];
    }
    for _ in 0..data.len() {
        out.push(data[idx.iter().zip(&fstride).map(|(i, s)| i * s).sum::<usize>()]);
        for a in (0..rank).rev() {
            idx[a] += 1;
            if idx[a] < shape[a] {
                break;
            }
            idx[a] = 0;
        }
    }
    out
}

/// The header of a C-order little-endian f32 `.npy` of this shape.
pub fn header_bytes(shape: &[usize]) -> Vec<u8> {
    let dims = match shape {
        [d] => format!("({d},)"),
        _ => format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    header_from_dict(&format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {dims}, }}"))
}

/// A version 1.0 header holding `dict` as written, padded with spaces so
/// the data starts on a 64-byte boundary, as NumPy writes it.
pub fn header_from_dict(dict: &str) -> Vec<u8> {
    let mut dict = dict.to_string();
    while !(10 + dict.len() + 1).is_multiple_of(64) {
        dict.push(' ');
    }
    dict.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend((dict.len() as u16).to_le_bytes());
    b.extend(dict.as_bytes());
    b
}

/// Write f32 data with a shape as a C-order `.npy` file, atomically: the
/// file appears complete under its name, or not at all.
pub fn write_npy(path: &Path, shape: &[usize], data: &[f32]) -> Result<(), TensorError> {
    let err = |source| TensorError::Write { path: path.display().to_string(), source };
    if memory::checked_numel(shape) != Some(data.len()) {
        return Err(err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("shape {shape:?} does not hold {} values", data.len()))));
    }
    crate::write_atomically(path, |file| {
        let mut w = BufWriter::with_capacity(1 << 20, file);
        w.write_all(&header_bytes(shape))?;
        write_values(&mut w, data)?;
        w.flush()
    })
    .map_err(err)
}

/// Write f32 values as little-endian bytes (an `.npy` file's data after
/// [`header_bytes`]; a streaming writer calls it once per piece).
pub fn write_values(w: &mut impl Write, data: &[f32]) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(4 << 14);
    for chunk in data.chunks(1 << 14) {
        bytes.clear();
        bytes.extend(chunk.iter().flat_map(|v| v.to_le_bytes()));
        w.write_all(&bytes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("quantlab-npy-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d.join(name)
    }

    #[test]
    fn f32_round_trip_any_rank() {
        for shape in [vec![], vec![5], vec![2, 3], vec![2, 1, 3, 2], vec![0, 4]] {
            let n: usize = shape.iter().product();
            let data: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 1.0).collect();
            let p = tmp("rt.npy");
            write_npy(&p, &shape, &data).unwrap();
            let t = read_npy(&p).unwrap();
            assert_eq!((t.shape, t.data, t.dtype.as_str()), (shape, data, "f32"));
        }
    }

    /// Hand-built npy bytes: a header dict, then data.
    fn npy_bytes(descr: &str, fortran: bool, shape: &str, payload: &[u8]) -> Vec<u8> {
        let mut b = header_from_dict(&format!("{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}", if fortran { "True" } else { "False" }));
        b.extend(payload);
        b
    }

    #[test]
    fn header_matches_numpys_layout() {
        // What numpy 1.26 / 2.x writes for np.save(f, np.zeros((2, 3), 'f4')).
        let h = header_bytes(&[2, 3]);
        assert_eq!(h.len(), 128);
        assert!(h.starts_with(b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"));
        assert_eq!(parse_header(&h).unwrap().data_offset, 128);
        assert_eq!(header_bytes(&[5]), npy_bytes("<f4", false, "(5,)", &[]));
    }

    #[test]
    fn reads_f64_f16_big_endian_and_fortran_order() {
        let p = tmp("f64.npy");
        let vals = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0];
        // Fortran order of [[1,2,3],[4,5,6]] is 1,4,2,5,3,6.
        let fortran: Vec<u8> = [1.0f64, 4.0, 2.0, 5.0, 3.0, 6.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(&p, npy_bytes("<f8", true, "(2, 3)", &fortran)).unwrap();
        let t = read_npy(&p).unwrap();
        assert_eq!(t.data, vals.map(|v| v as f32));
        assert_eq!(t.dtype, "f64");
        let h: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect();
        std::fs::write(&p, npy_bytes("<f2", false, "(2,)", &h)).unwrap();
        assert_eq!(read_npy(&p).unwrap().data, [1.5, -2.0]);
        let be: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|&v| v.to_be_bytes()).collect();
        std::fs::write(&p, npy_bytes(">f4", false, "(2,)", &be)).unwrap();
        assert_eq!(read_npy(&p).unwrap().data, [1.5, -2.0]);
    }

    #[test]
    fn bad_files_name_the_file_and_the_problem() {
        let p = tmp("bad.npy");
        let missing = read_npy(&tmp("missing.npy")).unwrap_err().to_string();
        assert!(missing.contains("missing.npy") && missing.contains("cannot open"), "{missing}");
        let cases: &[(&[u8], &str)] = &[
            (b"hello", "not a valid .npy"),
            (&npy_bytes("<f4", false, "(4,)", &[0u8; 8]), "ends early"),
            (&npy_bytes("<i4", false, "(2,)", &[0u8; 8]), "not supported"),
            // Issue 15, item 6: a header that claims less than the file holds.
            (&npy_bytes("<f4", false, "(8, 64)", &[0u8; 4096]), "data beyond what the shape describes"),
            (&npy_bytes("<f4", false, "(0, 64)", &[0u8; 16]), "data beyond"),
            (&npy_bytes("<f4", false, "()", &[0u8; 16]), "data beyond"),
            // Item 5: a shape whose element count overflows.
            (&npy_bytes("<f4", false, "(4294967296, 4294967296)", &[0u8; 4096]), "too large"),
            (&npy_bytes("<f4", false, "(4294967296, 4294967)", &[0u8; 4096]), "ends early"),
            (&npy_bytes("<f4", false, "(-1, 2)", &[]), "not a dimension"),
            (b"\x93NUMPY\x01\x00\x20\x00{'descr': '<f4',\n 'shape': (1,\n", "not a valid .npy"),
        ];
        for (bytes, expect) in cases {
            std::fs::write(&p, bytes).unwrap();
            let e = read_npy(&p).unwrap_err().to_string();
            assert!(e.contains("bad.npy") && e.contains(expect), "{e} (expected {expect})");
            assert!(!e.contains('\n'), "one line: {e:?}");
        }
    }

    #[test]
    fn header_dict_is_held_to_its_grammar() {
        for bad in [
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'shape': (2,)}",
            "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}",
            "{'descr': '<f4', 'shape': (2,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x",
            "{'de\nscr': 1}",
        ] {
            let mut b = b"\x93NUMPY\x01\x00".to_vec();
            b.extend((bad.len() as u16).to_le_bytes());
            b.extend(bad.as_bytes());
            assert!(parse_header(&b).is_err(), "{bad}");
            assert!(!parse_header(&b).unwrap_err().contains('\n'), "{bad}");
        }
    }
}
