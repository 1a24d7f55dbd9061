//! End-to-end tests of the `quantlab` binary: exit status, one-line errors,
//! outputs that round-trip.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{assert_fails, quantlab, s};
use quantlab_tensors::{read_npy, write_npy};

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("quantlab-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn values_lists_the_table() {
    let out = quantlab(&["values", "adaptivfloat(n=4,e=2)", "--max", "1.0"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().collect::<Vec<_>>(), ["0", "0.1875", "0.25", "0.375", "0.5", "0.75", "1", "1.5"]);
    let e4m3 = String::from_utf8(quantlab(&["values", "fp8-e4m3"]).stdout).unwrap();
    assert_eq!(e4m3.lines().last(), Some("448"));
    assert_eq!(e4m3.lines().count(), 127);
    // An element type's values at scale 1, negative ones included.
    let nf4 = String::from_utf8(quantlab(&["values", "--element", "nf4"]).stdout).unwrap();
    assert_eq!(nf4.lines().count(), 16);
    assert_eq!((nf4.lines().next(), nf4.lines().last()), (Some("-1"), Some("1")));
    let p3109 = String::from_utf8(quantlab(&["values", "--element", "p3109-k4p2"]).stdout).unwrap();
    assert_eq!(p3109.lines().collect::<Vec<_>>(), ["-2", "-1.5", "-1", "-0.75", "-0.5", "-0.25", "0", "0.25", "0.5", "0.75", "1", "1.5", "2"]);
    assert_fails(&quantlab(&["values", "--element", "nf5"]), "did you mean `nf4`");
}

#[test]
fn formats_lists_every_family() {
    let out = String::from_utf8(quantlab(&["formats"]).stdout).unwrap();
    for fam in
        ["adaptivfloat:", "int:", "bfp:", "mx:", "scaled:", "p3109:", "minifloat:", "posit:", "preset mxint8", "preset bf16", "preset nf4", "preset mx6", "Element types", "fp8-e4m3fnuz", "p3109-k8p3"]
    {
        assert!(out.contains(fam), "{fam}");
    }
}

#[test]
fn quantize_encode_decode_round_trip() {
    let d = dir();
    let (input, out, enc, dec) = (d.join("x.npy"), d.join("q.npy"), d.join("x.qlab"), d.join("d.npy"));
    let x: Vec<f32> = (0..4 * 6 * 8).map(|i| ((i * 37 % 101) as f32 - 50.0) / 9.0).collect();
    write_npy(&input, &[4, 6, 8], &x).unwrap();
    for (format, gran) in [("adaptivfloat(n=6,e=3)", "channel:1"), ("mxfp4", "tensor"), ("int(bits=3,mode=asymmetric)", "block:5"), ("posit(n=8,es=1)", "channel")] {
        let o = quantlab(&["quantize", format, s(&input), "-o", s(&out), "--granularity", gran, "--encode", s(&enc)]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let summary = String::from_utf8_lossy(&o.stdout);
        assert!(summary.contains("bits/element") && summary.contains("sqnr"), "{summary}");
        let q = read_npy(&out).unwrap();
        assert_eq!(q.shape, [4, 6, 8]);
        assert!(q.data.iter().zip(&x).any(|(a, b)| a != b), "{format}: nothing changed");
        let o = quantlab(&["decode", s(&enc), "-o", s(&dec)]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let back = read_npy(&dec).unwrap();
        assert_eq!(back.shape, q.shape);
        assert!(back.data.iter().zip(&q.data).all(|(a, b)| a.to_bits() == b.to_bits()), "{format}: decode differs from quantize");
    }
}

/// A file larger than the piece `quantize` streams in (2^20 values), one
/// group of it larger than a piece: the streamed values and container
/// equal the library's in-memory walk (`quantize`, `encode` and its
/// bytes) bit for bit, for strategies that clip from statistics and ones
/// that must see the values (which hold the file whole).
#[test]
fn quantize_streams_a_large_file_to_the_same_values() {
    let d = dir();
    let (input, q, enc) = (d.join("big.npy"), d.join("streamed.npy"), d.join("streamed.qlab"));
    let shape = [((3usize << 19) + 96) / 96, 96];
    let x: Vec<f32> = (0..shape[0] * shape[1]).map(|i| ((i * 7919 % 10007) as f32 - 5003.0) / 613.0 * if i % 89 == 0 { 7.0 } else { 1.0 }).collect();
    write_npy(&input, &shape, &x).unwrap();
    for (format, gran, clamp) in [
        ("adaptivfloat(n=8,e=3)", "tensor", "none"),
        ("int(bits=4,round=stochastic)", "tensor", "aciq-laplace"),
        ("mxfp4", "tensor", "mse"),
        ("int(bits=6,mode=asymmetric)", "channel", "percentile(p=99)"),
        ("nvfp4", "block:64", "none"),
    ] {
        let (f, strategy, g) = (quantlab_formats::parse(format).unwrap(), quantlab_clamp::parse(clamp).unwrap(), gran.parse::<quantlab_formats::Granularity>().unwrap());
        let whole = quantlab_quantize::encode(&*f, &*strategy, &x, &shape, g, 3).unwrap();
        for encode in [false, true] {
            let mut args = vec!["quantize", format, s(&input), "-o", s(&q), "--granularity", gran, "--clamp", clamp, "--seed", "3"];
            if encode {
                args.extend(["--encode", s(&enc)]);
            }
            let o = quantlab(&args);
            assert!(o.status.success(), "{format}: {}", String::from_utf8_lossy(&o.stderr));
            let got = read_npy(&q).unwrap();
            assert_eq!(got.shape, shape);
            assert!(got.data.iter().zip(&whole.values).all(|(a, b)| a.to_bits() == b.to_bits()), "{format} {gran} {clamp}: streamed values differ");
            if encode {
                assert!(std::fs::read(&enc).unwrap() == whole.encoded.to_bytes(), "{format} {gran} {clamp}: containers differ");
                let line = String::from_utf8_lossy(&o.stdout);
                assert!(line.contains(&format!("{} bytes on the wire", whole.encoded.wire_bytes())), "{line}");
            }
        }
    }
}

/// `decode` reads a container in pieces; a damaged one (a flipped bit, cut
/// short, a byte too many) is a one-line error and no output is written.
#[test]
fn decode_refuses_a_damaged_container_and_writes_nothing() {
    let d = dir();
    let (input, q, enc) = (d.join("dmg.npy"), d.join("dmg-q.npy"), d.join("dmg.qlab"));
    let x: Vec<f32> = (0..64 * 40).map(|i| ((i * 31 % 211) as f32 - 105.0) / 13.0).collect();
    write_npy(&input, &[64, 40], &x).unwrap();
    let o = quantlab(&["quantize", "mxfp4", s(&input), "-o", s(&q), "--encode", s(&enc)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let good = std::fs::read(&enc).unwrap();
    let out = d.join("dmg-out.npy");
    for (what, bytes, says) in [
        (
            "flipped",
            {
                let mut b = good.clone();
                let k = b.len() / 2;
                b[k] ^= 4;
                b
            },
            "checksum mismatch",
        ),
        ("short", good[..good.len() - 3].to_vec(), "truncated"),
        ("long", [good.clone(), vec![0]].concat(), "extra bytes"),
    ] {
        let bad = d.join(format!("dmg-{what}.qlab"));
        std::fs::write(&bad, bytes).unwrap();
        let _ = std::fs::remove_file(&out);
        assert_fails(&quantlab(&["decode", s(&bad), "-o", s(&out)]), says);
        assert!(!out.exists(), "{what}: an output was written");
    }
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let d = dir();
    let good = d.join("good.npy");
    write_npy(&good, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    let junk = d.join("junk.npy");
    std::fs::write(&junk, b"\x93NUMPY not really").unwrap();
    let out = d.join("o.npy");
    assert_fails(&quantlab(&["quantize", "int(bits=8)", s(&d.join("missing.npy")), "-o", s(&out)]), "missing.npy");
    assert_fails(&quantlab(&["quantize", "int(bits=8)", s(&junk), "-o", s(&out)]), "junk.npy");
    assert_fails(&quantlab(&["quantize", "int(bits=0)", s(&good), "-o", s(&out)]), "`bits` = 0");
    assert_fails(&quantlab(&["quantize", "int(bits=8)", s(&good), "-o", s(&out), "--granularity", "channel:5"]), "channel:5");
    assert_fails(&quantlab(&["quantize", "int(bits=8)", s(&good), "-o", s(&out), "--granularity", "rows"]), "granularity `rows`");
    assert_fails(&quantlab(&["quantize", "int(bits=8)", s(&good), "-o", s(&d.join("no/such/dir/o.npy"))]), "cannot write");
    assert_fails(&quantlab(&["values", "posit(n=16,es=4)"]), "`es` = 4");
    assert_fails(&quantlab(&["values", "posit(n=32,es=1)"]), "`n` = 32");
    assert_fails(&quantlab(&["values", "adaptivfloat(n=20,e=5)", "--max", "1"]), "at most 16 bits");
    assert_fails(&quantlab(&["values", "int(bits=4)", "--max", "inf"]), "finite");
    assert_fails(&quantlab(&["decode", s(&junk), "-o", s(&out)]), "bad magic");
    assert_fails(&quantlab(&["compare", "--formats", "int(bits={bits}", "--n", "64"]), "closing");
    assert_fails(&quantlab(&["compare", "--data", "cauchy", "--n", "64"]), "unknown distribution `cauchy`");
    assert_fails(&quantlab(&["compare", "--data", "normal(std=-1)", "--n", "64"]), "`std` = -1");
    let usage = quantlab(&["quantize"]);
    assert_eq!(usage.status.code(), Some(2));
    // NaN in a format without a NaN code: encoding refuses, naming the reason.
    let nan = d.join("nan.npy");
    write_npy(&nan, &[3], &[1.0, f32::NAN, 2.0]).unwrap();
    let _ = std::fs::remove_file(&out);
    assert_fails(&quantlab(&["quantize", "int(bits=4,mode=asymmetric)", s(&nan), "-o", s(&out), "--encode", s(&d.join("n.qlab"))]), "cannot encode: ");
    assert!(!out.exists() && !d.join("n.qlab").exists(), "a failed encode left an output");
}

#[test]
fn compare_prints_tables_with_a_best_cell_per_column() {
    let out = quantlab(&["compare", "--n", "4096", "--bits", "4,8", "--data", "laplace(scale=2)"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("| `adaptivfloat(n={bits},e=3)` |"), "{text}");
    // One bold (best) cell per column in each of the two tables.
    assert_eq!(text.matches("**").count(), 2 * 2 * 2, "{text}");
}

#[test]
fn clamp_prints_one_line_per_group_and_quantize_applies_it() {
    let d = dir();
    let input = d.join("acts.npy");
    let x: Vec<f32> = (0..3 * 256).map(|i| ((i * 7919 % 1000) as f32 / 100.0 - 5.0).powi(3) / 25.0).collect();
    write_npy(&input, &[3, 256], &x).unwrap();
    let out = quantlab(&["clamp", "aciq-laplace", s(&input), "--format", "int(bits=4)", "--granularity", "channel"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.lines().all(|l| l.starts_with("alpha=") && l[6..].parse::<f32>().is_ok()), "{text}");
    let out = quantlab(&["clamp", "none", s(&input), "--format", "int(bits=4,mode=asymmetric)"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let (lo, hi) = x.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    assert_eq!(text.trim(), format!("lo={lo} hi={hi}"));
    // Clipping changes the result; the summary names the strategy.
    let (q1, q2) = (d.join("q1.npy"), d.join("q2.npy"));
    assert!(quantlab(&["quantize", "int(bits=4)", s(&input), "-o", s(&q1)]).status.success());
    let o = quantlab(&["quantize", "int(bits=4)", s(&input), "-o", s(&q2), "--clamp", "percentile(p=90)"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("clamp percentile(p=90)"));
    assert_ne!(read_npy(&q1).unwrap().data, read_npy(&q2).unwrap().data);
    assert_fails(&quantlab(&["clamp", "percentile(p=120)", s(&input), "--format", "int(bits=4)"]), "(0, 100]");
    assert_fails(&quantlab(&["quantize", "int(bits=4)", s(&input), "-o", s(&q2), "--clamp", "median"]), "unknown clamping strategy `median`");
    let listed = String::from_utf8(quantlab(&["strategies"]).stdout).unwrap();
    assert!(listed.contains("aciq-laplace:") && listed.contains("kl:") && listed.contains("pipeedge-auto:"));
}

/// A one-tensor safetensors file (f32).
fn safetensors_bytes(name: &str, shape: &[usize], values: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let mut header = format!(r#"{{"{name}":{{"dtype":"F32","shape":[{}],"data_offsets":[0,{}]}}}}"#, dims.join(","), values.len() * 4);
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header.as_bytes());
    out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    out
}

#[test]
fn inspect_summarises_and_rejects_bad_input() {
    let d = dir().join("inspect");
    std::fs::create_dir_all(&d).unwrap();
    let model = d.join("model.safetensors");
    std::fs::write(&model, safetensors_bytes("encoder.layer.0.weight", &[2, 3], &[1.0, -2.0, 0.0, 4.0, 0.5, -0.5])).unwrap();
    let out = quantlab(&["inspect", s(&model)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("encoder.layer.0.weight") && text.contains("[2, 3]") && text.contains("total: 1 tensors, 6 elements"), "{text}");
    let out = quantlab(&["inspect", s(&model), "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = &json[0];
    for key in ["name", "dtype", "shape", "min", "max", "mean", "std"] {
        assert!(t.get(key).is_some(), "{key} missing: {t}");
    }
    assert_eq!((t["min"].as_f64(), t["max"].as_f64(), t["shape"][1].as_u64()), (Some(-2.0), Some(4.0), Some(3)));
    // npy files are inspected too.
    let npy = d.join("x.npy");
    write_npy(&npy, &[4], &[1.0, 2.0, 3.0, 4.0]).unwrap();
    assert!(String::from_utf8(quantlab(&["inspect", s(&npy)]).stdout).unwrap().contains("total: 1 tensors, 4 elements"));
    // Bad input: status 2, one line naming the file and the problem.
    let truncated = d.join("truncated.safetensors");
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() - 4]).unwrap();
    assert_fails(&quantlab(&["inspect", s(&truncated)]), "truncated.safetensors: not a valid safetensors file");
    assert_fails(&quantlab(&["inspect", s(&d.join("missing.safetensors"))]), "missing.safetensors: cannot open");
    let empty = d.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    assert_fails(&quantlab(&["inspect", s(&empty)]), "no .safetensors file");
    assert_fails(&quantlab(&["inspect", s(&model), "--include", "decoder.*"]), "`decoder.*` matches no tensor");
}

#[test]
fn a_closed_pipe_ends_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_quantlab")).args(["values", "posit(n=16,es=1)"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut first = [0u8; 4];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap(); // then drop: the pipe closes
    let status = child.wait().unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(status.code(), Some(101), "a panic's exit status");
}
