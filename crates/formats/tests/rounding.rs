//! The rounding modes beyond nearest: directed modes and round-to-odd are
//! in the oracle (tests/oracle.rs); here the stochastic ones, whose
//! results are statistics. `stochastic` rounds up with probability
//! `f = (x - lo) / (hi - lo)`, so its mean is x; `stochastic(bits=N)` with
//! probability `rne(f 2^N) / 2^N`, so its mean is off by at most 2^-(N+1)
//! of a step, and N = 1 rounds f below 1/4 always down, above 3/4 always up
//! and in between up half the time.

use quantlab_formats::{parse, quantize, Granularity};

/// The mean of `n` roundings of `v` (one element each, so each draws its
/// own random bits), and the two neighbours.
fn mean_and_neighbours(desc: &str, mode: &str, v: f32, n: usize) -> (f64, f64, f64) {
    let with = |m: &str| parse(&format!("{}{}round={m})", desc.trim_end_matches(')'), if desc.contains('(') { "," } else { "(" })).unwrap();
    let one = |m: &str| quantize(&*with(m), &[v], &[1], Granularity::Tensor, 0).unwrap()[0] as f64;
    let (lo, hi) = (one("toward-negative"), one("toward-positive"));
    let x = vec![v; n];
    let q = quantize(&*with(mode), &x, &[n], Granularity::Tensor, 7).unwrap();
    assert!(q.iter().all(|&r| r as f64 == lo || r as f64 == hi), "{desc} {mode}: a result is not a neighbour of {v}");
    (q.iter().map(|&r| r as f64).sum::<f64>() / n as f64, lo, hi)
}

#[test]
fn stochastic_rounding_is_unbiased_and_n_bits_rounds_the_probability() {
    const N: usize = 200_000;
    // 5 standard deviations of a mean of N Bernoulli draws, in steps.
    let tol = 5.0 * (0.25 / N as f64).sqrt();
    // Fixed-scale formats: the neighbours of a value do not depend on the others.
    for desc in ["fp8-e4m3", "p3109(k=8,p=3)", "posit(n=8,es=1)", "minifloat(e=3,m=2,saturate=false)", "adaptivfloat(n=6,e=3,exp_bias=-2)"] {
        for f in [0.1f64, 0.3, 0.5, 0.7, 0.9] {
            // A value a fraction f of the way from 1 to its upper neighbour.
            let (_, lo, hi) = mean_and_neighbours(desc, "stochastic", 1.0f32.next_up(), 16);
            let v = (lo + f * (hi - lo)) as f32;
            let frac = (v as f64 - lo) / (hi - lo);
            let (mean, lo, hi) = mean_and_neighbours(desc, "stochastic", v, N);
            assert!(((mean - lo) / (hi - lo) - frac).abs() < tol, "{desc} stochastic at {frac}: mean step fraction {}", (mean - lo) / (hi - lo));
            for bits in [1u32, 2, 4, 23] {
                let (mean, lo, hi) = mean_and_neighbours(desc, &format!("stochastic(bits={bits})"), v, N);
                let want = (frac * 2f64.powi(bits as i32)).round_ties_even() / 2f64.powi(bits as i32);
                assert!(((mean - lo) / (hi - lo) - want).abs() < tol, "{desc} stochastic(bits={bits}) at {frac}: mean step fraction {}, want {want}", (mean - lo) / (hi - lo));
            }
        }
    }
}

#[test]
fn stochastic_results_do_not_depend_on_threads() {
    let x: Vec<f32> = (0..100_000).map(|i| ((i as f32) * 0.37).sin() * 3.0).collect();
    for desc in ["fp8-e4m3(round=stochastic(bits=3))", "int(bits=4,round=stochastic(bits=2))", "nf4(round=stochastic(bits=5))", "p3109(k=6,p=3,round=odd)"] {
        let f = parse(desc).unwrap();
        let run = |t| rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap().install(|| quantize(&*f, &x, &[100, 1000], Granularity::Tensor, 3).unwrap());
        assert_eq!(run(1), run(2), "{desc}");
    }
}
