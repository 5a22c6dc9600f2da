//! A quantised conv or linear layer: int8 weights, its input quantised per tensor (calibrated
//! or per call), bias added and the output dequantised inside the kernel (`kernels.rs`).
//!
//! `y[r] = b[r] + s_w[r] · s_x · Σ_p q_p (x_q − z) = (b[r] − s_r · z · Σ_p q_p) + s_r · Σ_p q_p x_q`
//! with `s_r = s_w[r] · s_x`: the zero point costs one precomputed row sum, nothing per value.

use rayon::prelude::*;

use super::kernels::{qrow_unchecked, QRows};
use super::scheme::{quantize_row, ActQuant};
use crate::conv_pool::PoolWindow;
use crate::dense::ConvGeom;
use crate::pool::pool_output_row;
use crate::error::{CompactError, Result};
use crate::simd::PARALLEL_MIN_WORK;

/// A weight `W[rows, cols]` (convolutions: `[cout, cin·kh·kw]`) in int8: one scale per row and
/// the nonzero codes in CSR (codes that round to 0 are dropped).
#[derive(Clone, Debug, PartialEq)]
pub struct QMatrix {
    pub rows: usize,
    pub cols: usize,
    pub scale: Vec<f32>,
    pub indptr: Vec<u32>,
    pub indices: Vec<u32>,
    pub codes: Vec<i8>,
}

impl QMatrix {
    /// Quantises a row-major f32 matrix row by row. An empty matrix (no rows or no columns) is
    /// an error naming the layer; all-zero rows are fine (scale 0: the output is the bias).
    pub fn quantize(layer: &str, rows: usize, cols: usize, data: &[f32]) -> Result<QMatrix> {
        if rows == 0 || cols == 0 {
            return Err(CompactError::Input(format!("layer `{layer}`: cannot quantise an empty weight ({rows} x {cols})")));
        }
        assert_eq!(data.len(), rows * cols);
        let (mut scale, mut indptr, mut indices, mut codes) = (Vec::with_capacity(rows), vec![0u32], Vec::new(), Vec::new());
        for row in data.chunks_exact(cols) {
            let (s, q) = quantize_row(row);
            scale.push(s);
            for (c, &v) in q.iter().enumerate() {
                if v != 0 {
                    indices.push(c as u32);
                    codes.push(v);
                }
            }
            indptr.push(codes.len() as u32);
        }
        Ok(QMatrix { rows, cols, scale, indptr, indices, codes })
    }

    /// From stored codes (row-major, zeros included) and their row scales.
    pub fn from_codes(rows: usize, cols: usize, scale: Vec<f32>, dense: &[i8]) -> QMatrix {
        assert_eq!((dense.len(), scale.len()), (rows * cols, rows));
        let (mut indptr, mut indices, mut codes) = (vec![0u32], Vec::new(), Vec::new());
        for row in dense.chunks_exact(cols.max(1)).take(rows) {
            for (c, &v) in row.iter().enumerate().filter(|(_, v)| **v != 0) {
                indices.push(c as u32);
                codes.push(v);
            }
            indptr.push(codes.len() as u32);
        }
        QMatrix { rows, cols, scale, indptr, indices, codes }
    }

    pub fn nnz(&self) -> usize {
        self.codes.len()
    }

    pub fn row(&self, r: usize) -> (&[u32], &[i8]) {
        let rr = self.indptr[r] as usize..self.indptr[r + 1] as usize;
        (&self.indices[rr.clone()], &self.codes[rr])
    }

    /// Every code, zeros included, row-major.
    pub fn dense_codes(&self) -> Vec<i8> {
        let mut d = vec![0i8; self.rows * self.cols];
        for r in 0..self.rows {
            let (idx, q) = self.row(r);
            for (&c, &v) in idx.iter().zip(q) {
                d[r * self.cols + c as usize] = v;
            }
        }
        d
    }

    /// `Σ_p q_p` of each row (the zero-point correction).
    fn row_sums(&self) -> Vec<i32> {
        (0..self.rows).map(|r| self.row(r).1.iter().map(|&v| v as i32).sum()).collect()
    }
}

/// What the layer computes with its matrix.
#[derive(Clone, Debug, PartialEq)]
pub enum QKind {
    Linear,
    /// Any padding and vertical stride; horizontal stride 1 (the run of an output row is then
    /// contiguous in the input), one group.
    Conv(ConvGeom),
}

#[derive(Clone, Debug)]
pub struct QLayer {
    pub name: String,
    pub kind: QKind,
    pub matrix: QMatrix,
    pub bias: Vec<f32>,
    /// Calibrated input parameters; `None`: computed from each call's input (dynamic).
    pub input: Option<ActQuant>,
    rows: QRows,
    sums: Vec<i32>,
}

/// Output runs shorter than this are computed full-width (see [`QLayer::conv`]).
const SHORT_ROW: usize = 256;
/// Zero bytes after a convolution's quantised input (see [`QLayer::conv_q`]).
const SLACK: usize = 32;

impl QLayer {
    pub fn new(name: &str, kind: QKind, matrix: QMatrix, bias: Vec<f32>, input: Option<ActQuant>) -> Result<QLayer> {
        let bad = |why: String| Err(CompactError::Input(format!("layer `{name}`: {why}")));
        if bias.len() != matrix.rows {
            return bad(format!("bias has {} values for {} rows", bias.len(), matrix.rows));
        }
        // Kernel run index of each matrix column.
        let run_of: Box<dyn Fn(u32) -> u32> = match &kind {
            QKind::Linear => Box::new(|c| c),
            QKind::Conv(g) => {
                if g.sw != 1 {
                    return bad(format!("int8 convolution needs horizontal stride 1, not {}", g.sw));
                }
                if matrix.cols != g.k() || matrix.rows != g.cout {
                    return bad(format!("weight {}x{} does not match the convolution", matrix.rows, matrix.cols));
                }
                let (g, hp, wp) = (*g, g.h + 2 * g.ph, g.w + 2 * g.pw);
                Box::new(move |c| {
                    let c = c as usize;
                    let (ci, dy, dx) = (c / (g.kh * g.kw), (c / g.kw) % g.kh, c % g.kw);
                    ((ci * hp + dy) * wp + dx) as u32
                })
            }
        };
        let rows = QRows::new((0..matrix.rows).map(|r| {
            let (idx, q) = matrix.row(r);
            idx.iter().zip(q).map(|(&c, &v)| (run_of(c), v)).collect()
        }));
        let sums = matrix.row_sums();
        Ok(QLayer { name: name.to_string(), kind, matrix, bias, input, rows, sums })
    }

    /// Row `r`'s dequantisation: `(scale, offset)`.
    fn dequant(&self, r: usize, a: ActQuant) -> (f32, f32) {
        let s = self.matrix.scale[r] * a.scale;
        (s, self.bias[r] - s * (a.zero_point as f32 * self.sums[r] as f32))
    }

    /// `x` in the network's batch-innermost layout (`[in, N]` or `[C, H, W, N]`); returns the
    /// f32 output in the same layout.
    pub fn forward(&self, x: &[f32], n: usize) -> Vec<f32> {
        self.forward_pooled(x, n, None)
    }

    /// [`QLayer::forward`], and for a convolution with `pool` the max pooling of its output
    /// too, channel by channel while each channel's rows are in cache: the convolution's output
    /// is never stored whole. (Pooling commutes with the dequantisation, whose scale is
    /// positive, so this equals pooling the f32 output.) A linear layer takes no `pool`.
    pub fn forward_pooled(&self, x: &[f32], n: usize, pool: Option<PoolWindow>) -> Vec<f32> {
        let a = self.input.unwrap_or_else(|| ActQuant::of(x));
        match &self.kind {
            QKind::Linear => {
                assert!(pool.is_none(), "a linear layer has nothing to pool");
                self.linear(x, n, a)
            }
            QKind::Conv(g) => self.conv(g, x, n, a, pool),
        }
    }

    fn linear(&self, x: &[f32], n: usize, a: ActQuant) -> Vec<f32> {
        assert_eq!(x.len(), self.matrix.cols * n);
        let mut xq = vec![0u8; x.len()];
        a.quantize(x, &mut xq);
        self.linear_q(&xq, n, a)
    }

    /// The input as it arrives at the network, sample-major `[N, in]` (or `[N, C, H, W]` for an
    /// unpadded convolution): quantised and moved to the batch-innermost layout in one pass, so
    /// a first layer never sees the f32 transpose. `None` if the layer cannot take it.
    pub fn forward_samples(&self, x: &[f32], n: usize, pool: Option<PoolWindow>) -> Option<Vec<f32>> {
        let per = match &self.kind {
            QKind::Linear => self.matrix.cols,
            QKind::Conv(g) if g.ph == 0 && g.pw == 0 => g.cin * g.h * g.w,
            QKind::Conv(_) => return None,
        };
        assert_eq!(x.len(), per * n);
        let a = self.input.unwrap_or_else(|| ActQuant::of(x));
        let mut xq = quantize_transposed(a, x, n, per);
        if matches!(self.kind, QKind::Conv(_)) {
            xq.resize(xq.len() + SLACK, 0);
        }
        Some(match &self.kind {
            QKind::Linear => {
                assert!(pool.is_none(), "a linear layer has nothing to pool");
                self.linear_q(&xq, n, a)
            }
            QKind::Conv(g) => self.conv_q(g, &xq, n, a, pool),
        })
    }

    fn linear_q(&self, xq: &[u8], n: usize, a: ActQuant) -> Vec<f32> {
        assert!(self.rows.max_idx().map_or(true, |m| ((m as usize) + 1) * n <= xq.len()));
        let mut y = vec![0f32; self.matrix.rows * n];
        let parallel = self.rows.idx.len() * n >= PARALLEL_MIN_WORK;
        let per_task = if parallel { self.matrix.rows.div_ceil(8 * rayon::current_num_threads()).max(1) } else { self.matrix.rows };
        let run = |(t, ys): (usize, &mut [f32])| {
            for (i, yrow) in ys.chunks_mut(n).enumerate() {
                let r = t * per_task + i;
                let (idx, w, quads) = self.rows.row(r);
                let (s, off) = self.dequant(r, a);
                // SAFETY: every index is below `cols` (asserted above for the largest).
                unsafe { qrow_unchecked(idx, w, quads, n, 0, xq, s, off, yrow) };
            }
        };
        if parallel {
            y.par_chunks_mut(per_task * n).enumerate().for_each(run);
        } else {
            y.chunks_mut(per_task * n).enumerate().for_each(run);
        }
        y
    }

    /// Quantises the input into a buffer padded with the zero point (the code of 0.0), then
    /// every output row of channel o is one kernel call over runs starting at its taps' input
    /// pixels. Short rows (small batches) are computed full-width: one run per tap over all
    /// output rows at the padded input's width, the valid columns copied out.
    fn conv(&self, g: &ConvGeom, x: &[f32], n: usize, a: ActQuant, pool: Option<PoolWindow>) -> Vec<f32> {
        assert_eq!(x.len(), g.cin * g.h * g.w * n);
        let (hp, wp) = (g.h + 2 * g.ph, g.w + 2 * g.pw);
        // SLACK zero bytes at the end: full-width rows round up to whole SIMD steps.
        let xq = if g.ph == 0 && g.pw == 0 {
            let mut q = vec![0u8; x.len() + SLACK];
            a.quantize(x, &mut q[..x.len()]);
            q
        } else {
            let mut q = vec![a.zero_point; g.cin * hp * wp * n + SLACK];
            for ci in 0..g.cin {
                for iy in 0..g.h {
                    let src = &x[((ci * g.h + iy) * g.w) * n..][..g.w * n];
                    a.quantize(src, &mut q[((ci * hp + iy + g.ph) * wp + g.pw) * n..][..g.w * n]);
                }
            }
            q
        };
        self.conv_q(g, &xq, n, a, pool)
    }

    /// The convolution of an already quantised (and padded) input, max-pooled when `pool` is
    /// given.
    fn conv_q(&self, g: &ConvGeom, xq: &[u8], n: usize, a: ActQuant, pool: Option<PoolWindow>) -> Vec<f32> {
        let (hp, wp) = (g.h + 2 * g.ph, g.w + 2 * g.pw);
        assert_eq!(xq.len(), g.cin * hp * wp * n + SLACK);
        let (oh, ow) = (g.out_h(), g.out_w());
        let row = ow * n;
        let full_width = g.sh == 1 && row < SHORT_ROW;
        // The full-width run, rounded up to whole 32-value SIMD steps (the extra values, read
        // from the slack, are dropped).
        let full_len = ((oh - 1) * wp * n + row).next_multiple_of(32);
        // Every tap index is at most ((cin−1)·hp + kh−1)·wp + kw−1 by construction; the last
        // output row's run then ends inside the plane (valid geometry), the rounded full-width
        // run at most 31 bytes past it.
        let reach = if full_width { full_len } else { (oh - 1) * g.sh * wp * n + row };
        assert!(self.rows.max_idx().map_or(true, |m| m as usize * n + reach <= xq.len()));
        // Output rows `oys` of channel o into `rows` (`oys.len() × ow × N`).
        let conv_rows = |o: usize, oys: std::ops::Range<usize>, rows: &mut [f32]| {
            let (idx, w, quads) = self.rows.row(o);
            let (s, off) = self.dequant(o, a);
            if full_width {
                let stride = wp * n;
                let mut full = vec![0f32; full_len];
                // SAFETY: the bound asserted above (the full-width run ends where the last row's does).
                unsafe { qrow_unchecked(idx, w, quads, n, 0, xq, s, off, &mut full) };
                for (oy, yrow) in oys.zip(rows.chunks_exact_mut(row)) {
                    yrow.copy_from_slice(&full[oy * stride..][..row]);
                }
            } else {
                for (oy, yrow) in oys.zip(rows.chunks_exact_mut(row)) {
                    // SAFETY: as above, oy < oh.
                    unsafe { qrow_unchecked(idx, w, quads, n, oy * g.sh * wp * n, xq, s, off, yrow) };
                }
            }
        };
        let (block, run): (usize, Box<dyn Fn((usize, &mut [f32])) + Sync + Send>) = match pool {
            None => (oh * row, Box::new(|(o, yblk): (usize, &mut [f32])| conv_rows(o, 0..oh, yblk))),
            Some(p) => {
                let (poh, pow) = ((oh - p.kernel[0]) / p.stride[0] + 1, (ow - p.kernel[1]) / p.stride[1] + 1);
                (
                    poh * pow * n,
                    Box::new(move |(o, yblk): (usize, &mut [f32])| {
                        if full_width {
                            // Short rows: the whole channel at once (one run), then pooled.
                            let mut plane = vec![0f32; oh * row];
                            conv_rows(o, 0..oh, &mut plane);
                            for (py, out) in yblk.chunks_exact_mut(pow * n).enumerate() {
                                pool_output_row(&plane, ow, n, py, p.kernel, p.stride, out);
                            }
                        } else {
                            // The kernel-height rows one pooled row needs, then that row.
                            let mut rows = vec![0f32; p.kernel[0] * row];
                            for (py, out) in yblk.chunks_exact_mut(pow * n).enumerate() {
                                let oy0 = py * p.stride[0];
                                conv_rows(o, oy0..oy0 + p.kernel[0], &mut rows);
                                pool_output_row(&rows, ow, n, 0, p.kernel, p.stride, out);
                            }
                        }
                    }),
                )
            }
        };
        let mut y = vec![0f32; g.cout * block];
        if self.rows.idx.len() * oh * row >= PARALLEL_MIN_WORK {
            y.par_chunks_mut(block).enumerate().for_each(|c| run(c));
        } else {
            y.chunks_mut(block).enumerate().for_each(|c| run(c));
        }
        y
    }
}

/// `[n, per]` f32 → quantised `[per, n]`: rows quantised as they are read (vectorised), then
/// moved in 32 × 32 byte tiles, bands of 32 features in parallel for large inputs.
fn quantize_transposed(a: ActQuant, x: &[f32], n: usize, per: usize) -> Vec<u8> {
    let mut out = vec![0u8; x.len()];
    if n == 1 {
        a.quantize(x, &mut out);
        return out;
    }
    const T: usize = 32;
    let band = |(b, dst): (usize, &mut [u8])| {
        let k0 = b * T;
        let kw = dst.len() / n;
        let mut tile = [[0u8; T]; T];
        for s0 in (0..n).step_by(T) {
            let sw = (n - s0).min(T);
            for (s, row) in tile.iter_mut().enumerate().take(sw) {
                a.quantize(&x[(s0 + s) * per + k0..][..kw], &mut row[..kw]);
            }
            for k in 0..kw {
                let d = &mut dst[k * n + s0..][..sw];
                for (s, v) in d.iter_mut().enumerate() {
                    *v = tile[s][k];
                }
            }
        }
    };
    if x.len() >= 1 << 16 {
        out.par_chunks_mut(T * n).enumerate().for_each(band);
    } else {
        out.chunks_mut(T * n).enumerate().for_each(band);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dense::{conv_dense, DenseMat};

    /// Dequantised weights and inputs through the f32 kernels give the int8 layer's output
    /// (up to f32 rounding): the int8 arithmetic is exact.
    fn dequantized(m: &QMatrix) -> Vec<f32> {
        m.dense_codes().iter().enumerate().map(|(i, &q)| q as f32 * m.scale[i / m.cols]).collect()
    }

    #[test]
    fn linear_matches_dequantized_f32() {
        let (rows, cols, n) = (7, 40, 37);
        let w: Vec<f32> = (0..rows * cols).map(|i| if i % 3 == 0 { ((i * 7 % 19) as f32 - 9.0) / 10.0 } else { 0.0 }).collect();
        let mut w = w;
        w[2 * cols..3 * cols].iter_mut().for_each(|v| *v = 0.0); // an all-zero row
        let m = QMatrix::quantize("fc", rows, cols, &w).unwrap();
        assert_eq!(m.scale[2], 0.0);
        let bias: Vec<f32> = (0..rows).map(|r| r as f32 * 0.25 - 1.0).collect();
        let x: Vec<f32> = (0..cols * n).map(|i| ((i * 13 % 29) as f32 - 8.0) / 7.0).collect();
        let a = ActQuant::of(&x);
        let layer = QLayer::new("fc", QKind::Linear, m.clone(), bias.clone(), None).unwrap();
        let y = layer.forward(&x, n);
        // Reference: the same quantised input, dequantised, times the dequantised weights.
        let mut xq = vec![0u8; x.len()];
        a.quantize(&x, &mut xq);
        let xd: Vec<f32> = xq.iter().map(|&q| a.scale * (q as f32 - a.zero_point as f32)).collect();
        let mut want: Vec<f32> = bias.iter().flat_map(|&b| std::iter::repeat_n(b, n)).collect();
        DenseMat::new(rows, cols, dequantized(&m)).matmul_acc(&xd, n, &mut want);
        for (i, (p, q)) in y.iter().zip(&want).enumerate() {
            assert!((p - q).abs() < 1e-4, "{i}: {p} vs {q}");
        }
        assert!(y[2 * n..3 * n].iter().all(|&v| v == bias[2]), "an all-zero row outputs its bias exactly");
        // And close to the unquantised layer (the quantisation error itself is small).
        let mut exact: Vec<f32> = bias.iter().flat_map(|&b| std::iter::repeat_n(b, n)).collect();
        DenseMat::new(rows, cols, w).matmul_acc(&x, n, &mut exact);
        let err = y.iter().zip(&exact).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
        assert!(err < 0.15, "quantisation error {err}");
    }

    #[test]
    fn conv_matches_dequantized_f32_with_padding_stride_and_short_rows() {
        for &(ph, sh, n) in &[(0, 1, 1), (0, 1, 50), (1, 1, 3), (2, 2, 20), (1, 2, 1)] {
            let g = ConvGeom { cin: 3, cout: 4, h: 9, w: 8, kh: 3, kw: 3, sh, sw: 1, ph, pw: ph };
            let w: Vec<f32> = (0..g.cout * g.k()).map(|i| if i % 2 == 0 { ((i % 11) as f32 - 5.0) / 4.0 } else { 0.0 }).collect();
            let m = QMatrix::quantize("conv", g.cout, g.k(), &w).unwrap();
            let bias = vec![0.5, -0.25, 0.0, 1.0];
            let x: Vec<f32> = (0..g.cin * g.h * g.w * n).map(|i| ((i * 17 % 23) as f32 - 6.0) / 5.0).collect();
            let a = ActQuant::from_range(-2.0, 4.0);
            let layer = QLayer::new("conv", QKind::Conv(g), m.clone(), bias.clone(), Some(a)).unwrap();
            let y = layer.forward(&x, n);
            let mut xq = vec![0u8; x.len()];
            a.quantize(&x, &mut xq);
            let xd: Vec<f32> = xq.iter().map(|&q| a.scale * (q as f32 - a.zero_point as f32)).collect();
            let block = g.out_h() * g.out_w() * n;
            let mut want: Vec<f32> = bias.iter().flat_map(|&b| std::iter::repeat_n(b, block)).collect();
            conv_dense(&g, &DenseMat::new(g.cout, g.k(), dequantized(&m)), &xd, n, &mut want);
            for (i, (p, q)) in y.iter().zip(&want).enumerate() {
                assert!((p - q).abs() < 1e-4, "pad {ph} stride {sh} batch {n} [{i}]: {p} vs {q}");
            }
        }
    }

    /// Pooled inside the layer = the layer's output pooled afterwards, bit for bit: short rows
    /// (the whole channel as one run) and long ones (the rows of one pooled row), 2×2/2 and an
    /// overlapping 2×2/1 window, padding, the sample-major entry.
    #[test]
    fn pooled_convolution_equals_pooling_its_output() {
        for &(ph, n, k, st) in &[(0, 1, 2, 2), (0, 40, 2, 2), (1, 3, 2, 1), (0, 64, 2, 1), (0, 20, 1, 1)] {
            let g = ConvGeom { cin: 2, cout: 3, h: 10, w: 9, kh: 3, kw: 3, sh: 1, sw: 1, ph, pw: ph };
            let w: Vec<f32> = (0..g.cout * g.k()).map(|i| if i % 3 != 1 { ((i % 13) as f32 - 6.0) / 4.0 } else { 0.0 }).collect();
            let m = QMatrix::quantize("conv", g.cout, g.k(), &w).unwrap();
            let layer = QLayer::new("conv", QKind::Conv(g), m, vec![0.5, -0.25, 0.0], Some(ActQuant::from_range(-2.0, 4.0))).unwrap();
            let x: Vec<f32> = (0..g.cin * g.h * g.w * n).map(|i| ((i * 17 % 23) as f32 - 6.0) / 5.0).collect();
            let pool = PoolWindow { kernel: [k, k], stride: [st, st] };
            let want = crate::pool::max_pool(&layer.forward(&x, n), [g.out_h(), g.out_w()], n, pool.kernel, pool.stride);
            assert_eq!(layer.forward_pooled(&x, n, Some(pool)), want, "pad {ph} batch {n} window {k}/{st}");
            if ph == 0 {
                let samples = crate::network::transpose(&x, g.cin * g.h * g.w, n);
                assert_eq!(layer.forward_samples(&samples, n, Some(pool)).unwrap(), want, "sample-major, batch {n}");
            }
        }
    }

    #[test]
    fn sample_major_input_gives_the_same_output() {
        let (rows, cols) = (5, 70);
        let w: Vec<f32> = (0..rows * cols).map(|i| if i % 4 == 1 { ((i * 5 % 13) as f32 - 6.0) / 3.0 } else { 0.0 }).collect();
        let m = QMatrix::quantize("fc", rows, cols, &w).unwrap();
        for input in [None, Some(ActQuant::from_range(-1.0, 2.0))] {
            let layer = QLayer::new("fc", QKind::Linear, m.clone(), vec![0.1; rows], input).unwrap();
            for n in [1, 3, 40, 100] {
                let xs: Vec<f32> = (0..n * cols).map(|i| ((i * 7 % 31) as f32 - 9.0) / 8.0).collect();
                let xt = crate::network::transpose(&xs, n, cols);
                assert_eq!(layer.forward_samples(&xs, n, None).unwrap(), layer.forward(&xt, n), "n {n}");
            }
        }
    }

    #[test]
    fn empty_layers_are_errors_and_strided_columns_are_refused() {
        let e = QMatrix::quantize("fc9", 0, 5, &[]).unwrap_err().to_string();
        assert!(e.contains("`fc9`") && e.contains("empty"), "{e}");
        let g = ConvGeom { cin: 1, cout: 1, h: 5, w: 5, kh: 1, kw: 1, sh: 2, sw: 2, ph: 0, pw: 0 };
        let m = QMatrix::quantize("c", 1, 1, &[1.0]).unwrap();
        let e = QLayer::new("c", QKind::Conv(g), m, vec![0.0], None).unwrap_err().to_string();
        assert!(e.contains("horizontal stride 1"), "{e}");
    }
}
