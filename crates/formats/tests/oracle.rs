//! The oracle: for every family, quantizing equals picking from the format's
//! table of representable values, built here by enumerating codes with plain
//! f64 arithmetic (independent of the crate's kernels). Probes are every
//! table value, every midpoint between neighbours, and the f32 neighbours of
//! each of those; ties resolve as the rounding mode says.
//! Exhaustive over a grid of parameters for n <= 8, sampled up to n = 16.

use quantlab_formats::{parse, quantize, Clip, Format, RoundCtx, Rounding, Scale};

/// A signed table entry: value and the parity of its code (ties-to-even).
#[derive(Clone, Copy, Debug)]
struct Entry {
    v: f64,
    odd: bool,
}

/// How the oracle decides between two neighbours.
#[derive(Clone, Copy)]
enum Midpoint<'a> {
    /// Arithmetic midpoint (every format but posit).
    Arithmetic,
    /// Posits round on the bit pattern: the threshold between entries i and
    /// i+1 is given by this table (the (n+1)-bit posit between them).
    Given(&'a [f64]),
    /// Lookup tables round at these thresholds (bitsandbytes' f32
    /// midpoints), and a nearest-even tie goes to the lower entry.
    TableLower(&'a [f64]),
}

/// Full signed table from a non-negative one (code parity is unchanged by
/// the sign in every family: sign-magnitude or two's complement).
fn mirror(pos: &[Entry]) -> Vec<Entry> {
    let mut t: Vec<Entry> = pos.iter().filter(|e| e.v > 0.0).map(|e| Entry { v: -e.v, odd: e.odd }).collect();
    t.extend_from_slice(pos);
    sort(t)
}

fn sort(mut t: Vec<Entry>) -> Vec<Entry> {
    t.sort_by(|a, b| a.v.partial_cmp(&b.v).unwrap());
    t.dedup_by(|a, b| a.v == b.v);
    t
}

fn oracle(t: &[Entry], x: f64, mode: Rounding, mid: Midpoint) -> f64 {
    let first = t[0].v;
    let last = t[t.len() - 1].v;
    if x <= first {
        return first;
    }
    if x >= last {
        return last;
    }
    let i = t.partition_point(|e| e.v <= x) - 1; // t[i].v <= x < t[i+1].v
    let (lo, hi) = (t[i], t[i + 1]);
    if x == lo.v {
        return lo.v;
    }
    let up = match mode {
        Rounding::TowardZero => x < 0.0,
        Rounding::TowardPositive => true,
        Rounding::TowardNegative => false,
        // The neighbour whose code is odd (if neither is, as a format
        // without subnormals has it between 0 and its smallest normal
        // value: the larger magnitude).
        Rounding::Odd if lo.odd != hi.odd => hi.odd,
        Rounding::Odd => x > 0.0,
        _ => {
            let ord = match mid {
                Midpoint::Arithmetic => (x - lo.v).partial_cmp(&(hi.v - x)).unwrap(),
                Midpoint::Given(th) | Midpoint::TableLower(th) => x.partial_cmp(&th[i]).unwrap(),
            };
            let table = matches!(mid, Midpoint::TableLower(_));
            match ord {
                std::cmp::Ordering::Less => false,
                std::cmp::Ordering::Greater => true,
                std::cmp::Ordering::Equal => match mode {
                    Rounding::NearestEven if table => false,
                    // Zero is the even code; otherwise the code whose last
                    // bit is 0 (with m = 0: the even exponent field).
                    Rounding::NearestEven if lo.v == 0.0 => false,
                    Rounding::NearestEven if hi.v == 0.0 => true,
                    Rounding::NearestEven if lo.odd != hi.odd => lo.odd,
                    _ => x > 0.0,
                },
            }
        }
    };
    if up {
        hi.v
    } else {
        lo.v
    }
}

/// Probe points: values, midpoints, and their f32 neighbours, within [lo, hi].
fn probes(t: &[Entry], lo: f32, hi: f32) -> Vec<f32> {
    let mut p = Vec::new();
    let mut add = |v: f64| {
        let f = v as f32;
        for g in [f, f.next_up(), f.next_down()] {
            if g >= lo && g <= hi && g.is_finite() {
                p.push(g);
            }
        }
    };
    for w in t.windows(2) {
        add(w[0].v);
        add((w[0].v + w[1].v) / 2.0);
    }
    add(t[t.len() - 1].v);
    add(0.0);
    p
}

/// Quantize `probes` as one unit whose scale is fixed by `anchors` (which
/// come first and are not checked).
fn run(f: &dyn Format, anchors: &[f32], probes: &[f32]) -> Vec<f32> {
    let mut x = anchors.to_vec();
    x.extend_from_slice(probes);
    let mut out = vec![0.0; x.len()];
    f.quantize_unit(&x, None, RoundCtx::default(), &mut out);
    out.split_off(anchors.len())
}

fn check(name: &str, f: &dyn Format, anchors: &[f32], t: &[Entry], mode: Rounding, mid: Midpoint, flush_below: Option<f64>) {
    let bound = anchors.iter().fold(f32::INFINITY, |m, a| m.min(a.abs()));
    let bound = if anchors.is_empty() { f32::MAX } else { bound };
    let lo_bound = if anchors.len() == 2 { anchors[0].min(anchors[1]) } else { -bound };
    let hi_bound = if anchors.len() == 2 { anchors[0].max(anchors[1]) } else { bound };
    let ps = probes(t, lo_bound, hi_bound);
    assert!(!ps.is_empty(), "{name}: no probes");
    let got = run(f, anchors, &ps);
    // The portable build of the kernels must give the same bits.
    quantlab_formats::simd::set_max_level(quantlab_formats::simd::Level::Portable);
    let portable = run(f, anchors, &ps);
    quantlab_formats::simd::set_max_level(quantlab_formats::simd::Level::Avx512);
    assert!(got.iter().zip(&portable).all(|(a, b)| a.to_bits() == b.to_bits()), "{name} {mode}: portable kernels differ");
    let mut bad = 0;
    for (&x, &g) in ps.iter().zip(&got) {
        let want = match flush_below {
            Some(m) if (x as f64).abs() < m => 0.0,
            _ => oracle(t, x as f64, mode, mid),
        };
        if g as f64 != want {
            bad += 1;
            if bad <= 5 {
                eprintln!("{name} {mode}: x={x:e} ({:#010x}) got {g:e} want {want:e}", x.to_bits());
            }
        }
    }
    assert_eq!(bad, 0, "{name} {mode}: {bad} of {} probes disagree with the oracle", ps.len());
}

const MODES: [Rounding; 6] = [Rounding::NearestEven, Rounding::NearestAway, Rounding::TowardZero, Rounding::TowardPositive, Rounding::TowardNegative, Rounding::Odd];

fn with_mode(desc: &str, mode: Rounding) -> Box<dyn Format> {
    let d = if mode == Rounding::NearestEven {
        desc.to_string()
    } else if let Some(stripped) = desc.strip_suffix(')') {
        format!("{stripped},round={mode})")
    } else {
        format!("{desc}(round={mode})")
    };
    parse(&d).unwrap_or_else(|e| panic!("{d}: {e}"))
}

fn p2(k: i32) -> f64 {
    2f64.powi(k)
}

// ---------------------------------------------------------------- AdaptivFloat

fn af_table(e: u32, m: u32, exp_bias: i32) -> Vec<Entry> {
    let mut t = vec![Entry { v: 0.0, odd: false }];
    for field in 0..(1u32 << e) {
        for mant in 0..(1u32 << m) {
            let code = field << m | mant;
            if code == 0 {
                continue;
            }
            // Ties go to the code whose last bit is 0: the even mantissa,
            // or with m = 0 the even exponent field.
            t.push(Entry { v: p2(field as i32 + exp_bias) * (1.0 + mant as f64 / p2(m as i32)), odd: code & 1 == 1 });
        }
    }
    mirror(&sort(t))
}

fn af_ieee_table(e: u32, m: u32, exp_max: i32) -> (Vec<Entry>, f64) {
    let emin = exp_max - (1 << e) + 3;
    let mut t = vec![Entry { v: 0.0, odd: false }];
    for field in 1..(1u32 << e) - 1 {
        for mant in 0..(1u32 << m) {
            t.push(Entry { v: p2(emin + field as i32 - 1) * (1.0 + mant as f64 / p2(m as i32)), odd: (field << m | mant) & 1 == 1 });
        }
    }
    (mirror(&sort(t)), p2(emin))
}

#[test]
fn adaptivfloat_paper_matches_its_table() {
    let mut cases = vec![];
    for n in 2..=8u32 {
        for e in 1..n {
            cases.push((n, e));
        }
    }
    cases.extend([(10, 3), (12, 4), (16, 3), (16, 5)]);
    for (n, e) in cases {
        let m = n - e - 1;
        for exp_max in [-5i32, 0, 3] {
            let exp_bias = exp_max - ((1 << e) - 1);
            if exp_bias - (m as i32) < -149 {
                continue;
            }
            let t = af_table(e, m, exp_bias);
            // Anchor: the largest f32 below 2^(exp_max+1) fixes exp_max and
            // lets probes reach past value_max (saturation).
            let anchor = (p2(exp_max + 1) as f32).next_down();
            for mode in MODES {
                let f = with_mode(&format!("adaptivfloat(n={n},e={e})"), mode);
                check(&f.describe(), &*f, &[anchor, -anchor], &t, mode, Midpoint::Arithmetic, None);
            }
        }
    }
}

#[test]
fn adaptivfloat_fixed_bias_and_ieee_like_match_their_tables() {
    for (n, e, b) in [(8u32, 3u32, -7i32), (6, 2, 0), (4, 2, -3)] {
        let t = af_table(e, n - e - 1, b);
        for mode in MODES {
            let f = with_mode(&format!("adaptivfloat(n={n},e={e},exp_bias={b})"), mode);
            check(&f.describe(), &*f, &[], &t, mode, Midpoint::Arithmetic, None);
        }
    }
    for n in 3..=8u32 {
        for e in 2..n {
            for exp_max in [-2i32, 4] {
                let (t, flush) = af_ieee_table(e, n - e - 1, exp_max);
                let anchor = (p2(exp_max + 1) as f32).next_down();
                for mode in MODES {
                    let f = with_mode(&format!("adaptivfloat(n={n},e={e},variant=ieee-like)"), mode);
                    check(&f.describe(), &*f, &[anchor, -anchor], &t, mode, Midpoint::Arithmetic, Some(flush));
                }
            }
        }
    }
}

// --------------------------------------------------------------------- Integer

fn int_sym_table(bits: u32, s: f32) -> Vec<Entry> {
    let l = (1i32 << (bits - 1)) - 1;
    sort((-l..=l).map(|q| Entry { v: (q as f32 * s) as f64, odd: q & 1 != 0 }).collect())
}

fn int_asym_table(bits: u32, lo: f32, hi: f32) -> Vec<Entry> {
    let l = (1u32 << bits) - 1;
    let sf = hi - lo;
    sort((0..=l).map(|q| Entry { v: ((q as f32 / l as f32) * sf + lo) as f64, odd: q & 1 == 1 }).collect())
}

#[test]
fn integer_matches_its_table() {
    for bits in (2..=8u32).chain([12, 16]) {
        let l = ((1u32 << (bits - 1)) - 1) as f32;
        // A power-of-two step, a "random" step and a tiny one.
        for alpha in [l * 0.25, 0.737_219_4, 3.1e-5, 1000.0] {
            let t = int_sym_table(bits, alpha / l);
            for mode in MODES {
                let f = with_mode(&format!("int(bits={bits})"), mode);
                check(&f.describe(), &*f, &[alpha, -alpha], &t, mode, Midpoint::Arithmetic, None);
            }
        }
    }
    for bits in (1..=8u32).chain([12, 16]) {
        for (lo, hi) in [(-1.0f32, 3.0f32), (-0.3, 0.91), (0.2, 5.7), (-7.5, -0.125)] {
            let t = int_asym_table(bits, lo, hi);
            for mode in MODES {
                let f = with_mode(&format!("int(bits={bits},mode=asymmetric)"), mode);
                check(&f.describe(), &*f, &[lo, hi], &t, mode, Midpoint::Arithmetic, None);
            }
        }
    }
}

// ------------------------------------------------------------------------- BFP

#[test]
fn block_float_matches_its_table() {
    for bits in (2..=8u32).chain([12, 16]) {
        for exp in [-4i32, 0, 7] {
            let step = exp - (bits as i32 - 2);
            let l = (1i32 << (bits - 1)) - 1;
            let t = sort((-l..=l).map(|q| Entry { v: q as f64 * p2(step), odd: q & 1 != 0 }).collect());
            let anchor = (p2(exp + 1) as f32).next_down();
            for mode in MODES {
                let f = with_mode(&format!("bfp(bits={bits},block=0)"), mode);
                check(&f.describe(), &*f, &[anchor, -anchor], &t, mode, Midpoint::Arithmetic, None);
            }
        }
    }
}

// ------------------------------------------------------------------ Minifloat

/// Table of an IEEE-like ExMy, from its codes.
fn minifloat_table(e: u32, m: u32, bias: i32, subnormals: bool, specials: &str) -> Vec<Entry> {
    let top = (1u32 << e) - 1;
    let mut t = vec![];
    for field in 0..=top {
        for mant in 0..(1u32 << m) {
            let code = field << m | mant;
            let special = match specials {
                "ieee" => field == top,
                "fn" => field == top && mant == (1 << m) - 1,
                _ => false,
            };
            if special || (field == 0 && mant != 0 && !subnormals) {
                continue;
            }
            let v = if field == 0 { p2(1 - bias) * mant as f64 / p2(m as i32) } else { p2(field as i32 - bias) * (1.0 + mant as f64 / p2(m as i32)) };
            t.push(Entry { v, odd: code & 1 == 1 });
        }
    }
    mirror(&sort(t))
}

#[test]
fn minifloat_matches_its_table() {
    for e in 1..=6u32 {
        for m in 0..=(7 - e) {
            for specials in ["ieee", "fn", "fnuz", "none"] {
                if (specials == "ieee" && e < 2) || (specials == "fn" && e == 1 && m == 0) {
                    continue; // no finite non-zero value: rejected at construction
                }
                for subnormals in [true, false] {
                    let bias = (1i32 << (e - 1)) - 1;
                    let t = minifloat_table(e, m, bias, subnormals, specials);
                    for mode in MODES {
                        let f = with_mode(&format!("minifloat(e={e},m={m},specials={specials},subnormals={subnormals})"), mode);
                        check(&f.describe(), &*f, &[], &t, mode, Midpoint::Arithmetic, None);
                    }
                }
            }
        }
    }
    // Non-default bias and the 16-bit presets.
    for (desc, e, m, bias, specials) in [
        ("minifloat(e=4,m=3,bias=3)", 4, 3, 3, "ieee"),
        ("fp16", 5, 10, 15, "ieee"),
        ("bf16", 8, 7, 127, "ieee"),
        ("fp8-e4m3fnuz", 4, 3, 8, "fnuz"),
        ("fp8-e5m2fnuz", 5, 2, 16, "fnuz"),
        ("fp8-e4m3b11fnuz", 4, 3, 11, "fnuz"),
        ("fp8-e3m4", 3, 4, 3, "ieee"),
    ] {
        let t = minifloat_table(e, m, bias, true, specials);
        for mode in MODES {
            let f = with_mode(desc, mode);
            check(desc, &*f, &[], &t, mode, Midpoint::Arithmetic, None);
        }
    }
}

// --------------------------------------------------------------------- Scaled

/// The scale an encoding stores for `amax`: `amax / max_elem` in f32,
/// clamped to the encoding's positive normal range, rounded to its nearest
/// value (ties to the even code), found in the encoding's own table.
fn scale_oracle(amax: f32, max_elem: f32, encoding: &str) -> f32 {
    round_scale(amax / max_elem, encoding)
}

/// A scale `s` clamped to the encoding's positive normal range and rounded
/// into it, from the encoding's own table.
fn round_scale(s: f32, encoding: &str) -> f32 {
    let (e, m, bias, specials) = match encoding {
        "f32" => return s.max(f32::MIN_POSITIVE),
        "bf16" => (8, 7, 127, "ieee"),
        "fp16" => (5, 10, 15, "ieee"),
        "ue5m3" => (5, 3, 15, "fn"),
        _ => (4, 3, 7, "fn"), // e4m3, ue4m3
    };
    let t: Vec<Entry> = minifloat_table(e, m, bias, true, specials).into_iter().filter(|x| x.v > 0.0).collect();
    let min_normal = p2(1 - bias);
    let clamped = (s as f64).clamp(min_normal, t.last().unwrap().v);
    oracle(&t, clamped, Rounding::NearestEven, Midpoint::Arithmetic) as f32
}

/// Real-valued scales: for every element type and scale encoding, a unit
/// whose amax fixes the scale quantizes each value of the scaled table,
/// each midpoint and their f32 neighbours as docs/formats.md's formula says:
/// `q = nearest(x * (1/scale))` in the element's table (ties by code
/// parity), result `q * scale`, with the scale from `scale_oracle`.
#[test]
fn scaled_matches_its_table() {
    let elems: [(&str, Vec<Entry>); 8] = [
        ("fp8-e4m3", minifloat_table(4, 3, 7, true, "fn")),
        ("fp8-e4m3fnuz", minifloat_table(4, 3, 8, true, "fnuz")),
        ("fp8-e3m4", minifloat_table(3, 4, 3, true, "ieee")),
        ("fp8-e5m2", minifloat_table(5, 2, 15, true, "ieee")),
        ("fp6-e3m2", minifloat_table(3, 2, 3, true, "none")),
        ("fp6-e2m3", minifloat_table(2, 3, 1, true, "none")),
        ("fp4-e2m1", minifloat_table(2, 1, 1, true, "none")),
        ("int8", sort((-127..=127).map(|k: i32| Entry { v: k as f64 / 64.0, odd: k & 1 != 0 }).collect())),
    ];
    for (name, table) in &elems {
        let max_elem = table.last().unwrap().v as f32;
        for encoding in ["f32", "bf16", "fp16", "e4m3", "ue4m3", "ue5m3"] {
            for amax in [1.0f32, 3.7, 1000.0, 0.0123, 3e5] {
                let scale = scale_oracle(amax, max_elem, encoding);
                let inv = 1.0 / scale;
                for mode in MODES {
                    let f = with_mode(&format!("scaled(elem={name},scale={encoding})"), mode);
                    // Probes: each element value, midpoint and neighbour at this scale, within the anchor.
                    let scaled: Vec<Entry> = table.iter().map(|e| Entry { v: ((e.v as f32) * scale) as f64, odd: e.odd }).collect();
                    let ps: Vec<f32> = probes(&sort(scaled), -amax, amax);
                    let got = run(&*f, &[amax, -amax], &ps);
                    let mut bad = 0;
                    for (&x, &g) in ps.iter().zip(&got) {
                        let v = x * inv;
                        let q = oracle(table, v as f64, mode, Midpoint::Arithmetic) as f32;
                        let want = q * scale;
                        if g.to_bits() != want.to_bits() && !(g == 0.0 && want == 0.0) {
                            bad += 1;
                            if bad <= 3 {
                                eprintln!("{} {mode} amax {amax}: x={x:e} got {g:e} want {want:e} (scale {scale:e})", f.describe());
                            }
                        }
                    }
                    assert_eq!(bad, 0, "{} {mode} amax {amax}: {bad} of {} probes disagree", f.describe(), ps.len());
                }
            }
        }
    }
}

/// NVFP4 (two levels) as docs/formats.md writes it, step by step in f32, with the
/// E4M3 block scales and the E2M1 elements picked from their tables:
/// `s_t = amax / 2688`, `s_b = e4m3(clamp((amax_b / 6) / s_t, 2^-6, 448))`,
/// `q = e2m1(x * ((1/s_t) / s_b))`, result `q * (s_t * s_b)`.
#[test]
fn nvfp4_follows_its_formula() {
    let e2m1 = minifloat_table(2, 1, 1, true, "none");
    let x: Vec<f32> = (0..8 * 64).map(|i| ((i * 7919 % 1009) as f32 / 200.0 - 2.5).powi(3) * if i % 37 == 0 { 30.0 } else { 1.0 } + if i % 5 == 0 { 0.0 } else { 1e-3 }).collect();
    for (scale_by, mode) in [(1.0f32, Rounding::NearestEven), (1e-3, Rounding::NearestEven), (7e4, Rounding::NearestAway), (1.0, Rounding::TowardZero)] {
        let x: Vec<f32> = x.iter().map(|v| v * scale_by).collect();
        let f = with_mode("nvfp4", mode);
        let got = quantlab_formats::quantize(&*f, &x, &[8, 64], quantlab_formats::Granularity::Tensor, 0).unwrap();
        let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
        let s_t = amax / 2688.0;
        for (b, block) in x.chunks(16).enumerate() {
            let amax_b = block.iter().fold(0f32, |m, v| m.max(v.abs()));
            let s_b = round_scale((amax_b / 6.0) / s_t, "e4m3");
            let inv = (1.0 / s_t) / s_b;
            for (i, &v) in block.iter().enumerate() {
                let q = oracle(&e2m1, (v * inv) as f64, mode, Midpoint::Arithmetic) as f32;
                let want = q * (s_t * s_b);
                let g = got[b * 16 + i];
                assert!(g.to_bits() == want.to_bits() || (g == 0.0 && want == 0.0), "x{scale_by} {mode}: block {b} element {i}: {v} -> {g}, the formula gives {want}");
            }
        }
    }
}

/// INT4 per 128 with a zero point (GPTQ/AWQ) as docs/formats.md writes it: per
/// block, `s = fp16((hi - lo) / 15)`, `z = clamp(rne(-lo / s), 0, 15)`,
/// `q = clamp(rne(x / s) + z, 0, 15)`, result `(q - z) * s`.
#[test]
fn int4_g128_follows_its_formula() {
    let x: Vec<f32> = (0..4 * 256).map(|i| ((i * 7919 % 1013) as f32 / 300.0 - 1.2).powi(3) + if i % 300 < 128 { 0.7 } else { 0.0 }).collect();
    for scale_by in [1.0f32, 3e-4, 2e3] {
        let x: Vec<f32> = x.iter().map(|v| v * scale_by).collect();
        let f = parse("int4-g128").unwrap();
        let got = quantlab_formats::quantize(&*f, &x, &[4, 256], quantlab_formats::Granularity::Tensor, 0).unwrap();
        for (b, block) in x.chunks(128).enumerate() {
            let lo = block.iter().cloned().fold(f32::INFINITY, f32::min);
            let hi = block.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let s = round_scale((hi - lo) / 15.0, "fp16");
            let z = (-lo / s).round_ties_even().clamp(0.0, 15.0);
            for (i, &v) in block.iter().enumerate() {
                let q = ((v / s).round_ties_even() + z).clamp(0.0, 15.0);
                let want = (q - z) * s;
                let g = got[b * 128 + i];
                assert!(g.to_bits() == want.to_bits() || (g == 0.0 && want == 0.0), "x{scale_by}: block {b} element {i}: {v} -> {g}, the formula gives {want}");
            }
        }
    }
    assert_eq!(quantlab_formats::bits_per_element(&*parse("int4-g128").unwrap(), &[256, 4096], quantlab_formats::Granularity::Tensor).unwrap(), 4.0 + 20.0 / 128.0);
}

// ------------------------------------------------------------------------- MX

#[test]
fn mx_matches_its_table() {
    // (name, e, m, bias, specials) of each element, from the OCP spec.
    let elems = [("fp8-e4m3", 4, 3, 7, "fn"), ("fp8-e5m2", 5, 2, 15, "ieee"), ("fp6-e3m2", 3, 2, 3, "none"), ("fp6-e2m3", 2, 3, 1, "none"), ("fp4-e2m1", 2, 1, 1, "none")];
    for (name, e, m, bias, specials) in elems {
        let elem_table = minifloat_table(e, m, bias, true, specials);
        let emax = elem_table.last().unwrap().v.log2().floor() as i32;
        for scale in [-3i32, 0, 5] {
            let t: Vec<Entry> = elem_table.iter().map(|x| Entry { v: x.v * p2(scale), odd: x.odd }).collect();
            let anchor = (p2(scale + emax + 1) as f32).next_down();
            for mode in MODES {
                let f = with_mode(&format!("mx(elem={name})"), mode);
                check(&f.describe(), &*f, &[anchor, -anchor], &t, mode, Midpoint::Arithmetic, None);
            }
        }
    }
    for scale in [-2i32, 0, 9] {
        let t = sort((-127..=127).map(|k: i32| Entry { v: k as f64 / 64.0 * p2(scale), odd: k & 1 != 0 }).collect());
        let anchor = (p2(scale + 1) as f32).next_down();
        for mode in MODES {
            let f = with_mode("mxint8", mode);
            check("mxint8", &*f, &[anchor, -anchor], &t, mode, Midpoint::Arithmetic, None);
        }
    }
}

// ---------------------------------------------------------------------- Posit

/// Value of an n-bit posit code, decoded from its bit string in f64.
fn posit_value(n: u32, es: u32, code: u64) -> f64 {
    if code == 0 {
        return 0.0;
    }
    let bits: Vec<u8> = (0..n - 1).rev().map(|i| ((code >> i) & 1) as u8).collect();
    let r0 = bits[0];
    let run = bits.iter().take_while(|&&b| b == r0).count();
    let k = if r0 == 1 { run as i32 - 1 } else { -(run as i32) };
    let rest: Vec<u8> = bits.iter().skip(run + 1).copied().collect();
    let mut exp = 0i32;
    for i in 0..es as usize {
        exp = exp * 2 + *rest.get(i).unwrap_or(&0) as i32;
    }
    let mut frac = 1.0;
    for (i, &b) in rest.iter().skip(es as usize).enumerate() {
        frac += b as f64 * p2(-(i as i32) - 1);
    }
    p2(k * (1 << es) + exp) * frac
}

#[test]
fn posit_matches_its_table_rounding_on_the_bit_pattern() {
    let mut cases = vec![];
    for n in 2..=8u32 {
        for es in 0..=3u32 {
            if (1 << es) * (n - 2) <= 126 {
                cases.push((n, es));
            }
        }
    }
    cases.extend([(10, 1), (12, 2), (16, 1), (16, 2)]);
    for (n, es) in cases {
        let half = 1u64 << (n - 1);
        let pos: Vec<Entry> = (0..half).map(|c| Entry { v: posit_value(n, es, c), odd: c & 1 == 1 }).collect();
        // Thresholds between positive codes c and c+1: the (n+1)-bit posit 2c+1.
        let pos_th: Vec<f64> = (0..half - 1).map(|c| posit_value(n + 1, es, 2 * c + 1)).collect();
        // Signed table and thresholds (mirror the positive side).
        let t = mirror(&pos);
        let mut th: Vec<f64> = pos_th.iter().rev().map(|v| -v).collect();
        th.extend(&pos_th);
        for mode in MODES {
            let f = with_mode(&format!("posit(n={n},es={es})"), mode);
            // Posits never round a non-zero to 0: probes exclude (0, minpos).
            let minpos = pos[1].v;
            let ps: Vec<f32> = probes(&t, f32::MIN, f32::MAX).into_iter().filter(|x| x.abs() as f64 >= minpos || *x == 0.0).collect();
            let got = run(&*f, &[], &ps);
            for (&x, &g) in ps.iter().zip(&got) {
                let want = oracle(&t, x as f64, mode, Midpoint::Given(&th));
                assert_eq!(g as f64, want, "posit({n},{es}) {mode}: x={x:e}");
            }
            // Below minpos: minpos, never 0; above maxpos: maxpos.
            let tiny = (minpos / 3.0) as f32;
            assert_eq!(run(&*f, &[], &[tiny, -tiny])[..], [minpos as f32, -minpos as f32], "posit({n},{es})");
            let maxpos = pos.last().unwrap().v as f32;
            assert_eq!(run(&*f, &[], &[maxpos * 4.0])[0], maxpos, "posit({n},{es})");
        }
    }
}

// ------------------------------------------------------------ value listings

/// `values()` (the CLI's `quantlab values`) lists exactly the oracle's table.
#[test]
fn value_listings_equal_the_independent_tables() {
    let nonneg = |t: &[Entry]| t.iter().filter(|e| e.v >= 0.0).map(|e| e.v).collect::<Vec<f64>>();
    let listed = |d: &str, s: Scale| parse(d).unwrap().values(s).unwrap().into_iter().map(|v| v as f64).collect::<Vec<f64>>();
    assert_eq!(listed("adaptivfloat(n=6,e=3)", Scale::Max(3.0)), nonneg(&af_table(3, 2, 1 - 7)));
    assert_eq!(listed("adaptivfloat(n=8,e=3)", Scale::ExpBias(-7)), nonneg(&af_table(3, 4, -7)));
    assert_eq!(listed("fp8-e4m3", Scale::Fixed), nonneg(&minifloat_table(4, 3, 7, true, "fn")));
    assert_eq!(listed("fp6-e2m3", Scale::Fixed), nonneg(&minifloat_table(2, 3, 1, true, "none")));
    assert_eq!(listed("int(bits=4)", Scale::Max(7.0)), nonneg(&int_sym_table(4, 1.0)));
    assert_eq!(listed("bfp(bits=5,block=16)", Scale::Max(1.5)), (0..=15).map(|q| q as f64 / 8.0).collect::<Vec<_>>());
    assert_eq!(listed("mxfp4", Scale::Max(6.0)), nonneg(&minifloat_table(2, 1, 1, true, "none")));
    let posit: Vec<f64> = {
        let mut v: Vec<f64> = (0..128u64).map(|c| posit_value(8, 1, c)).collect();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v
    };
    assert_eq!(listed("posit(n=8,es=1)", Scale::Fixed), posit);
    assert!(parse("adaptivfloat(n=8,e=3)").unwrap().values(Scale::Fixed).is_err());
}

// ---------------------------------------------------------------- stochastic

/// Stochastic rounding lands on one of the two neighbours, leaves table values
/// alone, and rounds up about as often as the distance says.
#[test]
fn stochastic_rounding_is_unbiased_between_neighbours() {
    for desc in ["adaptivfloat(n=6,e=3)", "int(bits=4)", "int(bits=3,mode=asymmetric)", "fp8-e4m3", "mxfp4", "bfp(bits=4)", "posit(n=6,es=0)"] {
        let f = with_mode(desc, Rounding::Stochastic);
        let nearest = parse(desc).unwrap();
        let n = 40_000;
        // 1.3 lies strictly between two neighbours in each of these formats
        // (the anchors 4 and -1 fix the scale or range).
        let anchors = [4.0f32, -1.0];
        let mut x = anchors.to_vec();
        x.extend(std::iter::repeat_n(1.3f32, n));
        let mut out = vec![0.0; x.len()];
        f.quantize_unit(&x, None, RoundCtx::new(7), &mut out);
        let vals = nearest.values(if nearest.asymmetric() { Scale::Range(-1.0, 4.0) } else { Scale::Max(4.0) }).or_else(|_| nearest.values(Scale::Fixed)).unwrap();
        let hi = *vals.iter().find(|&&v| v > 1.3).unwrap();
        let lo = *vals.iter().rev().find(|&&v| v < 1.3).unwrap();
        let ups = out[2..].iter().filter(|&&v| v == hi).count();
        assert_eq!(ups + out[2..].iter().filter(|&&v| v == lo).count(), n, "{desc}: a result off the neighbours");
        let p = if desc.starts_with("posit") {
            None // bit-pattern distance, not linear: just both neighbours seen
        } else {
            Some((1.3 - lo as f64) / (hi as f64 - lo as f64))
        };
        let freq = ups as f64 / n as f64;
        match p {
            Some(p) => assert!((freq - p).abs() < 0.015, "{desc}: up {freq}, expected {p}"),
            None => assert!(freq > 0.05 && freq < 0.95, "{desc}: up {freq}"),
        }
        // A representable value never moves.
        let mut o = vec![0.0; 3];
        f.quantize_unit(&[4.0, -1.0, lo], None, RoundCtx::new(1), &mut o);
        assert_eq!(o[2], lo, "{desc}");
    }
}

/// Clipping: a clip bound sets the scale and clamps, for every family.
#[test]
fn clip_sets_scale_and_clamps() {
    let f = parse("int(bits=8)").unwrap();
    let mut out = vec![0.0; 3];
    f.quantize_unit(&[10.0, -0.5, 0.25], Some(Clip::symmetric(1.0)), RoundCtx::default(), &mut out);
    assert_eq!(out[0], 127.0 * (1.0f32 / 127.0));
    assert_eq!(out[2], (0.25f32 / (1.0 / 127.0)).round_ties_even() * (1.0f32 / 127.0));
    let af = parse("adaptivfloat(n=8,e=3)").unwrap();
    af.quantize_unit(&[10.0, -0.5, 3.0], Some(Clip::symmetric(2.5)), RoundCtx::default(), &mut out);
    assert_eq!(out, [2.5, -0.5, 2.5]); // exp_max = 1 from the clip, values clamped
}

// ---------------------------------------------------------------------- P3109

/// P3109 binaryKpP from its definition (`p3109.rs`): signed, the fnuz
/// table of e = K - P exponent bits and bias floor(2^(K-P-1)), less the
/// top magnitude code (Inf) in the extended domain; unsigned, the positive
/// half of e = K - P + 1 bits and bias 2^(K-P), less the top code (NaN) and,
/// extended, the one below it (Inf). Every value, midpoint and neighbour,
/// every rounding mode (saturating).
#[test]
fn p3109_matches_its_table() {
    for (k, p) in [(8u32, 3u32), (8, 4), (8, 1), (6, 3), (4, 2), (3, 2), (5, 5)] {
        for signed in [true, false] {
            if signed && p >= k {
                continue;
            }
            for extended in [true, false] {
                let (e, bias) = if signed { (k - p, (1i32 << (k - p)) / 2) } else { (k - p + 1, 1i32 << (k - p)) };
                let full = minifloat_table(e, p - 1, bias, true, "none");
                let mut pos: Vec<Entry> = full.into_iter().filter(|x| x.v >= 0.0).collect();
                pos.truncate(pos.len() - (!signed) as usize - extended as usize);
                let t = if signed { mirror(&pos) } else { pos };
                for mode in MODES {
                    let desc = format!("p3109(k={k},p={p},signed={signed},domain={})", if extended { "extended" } else { "finite" });
                    let f = with_mode(&desc, mode);
                    let lo = if signed { -f32::MAX } else { 0.0 };
                    check(&desc, &*f, &[lo, f32::MAX], &t, mode, Midpoint::Arithmetic, None);
                }
            }
        }
    }
    // An unsigned format takes negative inputs to NaN, or to 0 when saturating.
    let mut out = [0.0f32; 2];
    parse("p3109(k=8,p=3,signed=false)").unwrap().quantize_unit(&[-1.0, -0.0], None, Default::default(), &mut out);
    assert_eq!(out.map(f32::to_bits), [0.0f32.to_bits(); 2]);
    parse("p3109(k=8,p=3,signed=false,overflow=nan)").unwrap().quantize_unit(&[-1.0, -0.0], None, Default::default(), &mut out);
    assert!(out[0].is_nan() && out[1].to_bits() == 0);
}

// ------------------------------------------------------------ Lookup tables

/// NF4 and bitsandbytes' FP4 at scale 1 (a unit whose amax is 1): every
/// entry, midpoint and neighbour in the modes that do not depend on where
/// the midpoint falls (those follow bitsandbytes' f32 midpoints, checked
/// against bitsandbytes itself in the quantize crate's peers test).
#[test]
fn lookup_tables_match_their_entries() {
    use quantlab_formats::lut::{FP4_BNB, NF4};
    let user = [-1.0f32, -0.3, 0.0, 0.125, 0.8, 1.0];
    for (name, codes) in [("nf4", &NF4[..]), ("fp4-bnb", &FP4_BNB[..]), ("lut,values=[-1,-0.3,0,0.125,0.8,1]", &user[..])] {
        let t = sort(codes.iter().enumerate().map(|(c, &v)| Entry { v: v as f64, odd: c & 1 == 1 }).collect());
        for mode in [Rounding::TowardZero, Rounding::TowardPositive, Rounding::TowardNegative, Rounding::Odd] {
            let f = with_mode(&format!("scaled(elem={name},scale=f32)"), mode);
            check(&f.describe(), &*f, &[1.0, -1.0], &t, mode, Midpoint::Arithmetic, None);
        }
    }
    // Nearest (even: ties to the lower entry; away: away from zero) at
    // bitsandbytes' f32 midpoints, every entry, midpoint and neighbour.
    for (name, codes) in [("nf4", &NF4[..]), ("fp4-bnb", &FP4_BNB[..]), ("lut,values=[-1,-0.3,0,0.125,0.8,1]", &user[..])] {
        let t = sort(codes.iter().enumerate().map(|(c, &v)| Entry { v: v as f64, odd: c & 1 == 1 }).collect());
        let th: Vec<f64> = t.windows(2).map(|w| ((w[0].v as f32 + w[1].v as f32) / 2.0) as f64).collect();
        // Probes: the table's own (arithmetic midpoints) and the f32 thresholds with their neighbours.
        for mode in [Rounding::NearestEven, Rounding::NearestAway] {
            let f = with_mode(&format!("scaled(elem={name},scale=f32)"), mode);
            check(&f.describe(), &*f, &[1.0, -1.0], &t, mode, Midpoint::TableLower(&th), None);
            let mut ps: Vec<f32> = th.iter().flat_map(|&m| [m as f32, (m as f32).next_up(), (m as f32).next_down()]).collect();
            ps.push(1.0);
            let got = quantize(&*f, &ps, &[ps.len()], quantlab_formats::Granularity::Tensor, 0).unwrap();
            for (&x, &g) in ps.iter().zip(&got) {
                assert_eq!(g as f64, oracle(&t, x as f64, mode, Midpoint::TableLower(&th)), "{} {mode}: x = {x:e}", f.describe());
            }
        }
    }
    // Nearest with bitsandbytes' rule on a user table: the f32 midpoint
    // itself goes to the lower entry, the next f32 up to the upper one.
    let f = parse("scaled(elem=lut,values=[-1,-0.3,0,0.125,0.8,1],scale=f32)").unwrap();
    for w in user.windows(2) {
        let mid = (w[0] + w[1]) / 2.0;
        let mut out = [0.0f32; 4];
        f.quantize_unit(&[1.0, mid, mid.next_up(), mid.next_down()], None, Default::default(), &mut out);
        assert_eq!(out[1..], [w[0], w[1], w[0]], "midpoint of {w:?}");
    }
}
