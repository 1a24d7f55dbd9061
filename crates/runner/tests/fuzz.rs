//! Fuzzing the configuration parser with proptest, a bounded number of
//! cases per CI run: the committed configurations with lines dropped,
//! repeated or swapped, values replaced by hostile ones and bytes flipped.
//! Every mutant must parse to a plan or to one located line of error,
//! never a panic or an allocation the text does not justify.

use proptest::prelude::*;
use quantlab_runner::config;

fn configs() -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut out = vec![std::fs::read_to_string(root.join("configs/quickstart.toml")).unwrap()];
    for e in ["banner-clip", "kuzmin-fp8", "dac20-fig4", "histogram-grid", "minilm-pipeline"] {
        out.push(std::fs::read_to_string(root.join(format!("experiments/{e}/experiment.toml"))).unwrap());
    }
    out
}

const HOSTILE: &[&str] = &[
    "[9223372036854775807, 2]",
    "[100000000000, 100000000000]",
    "[]",
    "-1",
    "1e999",
    "nan",
    "\"\\u001b[31m\"",
    "\"a\\nb\"",
    "[[1]]",
    "{ a = 1 }",
    "\"block:0\"",
    "\"channel:99\"",
    "18446744073709551616",
    "\"mse(sample=-1)\"",
    "\"\"",
];

fn mutate(text: &str, ops: &[(usize, u8, usize)]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for &(at, kind, v) in ops {
        if lines.is_empty() {
            break;
        }
        let i = at % lines.len();
        match kind % 5 {
            0 => {
                lines.remove(i);
            }
            1 => {
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            2 => {
                let j = v % lines.len();
                lines.swap(i, j);
            }
            3 => {
                if let Some((k, _)) = lines[i].split_once('=') {
                    lines[i] = format!("{k}= {}", HOSTILE[v % HOSTILE.len()]);
                }
            }
            _ => {
                let mut b = lines[i].clone().into_bytes();
                if !b.is_empty() {
                    let j = v % b.len();
                    b[j] = b[j].wrapping_add(1 + (v % 7) as u8);
                }
                lines[i] = String::from_utf8_lossy(&b).into_owned();
            }
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_configurations_never_panic(which in 0usize..6, ops in prop::collection::vec((any::<usize>(), any::<u8>(), any::<usize>()), 1..5)) {
        let text = mutate(&configs()[which], &ops);
        if let Err(e) = config::parse(&text, "fuzz.toml") {
            let e = e.to_string();
            prop_assert!(e.starts_with("fuzz.toml"), "{e}");
            prop_assert!(!e.contains('\n'), "{e:?}");
        }
    }
}
