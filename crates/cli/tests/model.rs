//! The model in the loop from the command line, on a tiny random BERT the
//! test writes (CI has no model): `quantlab embed`, and `quantlab run` with
//! a `[model]` section (results, determinism across thread counts, report,
//! errors).

mod common;

use std::path::{Path, PathBuf};

use common::{assert_fails, ok, quantlab, s, table};
use polars::prelude::*;
use quantlab_model::tiny;

/// A folder with the tiny model in `model/` and its sentences in `sentences.txt`.
fn setup(name: &str) -> PathBuf {
    let d = common::fresh_dir("model", name);
    tiny::write(&d.join("model")).unwrap();
    std::fs::write(d.join("sentences.txt"), tiny::SENTENCES.join("\n")).unwrap();
    d
}

fn config(d: &Path, model_section: &str) -> PathBuf {
    let text = format!(
        "name = \"tiny\"\nclamp = [\"none\", \"mse\"]\n\n[model]\npath = \"{}\"\nsentences = \"{}\"\n{model_section}\n\n[[format]]\nfamily = \"int\"\nbits = [2, 16]\n\n[[format]]\nfamily = \"adaptivfloat\"\nn = [4, 8]\ne = 3\n",
        s(&d.join("model")),
        s(&d.join("sentences.txt"))
    );
    let path = d.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn column(df: &DataFrame, name: &str) -> Vec<f64> {
    df.column(name).unwrap().f64().unwrap().into_no_null_iter().collect()
}

#[test]
fn embed_writes_one_unit_row_per_line() {
    let d = setup("embed");
    let out = d.join("emb.npy");
    ok(&quantlab(&["embed", s(&d.join("model")), s(&d.join("sentences.txt")), "-o", s(&out), "--batch-size", "5"]));
    let fp32 = quantlab_tensors::read_npy(&out).unwrap();
    assert_eq!(fp32.shape, [tiny::SENTENCES.len(), tiny::HIDDEN]);
    let norm: f64 = fp32.data[..tiny::HIDDEN].iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5);
    let q = d.join("q.npy");
    let o = quantlab(&["embed", s(&d.join("model")), s(&d.join("sentences.txt")), "-o", s(&q), "--weights", "int(bits=2)", "--activations", "int(bits=4)", "--split-after", "1,2"]);
    ok(&o);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("weights int(bits=2)") && stdout.contains("bytes per sample"), "{stdout}");
    let quantized = quantlab_tensors::read_npy(&q).unwrap();
    assert_ne!(quantized.data, fp32.data);
    assert_fails(&quantlab(&["embed", s(&d.join("nothing")), s(&d.join("sentences.txt")), "-o", s(&q)]), "scripts/fetch-minilm.sh");
    assert_fails(&quantlab(&["embed", s(&d.join("model")), s(&d.join("sentences.txt")), "-o", s(&q), "--activations", "int(bits=4)", "--split-after", "3"]), "split point is 1..=2");
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn a_model_sweep_measures_reports_and_does_not_depend_on_threads() {
    let d = setup("sweep");
    let cfg = config(&d, "quantize = \"weights\"");
    let dry = quantlab(&["run", s(&cfg), "--dry-run"]);
    ok(&dry);
    assert!(String::from_utf8_lossy(&dry.stdout).contains("8 cells"), "{}", String::from_utf8_lossy(&dry.stdout));
    let (one, two) = (d.join("one"), d.join("two"));
    ok(&quantlab(&["run", s(&cfg), "--out", s(&one), "--threads", "1", "--quiet"]));
    ok(&quantlab(&["run", s(&cfg), "--out", s(&two), "--threads", "2", "--quiet"]));
    let t = table(&one);
    assert!(t.equals_missing(&table(&two)), "1 and 2 threads differ");
    assert_eq!(t.height(), 8);
    let (bits, cos) = (t.column("bits").unwrap().i64().unwrap().into_no_null_iter().collect::<Vec<_>>(), column(&t, "cos_mean"));
    for (b, c) in bits.iter().zip(&cos) {
        match b {
            16 => assert!(*c > 0.9999, "16 bits: cos_mean {c}"),
            2 => assert!(*c < 0.9, "2 bits: cos_mean {c}"),
            _ => {}
        }
    }
    for name in ["cos_min", "nn_agreement", "spearman", "tensor_sqnr_db", "bits_per_element"] {
        assert!(t.column(name).is_ok(), "no column {name}");
    }
    let md = std::fs::read_to_string(one.join("tables.md")).unwrap();
    for heading in ["mean cosine similarity to fp32 embeddings", "top-1 nearest-neighbour agreement", "Spearman correlation"] {
        assert!(md.contains(heading), "{heading} missing from tables.md:\n{md}");
    }
    assert!(one.join("figures/error-vs-bits-0-model.png").exists());
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn an_activation_sweep_counts_wire_bytes_per_sample() {
    let d = setup("acts");
    let cfg = config(&d, "quantize = \"activations\"\nsplit_after = [1, 2]\nbatch_size = 4");
    let out = d.join("out");
    ok(&quantlab(&["run", s(&cfg), "--out", s(&out), "--quiet"]));
    let t = table(&out);
    let bytes = column(&t, "wire_bytes_per_sample");
    let fp32 = column(&t, "fp32_bytes_per_sample");
    // Every model metric of the metric table is a column of an activation sweep.
    for m in quantlab_results::metric::of_sweep(quantlab_results::Sweep::Model) {
        assert!(t.column(m.name).is_ok(), "the activation sweep writes no `{}`", m.name);
    }
    let bits = t.column("bits").unwrap().i64().unwrap().into_no_null_iter().collect::<Vec<_>>();
    for ((b, w), f) in bits.iter().zip(&bytes).zip(&fp32) {
        // Codes of `b` bits packed into u32 words plus per-sample metadata:
        // about b/32 of fp32, never less.
        assert!(*w >= f * *b as f64 / 32.0 && *w < f * (*b as f64 / 32.0) * 1.2 + 8.0, "{b} bits: {w} bytes vs {f} fp32 bytes");
    }
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn model_config_errors_are_located_and_name_what_to_do() {
    let d = setup("errors");
    let cfg = config(&d, "quantize = \"weights\"\nweights = [\"linaer\"]");
    assert_fails(&quantlab(&["run", s(&cfg), "--dry-run"]), "did you mean `linear`?");
    let cfg = config(&d, "quantize = \"weights\"\nsplit_after = [1]");
    assert_fails(&quantlab(&["run", s(&cfg), "--dry-run"]), "for quantize = \"activations\" only");
    let cfg = config(&d, "quantize = \"activations\"\nsplit_after = [3]");
    assert_fails(&quantlab(&["run", s(&cfg), "--dry-run"]), "split point is 1..=2");
    let cfg = config(&d, "quantize = \"activation\"");
    assert_fails(&quantlab(&["run", s(&cfg), "--dry-run"]), "did you mean `activations`?");
    std::fs::remove_dir_all(d.join("model")).unwrap();
    let cfg = config(&d, "quantize = \"weights\"");
    assert_fails(&quantlab(&["run", s(&cfg), "--dry-run"]), "scripts/fetch-minilm.sh");
    std::fs::remove_dir_all(d).ok();
}
