//! The model path end to end on a tiny random BERT written by the test
//! (CI has no model), and, when `data/minilm` is present, the fp32 path
//! against the Python sentence-transformers reference.

use std::path::{Path, PathBuf};

use quantlab_model::{activations::ActivationQuantizer, compare, tiny, Model, WeightKind, WeightSelection};

fn tiny_model(tag: &str) -> (PathBuf, Model) {
    let dir = std::env::temp_dir().join(format!("quantlab-tiny-bert-{tag}-{}", std::process::id()));
    tiny::write(&dir).unwrap();
    let model = Model::load(&dir).unwrap();
    (dir, model)
}

fn sentences() -> Vec<String> {
    tiny::SENTENCES.iter().map(|s| s.to_string()).collect()
}

fn fmt(d: &str) -> Box<dyn quantlab_formats::Format> {
    quantlab_formats::parse(d).unwrap()
}

fn clamp(d: &str) -> Box<dyn quantlab_clamp::Strategy> {
    quantlab_clamp::parse(d).unwrap()
}

#[test]
fn fp32_embeddings_are_unit_vectors_whatever_the_batch() {
    let (dir, model) = tiny_model("batch");
    let net = model.network(None).unwrap();
    let one = net.embed(&model.tokenize(&sentences(), 1).unwrap(), None).unwrap().embeddings;
    let all = net.embed(&model.tokenize(&sentences(), 64).unwrap(), None).unwrap().embeddings;
    assert_eq!((one.rows, one.dim), (sentences().len(), tiny::HIDDEN));
    for i in 0..one.rows {
        let norm: f64 = one.row(i).iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "sentence {i}: norm {norm}");
    }
    let a = compare(&one, &all);
    assert!(a.cos_min > 0.999_999, "batching changed an embedding: {a:?}");
    // Different sentences give different embeddings.
    assert!(quantlab_model::metrics::cosine(one.row(0), one.row(1)) < 0.99);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn embeddings_do_not_depend_on_the_thread_count() {
    let (dir, model) = tiny_model("threads");
    let batches = model.tokenize(&sentences(), 4).unwrap();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let af = fmt("adaptivfloat(n=6,e=3)");
            let mse = clamp("mse");
            let q = model.quantize_weights(&*af, &*mse, quantlab_formats::Granularity::Channel { axis: 0 }, &WeightSelection::default(), 0).unwrap();
            let acts = ActivationQuantizer::new(&*af, &*mse, quantlab_formats::Granularity::Tensor, vec![1, 2], 0);
            model.network(Some(&q)).unwrap().embed(&batches, Some(&acts)).unwrap().embeddings.data
        })
    };
    let (a, b) = (run(1), run(2));
    assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "1 and 2 threads differ");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn weights_at_16_bits_change_little_and_at_2_bits_a_lot() {
    let (dir, model) = tiny_model("weights");
    let batches = model.tokenize(&sentences(), 5).unwrap();
    let fp32 = model.network(None).unwrap().embed(&batches, None).unwrap().embeddings;
    let none = clamp("none");
    let run = |d: &str, selection: &WeightSelection| {
        let q = model.quantize_weights(&*fmt(d), &*none, quantlab_formats::Granularity::Tensor, selection, 0).unwrap();
        let e = model.network(Some(&q)).unwrap().embed(&batches, None).unwrap().embeddings;
        (q.quantized, q.tally.sqnr_db(), compare(&fp32, &e))
    };
    let linear = WeightSelection::default();
    let (n, sqnr, fp16) = run("fp16", &linear);
    assert_eq!(n, 6 * tiny::LAYERS, "query, key, value, attention output, intermediate, output per layer");
    assert!(sqnr > 60.0, "fp16 weights: SQNR {sqnr} dB");
    assert!(fp16.cos_min > 0.9999 && fp16.nn_agreement == 1.0 && fp16.spearman > 0.999, "fp16: {fp16:?}");
    let (_, _, int16) = run("int(bits=16)", &linear);
    assert!(int16.cos_min > 0.9999, "int16: {int16:?}");
    let (_, _, int2) = run("int(bits=2)", &linear);
    assert!(int2.cos_mean < 0.9 && int2.spearman < 0.9, "2-bit weights should change embeddings a lot: {int2:?}");
    // Every kind of weight: more tensors quantized.
    let (all, _, _) = run("fp16", &WeightSelection(WeightKind::ALL.to_vec()));
    assert_eq!(all, 6 * tiny::LAYERS + 3 + 6 * tiny::LAYERS + (2 + 4 * tiny::LAYERS), "linear + embeddings + biases + layer norms (scale and shift: embeddings, then two per layer)");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn activations_at_split_points_with_their_wire_size() {
    let (dir, model) = tiny_model("acts");
    let batches = model.tokenize(&sentences(), 5).unwrap();
    let net = model.network(None).unwrap();
    let fp32 = net.embed(&batches, None).unwrap().embeddings;
    let none = clamp("none");
    let f16 = fmt("fp16");
    let q16 = ActivationQuantizer::new(&*f16, &*none, quantlab_formats::Granularity::Tensor, vec![1], 0);
    let e16 = net.embed(&batches, Some(&q16)).unwrap();
    assert!(compare(&fp32, &e16.embeddings).cos_min > 0.9999);
    let int2 = fmt("int(bits=2)");
    let q2 = ActivationQuantizer::new(&*int2, &*none, quantlab_formats::Granularity::Tensor, vec![1, 2], 0);
    let e2 = net.embed(&batches, Some(&q2)).unwrap();
    let a = compare(&fp32, &e2.embeddings);
    assert!(a.cos_mean < 0.95, "2-bit activations at two split points: {a:?}");
    // Wire size: one sample's tokens x hidden codes, 16 per u32 word at 2
    // bits, plus the integer format's per-sample scale metadata.
    let lengths = batches.lengths();
    assert_eq!(e2.wire_bytes.len(), 2);
    for (line, &len) in lengths.iter().enumerate() {
        let codes = (len * tiny::HIDDEN).div_ceil(16) * 4;
        let meta = (int2.meta_bits() as usize).div_ceil(8);
        assert_eq!(e2.wire_bytes[0][line], codes + meta, "sentence {line}");
    }
    let s = q2.stats();
    assert_eq!(s.samples, 2 * sentences().len() as u64);
    assert_eq!(s.tally.elements, 2 * lengths.iter().map(|l| (l * tiny::HIDDEN) as u64).sum::<u64>());
    assert!(s.tally.sqnr_db() < q16.stats().tally.sqnr_db());
    // A split point outside the encoder is refused with the valid range.
    let bad = ActivationQuantizer::new(&*int2, &*none, quantlab_formats::Granularity::Tensor, vec![tiny::LAYERS], 0);
    let e = net.embed(&batches, Some(&bad)).unwrap_err().to_string();
    assert!(e.contains("split point is 1..=2"), "{e}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_missing_or_mismatching_model_names_the_fetch_script() {
    let e = Model::load(Path::new("/nonexistent/minilm")).err().unwrap().to_string();
    assert!(e.contains("/nonexistent/minilm") && e.contains("scripts/fetch-minilm.sh"), "{e}");
    assert_eq!(e.lines().count(), 1);
    let (dir, _) = tiny_model("mismatch");
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap().replace("\"hidden_size\": 32", "\"hidden_size\": 48");
    std::fs::write(dir.join("config.json"), config).unwrap();
    let e = Model::load(&dir).err().unwrap().to_string();
    assert!(e.contains("config.json does not match model.safetensors") && e.contains("scripts/fetch-minilm.sh"), "{e}");
    std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
    let e = Model::load(&dir).err().unwrap().to_string();
    assert!(e.contains("missing tokenizer.json") && e.contains("scripts/fetch-minilm.sh"), "{e}");
    std::fs::remove_dir_all(dir).ok();
}

/// The fp32 path against sentence-transformers (Python, PyTorch) on the
/// corpus's first 20 sentences: `scripts/reference-embeddings.py` wrote the
/// fixture. Runs only where `scripts/fetch-minilm.sh` has fetched the model.
#[test]
fn minilm_matches_sentence_transformers_when_present() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("data/minilm");
    if !dir.join("model.safetensors").exists() {
        eprintln!("skipped: {} not fetched (scripts/fetch-minilm.sh)", dir.display());
        return;
    }
    let model = Model::load(&dir).unwrap();
    let corpus = std::fs::read_to_string(root.join("experiments/corpus/sentences.txt")).unwrap();
    let sentences: Vec<String> = corpus.lines().take(20).map(str::to_string).collect();
    let ours = model.network(None).unwrap().embed(&model.tokenize(&sentences, 8).unwrap(), None).unwrap().embeddings;
    let reference = quantlab_tensors::read_npy(&root.join("crates/model/tests/fixtures/minilm-reference-20.npy")).unwrap();
    assert_eq!(reference.shape, [20, 384]);
    for i in 0..20 {
        let c = quantlab_model::metrics::cosine(ours.row(i), &reference.data[i * 384..(i + 1) * 384]);
        assert!(c >= 0.9999, "sentence {}: cosine {c} to sentence-transformers", i + 1);
    }
}

#[test]
fn starting_from_a_prefix_gives_the_same_embeddings() {
    let (dir, model) = tiny_model("prefix");
    let batches = model.tokenize(&sentences(), 5).unwrap();
    let net = model.network(None).unwrap();
    let f = fmt("int(bits=4)");
    let none = clamp("none");
    let full = net.embed(&batches, Some(&ActivationQuantizer::new(&*f, &*none, quantlab_formats::Granularity::Tensor, vec![2], 0))).unwrap();
    for after in [0, 1, 2] {
        let prefix = net.prefix(&batches, after).unwrap();
        let from = net.embed_from(&batches, Some(&ActivationQuantizer::new(&*f, &*none, quantlab_formats::Granularity::Tensor, vec![2], 0)), Some(&prefix)).unwrap();
        assert!(full.embeddings.data.iter().zip(&from.embeddings.data).all(|(a, b)| a.to_bits() == b.to_bits()), "prefix after layer {after}");
        assert_eq!(full.wire_bytes, from.wire_bytes);
    }
    std::fs::remove_dir_all(dir).ok();
}
