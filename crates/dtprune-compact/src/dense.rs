//! Dense kernels: blocked GEMM, GEMV, and convolution as im2col + GEMM.
//!
//! These serve both the *dense reference* (the masked-dense model as a framework would run it,
//! zeros and all) and the dense layers of a compact model, so a benchmark compares storage
//! formats, not kernel quality.
//!
//! Activations are *feature-major*: a linear layer sees `X[in, N]`, a conv layer `X[C, N, H, W]`.
//! With weights `W[out, in]` every layer is then `Y[out, cols] = W · X[in, cols]`, the GEMM shape
//! where the batch (or batch × pixels) runs along the contiguous axis: the inner loop of both the
//! dense and the sparse kernel is a unit-stride multiply-add across samples, which vectorises.

use rayon::prelude::*;

use crate::simd::{multiversion, SendPtr, PARALLEL_MIN_WORK};

/// A row-major dense matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseMat {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl DenseMat {
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> DenseMat {
        assert_eq!(rows * cols, data.len());
        DenseMat { rows, cols, data }
    }

    /// `Y[rows, n] += self · X[cols, n]` (row-major, `Y` pre-filled, e.g. with the bias).
    pub fn matmul_acc(&self, x: &[f32], n: usize, y: &mut [f32]) {
        assert_eq!(x.len(), self.cols * n);
        assert_eq!(y.len(), self.rows * n);
        gemm(
            self.rows, n, self.cols, &self.data, self.cols, x, n, y, n, true,
        );
    }
}

/// Register tile: MR rows of A times NR columns of B, kept in MR*NR/8 = 8 AVX registers.
const MR: usize = 4;
const NR: usize = 16;
/// K-block: an NR-wide panel of B of this depth (16 KiB) stays in L1 while MR-row strips of A
/// stream past it.
const KC: usize = 256;
/// Parallel task tile of C.
const MB: usize = 64;
const NB: usize = 256;

/// `C[m×n] += A[m×k] · B[k×n]`, all row-major with leading dimensions `lda, ldb, ldc`.
/// `parallel` lets the product use the rayon pool (when it is big enough to be worth it).
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: &mut [f32],
    ldc: usize,
    parallel: bool,
) {
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    assert!(
        a.len() >= (m - 1) * lda + k
            && b.len() >= (k - 1) * ldb + n
            && c.len() >= (m - 1) * ldc + n
    );
    // SAFETY: bounds checked above; `c` is exclusively borrowed.
    unsafe {
        gemm_raw(
            m,
            n,
            k,
            a,
            lda,
            b,
            ldb,
            SendPtr(c.as_mut_ptr()),
            ldc,
            parallel,
        )
    }
}

/// The two dense product kernels: the hand-written one below, and the `gemm` crate's
/// (`packed_gemm.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmKernel {
    Own,
    Packed,
}

impl GemmKernel {
    /// The kernel measured faster for this shape: the `gemm` crate's for every dense product
    /// of the LeNets, at batch 1, 128 and 1000 (`examples/gemm_shapes.rs`, fastest of 31
    /// samples: 1.2–9× faster, except LeNet-5's fc2 at batch 128, 10×128×500, where the two
    /// are within noise). The hand-written kernel stays selectable to re-measure new shapes.
    pub fn for_shape(m: usize, n: usize, k: usize) -> GemmKernel {
        let _ = (m, n, k);
        GemmKernel::Packed
    }
}

/// [`gemm`] with a chosen kernel (for measuring one against the other).
#[allow(clippy::too_many_arguments)]
pub fn gemm_using(
    kernel: GemmKernel,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: &mut [f32],
    ldc: usize,
    parallel: bool,
) {
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    assert!(
        a.len() >= (m - 1) * lda + k
            && b.len() >= (k - 1) * ldb + n
            && c.len() >= (m - 1) * ldc + n
    );
    // SAFETY: bounds checked above; `c` is exclusively borrowed.
    unsafe { gemm_raw_using(kernel, m, n, k, a, lda, b, ldb, SendPtr(c.as_mut_ptr()), ldc, parallel) }
}

/// As [`gemm`] with `C` given as a raw pointer.
///
/// # Safety
/// `c` must point to a writable `m×n` region with leading dimension `ldc` that no one else
/// accesses during the call; `a`, `b` must hold the `m×k` and `k×n` operands.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_raw(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: SendPtr,
    ldc: usize,
    parallel: bool,
) {
    unsafe { gemm_raw_using(GemmKernel::for_shape(m, n, k), m, n, k, a, lda, b, ldb, c, ldc, parallel) }
}

#[allow(clippy::too_many_arguments)]
unsafe fn gemm_raw_using(
    kernel: GemmKernel,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: SendPtr,
    ldc: usize,
    parallel: bool,
) {
    match kernel {
        GemmKernel::Own => unsafe { own_gemm_raw(m, n, k, a, lda, b, ldb, c, ldc, parallel) },
        GemmKernel::Packed => {
            let threads = if parallel && m * n * k >= PARALLEL_MIN_WORK { rayon::current_num_threads() } else { 1 };
            unsafe { crate::packed_gemm::gemm_acc(m, n, k, a, lda, b, ldb, c, ldc, threads) }
        }
    }
}

/// The hand-written kernel: MR×NR register tiles over MB×NB task tiles, blocked over K; a
/// 32-lane dot product for a single column.
#[allow(clippy::too_many_arguments)]
unsafe fn own_gemm_raw(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: SendPtr,
    ldc: usize,
    parallel: bool,
) {
    if n == 1 {
        return gemv_raw(m, k, a, lda, b, ldb, c, ldc, parallel);
    }
    let tiles_m = m.div_ceil(MB);
    let tiles_n = n.div_ceil(NB);
    let run = |t: usize| {
        let (ti, tj) = (t / tiles_n, t % tiles_n);
        let (i0, j0) = (ti * MB, tj * NB);
        // SAFETY: tiles are disjoint rectangles of C.
        unsafe {
            gemm_tile(
                k,
                a,
                lda,
                b,
                ldb,
                c,
                ldc,
                i0,
                (i0 + MB).min(m),
                j0,
                (j0 + NB).min(n),
            )
        }
    };
    if parallel && m * n * k >= PARALLEL_MIN_WORK && tiles_m * tiles_n > 1 {
        (0..tiles_m * tiles_n).into_par_iter().for_each(run);
    } else {
        (0..tiles_m * tiles_n).for_each(run);
    }
}

multiversion! {
    /// One task tile `C[i0..i1, j0..j1] += A[i0..i1, :] · B[:, j0..j1]`, blocked over K.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_tile(k: usize, a: &[f32], lda: usize, b: &[f32], ldb: usize, c: SendPtr, ldc: usize,
                        i0: usize, i1: usize, j0: usize, j1: usize) {
        let mut k0 = 0;
        while k0 < k {
            let kc = KC.min(k - k0);
            let mut i = i0;
            while i < i1 {
                let mr = MR.min(i1 - i);
                let mut j = j0;
                while j < j1 {
                    let nr = NR.min(j1 - j);
                    let a_blk = &a[i * lda + k0..];
                    let b_blk = &b[k0 * ldb + j..];
                    let cp = c.0.add(i * ldc + j);
                    if mr == MR && nr == NR {
                        micro_full(kc, a_blk, lda, b_blk, ldb, cp, ldc);
                    } else {
                        micro_edge(kc, mr, nr, a_blk, lda, b_blk, ldb, cp, ldc);
                    }
                    j += NR;
                }
                i += MR;
            }
            k0 += kc;
        }
    }
}

/// The register-tiled inner kernel: accumulates an `MR×NR` block of C over `kc` steps.
#[inline(always)]
unsafe fn micro_full(
    kc: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: *mut f32,
    ldc: usize,
) {
    let mut acc = [[0f32; NR]; MR];
    let a_rows: [&[f32]; MR] = std::array::from_fn(|r| &a[r * lda..r * lda + kc]);
    for p in 0..kc {
        let brow: &[f32; NR] = b[p * ldb..p * ldb + NR].try_into().expect("NR wide");
        for r in 0..MR {
            let av = a_rows[r][p];
            for j in 0..NR {
                acc[r][j] += av * brow[j];
            }
        }
    }
    for (r, acc_r) in acc.iter().enumerate() {
        let crow = std::slice::from_raw_parts_mut(c.add(r * ldc), NR);
        for j in 0..NR {
            crow[j] += acc_r[j];
        }
    }
}

/// Edge tiles (fewer than MR rows or NR columns).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn micro_edge(
    kc: usize,
    mr: usize,
    nr: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: *mut f32,
    ldc: usize,
) {
    let mut acc = [[0f32; NR]; MR];
    for p in 0..kc {
        let brow = &b[p * ldb..p * ldb + nr];
        for r in 0..mr {
            let av = a[r * lda + p];
            for (acc_j, &bv) in acc[r][..nr].iter_mut().zip(brow) {
                *acc_j += av * bv;
            }
        }
    }
    for (r, acc_r) in acc.iter().enumerate().take(mr) {
        let crow = std::slice::from_raw_parts_mut(c.add(r * ldc), nr);
        for j in 0..nr {
            crow[j] += acc_r[j];
        }
    }
}

/// `y[i] += A[i, :] · x` where `x` is column 0 of B (stride `ldb`) and `y` column 0 of C.
#[allow(clippy::too_many_arguments)]
unsafe fn gemv_raw(
    m: usize,
    k: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: SendPtr,
    ldc: usize,
    parallel: bool,
) {
    let x: Vec<f32> = if ldb == 1 {
        b[..k].to_vec()
    } else {
        (0..k).map(|p| b[p * ldb]).collect()
    };
    let rows_per_task = 16;
    let run = |chunk: usize| {
        for i in chunk * rows_per_task..((chunk + 1) * rows_per_task).min(m) {
            // SAFETY: each task writes its own rows of C.
            unsafe { *c.get().add(i * ldc) += dot(&a[i * lda..i * lda + k], &x) };
        }
    };
    let chunks = m.div_ceil(rows_per_task);
    if parallel && m * k >= PARALLEL_MIN_WORK && chunks > 1 {
        (0..chunks).into_par_iter().for_each(run);
    } else {
        (0..chunks).for_each(run);
    }
}

multiversion! {
    /// Dot product with 32 independent partial sums (4 AVX registers), so the loop is bound by
    /// loads rather than by the latency of one accumulator.
    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        const L: usize = 32;
        let n = a.len().min(b.len());
        let mut acc = [0f32; L];
        let (ac, bc) = (a[..n].chunks_exact(L), b[..n].chunks_exact(L));
        let (ar, br) = (ac.remainder(), bc.remainder());
        for (x, y) in ac.zip(bc) {
            for l in 0..L {
                acc[l] += x[l] * y[l];
            }
        }
        let mut s: f32 = acc.iter().sum();
        for (x, y) in ar.iter().zip(br) {
            s += x * y;
        }
        s
    }
}

/// Geometry of a 2-d convolution on one sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvGeom {
    pub cin: usize,
    pub cout: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub ph: usize,
    pub pw: usize,
}

impl ConvGeom {
    pub fn out_h(&self) -> usize {
        (self.h + 2 * self.ph - self.kh) / self.sh + 1
    }
    pub fn out_w(&self) -> usize {
        (self.w + 2 * self.pw - self.kw) / self.sw + 1
    }
    /// Length of one filter: `cin * kh * kw`.
    pub fn k(&self) -> usize {
        self.cin * self.kh * self.kw
    }
    /// Output rows `oy` for which kernel row `dy` reads inside the input: `0 <= oy*sh+dy-ph < h`.
    pub fn valid_range(
        out: usize,
        d: usize,
        s: usize,
        p: usize,
        inp: usize,
    ) -> std::ops::Range<usize> {
        let lo = if d >= p { 0 } else { (p - d).div_ceil(s) };
        // oy*s + d - p <= inp - 1  <=>  oy <= (inp - 1 + p - d) / s
        let hi = if inp + p > d {
            ((inp - 1 + p - d) / s + 1).min(out)
        } else {
            0
        };
        lo..hi.max(lo)
    }
}

/// Output rows per im2col block: bounds the column buffer (K × rows × ow × N floats, about
/// 4 MB) so it stays in cache while the GEMM consumes it.
pub fn im2col_rows(g: &ConvGeom, n: usize) -> usize {
    let per_row = g.k() * g.out_w() * n;
    ((1 << 20) / per_row.max(1)).clamp(1, g.out_h().max(1))
}

/// Dense convolution `Y[cout, oh, ow, N] += W[cout, cin*kh*kw] · im2col(X[cin, h, w, N])`, with
/// images batch-innermost (see `network.rs`). `y` must be pre-filled with the bias.
pub fn conv_dense(g: &ConvGeom, weight: &DenseMat, x: &[f32], n: usize, y: &mut [f32]) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let row = ow * n; // one output row of one channel: ow pixels × N images
    assert_eq!(x.len(), g.cin * g.h * g.w * n);
    assert_eq!(y.len(), g.cout * oh * row);
    assert_eq!((weight.rows, weight.cols), (g.cout, g.k()));
    if y.is_empty() {
        return;
    }
    let rows = im2col_rows(g, n);
    let blocks = oh.div_ceil(rows);
    let yp = SendPtr(y.as_mut_ptr());
    // Many blocks: one task per block with a sequential GEMM; few blocks: parallel GEMM inside.
    let outer_parallel = blocks >= 2 * rayon::current_num_threads();
    let run = |bi: usize| {
        let oy0 = bi * rows;
        let nr = rows.min(oh - oy0);
        let cols = im2col(g, x, n, oy0..oy0 + nr);
        // SAFETY: block `bi` writes output rows oy0..oy0+nr of every channel of Y, that is
        // columns oy0*row..(oy0+nr)*row of the [cout, oh*row] matrix; blocks are disjoint.
        unsafe {
            gemm_raw(g.cout, nr * row, g.k(), &weight.data, g.k(), &cols, nr * row, SendPtr(yp.get().add(oy0 * row)), oh * row, !outer_parallel)
        }
    };
    if outer_parallel {
        (0..blocks).into_par_iter().for_each(run);
    } else {
        (0..blocks).for_each(run);
    }
}

/// Unfolds output rows `oys` of `X[cin, h, w, N]` into `cols[(ci,dy,dx), (oy, ox, n)]`; taps
/// that fall into the padding stay zero. With stride 1 every (tap, output row) is one
/// contiguous copy of `ow × N` values.
pub fn im2col(g: &ConvGeom, x: &[f32], n: usize, oys: std::ops::Range<usize>) -> Vec<f32> {
    let (oh, ow) = (g.out_h(), g.out_w());
    let width = oys.len() * ow * n;
    let mut cols = vec![0f32; g.k() * width];
    let plane = g.h * g.w * n;
    cols.chunks_mut(width.max(1)).enumerate().for_each(|(r, out)| {
        let (ci, dy, dx) = (r / (g.kh * g.kw), (r / g.kw) % g.kh, r % g.kw);
        let ys = ConvGeom::valid_range(oh, dy, g.sh, g.ph, g.h);
        let xs = ConvGeom::valid_range(ow, dx, g.sw, g.pw, g.w);
        if xs.is_empty() {
            return;
        }
        let src_plane = &x[ci * plane..][..plane];
        for oy in oys.start.max(ys.start)..oys.end.min(ys.end) {
            let iy = oy * g.sh + dy - g.ph;
            let dst = &mut out[(oy - oys.start) * ow * n..][..ow * n];
            let src = &src_plane[iy * g.w * n..][..g.w * n];
            if g.sw == 1 {
                let ix0 = xs.start + dx - g.pw;
                dst[xs.start * n..xs.end * n].copy_from_slice(&src[ix0 * n..(ix0 + xs.len()) * n]);
            } else {
                for ox in xs.clone() {
                    let ix = ox * g.sw + dx - g.pw;
                    dst[ox * n..(ox + 1) * n].copy_from_slice(&src[ix * n..(ix + 1) * n]);
                }
            }
        }
    });
    cols
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
        let mut c = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    c[i * n + j] += a[i * k + p] * b[p * n + j];
                }
            }
        }
        c
    }

    #[test]
    fn gemm_hand_computed() {
        // [1 2; 3 4] · [5 6; 7 8] = [19 22; 43 50]
        let mut c = vec![1.0; 4];
        gemm(
            2,
            2,
            2,
            &[1., 2., 3., 4.],
            2,
            &[5., 6., 7., 8.],
            2,
            &mut c,
            2,
            true,
        );
        assert_eq!(c, vec![20., 23., 44., 51.]);
        // gemv path: [1 2 3] · [1 1 2]^T = 9
        let mut y = vec![0.0];
        gemm(
            1,
            1,
            3,
            &[1., 2., 3.],
            3,
            &[1., 1., 2.],
            1,
            &mut y,
            1,
            false,
        );
        assert_eq!(y, vec![9.0]);
    }

    #[test]
    fn gemm_matches_naive_on_ragged_sizes() {
        for &(m, n, k) in &[(5, 17, 300), (70, 300, 33), (3, 1, 1000), (64, 2, 7), (300, 500, 784)] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7 % 13) as f32 - 6.0) / 7.0)
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 5 % 11) as f32 - 5.0) / 5.0)
                .collect();
            let r = naive(m, n, k, &a, &b);
            for kernel in [GemmKernel::Own, GemmKernel::Packed] {
                for parallel in [false, true] {
                    let mut c = vec![0f32; m * n];
                    gemm_using(kernel, m, n, k, &a, k, &b, n, &mut c, n, parallel);
                    for (x, y) in c.iter().zip(&r) {
                        assert!((x - y).abs() < 1e-3, "{kernel:?} {m}x{n}x{k}: {x} vs {y}");
                    }
                }
            }
        }
    }

    #[test]
    fn valid_ranges() {
        // h=5, k=3, pad 1, stride 1: out 5; dy=0 reads iy=oy-1 -> oy in 1..5
        assert_eq!(ConvGeom::valid_range(5, 0, 1, 1, 5), 1..5);
        assert_eq!(ConvGeom::valid_range(5, 2, 1, 1, 5), 0..4);
        assert_eq!(ConvGeom::valid_range(3, 0, 2, 0, 5), 0..3);
    }

    #[test]
    fn conv_hand_computed() {
        // 1 channel 3x3 input 1..9, 2x2 kernel of ones, no pad: sums of 2x2 windows.
        let g = ConvGeom {
            cin: 1,
            cout: 1,
            h: 3,
            w: 3,
            kh: 2,
            kw: 2,
            sh: 1,
            sw: 1,
            ph: 0,
            pw: 0,
        };
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let mut y = vec![0.5; 4];
        conv_dense(&g, &DenseMat::new(1, 4, vec![1.0; 4]), &x, 1, &mut y);
        assert_eq!(y, vec![12.5, 16.5, 24.5, 28.5]);
    }
}
