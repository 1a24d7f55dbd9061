//! Runtime CPU dispatch for the hot loops.
//!
//! [`kernel!`] compiles one loop body three times: portable (SSE2 on x86-64),
//! with AVX2, and with AVX-512F, and picks the widest the CPU has at run time. Both are the same IEEE operations
//! (Rust never contracts to FMA), so results are bit-identical; the wider
//! registers only make them faster. Helpers called from a body must be
//! `#[inline(always)]` so they are compiled for the wider target too.

use std::sync::atomic::{AtomicU8, Ordering};

/// The widest instruction set kernels may use (they also need the CPU to
/// have it). Tests lower it to compare every path bit for bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    /// Plain Rust, vectorised by the compiler's baseline.
    Portable = 0,
    /// x86-64 AVX2 + FMA.
    Avx2 = 1,
    /// x86-64 AVX-512.
    Avx512 = 2,
}

static MAX_LEVEL: AtomicU8 = AtomicU8::new(Level::Avx512 as u8);

/// Cap the instruction set the kernels use (process-wide).
pub fn set_max_level(level: Level) {
    MAX_LEVEL.store(level as u8, Ordering::Relaxed);
}

#[inline(always)]
fn allowed(level: Level) -> bool {
    MAX_LEVEL.load(Ordering::Relaxed) >= level as u8
}

#[doc(hidden)]
#[inline(always)]
pub fn use_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        allowed(Level::Avx2) && std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[doc(hidden)]
#[inline(always)]
pub fn use_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        allowed(Level::Avx512) && std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `kernel! { fn name(args) -> Ret { body } }`: a dispatched kernel. Other
/// quantlab crates use it as `quantlab_formats::kernel!`.
#[macro_export]
macro_rules! kernel {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn widest($($arg: $ty),*) $(-> $ret)? $body
                #[target_feature(enable = "avx2")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn wide($($arg: $ty),*) $(-> $ret)? $body
                if $crate::simd::use_avx512() {
                    // SAFETY: AVX-512F was detected on this CPU.
                    return unsafe { widest($($arg),*) };
                }
                if $crate::simd::use_avx2() {
                    // SAFETY: AVX2 was detected on this CPU just above.
                    return unsafe { wide($($arg),*) };
                }
            }
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn narrow($($arg: $ty),*) $(-> $ret)? $body
            narrow($($arg),*)
        }
    };
}
pub use kernel;

/// Lanes of the deterministic f64 reductions (one AVX-512 register): element
/// `k` of a slice goes to lane `k % LANES`, the tail's element `i` to lane
/// `i`. A fixed summation order, so sums never depend on the thread count.
pub const LANES: usize = 8;

/// Values of `K` side-by-side streams short of a whole run of [`LANES`],
/// carried from one piece to the next so that every value keeps the lane
/// (its position mod `LANES`) it has in the whole: lane sums over pieces
/// of any lengths are then the sums over the whole, bit for bit.
#[derive(Clone, Copy, Debug)]
pub struct Carry<const K: usize> {
    held: [[f32; LANES]; K],
    n: usize,
}

impl<const K: usize> Default for Carry<K> {
    fn default() -> Self {
        Carry { held: [[0.0; LANES]; K], n: 0 }
    }
}

impl<const K: usize> Carry<K> {
    /// Hand the next piece of each stream (equal lengths) to `run`, in
    /// slices whose lengths are multiples of `LANES` and which start at a
    /// multiple of `LANES` in the whole; keep the rest for the next piece.
    pub fn feed(&mut self, mut xs: [&[f32]; K], mut run: impl FnMut([&[f32]; K])) {
        if self.n > 0 {
            let take = (LANES - self.n).min(xs[0].len());
            for (h, x) in self.held.iter_mut().zip(&mut xs) {
                h[self.n..self.n + take].copy_from_slice(&x[..take]);
                *x = &x[take..];
            }
            self.n += take;
            if self.n < LANES {
                return;
            }
            run(std::array::from_fn(|k| &self.held[k][..]));
            self.n = 0;
        }
        let whole = xs[0].len() / LANES * LANES;
        run(std::array::from_fn(|k| &xs[k][..whole]));
        let rest = xs[0].len() - whole;
        for (h, x) in self.held.iter_mut().zip(&xs) {
            h[..rest].copy_from_slice(&x[whole..]);
        }
        self.n = rest;
    }

    /// The values left (fewer than `LANES`: the whole's tail), once every
    /// piece was fed.
    pub fn tail(&self) -> [&[f32]; K] {
        std::array::from_fn(|k| &self.held[k][..self.n])
    }
}

/// Call `one(lane, x[k])` for every element, in the lane order of [`LANES`].
/// Shaped for the compiler's straight-line vectoriser, which keeps each
/// lane's sums in one register: whole runs of eight as arrays, the tail
/// indexed (an enumerated tail kept the main loop scalar). Bodies should
/// test finiteness with [`finite`] and use selects, not branches.
#[inline(always)]
pub fn for_each_lane(x: &[f32], one: impl FnMut(usize, f32)) {
    for_each_lane_of::<LANES>(x, one)
}

/// [`for_each_lane`] with `L` lanes (integer reductions fill an AVX-512
/// register with sixteen 32-bit lanes).
#[inline(always)]
pub fn for_each_lane_of<const L: usize>(x: &[f32], mut one: impl FnMut(usize, f32)) {
    let full = x.len() / L * L;
    let mut k = 0;
    while k < full {
        let run: &[f32; L] = x[k..k + L].try_into().expect("a whole run");
        for (i, &v) in run.iter().enumerate() {
            one(i, v);
        }
        k += L;
    }
    for i in 0..x.len() - full {
        one(i, x[full + i]);
    }
}

/// [`for_each_lane`] over `x` and `q` side by side (up to the shorter).
#[inline(always)]
pub fn for_each_lane_pair(x: &[f32], q: &[f32], mut one: impl FnMut(usize, f32, f32)) {
    let n = x.len().min(q.len());
    let full = n / LANES * LANES;
    let mut k = 0;
    while k < full {
        let a: &[f32; LANES] = x[k..k + LANES].try_into().expect("a whole run");
        let b: &[f32; LANES] = q[k..k + LANES].try_into().expect("a whole run");
        for i in 0..LANES {
            one(i, a[i], b[i]);
        }
        k += LANES;
    }
    for i in 0..n - full {
        one(i, x[full + i], q[full + i]);
    }
}

/// `v.is_finite()` on the bits: the float form compiles to branches in the
/// lane loops.
#[inline(always)]
pub fn finite(v: f32) -> bool {
    (v.to_bits() & 0x7fff_ffff) < 0x7f80_0000
}
