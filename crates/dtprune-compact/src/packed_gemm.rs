//! Dense products through the `gemm` crate (the one Burn's Flex backend uses, built with its
//! AVX-512 kernels; chosen at run time from the CPU's features): packed panels, cache blocking
//! for L1/L2/L3 and a register-tiled micro-kernel per instruction set. `dense.rs` sends the
//! shapes where it measured faster than the hand-written kernel here (see `dense::gemm_raw`).

use crate::simd::SendPtr;

/// `C[m×n] += A[m×k] · B[k×n]`, all row-major with leading dimensions `lda, ldb, ldc`, on
/// `threads` rayon threads (1: the calling thread only).
///
/// # Safety
/// `c` must point to a writable `m×n` region with leading dimension `ldc` that no one else
/// accesses during the call; `a`, `b` must hold the `m×k` and `k×n` operands.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_acc(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: SendPtr,
    ldc: usize,
    threads: usize,
) {
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    debug_assert!(a.len() >= (m - 1) * lda + k && b.len() >= (k - 1) * ldb + n);
    let parallelism = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    // dst := alpha·dst + beta·lhs·rhs with read_dst: alpha = beta = 1 accumulates into C.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.get(),
            1,
            ldc as isize,
            true,
            a.as_ptr(),
            1,
            lda as isize,
            b.as_ptr(),
            1,
            ldb as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            parallelism,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accumulates_hand_computed() {
        // [1 2; 3 4] · [5 6; 7 8] = [19 22; 43 50], added to C = 1; then a 1-column product.
        let mut c = vec![1.0f32; 4];
        unsafe { gemm_acc(2, 2, 2, &[1., 2., 3., 4.], 2, &[5., 6., 7., 8.], 2, SendPtr(c.as_mut_ptr()), 2, 2) };
        assert_eq!(c, vec![20., 23., 44., 51.]);
        let mut y = vec![0.5f32];
        unsafe { gemm_acc(1, 1, 3, &[1., 2., 3.], 3, &[1., 1., 2.], 1, SendPtr(y.as_mut_ptr()), 1, 1) };
        assert_eq!(y, vec![9.5]);
    }
}
