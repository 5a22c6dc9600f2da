//! What this CPU runs the matrix products with.
//!
//! Burn/Flex multiplies with the `gemm` crate, which picks its kernels at run time: AVX-512
//! where the CPU has `avx512f` (compiled in by Burn's `x86-v4` feature), AVX2 + FMA where it has
//! `fma`, plain code otherwise. The kernel sets add in different orders, so the same seed gives
//! identical numbers on one machine but not between machines whose kernel sets differ; runs
//! record it (`summary.json` `gemm_kernels`) so two results can be told apart.

/// The `gemm` kernel set this process uses: `avx512f`, `fma` (AVX2 + FMA), `neon` or `scalar`.
/// The same tests, in the same order, as `gemm`'s own dispatch.
pub fn gemm_kernels() -> &'static str {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "avx512f";
        }
        if std::arch::is_x86_feature_detected!("fma") {
            return "fma";
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            return "neon";
        }
    }
    "scalar"
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_one_of_the_kernel_sets() {
        assert!(["avx512f", "fma", "neon", "scalar"].contains(&super::gemm_kernels()));
    }
}
