//! A tiny, randomly initialised BERT in a folder laid out like
//! sentence-transformers' (`config.json`, `tokenizer.json` with a WordPiece
//! vocabulary of a few dozen English words, `model.safetensors`), so that
//! tests run the loading, quantization and metric code without the real
//! model. The weights come from a fixed-seed generator: the same folder on
//! every machine.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use serde_json::json;

/// Sizes of the tiny model.
pub const HIDDEN: usize = 32;
/// Encoder layers of the tiny model.
pub const LAYERS: usize = 3;
const HEADS: usize = 4;
const INTERMEDIATE: usize = 64;
const MAX_POSITIONS: usize = 64;
const SPECIAL: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// Sentences the tiny vocabulary covers.
pub const SENTENCES: &[&str] = &[
    "the cat sat on the warm mat",
    "a dog ran across the green park",
    "rain fell on the old city all night",
    "the market opens early on saturday",
    "she reads a book by the window",
    "the train to the coast is late again",
    "he cooks soup with fresh vegetables",
    "the team won the final match",
    "prices rose again this year",
    "birds sing before the sun comes up",
    "the children played in the snow",
    "a storm is coming from the sea",
];

fn vocabulary() -> Vec<String> {
    let mut words: Vec<String> = SPECIAL.iter().map(|s| s.to_string()).collect();
    for s in SENTENCES {
        for w in s.split_whitespace() {
            if !words.iter().any(|x| x == w) {
                words.push(w.to_string());
            }
        }
    }
    for extra in ["##s", "##ed", "##ing", ".", ",", "?", "!"] {
        words.push(extra.to_string());
    }
    words
}

/// SplitMix64: a small, fixed generator (no dependency on `rand`'s stream).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        // Uniform on [-1, 1).
        (z >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// Write the tiny model into `dir` (created if needed).
pub fn write(dir: &Path) -> Result<(), String> {
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("{}: cannot write {what}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(|e| fail("folder", &e))?;
    let vocab = vocabulary();
    let config = json!({
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": vocab.len(),
        "hidden_size": HIDDEN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "intermediate_size": INTERMEDIATE,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": MAX_POSITIONS,
        "type_vocab_size": 2,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
        "position_embedding_type": "absolute"
    });
    std::fs::write(dir.join("config.json"), serde_json::to_string_pretty(&config).expect("json")).map_err(|e| fail("config.json", &e))?;
    std::fs::write(dir.join("tokenizer.json"), tokenizer_json(&vocab)).map_err(|e| fail("tokenizer.json", &e))?;

    let mut rng = SplitMix(0x5eed);
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    let mut add = |name: String, shape: &[usize], scale: f32, offset: f32, rng: &mut SplitMix| {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n).map(|_| offset + scale * rng.next()).collect();
        tensors.insert(name, Tensor::from_vec(data, shape, &Device::Cpu).expect("shape matches"));
    };
    // Uniform weights with the variance of 1/sqrt(fan_in) scaling, so the
    // signal neither dies nor explodes through the layers.
    let w = |fan_in: usize| (3.0 / fan_in as f32).sqrt();
    add("embeddings.word_embeddings.weight".into(), &[vocab.len(), HIDDEN], 1.0, 0.0, &mut rng);
    add("embeddings.position_embeddings.weight".into(), &[MAX_POSITIONS, HIDDEN], 0.5, 0.0, &mut rng);
    add("embeddings.token_type_embeddings.weight".into(), &[2, HIDDEN], 0.1, 0.0, &mut rng);
    add("embeddings.LayerNorm.weight".into(), &[HIDDEN], 0.1, 1.0, &mut rng);
    add("embeddings.LayerNorm.bias".into(), &[HIDDEN], 0.1, 0.0, &mut rng);
    for l in 0..LAYERS {
        let p = format!("encoder.layer.{l}");
        for part in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"] {
            add(format!("{p}.{part}.weight"), &[HIDDEN, HIDDEN], w(HIDDEN), 0.0, &mut rng);
            add(format!("{p}.{part}.bias"), &[HIDDEN], 0.1, 0.0, &mut rng);
        }
        add(format!("{p}.attention.output.LayerNorm.weight"), &[HIDDEN], 0.1, 1.0, &mut rng);
        add(format!("{p}.attention.output.LayerNorm.bias"), &[HIDDEN], 0.1, 0.0, &mut rng);
        add(format!("{p}.intermediate.dense.weight"), &[INTERMEDIATE, HIDDEN], w(HIDDEN), 0.0, &mut rng);
        add(format!("{p}.intermediate.dense.bias"), &[INTERMEDIATE], 0.1, 0.0, &mut rng);
        add(format!("{p}.output.dense.weight"), &[HIDDEN, INTERMEDIATE], w(INTERMEDIATE), 0.0, &mut rng);
        add(format!("{p}.output.dense.bias"), &[HIDDEN], 0.1, 0.0, &mut rng);
        add(format!("{p}.output.LayerNorm.weight"), &[HIDDEN], 0.1, 1.0, &mut rng);
        add(format!("{p}.output.LayerNorm.bias"), &[HIDDEN], 0.1, 0.0, &mut rng);
    }
    add("pooler.dense.weight".into(), &[HIDDEN, HIDDEN], w(HIDDEN), 0.0, &mut rng);
    add("pooler.dense.bias".into(), &[HIDDEN], 0.1, 0.0, &mut rng);
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).map_err(|e| fail("model.safetensors", &e))
}

/// A BERT WordPiece tokenizer file, laid out as Hugging Face writes it.
fn tokenizer_json(vocab: &[String]) -> String {
    let id = |t: &str| vocab.iter().position(|v| v == t).expect("special token in vocabulary");
    let added: Vec<_> = SPECIAL.iter().map(|t| json!({"id": id(t), "special": true, "content": t, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false})).collect();
    let vocab_map: serde_json::Map<String, serde_json::Value> = vocab.iter().enumerate().map(|(i, w)| (w.clone(), json!(i))).collect();
    let special = |t: &str, type_id: u32| json!({"SpecialToken": {"id": t, "type_id": type_id}});
    let sequence = |s: &str, type_id: u32| json!({"Sequence": {"id": s, "type_id": type_id}});
    let tok = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [special("[CLS]", 0), sequence("A", 0), special("[SEP]", 0)],
            "pair": [special("[CLS]", 0), sequence("A", 0), special("[SEP]", 0), sequence("B", 1), special("[SEP]", 1)],
            "special_tokens": {
                "[CLS]": {"id": "[CLS]", "ids": [id("[CLS]")], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [id("[SEP]")], "tokens": ["[SEP]"]}
            }
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": vocab_map}
    });
    serde_json::to_string_pretty(&tok).expect("json")
}
