//! Every strategy with every format and granularity; PipeEdge's choice; bad
//! input.

use quantlab_clamp::math::{gelu_factor, laplace_factor};
use quantlab_clamp::{parse, Stats, STRATEGIES};
use quantlab_formats::{parse as format, Granularity, GroupView};
use quantlab_quantize::quantize;
use quantlab_tensors::synthetic::{generate, Distribution};

const STRATEGY_TEXTS: &[&str] = &[
    "none",
    "aciq-laplace",
    "aciq-laplace(estimator=std)",
    "aciq-gauss",
    "aciq-gelu",
    "pipeedge-auto",
    "percentile(p=99.9)",
    "mse",
    "mse(sample=1000)",
    "kl",
    "ratio(r=0.8)",
    "spread(k=3.5)",
    "spread(k=2,estimator=std)",
];

const FORMATS: &[&str] = &["adaptivfloat(n=6,e=3)", "int(bits=4)", "int(bits=8,mode=asymmetric)", "bfp(bits=6,block=8)", "mxfp6-e3m2", "fp8-e5m2", "posit(n=8,es=1)"];

fn choose(strategy: &str, fmt: &str, x: &[f32]) -> quantlab_clamp::Chosen {
    let s = parse(strategy).unwrap();
    let f = format(fmt).unwrap();
    quantlab_clamp::choose(&*s, GroupView { index: 0, values: x, row_len: x.len().max(1), format: &*f })
}

#[test]
fn registry_and_descriptions_round_trip() {
    assert_eq!(STRATEGIES.len(), 10);
    for t in STRATEGY_TEXTS {
        let s = parse(t).unwrap();
        assert_eq!(parse(&s.describe()).unwrap().describe(), s.describe(), "{t}");
    }
}

#[test]
fn every_strategy_works_with_every_format_and_granularity() {
    let x = generate(Distribution::Laplace { loc: 0.1, scale: 1.0 }, 4 * 8 * 64, 1).unwrap();
    let shape = [4usize, 8, 64];
    for t in STRATEGY_TEXTS {
        let s = parse(t).unwrap();
        for fmt in FORMATS {
            let f = format(fmt).unwrap();
            for gran in [Granularity::Tensor, Granularity::Channel { axis: 0 }, Granularity::Channel { axis: 1 }, Granularity::Block { size: 32 }] {
                let (q, chosen) = quantize(&*f, &*s, &x, &shape, gran, 0).unwrap();
                assert!(q.iter().all(|v| v.is_finite()), "{t} {fmt} {gran}");
                let groups = match gran {
                    Granularity::Tensor => 1,
                    Granularity::Channel { axis } => shape[axis],
                    Granularity::Block { size } => x.len() / size,
                };
                assert_eq!(chosen.len(), groups, "{t} {fmt} {gran}");
                assert!(chosen.iter().enumerate().all(|(i, c)| c.group == i));
                let text = chosen[0].to_string();
                assert!(text.starts_with(if f.asymmetric() { "lo=" } else { "alpha=" }), "{text}");
            }
        }
    }
}

#[test]
fn pipeedge_auto_picks_laplace_for_signed_data_and_gelu_above_0_2() {
    let signed = generate(Distribution::Normal { mean: 0.0, std: 1.0 }, 10_000, 2).unwrap();
    let chosen = choose("pipeedge-auto", "int(bits=4)", &signed);
    let st = Stats::of(&signed);
    let laplace_std = laplace_factor(4) * (st.var / 2.0).sqrt();
    assert!((chosen.range.alpha() as f64 / laplace_std - 1.0).abs() < 1e-6);
    let positive: Vec<f32> = signed.iter().map(|v| v.abs() + 0.25).collect();
    let chosen = choose("pipeedge-auto", "int(bits=4,mode=asymmetric)", &positive);
    let st = Stats::of(&positive);
    let gelu = gelu_factor(4) * st.mean_sq.sqrt();
    let clip = chosen.clip.unwrap();
    assert!((clip.hi as f64 / gelu - 1.0).abs() < 1e-6 && clip.lo == st.min, "{clip:?}");
}

#[test]
fn constant_empty_and_non_finite_groups() {
    for t in STRATEGY_TEXTS {
        for fmt in FORMATS {
            // Empty: nothing to choose, nothing breaks.
            let c = choose(t, fmt, &[]);
            assert_eq!(c.clip, None, "{t} {fmt}");
            // Constant: no division by zero; an asymmetric integer keeps the constant.
            let k = [1.5f32; 64];
            let s = parse(t).unwrap();
            let f = format(fmt).unwrap();
            let (q, _) = quantize(&*f, &*s, &k, &[64], Granularity::Tensor, 0).unwrap();
            assert!(q.iter().all(|v| v.is_finite()), "{t} {fmt}: {q:?}");
            if f.asymmetric() {
                assert!(q.iter().all(|&v| v == 1.5), "{t} {fmt}: {q:?}");
            }
            // NaN and Inf are ignored by the statistics and counted.
            let mixed = [1.0f32, f32::NAN, -2.0, f32::INFINITY, 0.5, f32::NAN];
            let c = choose(t, fmt, &mixed);
            assert_eq!((c.nan, c.inf), (2, 1), "{t} {fmt}");
            assert!(c.range.lo.is_finite() && c.range.hi.is_finite(), "{t} {fmt}: {c:?}");
        }
    }
    // All-zero groups keep zeros.
    let c = choose("aciq-laplace", "int(bits=4)", &[0.0; 8]);
    assert_eq!(c.clip, None);
}

#[test]
fn bad_parameters_are_named() {
    for (t, needle) in [
        ("percentile(p=0)", "(0, 100]"),
        ("percentile(p=100.5)", "(0, 100]"),
        ("ratio(r=0)", "(0, 1]"),
        ("ratio(r=1.2)", "(0, 1]"),
        ("ratio", "missing parameter `r`"),
        ("spread(k=0)", "> 0"),
        ("spread", "missing parameter `k`"),
        ("aciq-laplace(estimator=median)", "mean-abs | std"),
        ("mse(sample=-1)", "`sample` = -1"),
        ("kl(bins=10)", "no parameter `bins`"),
        ("banner", "unknown clamping strategy `banner`; known: none, aciq-laplace"),
    ] {
        let e = parse(t).err().unwrap_or_else(|| panic!("{t} accepted")).to_string();
        assert!(e.contains(needle), "{t}: `{e}` lacks `{needle}`");
    }
}

#[test]
fn percentile_kl_and_ratio_choose_sensible_bounds() {
    let x = generate(Distribution::Laplace { loc: 0.0, scale: 1.0 }, 200_000, 4).unwrap();
    let amax = Stats::of(&x).amax;
    let p = choose("percentile(p=99)", "int(bits=8)", &x).range.alpha();
    assert!((p as f64 - 100f64.ln()).abs() < 0.1, "{p}"); // |Laplace(1)| 99th percentile = ln 100
    let r = choose("ratio(r=0.5)", "int(bits=8)", &x).range.alpha();
    assert_eq!(r, amax * 0.5);
    // spread(k) at k = W(3 * 4^M) is exactly the aciq-laplace rule.
    let k = quantlab_clamp::math::laplace_factor(4);
    let s = choose(&format!("spread(k={k})"), "int(bits=4)", &x).range.alpha();
    assert_eq!(s, choose("aciq-laplace", "int(bits=4)", &x).range.alpha());
    let two_b = choose("spread(k=2)", "int(bits=4)", &x).range.alpha() as f64;
    assert!((two_b / (2.0 * Stats::of(&x).mean_abs_dev) - 1.0).abs() < 1e-6, "{two_b}");
    let k4 = choose("kl", "int(bits=4)", &x).range.alpha();
    let k8 = choose("kl", "int(bits=8)", &x).range.alpha();
    assert!(k4 < k8 && k8 <= amax && k4 > 1.0, "kl chose {k4} (4 bits) and {k8} (8 bits) of {amax}");
}

/// A format that counts how often it is asked to quantize, and how many elements.
#[derive(Debug)]
struct Counting {
    inner: Box<dyn quantlab_formats::Format>,
    calls: std::sync::atomic::AtomicUsize,
    elements: std::sync::atomic::AtomicUsize,
}

impl quantlab_formats::Format for Counting {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn family(&self) -> &'static str {
        self.inner.family()
    }
    fn code_bits(&self) -> u32 {
        self.inner.code_bits()
    }
    fn meta_bits(&self) -> u32 {
        self.inner.meta_bits()
    }
    fn meta_words(&self) -> usize {
        self.inner.meta_words()
    }
    fn rounding(&self) -> quantlab_formats::Rounding {
        self.inner.rounding()
    }
    fn block_len(&self) -> usize {
        self.inner.block_len()
    }
    fn quantize_unit(&self, x: &[f32], clip: Option<quantlab_formats::Clip>, ctx: quantlab_formats::RoundCtx, out: &mut [f32]) {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.elements.fetch_add(x.len(), std::sync::atomic::Ordering::Relaxed);
        self.inner.quantize_unit(x, clip, ctx, out)
    }
    fn encode_unit(&self, x: &[f32], clip: Option<quantlab_formats::Clip>, ctx: quantlab_formats::RoundCtx, codes: &mut [u32], meta: &mut [u32]) -> Result<(), quantlab_formats::FormatError> {
        self.inner.encode_unit(x, clip, ctx, codes, meta)
    }
    fn decode_unit(&self, codes: &[u32], meta: &[u32], out: &mut [f32]) {
        self.inner.decode_unit(codes, meta, out)
    }
    fn meta_for(&self, scale: quantlab_formats::Scale) -> Result<Vec<u32>, quantlab_formats::FormatError> {
        self.inner.meta_for(scale)
    }
}

#[test]
fn mse_search_costs_at_most_38_passes() {
    let x = generate(Distribution::Normal { mean: 0.0, std: 1.0 }, 50_000, 5).unwrap();
    for fmt in ["int(bits=4)", "adaptivfloat(n=5,e=2)"] {
        let f = Counting { inner: format(fmt).unwrap(), calls: Default::default(), elements: Default::default() };
        let s = parse("mse").unwrap();
        quantlab_clamp::choose(&*s, GroupView { index: 0, values: &x, row_len: x.len(), format: &f });
        let passes = f.calls.load(std::sync::atomic::Ordering::Relaxed);
        assert!((30..=quantlab_clamp::MSE_PASSES).contains(&passes), "{fmt}: {passes} passes");
    }
}

/// What a strategy says its choice costs (`Chosen::searched`, which the
/// runner counts in its throughput) is what it quantized, element by element.
#[test]
fn search_cost_is_what_was_quantized() {
    let x = generate(Distribution::Laplace { loc: 0.0, scale: 1.0 }, 40_000, 9).unwrap();
    for fmt in ["int(bits=4)", "int(bits=6,mode=asymmetric)", "adaptivfloat(n=6,e=3)", "bfp(bits=5,block=16)"] {
        for strategy in ["none", "aciq-laplace", "percentile(p=99.9)", "kl", "mse", "mse(sample=5000)", "mse(sample=100000)"] {
            for row_len in [1000, 40_000, 7] {
                let f = Counting { inner: format(fmt).unwrap(), calls: Default::default(), elements: Default::default() };
                let s = parse(strategy).unwrap();
                let c = quantlab_clamp::choose(&*s, GroupView { index: 0, values: &x, row_len, format: &f });
                let quantized = f.elements.load(std::sync::atomic::Ordering::Relaxed) as u64;
                assert_eq!(c.searched, quantized, "{fmt} {strategy} rows of {row_len}");
                assert_eq!(quantized > 0, strategy.starts_with("mse"), "{fmt} {strategy}");
            }
        }
    }
    // A group with nothing to choose costs nothing.
    let f = Counting { inner: format("int(bits=4)").unwrap(), calls: Default::default(), elements: Default::default() };
    let s = parse("mse").unwrap();
    let c = quantlab_clamp::choose(&*s, GroupView { index: 0, values: &[2.0; 64], row_len: 64, format: &f });
    assert_eq!((c.searched, f.elements.load(std::sync::atomic::Ordering::Relaxed)), (0, 0));
}
