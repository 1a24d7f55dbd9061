//! Scale invariance: a format that scales each unit to its data must treat
//! `x * 2^k` as it treats `x`, over f32's whole exponent range. Multiplying
//! by a power of two is exact, so wherever the inputs, the format's scales
//! and the results stay normal f32 numbers the results must differ by
//! exactly `2^k`, and the error (SQNR) must not depend on `k` wherever the
//! inputs stay normal (issue 15, item 9: integer scales fell into the
//! subnormals for tiny tensors and lost every bit of precision).

use quantlab_formats::{parse, quantize, Granularity};

/// Every family that derives a scale from its data, with the widths where
/// precision runs out first, and the smallest `floor(log2 max|x|)` its scale
/// encoding reaches: OCP MX stores its scale as E8M0, which holds
/// `2^-127 .. 2^127`, so below `max|x| = 2^(emax - 127)` the scale clamps,
/// as the specification says, and the error changes.
const SCALED: &[(&str, i32)] = &[
    ("int(bits=16)", i32::MIN),
    ("int(bits=8)", i32::MIN),
    ("int(bits=4)", i32::MIN),
    ("int(bits=8,mode=asymmetric)", i32::MIN),
    ("int(bits=16,mode=asymmetric)", i32::MIN),
    ("int(bits=4,mode=asymmetric,round=nearest-away)", i32::MIN),
    ("int(bits=8,round=toward-zero)", i32::MIN),
    ("adaptivfloat(n=8,e=3)", i32::MIN),
    ("adaptivfloat(n=4,e=2)", i32::MIN),
    ("adaptivfloat(n=6,e=3,variant=ieee-like)", i32::MIN),
    ("bfp(bits=8,block=16)", i32::MIN),
    ("bfp(bits=6)", i32::MIN),
    ("mxfp8-e4m3", 8 - 127),
    ("mxfp8-e5m2", 15 - 127),
    ("mxfp4", 2 - 127),
    ("mxint8", -127),
    // A real-valued scale `amax / max_elem` is clamped to its encoding's
    // normal range (f32: from 2^-126), so below max|x| = 2^(emax - 126) it
    // clamps, by design; narrower encodings (E4M3's [2^-6, 448]) clamp
    // sooner, as E8M0 does.
    ("fp8-e4m3-scaled", 8 - 126),
    ("scaled(elem=int8,scale=f32,block=16)", -126),
];

/// Pseudo-random values: `narrow` has magnitudes in [1, 4) (so f32's whole
/// exponent range can be walked), otherwise a heavy-tailed spread from
/// 2^-10 to about 2^7.
fn data(n: usize, seed: u64, narrow: bool) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|i| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let u = (s >> 11) as f64 / (1u64 << 53) as f64;
            let sign = if (s >> 7) & 1 == 0 { 1.0 } else { -1.0 };
            let mag = if narrow {
                1.0 + 3.0 * u
            } else {
                let v = (u * 2.0 - 1.0).powi(3) * 3.0;
                let v = if i % 97 == 0 { v * 40.0 } else { v };
                v.abs().max(1.0 / 1024.0)
            };
            (sign * mag) as f32
        })
        .collect()
}

fn sqnr_db(x: &[f32], q: &[f32]) -> f64 {
    let (s, e) = x.iter().zip(q).fold((0.0f64, 0.0f64), |(s, e), (&a, &b)| (s + (a as f64).powi(2), e + (a as f64 - b as f64).powi(2)));
    if e == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (s / e).log10()
    }
}

fn scaled(x: &[f32], k: i32) -> Vec<f32> {
    // Two steps: 2^k alone may not be an f32 for the k used here.
    let (a, b) = (k / 2, k - k / 2);
    x.iter().map(|&v| v * 2f32.powi(a) * 2f32.powi(b)).collect()
}

fn normal_or_zero(v: f32) -> bool {
    v == 0.0 || v.is_normal()
}

#[test]
fn results_scale_with_the_input_over_the_whole_exponent_range() {
    let shape = [8, 64];
    for narrow in [true, false] {
        let x = data(512, 7, narrow);
        let lo = x.iter().map(|v| v.abs()).fold(f32::INFINITY, f32::min);
        let hi = x.iter().map(|v| v.abs()).fold(0.0f32, f32::max);
        // Every k that keeps every input a finite normal number.
        let k_min = -126 - lo.log2().floor() as i32;
        let k_max = 127 - hi.log2().ceil() as i32;
        for &(desc, lowest) in SCALED {
            let f = parse(desc).unwrap();
            for gran in [Granularity::Tensor, Granularity::Channel { axis: 0 }] {
                let q0 = quantize(&*f, &x, &shape, gran, 0).unwrap();
                let base = sqnr_db(&x, &q0);
                for k in k_min.max(lowest.saturating_sub(lo.log2().floor() as i32))..=k_max {
                    let xk = scaled(&x, k);
                    assert!(xk.iter().all(|v| v.is_normal()), "test data: k={k}");
                    let qk = quantize(&*f, &xk, &shape, gran, 0).unwrap();
                    let db = sqnr_db(&xk, &qk);
                    assert!((db - base).abs() <= 0.1 || (db.is_infinite() && base.is_infinite()), "{desc} {gran} narrow={narrow}: SQNR {db:.2} dB at 2^{k}, {base:.2} dB at 2^0");
                    // Scales stay normal while the largest magnitude is at
                    // least 2^-110 (every format here: int16's alpha/32767,
                    // AdaptivFloat's 2^exp_bias, BFP's step, MX's E8M0 scale).
                    if (hi.log2().floor() as i32) + k < -110 {
                        continue;
                    }
                    let expect = scaled(&q0, k);
                    for i in 0..x.len() {
                        if normal_or_zero(q0[i]) && normal_or_zero(expect[i]) && normal_or_zero(qk[i]) {
                            assert_eq!(qk[i].to_bits(), expect[i].to_bits(), "{desc} {gran} narrow={narrow}: element {i} ({}) at 2^{k}: {} != {} * 2^{k}", x[i], qk[i], q0[i]);
                        }
                    }
                }
            }
        }
    }
}

/// The cases the issue measured, as they were reported.
#[test]
fn tiny_tensors_keep_their_precision() {
    let x = data(1024, 3, false);
    for (desc, factor) in [("int(bits=16)", 1e-36f32), ("int(bits=8,mode=asymmetric)", 1e-37), ("int(bits=4)", 1e-38)] {
        let f = parse(desc).unwrap();
        let small: Vec<f32> = x.iter().map(|v| v * factor).filter(|v| v.is_normal()).collect();
        let big: Vec<f32> = small.iter().map(|v| v / factor).collect();
        let q_small = quantize(&*f, &small, &[small.len()], Granularity::Tensor, 0).unwrap();
        let q_big = quantize(&*f, &big, &[big.len()], Granularity::Tensor, 0).unwrap();
        assert!(q_small.iter().all(|v| v.is_finite()), "{desc}: NaN or Inf");
        let (a, b) = (sqnr_db(&small, &q_small), sqnr_db(&big, &q_big));
        assert!((a - b).abs() < 0.1, "{desc}: {a:.2} dB at x{factor:e}, {b:.2} dB at scale 1");
    }
}

/// Near `f32::MAX` an asymmetric range `hi - lo` overflows f32: the unit
/// must still quantize (issue 15, item 10's neighbour).
#[test]
fn ranges_near_f32_max_stay_finite() {
    let x = [f32::MAX, -f32::MAX, 1e38, -3e38, 0.0];
    for &(desc, _) in SCALED {
        let f = parse(desc).unwrap();
        let q = quantize(&*f, &x, &[x.len()], Granularity::Tensor, 0).unwrap();
        assert!(q.iter().all(|v| v.is_finite()), "{desc}: {q:?}");
        assert!(q[0] > 1e38 && q[1] < -1e38, "{desc}: {q:?}");
    }
}
