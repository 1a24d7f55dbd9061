//! Speed of the tensor sources: 16M normal samples on 2 threads, and opening
//! the MiniLM model folder and producing all its float tensors as f32 (when
//! `scripts/fetch-minilm.sh` has fetched it).
//!
//! Run: `cargo bench -p quantlab-tensors --bench sources`.

use std::hint::black_box;
use std::path::Path;

use criterion::Criterion;
use quantlab_tensors::synthetic::{generate, Distribution};
use quantlab_tensors::{NameFilter, Source};

fn main() {
    let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let mut c = Criterion::default().sample_size(10).configure_from_args();
    let normal = Distribution::parse("normal").unwrap();
    c.bench_function("normal-16M-2-threads", |b| b.iter(|| two.install(|| black_box(generate(normal, 1 << 24, 1).unwrap()))));
    let minilm = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/minilm"));
    if minilm.exists() {
        let source = Source::from_path(minilm, NameFilter::default());
        c.bench_function("minilm-load-all-f32", |b| b.iter(|| black_box(source.load().unwrap())));
    } else {
        eprintln!("data/minilm absent: run scripts/fetch-minilm.sh to time the MiniLM load");
    }
    c.final_summary();
}
