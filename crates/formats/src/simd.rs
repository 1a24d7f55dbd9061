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
    Portable = 0,
    Avx2 = 1,
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
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn widest($($arg: $ty),*) $(-> $ret)? $body
                #[target_feature(enable = "avx2")]
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
            fn narrow($($arg: $ty),*) $(-> $ret)? $body
            narrow($($arg),*)
        }
    };
}
pub use kernel;
