//! Runtime CPU-feature dispatch for the kernels.
//!
//! The workspace builds for baseline x86-64 (SSE2), which leaves 2-4x of a modern core unused.
//! Each kernel is written once as plain loops over fixed-size arrays that LLVM auto-vectorises;
//! `multiversion!` compiles it twice more, with AVX2+FMA and with AVX-512 enabled, and picks
//! the best copy the CPU can run at run time (AVX-512: LeNet-5's compact pass at batch 128
//! 1.79 → 1.53 ms, BENCHMARKS.md). Results differ between the copies only in rounding, never in
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
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? { generic($($arg),*) }
                if $crate::simd::has_avx512() {
                    // SAFETY: `has_avx512` is true only when the CPU has AVX-512 F/VL, AVX2 and FMA.
                    return unsafe { avx512($($arg),*) };
                }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? { generic($($arg),*) }
                if $crate::simd::has_avx2() {
                    // SAFETY: `has_avx2` is true only when the CPU has AVX2 and FMA.
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
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? { generic($($arg),*) }
                if $crate::simd::has_avx512() {
                    // SAFETY: `has_avx512` is true only when the CPU has AVX-512 F/VL, AVX2 and
                    // FMA; the caller upholds `generic`'s contract.
                    return avx512($($arg),*);
                }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? { generic($($arg),*) }
                if $crate::simd::has_avx2() {
                    // SAFETY: `has_avx2` is true only when the CPU has AVX2 and FMA; the caller
                    // upholds `generic`'s contract.
                    return avx2($($arg),*);
                }
            }
            generic($($arg),*)
        }
    };
}
pub(crate) use multiversion;

/// The kernel copies, from the plainest to the widest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SimdLevel {
    /// Baseline x86-64 (SSE2) or the target's default.
    Generic,
    /// AVX2 + FMA.
    Avx2,
    /// AVX-512 F and VL on top of AVX2 + FMA.
    Avx512,
}

/// The environment variable that caps the kernel copies: `generic`, `avx2` or `avx512`. It
/// reproduces the rounding of a machine with fewer instructions, and lets one machine test every
/// copy. It never raises the level above what the CPU has.
pub const SIMD_ENV: &str = "DTPRUNE_SIMD";

impl SimdLevel {
    pub fn name(self) -> &'static str {
        match self {
            SimdLevel::Generic => "generic",
            SimdLevel::Avx2 => "avx2",
            SimdLevel::Avx512 => "avx512",
        }
    }

    fn parse(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "generic" => Ok(SimdLevel::Generic),
            "avx2" => Ok(SimdLevel::Avx2),
            "avx512" => Ok(SimdLevel::Avx512),
            _ => Err(format!("{SIMD_ENV}={value:?} is not a kernel level; valid: generic, avx2, avx512")),
        }
    }
}

/// The cap `DTPRUNE_SIMD` asks for, if set; an error names the variable and the valid values.
/// Binaries check this once at start-up, because the kernels cannot report errors.
pub fn requested_level() -> Result<Option<SimdLevel>, String> {
    match std::env::var(SIMD_ENV) {
        Ok(value) => SimdLevel::parse(&value).map(Some),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{SIMD_ENV} is not valid UTF-8")),
    }
}

/// The best copy this CPU can run.
pub fn detected_level() -> SimdLevel {
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
        if avx2 && std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vl") {
            return SimdLevel::Avx512;
        }
        if avx2 {
            return SimdLevel::Avx2;
        }
    }
    SimdLevel::Generic
}

/// The copy the kernels run: the detected level, capped by `DTPRUNE_SIMD` (an invalid value is
/// ignored here; binaries reject it up front with [`requested_level`]). Fixed for the process.
pub fn level() -> SimdLevel {
    static LEVEL: std::sync::OnceLock<SimdLevel> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        let detected = detected_level();
        match requested_level() {
            Ok(Some(cap)) => detected.min(cap),
            _ => detected,
        }
    })
}

/// Whether the AVX-512 kernel copies may run.
#[inline]
pub fn has_avx512() -> bool {
    level() >= SimdLevel::Avx512
}

/// Whether the AVX2+FMA kernel copies may run.
#[inline]
pub fn has_avx2() -> bool {
    level() >= SimdLevel::Avx2
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

/// Below this many multiply-adds a kernel runs on the calling thread. Waking a worker costs
/// far more on an idle virtual machine than on a busy one (a halted vCPU must be woken by the
/// host): a batch-1 compact LeNet-5 pass took 0.090–0.095 ms with 2^16 here, quiet, against
/// 0.038–0.039 ms with 2^19 (`forward_loop`, same sitting), and 0.05 ms with 2^16 while another
/// process kept the second core busy. 2^19 multiply-adds are ~100 µs of one core's work.
pub const PARALLEL_MIN_WORK: usize = 1 << 19;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_levels_and_names_the_variable_on_error() {
        assert_eq!(SimdLevel::parse("AVX2"), Ok(SimdLevel::Avx2));
        assert_eq!(SimdLevel::parse(" generic "), Ok(SimdLevel::Generic));
        assert_eq!(SimdLevel::parse("avx512"), Ok(SimdLevel::Avx512));
        let e = SimdLevel::parse("sse9").unwrap_err();
        assert!(e.contains("DTPRUNE_SIMD") && e.contains("generic, avx2, avx512"), "{e}");
    }

    #[test]
    fn level_never_exceeds_the_cpu() {
        assert!(level() <= detected_level());
        assert!(SimdLevel::Generic < SimdLevel::Avx2 && SimdLevel::Avx2 < SimdLevel::Avx512);
    }
}
