//! CSR storage and sparse × dense kernels for Linear and Conv2d.
//!
//! With feature-major activations (`X[in, N]`, see `dense.rs`) a CSR row `o` of `W[out, in]`
//! produces `Y[o, :] = Σ_{(k,v) in row o} v · X[k, :]`: each nonzero is one unit-stride
//! multiply-add across the batch. We keep a chunk of the output row in registers while
//! walking the row's nonzeros, so `Y` is written once per chunk instead of once per nonzero.
//! At batch 1 that degenerates to a gathered dot product, which gets its own loop.
//!
//! Convolution is computed *directly* from the sparse filters: each nonzero `(ci, dy, dx, v)`
//! of output channel `o` adds `v ·` a shifted window of input plane `ci` to output plane `o`.
//! Unlike im2col + SpMM this never materialises the unfolded input, whose cost (K × pixels
//! copies) would otherwise dominate at high sparsity.

use rayon::prelude::*;

use crate::dense::{ConvGeom, DenseMat};
use crate::simd::{multiversion, PARALLEL_MIN_WORK};

/// Compressed sparse rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Csr {
    pub rows: usize,
    pub cols: usize,
    /// `indptr[r]..indptr[r+1]` indexes row r's entries; length `rows + 1`.
    pub indptr: Vec<u32>,
    pub indices: Vec<u32>,
    pub data: Vec<f32>,
}

impl Csr {
    /// Keeps the nonzeros of a dense row-major matrix (exact zeros are dropped, nothing else).
    pub fn from_dense(m: &DenseMat) -> Csr {
        assert!(
            m.cols <= u32::MAX as usize,
            "too many columns for u32 indices"
        );
        let mut indptr = Vec::with_capacity(m.rows + 1);
        let (mut indices, mut data) = (Vec::new(), Vec::new());
        indptr.push(0u32);
        for row in m.data.chunks(m.cols.max(1)).take(m.rows) {
            for (c, &v) in row.iter().enumerate() {
                if v != 0.0 {
                    indices.push(c as u32);
                    data.push(v);
                }
            }
            assert!(
                data.len() <= u32::MAX as usize,
                "too many nonzeros for u32 indptr"
            );
            indptr.push(data.len() as u32);
        }
        Csr {
            rows: m.rows,
            cols: m.cols,
            indptr,
            indices,
            data,
        }
    }

    pub fn to_dense(&self) -> DenseMat {
        let mut d = vec![0f32; self.rows * self.cols];
        for r in 0..self.rows {
            for p in self.row_range(r) {
                d[r * self.cols + self.indices[p] as usize] = self.data[p];
            }
        }
        DenseMat::new(self.rows, self.cols, d)
    }

    pub fn nnz(&self) -> usize {
        self.data.len()
    }

    #[inline]
    pub fn row_range(&self, r: usize) -> std::ops::Range<usize> {
        self.indptr[r] as usize..self.indptr[r + 1] as usize
    }

    /// Bytes of the three arrays (what the model costs in memory and on disk).
    pub fn bytes(&self) -> usize {
        4 * (self.indptr.len() + self.indices.len() + self.data.len())
    }

    /// `Y[rows, n] += self · X[cols, n]` (row-major; `Y` pre-filled, e.g. with the bias).
    pub fn matmul_acc(&self, x: &[f32], n: usize, y: &mut [f32]) {
        assert_eq!(x.len(), self.cols * n, "x must be [cols, n]");
        assert_eq!(y.len(), self.rows * n, "y must be [rows, n]");
        if n == 0 || self.rows == 0 {
            return;
        }
        let parallel = self.nnz() * n >= PARALLEL_MIN_WORK;
        // Enough tasks for work stealing to even out rows of different lengths.
        let rows_per_task = if parallel {
            self.rows.div_ceil(8 * rayon::current_num_threads()).max(1)
        } else {
            self.rows
        };
        let run = |(t, ys): (usize, &mut [f32])| {
            let r0 = t * rows_per_task;
            #[cfg(target_arch = "x86_64")]
            if n == 1 && crate::simd::has_avx512() {
                // SAFETY: AVX-512 F present; the kernel checks every index against `cols`.
                return unsafe { avx512::gather_rows(self, r0, x, ys) };
            }
            for (i, yrow) in ys.chunks_mut(n).enumerate() {
                let rr = self.row_range(r0 + i);
                let (idx, val) = (&self.indices[rr.clone()], &self.data[rr]);
                if n == 1 {
                    yrow[0] += gather_dot(idx, val, x);
                } else {
                    spmm_row(idx, val, x, n, yrow);
                }
            }
        };
        if parallel {
            y.par_chunks_mut(rows_per_task * n)
                .enumerate()
                .for_each(run);
        } else {
            y.chunks_mut(rows_per_task * n).enumerate().for_each(run);
        }
    }
}

multiversion! {
    /// `Σ v_p · x[idx_p]` with four partial sums to hide the add latency.
    fn gather_dot(idx: &[u32], val: &[f32], x: &[f32]) -> f32 {
        let mut s = [0f32; 4];
        let (ic, vc) = (idx.chunks_exact(4), val.chunks_exact(4));
        let (ir, vr) = (ic.remainder(), vc.remainder());
        for (i, v) in ic.zip(vc) {
            for l in 0..4 {
                s[l] += v[l] * x[i[l] as usize];
            }
        }
        let mut t = (s[0] + s[1]) + (s[2] + s[3]);
        for (&i, &v) in ir.iter().zip(vr) {
            t += v * x[i as usize];
        }
        t
    }
}

/// Batch 1 on AVX-512: each row's dot product with 16-lane gathers (`vgatherdps`), all rows
/// of a task in one call. The scalar copy's per-row dispatch and its one-element loads were
/// 85% of a batch-1 LeNet-300-100 pass (perf).
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::Csr;
    use std::arch::x86_64::*;

    /// `y[i] += row (r0 + i) · x` for every `i < y.len()`. Panics before any read if an index
    /// is not below `csr.cols` (`x.len()`).
    ///
    /// # Safety
    /// AVX-512 F present.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn gather_rows(csr: &Csr, r0: usize, x: &[f32], y: &mut [f32]) {
        assert!(x.len() == csr.cols && csr.cols <= i32::MAX as usize, "batch-1 gather: x must have `cols` values");
        let cols = _mm512_set1_epi32(csr.cols as i32);
        let (ip, vp, xp) = (csr.indices.as_ptr(), csr.data.as_ptr(), x.as_ptr());
        for (i, out) in y.iter_mut().enumerate() {
            let rr = csr.row_range(r0 + i);
            let (mut p, end) = (rr.start, rr.end);
            let mut acc = _mm512_setzero_ps();
            while p < end {
                let m: __mmask16 = if end - p >= 16 { 0xFFFF } else { (1u16 << (end - p)) - 1 };
                // SAFETY: p..p+16 (masked) lies inside the row, hence inside `indices`/`data`.
                let idx = unsafe { _mm512_maskz_loadu_epi32(m, ip.add(p) as *const i32) };
                // Unsigned compare: an index ≥ cols (or ≥ 2^31) fails.
                assert!(_mm512_mask_cmplt_epu32_mask(m, idx, cols) == m, "CSR index out of range");
                // SAFETY: every gathered index is below cols = x.len().
                let xv = unsafe { _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), m, idx, xp) };
                acc = _mm512_fmadd_ps(unsafe { _mm512_maskz_loadu_ps(m, vp.add(p)) }, xv, acc);
                p += 16;
            }
            *out += _mm512_reduce_add_ps(acc);
        }
    }
}

/// Output-row chunk held in registers by [`spmm_row`] and [`axpy_rows`]: 64 floats = 8 AVX
/// registers.
const CHUNK: usize = 64;

/// Output rows (`ow × N` values) shorter than this are convolved full-width (see
/// [`SparseConv::forward_acc`]).
const SHORT_ROW: usize = 4 * CHUNK;

/// Output values per task of a sparse convolution with long rows (64 KB of output).
const ROW_BAND_VALUES: usize = 16 * 1024;

multiversion! {
    /// `y[0..len] += Σ_p val_p · x[offsets_p + shift .. + len]`: [`spmm_row`] with arbitrary
    /// row starts (a convolution tap's source row is a shifted window of its input plane).
    fn axpy_rows(offsets: &[usize], val: &[f32], shift: usize, x: &[f32], y: &mut [f32]) {
        accumulate_rows(offsets.iter().map(|&o| o + shift), val, x, y)
    }
}

/// `y[0..len] += Σ_p val_p · x[start_p .. start_p + len]`, one register-held chunk of `y` at a
/// time, so `y` is read and written once per chunk instead of once per nonzero. Inlined into
/// each caller's SIMD copy.
#[inline(always)]
fn accumulate_rows(starts: impl Iterator<Item = usize> + Clone, val: &[f32], x: &[f32], y: &mut [f32]) {
    let len = y.len();
    let mut j = 0;
    while j + CHUNK <= len {
        let mut acc: [f32; CHUNK] = y[j..j + CHUNK].try_into().expect("chunk");
        for (s, &v) in starts.clone().zip(val) {
            let xs: &[f32; CHUNK] = x[s + j..][..CHUNK].try_into().expect("chunk");
            for l in 0..CHUNK {
                acc[l] += v * xs[l];
            }
        }
        y[j..j + CHUNK].copy_from_slice(&acc);
        j += CHUNK;
    }
    if j < len {
        let w = len - j;
        let mut acc = [0f32; CHUNK];
        acc[..w].copy_from_slice(&y[j..]);
        for (s, &v) in starts.zip(val) {
            for (a, &xv) in acc[..w].iter_mut().zip(&x[s + j..][..w]) {
                *a += v * xv;
            }
        }
        y[j..].copy_from_slice(&acc[..w]);
    }
}

multiversion! {
    /// `yrow[0..n] += Σ_p val_p · X[idx_p, 0..n]`, `X` row-major with `n` columns.
    fn spmm_row(idx: &[u32], val: &[f32], x: &[f32], n: usize, yrow: &mut [f32]) {
        accumulate_rows(idx.iter().map(|&k| k as usize * n), val, x, yrow)
    }
}

/// One nonzero filter tap, decoded from its CSR column `(ci, dy, dx)` once at build time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tap {
    pub ci: u32,
    pub dy: u16,
    pub dx: u16,
    pub v: f32,
}

/// A sparse convolution: per output channel the list of its nonzero taps.
#[derive(Clone, Debug, PartialEq)]
pub struct SparseConv {
    pub geom: ConvGeom,
    /// CSR of `W[cout, cin*kh*kw]` (kept for export and accounting).
    pub csr: Csr,
    taps: Vec<Tap>,
}

impl SparseConv {
    pub fn new(geom: ConvGeom, csr: Csr) -> SparseConv {
        assert_eq!((csr.rows, csr.cols), (geom.cout, geom.k()));
        let taps = (0..csr.nnz())
            .map(|p| {
                let c = csr.indices[p] as usize;
                Tap {
                    ci: (c / (geom.kh * geom.kw)) as u32,
                    dy: ((c / geom.kw) % geom.kh) as u16,
                    dx: (c % geom.kw) as u16,
                    v: csr.data[p],
                }
            })
            .collect();
        SparseConv { geom, csr, taps }
    }

    /// `Y[cout, oh, ow, N] += conv(X[cin, h, w, N])` (images batch-innermost); `Y` pre-filled
    /// with the bias. One task per output channel: its `oh × ow × N` block stays in cache while
    /// every tap of the channel sweeps over it.
    pub fn forward_acc(&self, x: &[f32], n: usize, y: &mut [f32]) {
        let g = &self.geom;
        let block = g.out_h() * g.out_w() * n;
        assert_eq!(x.len(), g.cin * g.h * g.w * n);
        assert_eq!(y.len(), g.cout * block);
        if block == 0 {
            return;
        }
        // Unpadded, horizontally unit-stride convolutions (LeNet's) read every tap inside the
        // image for every output, so an output row is `Σ_taps v · x[offset_tap + row shift ..]`:
        // the CSR-times-dense shape, with a register-held chunk of the row.
        let valid = g.ph == 0 && g.pw == 0 && g.sw == 1;
        let plane = g.h * g.w * n;
        let offsets: Vec<usize> = if valid {
            self.taps.iter().map(|t| t.ci as usize * plane + (t.dy as usize * g.w + t.dx as usize) * n).collect()
        } else {
            Vec::new()
        };
        // Short output rows (small batches: at batch 1 a LeNet row is 24 or 8 values) would
        // spend more on per-tap loop overhead than on arithmetic. With vertical stride 1 the
        // output can instead be computed full-width, `w` columns per row, as ONE contiguous
        // run per tap (output row oy reads input row oy + dy), and the `ow` valid columns of
        // each row copied out: up to w/ow more arithmetic, far fewer loops.
        let (ow, row) = (g.out_w(), g.out_w() * n);
        let full_width = valid && g.sh == 1 && row < SHORT_ROW;
        let parallel = self.csr.nnz() * block >= PARALLEL_MIN_WORK;
        let run = |(o, yblk): (usize, &mut [f32])| {
            let range = self.csr.row_range(o);
            let vals = &self.csr.data[range.clone()];
            let offs = if valid { &offsets[range.clone()] } else { &[][..] };
            if full_width {
                // Rows oy = 0..oh of width w·n; the last needs only its first ow·n values (and
                // stops inside the input plane).
                let stride = g.w * n;
                let mut full = vec![0f32; (g.out_h() - 1) * stride + row];
                axpy_rows(offs, vals, 0, x, &mut full);
                for (oy, yrow) in yblk.chunks_exact_mut(row).enumerate() {
                    yrow.iter_mut().zip(&full[oy * stride..][..ow * n]).for_each(|(y, v)| *y += v);
                }
            } else if valid {
                // Large batches: bands of output rows as separate tasks, so the rows a task
                // reads (kh input rows × w × N) and writes stay in cache.
                let band = ROW_BAND_VALUES.div_ceil(row).max(1);
                let rows_of = |(b, rows): (usize, &mut [f32])| {
                    for (i, yrow) in rows.chunks_exact_mut(row).enumerate() {
                        axpy_rows(offs, vals, (b * band + i) * g.sh * g.w * n, x, yrow);
                    }
                };
                if yblk.len() > band * row && parallel {
                    yblk.par_chunks_mut(band * row).enumerate().for_each(rows_of);
                } else {
                    yblk.chunks_mut(band * row).enumerate().for_each(rows_of);
                }
            } else {
                conv_taps(g, &self.taps[range], x, n, yblk);
            }
        };
        if parallel {
            y.par_chunks_mut(block).enumerate().for_each(run);
        } else {
            y.chunks_mut(block).enumerate().for_each(run);
        }
    }
}

multiversion! {
    /// Adds every tap of one output channel into its block `yblk` = `[oh, ow, N]`. With stride 1
    /// a tap's contribution to one output row is a single multiply-add over `ow × N` contiguous
    /// values (the whole batch at once), the shape SIMD likes best.
    fn conv_taps(g: &ConvGeom, taps: &[Tap], x: &[f32], n: usize, yblk: &mut [f32]) {
        let (oh, ow) = (g.out_h(), g.out_w());
        let plane = g.h * g.w * n;
        for t in taps {
            let (dy, dx) = (t.dy as usize, t.dx as usize);
            let ys = ConvGeom::valid_range(oh, dy, g.sh, g.ph, g.h);
            let xs = ConvGeom::valid_range(ow, dx, g.sw, g.pw, g.w);
            if xs.is_empty() {
                continue;
            }
            let v = t.v;
            let src_plane = &x[t.ci as usize * plane..][..plane];
            for oy in ys {
                let iy = oy * g.sh + dy - g.ph;
                let dst = &mut yblk[oy * ow * n..][..ow * n];
                let src = &src_plane[iy * g.w * n..][..g.w * n];
                if g.sw == 1 {
                    let ix0 = xs.start + dx - g.pw;
                    let (d, s) = (&mut dst[xs.start * n..xs.end * n], &src[ix0 * n..(ix0 + xs.len()) * n]);
                    for (d, &sv) in d.iter_mut().zip(s) {
                        *d += v * sv;
                    }
                } else {
                    for ox in xs.clone() {
                        let ix = ox * g.sw + dx - g.pw;
                        for (d, &sv) in dst[ox * n..(ox + 1) * n].iter_mut().zip(&src[ix * n..(ix + 1) * n]) {
                            *d += v * sv;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dense::conv_dense;

    #[test]
    fn csr_from_hand_matrix() {
        // [[0, 2, 0], [0, 0, 0], [1, 0, 3]]
        let m = DenseMat::new(3, 3, vec![0., 2., 0., 0., 0., 0., 1., 0., 3.]);
        let c = Csr::from_dense(&m);
        assert_eq!(c.indptr, vec![0, 1, 1, 3]);
        assert_eq!(c.indices, vec![1, 0, 2]);
        assert_eq!(c.data, vec![2., 1., 3.]);
        assert_eq!(c.to_dense(), m);
    }

    #[test]
    fn spmm_hand_computed() {
        let c = Csr::from_dense(&DenseMat::new(
            3,
            3,
            vec![0., 2., 0., 0., 0., 0., 1., 0., 3.],
        ));
        // X = [[1, 10], [2, 20], [3, 30]] (3 features x 2 samples)
        let x = [1., 10., 2., 20., 3., 30.];
        let mut y = vec![0.5; 6];
        c.matmul_acc(&x, 2, &mut y);
        assert_eq!(y, vec![4.5, 40.5, 0.5, 0.5, 10.5, 100.5]);
        // batch 1 (gather path): x = [1, 2, 3]
        let mut y1 = vec![0.0; 3];
        c.matmul_acc(&[1., 2., 3.], 1, &mut y1);
        assert_eq!(y1, vec![4., 0., 10.]);
    }

    /// A hand-built CSR with an index past its columns panics at batch 1 (every kernel copy
    /// checks before it reads), it never reads out of bounds.
    #[test]
    #[should_panic]
    fn batch_one_refuses_an_index_out_of_range() {
        let c = Csr { rows: 1, cols: 3, indptr: vec![0, 2], indices: vec![0, 3], data: vec![1.0, 1.0] };
        let mut y = [0f32];
        c.matmul_acc(&[1., 2., 3.], 1, &mut y);
    }

    /// Batch-1 rows of 1 to 40 nonzeros (around the 16-lane gather steps) against dense.
    #[test]
    fn batch_one_rows_of_every_length() {
        let cols = 64;
        let d: Vec<f32> = (0..40).flat_map(|r| (0..cols).map(move |c| if c <= r { ((r * 7 + c * 3) % 11) as f32 - 5.0 } else { 0.0 })).collect();
        let m = DenseMat::new(40, cols, d);
        let x: Vec<f32> = (0..cols).map(|i| ((i * 5 % 9) as f32 - 4.0) / 3.0).collect();
        let (mut a, mut b) = (vec![0.5; 40], vec![0.5; 40]);
        Csr::from_dense(&m).matmul_acc(&x, 1, &mut a);
        m.matmul_acc(&x, 1, &mut b);
        for (r, (p, q)) in a.iter().zip(&b).enumerate() {
            assert!((p - q).abs() < 1e-4, "row {r}: {p} vs {q}");
        }
    }

    #[test]
    fn spmm_matches_dense_across_chunk_boundaries() {
        let (rows, cols) = (37, 91);
        let d: Vec<f32> = (0..rows * cols)
            .map(|i| {
                if i % 7 == 0 {
                    (i % 13) as f32 - 6.0
                } else {
                    0.0
                }
            })
            .collect();
        let m = DenseMat::new(rows, cols, d);
        let c = Csr::from_dense(&m);
        for n in [1, 3, 64, 130] {
            let x: Vec<f32> = (0..cols * n)
                .map(|i| ((i * 31 % 17) as f32 - 8.0) / 8.0)
                .collect();
            let (mut y1, mut y2) = (vec![0.25; rows * n], vec![0.25; rows * n]);
            c.matmul_acc(&x, n, &mut y1);
            m.matmul_acc(&x, n, &mut y2);
            for (a, b) in y1.iter().zip(&y2) {
                assert!((a - b).abs() < 1e-4, "n={n}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn sparse_conv_hand_computed_and_vs_dense() {
        // 3x3 input 1..9, 2x2 filter [[0, 1], [2, 0]]: y = x[i][j+1] + 2 x[i+1][j]
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
        let sc = SparseConv::new(
            g,
            Csr::from_dense(&DenseMat::new(1, 4, vec![0., 1., 2., 0.])),
        );
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let mut y = vec![0.0; 4];
        sc.forward_acc(&x, 1, &mut y);
        assert_eq!(y, vec![2. + 8., 3. + 10., 5. + 14., 6. + 16.]);

        // Random-ish sparse filters with padding and stride, against im2col + dense GEMM.
        for &(ph, sh) in &[(0, 1), (1, 1), (2, 2), (1, 2)] {
            let g = ConvGeom {
                cin: 3,
                cout: 5,
                h: 9,
                w: 7,
                kh: 3,
                kw: 3,
                sh,
                sw: sh,
                ph,
                pw: ph,
            };
            let w: Vec<f32> = (0..g.cout * g.k())
                .map(|i| {
                    if i % 3 == 0 {
                        (i % 11) as f32 - 5.0
                    } else {
                        0.0
                    }
                })
                .collect();
            let dm = DenseMat::new(g.cout, g.k(), w);
            let sc = SparseConv::new(g, Csr::from_dense(&dm));
            // 20 images: short output rows (full-width path when unpadded); 60: long rows.
            for n in [20, 60] {
                let x: Vec<f32> = (0..g.cin * n * g.h * g.w)
                    .map(|i| ((i * 13 % 23) as f32 - 11.0) / 11.0)
                    .collect();
                let len = g.cout * n * g.out_h() * g.out_w();
                let (mut y1, mut y2) = (vec![0.1; len], vec![0.1; len]);
                sc.forward_acc(&x, n, &mut y1);
                conv_dense(&g, &dm, &x, n, &mut y2);
                for (a, b) in y1.iter().zip(&y2) {
                    assert!((a - b).abs() < 1e-4, "pad {ph} stride {sh} batch {n}: {a} vs {b}");
                }
            }
        }
    }

    /// Long rows in bands of several tasks (18 output rows of 1,800 values: two bands).
    #[test]
    fn sparse_conv_row_bands_match_dense() {
        let g = ConvGeom { cin: 2, cout: 3, h: 20, w: 20, kh: 3, kw: 3, sh: 1, sw: 1, ph: 0, pw: 0 };
        let n = 100;
        assert!(g.out_h() * g.out_w() * n > ROW_BAND_VALUES, "must need more than one band");
        let w: Vec<f32> = (0..g.cout * g.k()).map(|i| if i % 2 == 0 { (i % 7) as f32 - 3.0 } else { 0.0 }).collect();
        let dm = DenseMat::new(g.cout, g.k(), w);
        let sc = SparseConv::new(g, Csr::from_dense(&dm));
        let x: Vec<f32> = (0..g.cin * g.h * g.w * n).map(|i| ((i * 17 % 29) as f32 - 14.0) / 14.0).collect();
        let len = g.cout * g.out_h() * g.out_w() * n;
        let (mut y1, mut y2) = (vec![0.5; len], vec![0.5; len]);
        sc.forward_acc(&x, n, &mut y1);
        conv_dense(&g, &dm, &x, n, &mut y2);
        for (a, b) in y1.iter().zip(&y2) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }
}
