//! Runtime CPU dispatch for the hot loops.
//!
//! [`kernel!`] compiles one loop body twice: portable (SSE2 on x86-64) and
//! with AVX2 enabled, chosen at run time. Both are the same IEEE operations
//! (Rust never contracts to FMA), so results are bit-identical; the wider
//! registers only make them faster. Helpers called from a body must be
//! `#[inline(always)]` so they are compiled for the wider target too.

use std::sync::atomic::{AtomicBool, Ordering};

static PORTABLE_ONLY: AtomicBool = AtomicBool::new(false);

/// Force the portable path (tests compare both paths bit for bit).
pub fn force_portable(on: bool) {
    PORTABLE_ONLY.store(on, Ordering::Relaxed);
}

#[inline(always)]
pub(crate) fn use_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        !PORTABLE_ONLY.load(Ordering::Relaxed) && std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `kernel! { fn name(args) -> Ret { body } }`: a dispatched kernel.
macro_rules! kernel {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                unsafe fn wide($($arg: $ty),*) $(-> $ret)? $body
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
pub(crate) use kernel;
