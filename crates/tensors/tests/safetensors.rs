//! safetensors loading on small files written here: conversion of every
//! float dtype, sharded folders, name patterns, and each kind of damage.

use std::path::{Path, PathBuf};

use quantlab_tensors::{safetensors_file::load, NameFilter, Source};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("quantlab-st-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A safetensors file: u64 LE header length, JSON header (padded with
/// spaces to 8 bytes), then the data.
fn file_bytes(entries: &[(&str, &str, &[usize], Vec<u8>)]) -> Vec<u8> {
    let mut header = String::from("{");
    let mut data = Vec::new();
    for (i, (name, dtype, shape, bytes)) in entries.iter().enumerate() {
        let shape: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        if i > 0 {
            header.push(',');
        }
        header += &format!(r#""{name}":{{"dtype":"{dtype}","shape":[{}],"data_offsets":[{},{}]}}"#, shape.join(","), data.len(), data.len() + bytes.len());
        data.extend_from_slice(bytes);
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn sample_file(path: &Path) {
    let f16: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect();
    let bf16: Vec<u8> = [3.0f32, 0.25].iter().flat_map(|&v| half::bf16::from_f32(v).to_le_bytes()).collect();
    let f64s: Vec<u8> = [0.1f64, -7.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let bytes = file_bytes(&[
        ("encoder.layer.0.dense.weight", "F32", &[2, 3], f32s(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])),
        ("encoder.layer.0.dense.bias", "F16", &[2], f16),
        ("embeddings.weight", "BF16", &[1, 2], bf16),
        ("pooler.scale", "F64", &[2], f64s),
        ("position_ids", "I64", &[2], vec![0u8; 16]),
    ]);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn converts_every_float_dtype_and_skips_integers() {
    let d = dir("dtypes");
    let p = d.join("model.safetensors");
    sample_file(&p);
    let loaded = load(&p, &NameFilter::default()).unwrap();
    let names: Vec<&str> = loaded.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["embeddings.weight", "encoder.layer.0.dense.bias", "encoder.layer.0.dense.weight", "pooler.scale"]);
    assert_eq!(loaded.tensors[0].data, [3.0, 0.25]);
    assert_eq!(loaded.tensors[1].data, [1.5, -2.0]);
    assert_eq!(loaded.tensors[2].shape, [2, 3]);
    assert_eq!(loaded.tensors[2].data, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(loaded.tensors[3].data, [0.1f64 as f32, -7.0]);
    assert_eq!((loaded.tensors[1].dtype.as_str(), loaded.tensors[3].dtype.as_str()), ("f16", "f64"));
    assert_eq!(loaded.skipped, [("position_ids".to_string(), "i64".to_string())]);
}

/// FP8 tensors (F8_E4M3, F8_E5M2) read as their values: every code against
/// the formats crate's own tables of the OCP FP8 formats.
#[test]
fn fp8_tensors_read_as_their_values() {
    let d = dir("fp8");
    let p = d.join("model.safetensors");
    let codes: Vec<u8> = (0..=255).collect();
    std::fs::write(&p, file_bytes(&[("a", "F8_E4M3", &[256], codes.clone()), ("b", "F8_E5M2", &[256], codes)])).unwrap();
    let loaded = load(&p, &NameFilter::default()).unwrap();
    assert_eq!((loaded.tensors[0].dtype.as_str(), loaded.tensors[1].dtype.as_str()), ("f8_e4m3", "f8_e5m2"));
    for (t, format) in loaded.tensors.iter().zip(["fp8-e4m3", "fp8-e5m2"]) {
        let f = quantlab_formats::parse(format).unwrap();
        for (code, &v) in t.data.iter().enumerate() {
            let exponent_all_ones = if format == "fp8-e4m3" { code & 0x7f == 0x7f } else { code & 0x7c == 0x7c };
            let mut want = [0.0f32];
            f.decode_unit(&[code as u32], &[], &mut want);
            let want = want[0];
            if exponent_all_ones && (format == "fp8-e4m3" || code & 3 != 0) {
                assert!(v.is_nan() && want.is_nan(), "{format} code {code:#04x}: {v}");
            } else {
                assert_eq!(v.to_bits(), want.to_bits(), "{format} code {code:#04x}");
            }
        }
    }
}

#[test]
fn name_patterns_select_and_report_typos() {
    let d = dir("globs");
    let p = d.join("model.safetensors");
    sample_file(&p);
    let only = |inc: &[&str], exc: &[&str]| NameFilter { include: inc.iter().map(|s| s.to_string()).collect(), exclude: exc.iter().map(|s| s.to_string()).collect() };
    let l = load(&p, &only(&["encoder.*"], &["*.bias"])).unwrap();
    assert_eq!(l.tensors.len(), 1);
    assert_eq!(l.tensors[0].name, "encoder.layer.0.dense.weight");
    let e = load(&p, &only(&["encoder.*", "decoder.*"], &[])).unwrap_err().to_string();
    assert!(e.contains("model.safetensors") && e.contains("`decoder.*` matches no tensor"), "{e}");
}

#[test]
fn sharded_and_plain_model_folders() {
    let d = dir("sharded");
    std::fs::write(d.join("model-00001-of-00002.safetensors"), file_bytes(&[("a.weight", "F32", &[2], f32s(&[1.0, 2.0]))])).unwrap();
    std::fs::write(d.join("model-00002-of-00002.safetensors"), file_bytes(&[("b.weight", "F32", &[1], f32s(&[3.0]))])).unwrap();
    std::fs::write(d.join("unrelated.safetensors"), b"not used when an index exists").unwrap();
    std::fs::write(d.join("model.safetensors.index.json"), r#"{"metadata":{},"weight_map":{"a.weight":"model-00001-of-00002.safetensors","b.weight":"model-00002-of-00002.safetensors"}}"#).unwrap();
    let (tensors, _) = Source::from_path(&d, NameFilter::default()).load().unwrap();
    assert_eq!(tensors.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["a.weight", "b.weight"]);
    // One tensor at a time (streaming sweeps, inspect): the same tensors as a whole load.
    let source = Source::from_path(&d, NameFilter::default());
    for t in &tensors {
        assert_eq!(&source.load_one(&t.name).unwrap(), t);
    }
    let e = source.load_one("c.weight").unwrap_err().to_string();
    assert!(e.contains("no tensor \"c.weight\""), "{e}");
    let plain = dir("plain");
    std::fs::write(plain.join("x.safetensors"), file_bytes(&[("x", "F32", &[1], f32s(&[9.0]))])).unwrap();
    assert_eq!(load(&plain, &NameFilter::default()).unwrap().tensors[0].data, [9.0]);
}

/// Tensors larger than one read piece (2^20 values), in every float dtype
/// and with every bit pattern of the 16- and 8-bit ones (NaN payloads
/// included): read one at a time, each equals the whole load's, bit for bit.
#[test]
fn one_tensor_at_a_time_reads_in_pieces_the_same_values() {
    let d = dir("pieces");
    let n = (1 << 20) + 4099;
    let bits16: Vec<u8> = (0..n).flat_map(|i| ((i * 40503) as u16).to_le_bytes()).collect();
    let bits8: Vec<u8> = (0..n).map(|i| (i * 167) as u8).collect();
    let f32b: Vec<u8> = (0..n).flat_map(|i| ((i as u32).wrapping_mul(2_654_435_761)).to_le_bytes()).collect();
    let f64b: Vec<u8> = (0..n).flat_map(|i| ((i as f64 - 5e5) * 1e-3).to_le_bytes()).collect();
    let bytes = file_bytes(&[
        ("bf16", "BF16", &[n], bits16.clone()),
        ("e4m3", "F8_E4M3", &[n], bits8.clone()),
        ("e5m2", "F8_E5M2", &[n], bits8),
        ("f16", "F16", &[n], bits16),
        ("f32", "F32", &[n], f32b),
        ("f64", "F64", &[n], f64b),
    ]);
    std::fs::write(d.join("m.safetensors"), bytes).unwrap();
    let source = Source::from_path(&d, NameFilter::default());
    let (tensors, _) = source.load().unwrap();
    assert_eq!(tensors.len(), 6);
    for t in &tensors {
        let one = source.load_one(&t.name).unwrap();
        assert_eq!((&one.name, &one.dtype, &one.shape), (&t.name, &t.dtype, &t.shape));
        assert!(one.data.iter().zip(&t.data).all(|(a, b)| a.to_bits() == b.to_bits()), "{}", t.name);
        // Summarised in pieces read twice (inspect): the summary of the whole.
        let streamed = quantlab_tensors::stats::TensorStats::of_source(&source, &t.name).unwrap();
        assert_eq!(format!("{streamed:?}"), format!("{:?}", quantlab_tensors::stats::TensorStats::of(t)), "{}", t.name);
    }
    assert!(tensors[0].data.iter().any(|v| v.is_nan()) && tensors[0].data[1] == half::bf16::from_bits(40503).to_f32());
    // A shard cut short after the listing is a named error, not a panic.
    let f = std::fs::OpenOptions::new().write(true).open(d.join("m.safetensors")).unwrap();
    f.set_len(f.metadata().unwrap().len() - 100).unwrap();
    let e = source.load_one("f64").unwrap_err().to_string();
    assert!(e.contains("m.safetensors"), "{e}");
    let e = quantlab_tensors::stats::TensorStats::of_source(&source, "f64").unwrap_err().to_string();
    assert!(e.contains("m.safetensors"), "{e}");
}

#[test]
fn damage_is_named_never_a_panic() {
    let d = dir("damage");
    let good = file_bytes(&[("w", "F32", &[2, 2], f32s(&[1.0, 2.0, 3.0, 4.0]))]);
    let with_len = |len: u64| {
        let mut b = good.clone();
        b[..8].copy_from_slice(&len.to_le_bytes());
        b
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated.safetensors", good[..good.len() - 3].to_vec(), "not a valid safetensors file"),
        ("header-too-long.safetensors", with_len(1u64 << 40), "not a valid safetensors file"),
        ("header-past-end.safetensors", with_len(good.len() as u64), "not a valid safetensors file"),
        ("dtype.safetensors", file_bytes(&[("w", "Q7", &[1], vec![0; 4])]), "Q7"),
        ("shape.safetensors", file_bytes(&[("w", "F32", &[3, 2], f32s(&[1.0, 2.0, 3.0, 4.0]))]), "not a valid safetensors file"),
        ("tiny.safetensors", vec![1, 2, 3], "not a valid safetensors file"),
        // Issue 15, item 8: a name twice in one header (JSON keeps the last).
        ("duplicate.safetensors", file_bytes(&[("w", "F32", &[1], f32s(&[1.0])), ("w", "F32", &[1], f32s(&[2.0]))]), "names tensor \"w\" twice"),
    ];
    for (name, bytes, needle) in cases {
        let p = d.join(name);
        std::fs::write(&p, bytes).unwrap();
        let e = load(&p, &NameFilter::default()).unwrap_err().to_string();
        assert!(e.contains(name) && e.contains(needle), "{name}: {e}");
    }
    let e = load(&d.join("missing.safetensors"), &NameFilter::default()).unwrap_err().to_string();
    assert!(e.contains("missing.safetensors") && e.contains("cannot open"), "{e}");
    let empty = dir("empty");
    let e = load(&empty, &NameFilter::default()).unwrap_err().to_string();
    assert!(e.contains("no .safetensors file"), "{e}");
    std::fs::write(empty.join("model.safetensors.index.json"), "{ not json").unwrap();
    let e = load(&empty, &NameFilter::default()).unwrap_err().to_string();
    assert!(e.contains("model.safetensors.index.json") && e.contains("not valid JSON"), "{e}");
}

/// An index may only name shards inside its folder (item 8), and two
/// shards may not both hold a tensor.
#[test]
fn index_stays_inside_its_folder() {
    let d = dir("escape");
    let outside = d.join("outside.safetensors");
    std::fs::write(&outside, file_bytes(&[("w", "F32", &[1], f32s(&[1.0]))])).unwrap();
    let model = d.join("model");
    std::fs::create_dir_all(&model).unwrap();
    for target in ["../outside.safetensors".to_string(), outside.display().to_string(), "./../outside.safetensors".to_string(), String::new()] {
        std::fs::write(model.join("model.safetensors.index.json"), format!(r#"{{"weight_map":{{"w":{}}}}}"#, serde_json::Value::String(target.clone()))).unwrap();
        let e = load(&model, &NameFilter::default()).unwrap_err().to_string();
        assert!(e.contains("model.safetensors.index.json") && e.contains("outside the model folder"), "{target}: {e}");
    }
    std::fs::write(model.join("a.safetensors"), file_bytes(&[("w", "F32", &[1], f32s(&[1.0]))])).unwrap();
    std::fs::write(model.join("b.safetensors"), file_bytes(&[("w", "F32", &[1], f32s(&[2.0]))])).unwrap();
    std::fs::write(model.join("model.safetensors.index.json"), r#"{"weight_map":{"w":"a.safetensors","v":"b.safetensors"}}"#).unwrap();
    let e = load(&model, &NameFilter::default()).unwrap_err().to_string();
    assert!(e.contains("b.safetensors") && e.contains("also in"), "{e}");
}
