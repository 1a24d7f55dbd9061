//! Speed of every family on a 16M-element f32 tensor of normal data, one
//! thread, beside a plain copy of the same tensor. After criterion's own
//! report, a summary table gives ns/element and the ratio to the copy, read
//! back from criterion's saved estimates.
//!
//! Run: `cargo bench -p quantlab-formats --bench formats`
//! (a quicker look: `-- --quick`; one family: `-- adaptivfloat`). Set
//! `QUANTLAB_SIMD=portable` or `avx2` to cap the kernels' instruction set.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use quantlab_formats::{parse, quantize_into, Granularity};

const N: usize = 1 << 24;
const GROUP: &str = "quantize-16M";

/// Benchmarked formats: one per family (two for int and MX), the issue's
/// goals, and the granularity (`channel`: one group per row of 1024).
const CASES: &[(&str, &str, &str, &str)] = &[
    ("adaptivfloat", "adaptivfloat(n=8,e=3)", "1 ns", "tensor"),
    ("int-symmetric", "int(bits=8)", "1 ns", "tensor"),
    ("int-asymmetric", "int(bits=8,mode=asymmetric)", "2.5x copy", "tensor"),
    ("bfp-block16", "bfp(bits=8,block=16)", "2.5x copy", "tensor"),
    ("bfp-block64", "bfp(bits=8,block=64)", "1 ns", "tensor"),
    ("mxfp8-e4m3", "mxfp8-e4m3", "1 ns", "tensor"),
    ("mxfp4", "mxfp4", "1 ns", "tensor"),
    ("minifloat-fp8-e4m3", "fp8-e4m3", "1 ns", "tensor"),
    ("fp8-e4m3-f32-scale", "fp8-e4m3-scaled", "2x copy", "tensor"),
    ("fp8-e4m3-per-channel", "fp8-e4m3-scaled", "2x copy", "channel"),
    ("fp8-e4m3-b128", "fp8-e4m3-b128", "2x copy", "tensor"),
    ("nvfp4", "nvfp4", "2x copy", "tensor"),
    ("int4-g128", "int4-g128", "2x copy", "tensor"),
    ("nf4", "nf4", "3x copy", "tensor"),
    ("mx6", "mx6", "2x copy", "tensor"),
    ("p3109-k8p3", "p3109(k=8,p=3)", "2x copy", "tensor"),
    ("posit8-es1", "posit(n=8,es=1)", "5 ns", "tensor"),
];

/// Box-Muller normal samples from a fixed LCG: no dependency, same data every run.
fn normal_data(n: usize) -> Vec<f32> {
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n).map(|_| ((-2.0 * next().ln()).sqrt() * (std::f64::consts::TAU * next()).cos()) as f32).collect()
}

fn main() {
    use quantlab_formats::simd::{set_max_level, Level};
    match std::env::var("QUANTLAB_SIMD").as_deref() {
        Ok("portable") => set_max_level(Level::Portable),
        Ok("avx2") => set_max_level(Level::Avx2),
        _ => {}
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let x = normal_data(N);
    let mut out = vec![0.0f32; N];
    let shape = [N / 1024, 1024];
    let mut c = Criterion::default().sample_size(10).warm_up_time(std::time::Duration::from_secs(1)).configure_from_args();
    {
        let mut g = c.benchmark_group(GROUP);
        g.throughput(Throughput::Elements(N as u64));
        g.bench_function("copy", |b| b.iter(|| out.copy_from_slice(black_box(&x))));
        for &(name, desc, _, gran) in CASES {
            let f = parse(desc).unwrap();
            let gran: Granularity = gran.parse().unwrap();
            g.bench_function(name, |b| b.iter(|| pool.install(|| quantize_into(&*f, black_box(&x), &shape, gran, 0, &mut out).unwrap())));
        }
        g.finish();
    }
    c.final_summary();
    summary();
}

/// Mean time per iteration (ns) from criterion's `estimates.json`.
fn mean_ns(bench: &str) -> Option<f64> {
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../target").into());
    let path = format!("{dir}/criterion/{GROUP}/{bench}/new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let mean = &text[text.find("\"mean\"")?..];
    let at = mean.find("\"point_estimate\":")? + "\"point_estimate\":".len();
    mean[at..].split([',', '}']).next()?.trim().parse().ok()
}

fn summary() {
    let Some(copy) = mean_ns("copy") else { return };
    let per = |ns: f64| ns / N as f64;
    println!("\n| format | granularity | ns/element | x copy | goal |\n|---|---|---:|---:|---:|");
    println!("| plain copy | | {:.3} | 1.00 | |", per(copy));
    for &(name, desc, goal, gran) in CASES {
        if let Some(t) = mean_ns(name) {
            println!("| `{desc}` | {gran} | {:.3} | {:.2} | {goal} |", per(t), t / copy);
        }
    }
}
