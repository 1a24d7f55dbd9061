//! Shared microexponents (Rouhani et al., ISCA 2023) against a slow,
//! straightforward reference of docs/formats.md's rule: per 16 elements an
//! exponent `E = floor(log2 amax)`, per pair a shift `tau = 1` when the
//! pair's amax is below `2^E`, elements `q * 2^(E - tau - (m - 1))` with
//! `q = clamp(rne(x / step), ±(2^m - 1))`. The reference quantizes each pair
//! at both shifts and keeps the one the rule names.

use quantlab_formats::{encode, parse, quantize, Granularity};

fn reference(x: &[f32], m: i32) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len());
    for block in x.chunks(16) {
        let amax = block.iter().filter(|v| v.is_finite()).fold(0f64, |a, v| a.max(v.abs() as f64));
        if block.iter().any(|v| v.is_nan()) {
            out.extend(block.iter().map(|_| f32::NAN));
            continue;
        }
        if amax == 0.0 {
            out.extend(block.iter().map(|_| 0.0));
            continue;
        }
        let e = amax.log2().floor() as i32;
        let qmax = ((1 << m) - 1) as f64;
        for pair in block.chunks(2) {
            let pmax = pair.iter().filter(|v| v.is_finite()).fold(0f64, |a, v| a.max(v.abs() as f64));
            let at = |tau: i32| -> Vec<f64> {
                let step = 2f64.powi(e - tau - (m - 1));
                pair.iter().map(|&v| ((v as f64) / step).round_ties_even().clamp(-qmax, qmax) * step).collect()
            };
            let (coarse, fine) = (at(0), at(1));
            let keep = if pmax < 2f64.powi(e) { fine } else { coarse };
            // Integer elements have one zero, +0.
            out.extend(keep.iter().map(|&q| if q == 0.0 { 0.0 } else { q as f32 }));
        }
    }
    out
}

fn data(n: usize) -> Vec<f32> {
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    let mut x: Vec<f32> = (0..n)
        .map(|i| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let u = ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0;
            // Blocks of very different scales, and pairs far below their block's max.
            (u * 2f64.powi((i / 16 % 13) as i32 - 6) * if i % 16 < 4 { 1.0 } else { 0.2 }) as f32
        })
        .collect();
    x[32..48].fill(0.0);
    x[50] = f32::INFINITY;
    x[70] = -0.0;
    x
}

#[test]
fn mx9_mx6_mx4_equal_the_reference() {
    let x = data(16 * 200);
    for (name, m) in [("mx9", 7), ("mx6", 4), ("mx4", 2)] {
        let got = quantize(&*parse(name).unwrap(), &x, &[x.len()], Granularity::Tensor, 0).unwrap();
        let want = reference(&x, m);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            // ±Inf saturates in both (it does not enter amax).
            assert!(g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()), "{name}: x[{i}] = {:e}: got {g:e}, reference {w:e}", x[i]);
        }
        // The one-block path (rows that are not whole blocks) agrees with
        // the fused run of blocks.
        let f = parse(name).unwrap();
        for (b, block) in x.chunks(16).enumerate() {
            let mut one = [0.0f32; 16];
            f.quantize_unit(block, None, Default::default(), &mut one);
            assert!(one.iter().zip(&got[b * 16..]).all(|(p, q)| p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan())), "{name}: block {b} alone differs");
        }
        // Under a clip too.
        for alpha in [0.3f32, 1e-3, 40.0] {
            let clip = Some(quantlab_formats::Clip { lo: -alpha, hi: alpha });
            let mut run = vec![0.0f32; x.len()];
            f.quantize_blocks(&x, 16, clip, Default::default(), &mut run);
            for (b, block) in x.chunks(16).enumerate() {
                let mut one = [0.0f32; 16];
                f.quantize_unit(block, clip, Default::default(), &mut one);
                assert!(one.iter().zip(&run[b * 16..]).all(|(p, q)| p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan())), "{name}: clip {alpha}: block {b} alone differs");
            }
        }
    }
}

/// 9, 6 and 4 bits per element with every level counted; on the wire,
/// PipeEdge's u32 packing (floor(32 / bits) codes per word) adds what
/// 5- and 3-bit codes waste.
#[test]
fn microexponent_formats_take_9_6_and_4_bits() {
    let x = data(16 * 64);
    for (name, bits, wire) in [("mx9", 9.0, 9.0), ("mx6", 6.0, 1.0 + 32.0 / 6.0), ("mx4", 4.0, 1.0 + 3.2)] {
        let f = parse(name).unwrap();
        assert_eq!(quantlab_formats::bits_per_element(&*f, &[64, 16], Granularity::Tensor).unwrap(), bits, "{name}");
        let e = encode(&*f, &x, &[64, 16], Granularity::Tensor, &[], 0).unwrap();
        assert!((e.wire_bits_per_element() - wire).abs() < 0.02, "{name}: {} on the wire", e.wire_bits_per_element());
        let back = quantlab_formats::decode(&*f, &e).unwrap();
        let q = quantize(&*f, &x, &[64, 16], Granularity::Tensor, 0).unwrap();
        assert!(back.iter().zip(&q).all(|(a, b)| a.to_bits() == b.to_bits()), "{name}: decode(encode(x)) != quantize(x)");
        let mut x2 = x.clone();
        x2[3] = f32::NAN;
        let q = quantize(&*f, &x2, &[64, 16], Granularity::Tensor, 0).unwrap();
        assert!(q[..16].iter().all(|v| v.is_nan()), "{name}: a NaN poisons its block");
    }
}
