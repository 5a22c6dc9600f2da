//! Runtime CPU-feature dispatch for the kernels.
//!
//! The workspace builds for baseline x86-64 (SSE2), which leaves 2-4x of a modern core unused.
//! Each kernel is written once as plain loops over fixed-size arrays that LLVM auto-vectorises;
//! `multiversion!` compiles it a second time with AVX2+FMA enabled and picks that copy at run
//! time when the CPU has it. Results differ from the SSE2 copy only in rounding, never in
//! structure (no fast-math: additions keep their order within a lane).

macro_rules! multiversion {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn generic($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? { generic($($arg),*) }
                if $crate::simd::has_avx2() {
                    // SAFETY: the CPU supports AVX2 and FMA (checked at run time just above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            generic($($arg),*)
        }
    };
    ($(#[$m:meta])* $vis:vis unsafe fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$m])*
        $vis unsafe fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            unsafe fn generic($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? { generic($($arg),*) }
                if $crate::simd::has_avx2() {
                    // SAFETY: AVX2+FMA checked just above; the caller upholds `generic`'s contract.
                    return avx2($($arg),*);
                }
            }
            generic($($arg),*)
        }
    };
}
pub(crate) use multiversion;

/// Whether the AVX2+FMA kernel copies may run (cached by std after the first query).
#[inline]
pub fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A raw pointer that may cross threads. Used only where parallel tasks write provably
/// disjoint regions of one output buffer (tiles of a row-major matrix are not contiguous
/// slices, so `par_chunks_mut` cannot express them).
#[derive(Clone, Copy)]
pub(crate) struct SendPtr(pub *mut f32);
// SAFETY: every user writes through it only into regions no other task touches.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// The pointer (a method, so closures capture the whole `SendPtr`, not its raw field).
    #[inline(always)]
    pub fn get(self) -> *mut f32 {
        self.0
    }
}

/// Below this many multiply-adds a kernel runs on the calling thread: waking the rayon pool
/// costs several microseconds, more than the whole product of a small sparse layer at batch 1.
pub const PARALLEL_MIN_WORK: usize = 1 << 16;
