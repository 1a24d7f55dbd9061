//! `.npy` reading and writing.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

use npyz::{NpyFile, Order, TypeChar, WriterBuilder};

use crate::{Tensor, TensorError};

fn invalid(path: &Path, why: impl Into<String>) -> TensorError {
    TensorError::Invalid { path: path.display().to_string(), why: why.into() }
}

/// Read a `.npy` file of f16, f32 or f64 values as f32, in C order.
pub fn read_npy(path: &Path) -> Result<Tensor, TensorError> {
    let file = File::open(path).map_err(|source| TensorError::Open { path: path.display().to_string(), source })?;
    let npy = NpyFile::new(BufReader::new(file)).map_err(|e| invalid(path, format!("not a valid .npy file ({e})")))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let order = npy.order();
    let dtype = npy.dtype();
    let (kind, size) = match &dtype {
        npyz::DType::Plain(ts) => (ts.type_char(), ts.size_field()),
        other => return Err(invalid(path, format!("dtype {} is not a plain float type; quantlab reads f16, f32 and f64", other.descr()))),
    };
    let truncated = |e: std::io::Error| invalid(path, format!("data ends early or is unreadable for shape {shape:?} ({e})"));
    let (name, data): (&str, Vec<f32>) = match (kind, size) {
        (TypeChar::Float, 4) => ("f32", npy.into_vec::<f32>().map_err(truncated)?),
        (TypeChar::Float, 8) => ("f64", npy.into_vec::<f64>().map_err(truncated)?.into_iter().map(|v| v as f32).collect()),
        (TypeChar::Float, 2) => ("f16", npy.into_vec::<half::f16>().map_err(truncated)?.into_iter().map(f32::from).collect()),
        _ => return Err(invalid(path, format!("dtype {} is not supported; quantlab reads f16, f32 and f64", dtype.descr()))),
    };
    let expected: usize = shape.iter().product();
    if data.len() != expected {
        return Err(invalid(path, format!("shape {shape:?} needs {expected} values but the file holds {}", data.len())));
    }
    let data = match order {
        Order::C => data,
        Order::Fortran => fortran_to_c(&data, &shape),
    };
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(Tensor { name: stem, dtype: name.into(), shape, data })
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

/// Write f32 data with a shape as a C-order `.npy` file.
pub fn write_npy(path: &Path, shape: &[usize], data: &[f32]) -> Result<(), TensorError> {
    let err = |source| TensorError::Write { path: path.display().to_string(), source };
    let file = File::create(path).map_err(err)?;
    let shape64: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let mut w = npyz::WriteOptions::<f32>::new().default_dtype().shape(&shape64).writer(BufWriter::new(file)).begin_nd().map_err(err)?;
    w.extend(data.iter().copied()).map_err(err)?;
    w.finish().map_err(err)
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
        for shape in [vec![], vec![5], vec![2, 3], vec![2, 1, 3, 2]] {
            let n: usize = shape.iter().product();
            let data: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 1.0).collect();
            let p = tmp("rt.npy");
            write_npy(&p, &shape, &data).unwrap();
            let t = read_npy(&p).unwrap();
            assert_eq!((t.shape, t.data, t.dtype.as_str()), (shape, data, "f32"));
        }
    }

    /// Hand-built npy bytes: a header dict padded to 64 bytes, then data.
    fn npy_bytes(descr: &str, fortran: bool, shape: &str, payload: &[u8]) -> Vec<u8> {
        let mut dict = format!("{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}", if fortran { "True" } else { "False" });
        while (10 + dict.len() + 1) % 64 != 0 {
            dict.push(' ');
        }
        dict.push('\n');
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend((dict.len() as u16).to_le_bytes());
        b.extend(dict.as_bytes());
        b.extend(payload);
        b
    }

    #[test]
    fn reads_f64_f16_and_fortran_order() {
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
    }

    #[test]
    fn bad_files_name_the_file_and_the_problem() {
        let p = tmp("bad.npy");
        let missing = read_npy(&tmp("missing.npy")).unwrap_err().to_string();
        assert!(missing.contains("missing.npy") && missing.contains("cannot open"), "{missing}");
        std::fs::write(&p, b"hello").unwrap();
        let e = read_npy(&p).unwrap_err().to_string();
        assert!(e.contains("bad.npy") && e.contains("not a valid .npy"), "{e}");
        std::fs::write(&p, npy_bytes("<f4", false, "(4,)", &[0u8; 8])).unwrap();
        let e = read_npy(&p).unwrap_err().to_string();
        assert!(e.contains("ends early"), "{e}");
        std::fs::write(&p, npy_bytes("<i4", false, "(2,)", &[0u8; 8])).unwrap();
        let e = read_npy(&p).unwrap_err().to_string();
        assert!(e.contains("not supported"), "{e}");
    }
}
