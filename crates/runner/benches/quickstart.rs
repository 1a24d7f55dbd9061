//! Issue 5's speed goal, measured: the runner on 2 threads, running the
//! whole quickstart sweep (`configs/quickstart.toml`), against the
//! single-thread benchmark of the same formats.
//!
//! 1. Criterion, as the formats bench does it: each of the quickstart's
//!    formats quantizes a 16M-element tensor of normal data alone, tensor
//!    granularity, one thread, beside a plain copy. The reference rate is
//!    the formats' mean: elements / (mean ns per element over the formats),
//!    each format weighted by the elements it gets in the sweep (equal).
//!    The same again on a tensor of the quickstart's own size (256 x 1024,
//!    which stays in cache): the kernels alone at the size the runner sees.
//! 2. `quantlab run configs/quickstart.toml --threads 2`, three times into a
//!    temporary folder; the best run's element-quantizations per second
//!    (every element of every cell, plus every candidate the `mse` clip
//!    search quantizes), and its cell elements per second.
//!
//! The goal: (2) >= 1.5 x (1). Run: `cargo bench -p quantlab-runner --bench quickstart`.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput};
use quantlab_formats::{quantize_into, Granularity};
use quantlab_runner::{config, run, RunOptions};
use quantlab_tensors::synthetic::{generate, Distribution};

const N: usize = 1 << 24;
const GROUP: &str = "quickstart-formats-16M";
/// The quickstart's tensors: 256 x 1024.
const SMALL: usize = 1 << 18;
const SMALL_GROUP: &str = "quickstart-formats-256K";

fn quickstart() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs/quickstart.toml"))
}

fn main() {
    let (plan, _) = config::load(&quickstart()).expect("configs/quickstart.toml loads");
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a thread pool");
    let x = one.install(|| generate(Distribution::Normal { mean: 0.0, std: 1.0 }, N, 1).expect("normal data"));
    let mut out = vec![0.0f32; N];
    let shape = [N / 1024, 1024];
    let names: Vec<String> = plan.formats.iter().map(|f| f.format.describe()).collect();
    let mut c = Criterion::default().sample_size(10).warm_up_time(std::time::Duration::from_secs(1)).configure_from_args();
    {
        let mut g = c.benchmark_group(GROUP);
        g.throughput(Throughput::Elements(N as u64));
        g.bench_function("copy", |b| b.iter(|| out.copy_from_slice(black_box(&x))));
        for (f, name) in plan.formats.iter().zip(&names) {
            g.bench_function(name.as_str(), |b| b.iter(|| one.install(|| quantize_into(&*f.format, black_box(&x), &shape, Granularity::Tensor, 0, &mut out).expect("quantizes"))));
        }
        g.finish();
        let mut g = c.benchmark_group(SMALL_GROUP);
        g.throughput(Throughput::Elements(SMALL as u64));
        let (xs, shape) = (&x[..SMALL], [SMALL / 1024, 1024]);
        for (f, name) in plan.formats.iter().zip(&names) {
            g.bench_function(name.as_str(), |b| b.iter(|| one.install(|| quantize_into(&*f.format, black_box(xs), &shape, Granularity::Tensor, 0, &mut out[..SMALL]).expect("quantizes"))));
        }
        g.finish();
    }
    c.final_summary();

    let Some(copy) = mean_ns(GROUP, "copy") else { return };
    println!("\n| format | ns/element, 16M (1 thread) | x copy | ns/element, 256K in cache |\n|---|---:|---:|---:|");
    println!("| plain copy | {:.3} | 1.00 | |", copy / N as f64);
    let (mut times, mut small_times) = (Vec::new(), Vec::new());
    for name in &names {
        if let (Some(t), Some(ts)) = (mean_ns(GROUP, name), mean_ns(SMALL_GROUP, name)) {
            println!("| `{name}` | {:.3} | {:.2} | {:.3} |", t / N as f64, t / copy, ts / SMALL as f64);
            times.push(t / N as f64);
            small_times.push(ts / SMALL as f64);
        }
    }
    if times.len() != names.len() {
        return;
    }
    let rate = |ns: &[f64]| 1.0 / (ns.iter().sum::<f64>() / ns.len() as f64);
    let (reference, in_cache) = (rate(&times), rate(&small_times));
    println!("\nReference: the quickstart's formats on one thread, {:.2} G elements/s (mean {:.3} ns/element); goal 1.5x = {:.2} G/s.", reference, 1.0 / reference, 1.5 * reference);
    println!("The same kernels on the quickstart's 256K-element tensors (in cache): {:.2} G elements/s.", in_cache);

    let out_dir = std::env::temp_dir().join(format!("quantlab-bench-quickstart-{}", std::process::id()));
    let opts = RunOptions { config: quickstart(), out: Some(out_dir.clone()), threads: Some(2), fresh: true, quiet: true, ..Default::default() };
    let best = (0..3).map(|_| run(&opts, |_| {}).expect("the quickstart runs")).min_by(|a, b| a.seconds.total_cmp(&b.seconds)).expect("three runs");
    std::fs::remove_dir_all(&out_dir).ok();
    let runner = best.element_quantizations as f64 / best.seconds / 1e9;
    println!(
        "Runner, 2 threads, best of 3: {} cells in {:.2} s, {:.2} G element-quantizations/s ({:.3} G cell elements/s) = {:.2}x the reference (goal 1.5x), {:.2}x the in-cache kernels.",
        best.ran,
        best.seconds,
        runner,
        best.elements as f64 / best.seconds / 1e9,
        runner / reference,
        runner / in_cache
    );
}

/// Mean time per iteration (ns) from criterion's `estimates.json`.
fn mean_ns(group: &str, bench: &str) -> Option<f64> {
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../target").into());
    let text = std::fs::read_to_string(format!("{dir}/criterion/{group}/{bench}/new/estimates.json")).ok()?;
    let mean = &text[text.find("\"mean\"")?..];
    let at = mean.find("\"point_estimate\":")? + "\"point_estimate\":".len();
    mean[at..].split([',', '}']).next()?.trim().parse().ok()
}
