//! Cost of each strategy choosing one clip for a 16M-element group of normal
//! data (format int(bits=8)), one thread, in ns/element; `mse` is also run
//! with `sample=65536`.
//!
//! Run: `cargo bench -p quantlab-clamp --bench clamp` (`-- --quick` for a look).

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use quantlab_clamp::{choose, parse};
use quantlab_formats::GroupView;
use quantlab_tensors::synthetic::{generate, Distribution};

const N: usize = 1 << 24;
const GROUP: &str = "clamp-16M";
const STRATEGIES: &[&str] = &["none", "aciq-laplace", "aciq-gauss", "aciq-gelu", "pipeedge-auto", "percentile(p=99.99)", "kl", "ratio(r=0.8)", "mse", "mse(sample=65536)"];

fn main() {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let x = pool.install(|| generate(Distribution::Normal { mean: 0.0, std: 1.0 }, N, 1).unwrap());
    let format = quantlab_formats::parse("int(bits=8)").unwrap();
    let mut c = Criterion::default().sample_size(10).configure_from_args();
    {
        let mut g = c.benchmark_group(GROUP);
        g.throughput(Throughput::Elements(N as u64));
        for &name in STRATEGIES {
            let s = parse(name).unwrap();
            g.bench_function(name, |b| b.iter(|| pool.install(|| black_box(choose(&*s, GroupView { index: 0, values: black_box(&x), row_len: 1024, format: &*format })))));
        }
        g.finish();
    }
    c.final_summary();
    summary();
}

fn mean_ns(bench: &str) -> Option<f64> {
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../target").into());
    let text = std::fs::read_to_string(format!("{dir}/criterion/{GROUP}/{bench}/new/estimates.json")).ok()?;
    let mean = &text[text.find("\"mean\"")?..];
    let at = mean.find("\"point_estimate\":")? + "\"point_estimate\":".len();
    mean[at..].split([',', '}']).next()?.trim().parse().ok()
}

fn summary() {
    println!("\n| strategy | ns/element |\n|---|---:|");
    for &name in STRATEGIES {
        if let Some(t) = mean_ns(name) {
            println!("| `{name}` | {:.2} |", t / N as f64);
        }
    }
}
