//! Exact exponent arithmetic on f32 bit patterns: no `log2`, no `powf`.

/// The sign bit of an f32.
pub const SIGN: u32 = 0x8000_0000;
/// +infinity's bit pattern (also the exponent mask).
pub const INF: u32 = 0x7f80_0000;
/// The canonical quiet NaN.
pub const QNAN: u32 = 0x7fc0_0000;

/// `floor(log2(a))` for a finite, positive f32 magnitude (subnormals too).
#[inline(always)]
pub fn floor_log2(a: f32) -> i32 {
    let b = a.to_bits() & !SIGN;
    debug_assert!(b != 0 && b < INF);
    let biased = (b >> 23) as i32;
    if biased == 0 {
        31 - b.leading_zeros() as i32 - 149
    } else {
        biased - 127
    }
}

/// `2^k` as f32, exact for `k` in [-149, 127]; 0 below, +Inf above.
#[inline(always)]
pub fn pow2(k: i32) -> f32 {
    f32::from_bits(pow2_bits(k))
}

/// Bit pattern of [`pow2`].
#[inline(always)]
pub fn pow2_bits(k: i32) -> u32 {
    if k > 127 {
        INF
    } else if k >= -126 {
        ((k + 127) as u32) << 23
    } else if k >= -149 {
        1u32 << (k + 149)
    } else {
        0
    }
}

/// `x * 2^k` computed exactly in f64 then rounded once to f32 (an `ldexp`).
#[inline(always)]
pub fn ldexp(x: f32, k: i32) -> f32 {
    // Two steps keep every intermediate inside f64's exponent range.
    let k = k.clamp(-600, 600);
    let h = k / 2;
    let p1 = f64::from_bits(((h + 1023) as u64) << 52);
    let p2 = f64::from_bits((((k - h) + 1023) as u64) << 52);
    (x as f64 * p1 * p2) as f32
}

crate::simd::kernel! {
    /// Largest finite |x| of a slice, ignoring NaN and ±Inf; 0 when there is none.
    pub fn finite_amax(x: &[f32]) -> f32 {
        amax_of(x).0
    }
}

crate::simd::kernel! {
    /// Largest finite |x| and whether a NaN is present, in one pass.
    pub fn finite_amax_and_nan(x: &[f32]) -> (f32, bool) {
        amax_of(x)
    }
}

/// The body of [`finite_amax`] and [`finite_amax_and_nan`], for kernels
/// that reduce many small blocks (a dispatched call per block costs more
/// than the block): the largest finite |x| and whether a NaN is present.
/// An integer max over magnitude patterns: exact and branch-free;
/// magnitudes fit in i31, so signed compares (native in SSE2) order them.
#[inline(always)]
pub fn amax_of(x: &[f32]) -> (f32, bool) {
    let (mut fin, mut all) = (0i32, 0i32);
    for &v in x {
        let a = (v.to_bits() & !SIGN) as i32;
        all = if a > all { a } else { all };
        let f = if a < INF as i32 { a } else { 0 };
        fin = if f > fin { f } else { fin };
    }
    (f32::from_bits(fin as u32), all > INF as i32)
}

/// Counts and finite extremes of a slice, as [`finite_range`] returns them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Range {
    /// Finite values.
    pub count: usize,
    /// NaN values.
    pub nan: usize,
    /// Infinite values.
    pub inf: usize,
    /// Finite minimum and maximum (0, 0 when there is no finite value).
    pub min: f32,
    /// See `min`.
    pub max: f32,
}

crate::simd::kernel! {
    /// Finite count, NaN and Inf counts, finite min and max in one pass. Min
    /// and max are reduced over order-preserving integer keys of the f32
    /// patterns (-0 < +0), which vectorise exactly; float min/max reductions
    /// do not, without fast-math.
    pub fn finite_range(x: &[f32]) -> Range {
        // Sixteen lanes of 32-bit keys and counters (one AVX-512 register
        // each), in blocks short enough that a lane's counter cannot
        // overflow; the lanes are reduced at the end (integers: any order
        // gives the same result).
        const L: usize = 16;
        const BLOCK: usize = L << 20;
        let (mut lo, mut hi) = ([i32::MAX; L], [i32::MIN; L]);
        let (mut nonfinite, mut nan) = (0u64, 0u64);
        #[inline(always)]
        fn one(v: f32, lo: &mut i32, hi: &mut i32, nonfinite: &mut u32, nan: &mut u32) {
            let b = v.to_bits() as i32;
            let mag = b & 0x7fff_ffff;
            let finite = mag < INF as i32;
            *nonfinite += !finite as u32;
            *nan += (mag > INF as i32) as u32;
            let key = b ^ ((b >> 31) & 0x7fff_ffff);
            let (kl, kh) = if finite { (key, key) } else { (i32::MAX, i32::MIN) };
            *lo = if kl < *lo { kl } else { *lo };
            *hi = if kh > *hi { kh } else { *hi };
        }
        for block in x.chunks(BLOCK) {
            let (mut nf, mut nn) = ([0u32; L], [0u32; L]);
            crate::simd::for_each_lane_of::<L>(block, |i, v| one(v, &mut lo[i], &mut hi[i], &mut nf[i], &mut nn[i]));
            nonfinite += nf.iter().map(|&c| c as u64).sum::<u64>();
            nan += nn.iter().map(|&c| c as u64).sum::<u64>();
        }
        let (lo, hi) = (lo.into_iter().min().unwrap_or(i32::MAX), hi.into_iter().max().unwrap_or(i32::MIN));
        let count = x.len() as u64 - nonfinite;
        let value = |k: i32| f32::from_bits((k ^ ((k >> 31) & 0x7fff_ffff)) as u32);
        let (min, max) = if count == 0 { (0.0, 0.0) } else { (value(lo), value(hi)) };
        Range { count: count as usize, nan: nan as usize, inf: (nonfinite - nan) as usize, min, max }
    }
}

/// Clamp `v` to `[lo, hi]`, letting NaN through (unlike `f32::clamp`'s callers
/// expect from `max`/`min`, which drop NaN).
#[inline(always)]
pub fn clamp_keep_nan(v: f32, lo: f32, hi: f32) -> f32 {
    if v < lo {
        lo
    } else if v > hi {
        hi
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_log2_matches_f64_log2() {
        for &v in &[1.0f32, 1.5, 2.0, 3.999, 0.75, 1e-40, f32::MIN_POSITIVE, 1e-45, f32::MAX, 6.0e-39] {
            assert_eq!(floor_log2(v), (v as f64).log2().floor() as i32, "{v}");
        }
    }

    #[test]
    fn pow2_is_exact_across_range() {
        for k in -149..=127 {
            assert_eq!(pow2(k) as f64, 2f64.powi(k), "{k}");
        }
        assert_eq!(pow2(-150), 0.0);
        assert_eq!(pow2(128), f32::INFINITY);
    }

    #[test]
    fn ldexp_matches_powi() {
        assert_eq!(ldexp(3.0, -140), (3.0f64 * 2f64.powi(-140)) as f32);
        assert_eq!(ldexp(1.5, 100), (1.5f64 * 2f64.powi(100)) as f32);
        assert_eq!(ldexp(1.0, 200), f32::INFINITY);
    }

    #[test]
    fn finite_range_ignores_and_counts_non_finite() {
        let r = finite_range(&[3.0, -2.5, f32::NAN, f32::INFINITY, 0.5, f32::NEG_INFINITY]);
        assert_eq!(r, Range { count: 3, nan: 1, inf: 2, min: -2.5, max: 3.0 });
        let r = finite_range(&[-1e-40, -7.0, -3.0]);
        assert_eq!((r.min, r.max), (-7.0, -1e-40));
        assert_eq!(finite_range(&[f32::NAN]), Range { count: 0, nan: 1, inf: 0, min: 0.0, max: 0.0 });
        assert_eq!(finite_range(&[]).count, 0);
    }

    #[test]
    fn amax_ignores_non_finite() {
        assert_eq!(finite_amax(&[1.0, -3.0, f32::NAN, f32::NEG_INFINITY]), 3.0);
        assert_eq!(finite_amax(&[]), 0.0);
        assert_eq!(finite_amax(&[f32::INFINITY]), 0.0);
    }
}
