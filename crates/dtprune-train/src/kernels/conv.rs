//! 2-D convolution on channel-major host buffers — forward, input gradient and weight
//! gradient — as im2col + one matrix product per slice of the batch.
//!
//! Layouts: input `x` is `[channels, batch, rows, cols]`, the weight `[out, channels, kh, kw]`
//! (a row-major `[out, K]` matrix, `K = channels·kh·kw`), the output `[out, batch, oh, ow]` (a
//! `[out, batch·oh·ow]` matrix). With the batch inside each channel plane, the output of a slice
//! of images is a block of columns of that matrix, and no layout change happens between layers.
//!
//! The batch is cut into slices whose column matrix (`K × images·oh·ow`) stays around two MiB, so
//! it is still in cache when the product packs it; slices run in parallel on rayon's pool. The
//! cut depends only on the shapes, and the weight gradient sums the slices' partial products in
//! slice order, so the result does not depend on the thread count or timing.

use super::matmul::{matmul, View};
use rayon::prelude::*;
use std::cell::RefCell;

/// The shapes of one convolution (square stride and zero padding, no dilation, one group).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConvGeometry {
    pub channels: usize,
    pub batch: usize,
    pub rows: usize,
    pub cols: usize,
    pub out_channels: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub padding: usize,
}

/// Bytes of column matrix per slice of the batch.
const SLICE_BYTES: usize = 2 << 20;

impl ConvGeometry {
    pub fn out_rows(&self) -> usize {
        (self.rows + 2 * self.padding - self.kh) / self.stride + 1
    }
    pub fn out_cols(&self) -> usize {
        (self.cols + 2 * self.padding - self.kw) / self.stride + 1
    }
    /// Output positions per image.
    fn positions(&self) -> usize {
        self.out_rows() * self.out_cols()
    }
    /// Rows of the column matrix: one per (channel, tap).
    pub fn depth(&self) -> usize {
        self.channels * self.kh * self.kw
    }
    fn plane(&self) -> usize {
        self.rows * self.cols
    }
    pub fn input_len(&self) -> usize {
        self.channels * self.batch * self.plane()
    }
    pub fn weight_len(&self) -> usize {
        self.out_channels * self.depth()
    }
    pub fn output_len(&self) -> usize {
        self.out_channels * self.batch * self.positions()
    }

    /// Whether the kernel fits the padded input and the stride is positive; the shapes every
    /// function here assumes.
    pub fn is_valid(&self) -> bool {
        self.stride >= 1 && self.kh >= 1 && self.kw >= 1 && self.rows + 2 * self.padding >= self.kh && self.cols + 2 * self.padding >= self.kw
    }

    /// The slices of the batch: `(first image, images)`, fixed by the shapes alone.
    fn slices(&self) -> Vec<(usize, usize)> {
        let per_image = (self.depth() * self.positions() * 4).max(1);
        let images = (SLICE_BYTES / per_image).clamp(1, self.batch.max(1));
        (0..self.batch).step_by(images).map(|b| (b, images.min(self.batch - b))).collect()
    }

    /// For tap `k` (0..kh or 0..kw along one axis) and output index `o`: the input index, or
    /// `None` in the padding.
    #[inline]
    fn source(&self, o: usize, k: usize, size: usize) -> Option<usize> {
        (o * self.stride + k).checked_sub(self.padding).filter(|&i| i < size)
    }

    /// Output columns `[lo, hi)` whose tap `kj` reads inside the input row (stride 1).
    fn valid_cols(&self, kj: usize) -> (usize, usize) {
        let ow = self.out_cols();
        let lo = self.padding.saturating_sub(kj).min(ow);
        let hi = (self.cols + self.padding).saturating_sub(kj).min(ow).max(lo);
        (lo, hi)
    }
}

thread_local! {
    /// Reused column buffers: allocating a fresh multi-MiB buffer per call costs page faults
    /// and the kernel's zeroing of every new page.
    static COLUMNS: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// im2col of images `[first, first + images)`: `columns[(c, ki, kj), (b, y, x)] =
/// x[c, b, y·s + ki − p, x·s + kj − p]`, zero in the padding; row-major with leading
/// dimension `images·oh·ow`.
fn im2col(x: &[f32], g: &ConvGeometry, (first, images): (usize, usize), columns: &mut [f32]) {
    let (oh, ow, plane) = (g.out_rows(), g.out_cols(), g.plane());
    let per_image = oh * ow;
    let ld = images * per_image;
    for c in 0..g.channels {
        let channel = &x[c * g.batch * plane..(c + 1) * g.batch * plane];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = (c * g.kh + ki) * g.kw + kj;
                let dst_row = &mut columns[row * ld..(row + 1) * ld];
                let (lo, hi) = g.valid_cols(kj);
                for (b, dst) in dst_row.chunks_exact_mut(per_image).enumerate() {
                    let image = &channel[(first + b) * plane..(first + b + 1) * plane];
                    for (y, out) in dst.chunks_exact_mut(ow).enumerate() {
                        let Some(r) = g.source(y, ki, g.rows) else {
                            out.fill(0.0);
                            continue;
                        };
                        let src = &image[r * g.cols..(r + 1) * g.cols];
                        if g.stride == 1 {
                            out[..lo].fill(0.0);
                            out[lo..hi].copy_from_slice(&src[lo + kj - g.padding..hi + kj - g.padding]);
                            out[hi..].fill(0.0);
                        } else {
                            for (xo, v) in out.iter_mut().enumerate() {
                                *v = g.source(xo, kj, g.cols).map_or(0.0, |col| src[col]);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds every column entry back onto the input pixel it was read
/// from. `dx` holds images `[first, first + images)` of every channel, `[channels, images, rows, cols]`.
fn col2im(columns: &[f32], g: &ConvGeometry, images: usize, dx: &mut [f32]) {
    let (oh, ow, plane) = (g.out_rows(), g.out_cols(), g.plane());
    let per_image = oh * ow;
    let ld = images * per_image;
    for c in 0..g.channels {
        let channel = &mut dx[c * images * plane..(c + 1) * images * plane];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = (c * g.kh + ki) * g.kw + kj;
                let src_row = &columns[row * ld..(row + 1) * ld];
                let (lo, hi) = g.valid_cols(kj);
                for (b, src) in src_row.chunks_exact(per_image).enumerate() {
                    let image = &mut channel[b * plane..(b + 1) * plane];
                    for (y, col_vals) in src.chunks_exact(ow).enumerate() {
                        let Some(r) = g.source(y, ki, g.rows) else { continue };
                        let dst = &mut image[r * g.cols..(r + 1) * g.cols];
                        if g.stride == 1 {
                            let offset = kj + lo - g.padding;
                            for (d, &v) in dst[offset..offset + (hi - lo)].iter_mut().zip(&col_vals[lo..hi]) {
                                *d += v;
                            }
                        } else {
                            for (xo, &v) in col_vals.iter().enumerate() {
                                if let Some(col) = g.source(xo, kj, g.cols) {
                                    dst[col] += v;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Runs `f` with a thread-local buffer of at least `len` floats (contents unspecified).
fn with_columns<R>(len: usize, second: bool, f: impl FnOnce(&mut [f32]) -> R) -> R {
    COLUMNS.with_borrow_mut(|(a, b)| {
        let buffer = if second { b } else { a };
        if buffer.len() < len {
            buffer.resize(len, 0.0);
        }
        f(&mut buffer[..len])
    })
}

fn check_lengths(g: &ConvGeometry, x: usize, w: usize) {
    assert!(g.is_valid(), "conv: invalid geometry {g:?}");
    assert_eq!(x, g.input_len(), "conv: input has {x} values, the geometry {g:?} needs {}", g.input_len());
    assert_eq!(w, g.weight_len(), "conv: weight has {w} values, the geometry needs {}", g.weight_len());
}

/// `y[o, (b, y, x)] = Σ_(c, ki, kj) w[o, c, ki, kj] · x[c, b, y·s + ki − p, x·s + kj − p]`.
pub fn forward(x: &[f32], w: &[f32], g: &ConvGeometry) -> Vec<f32> {
    check_lengths(g, x.len(), w.len());
    let (depth, per_image, n) = (g.depth(), g.positions(), g.batch * g.positions());
    let weight = View::row_major(w, g.out_channels, depth, depth);
    let parts: Vec<Vec<f32>> = g
        .slices()
        .into_par_iter()
        .map(|slice| {
            let cols = slice.1 * per_image;
            let mut out = vec![0.0f32; g.out_channels * cols];
            with_columns(depth * cols, false, |columns| {
                im2col(x, g, slice, columns);
                matmul(weight, View::row_major(columns, depth, cols, cols), &mut out, cols, false);
            });
            out
        })
        .collect();
    let mut y = vec![0.0f32; g.out_channels * n];
    for ((first, images), part) in g.slices().into_iter().zip(&parts) {
        let cols = images * per_image;
        for (o, row) in part.chunks_exact(cols).enumerate() {
            y[o * n + first * per_image..][..cols].copy_from_slice(row);
        }
    }
    y
}

/// The gradients of [`forward`] for an upstream gradient `dy` (`[out, batch, oh, ow]`): the
/// input's (`[channels, batch, rows, cols]`, when `want_input`) and the weight's (`[out, K]`).
pub fn backward(x: &[f32], w: &[f32], dy: &[f32], g: &ConvGeometry, want_input: bool) -> (Option<Vec<f32>>, Vec<f32>) {
    check_lengths(g, x.len(), w.len());
    assert_eq!(dy.len(), g.output_len(), "conv backward: upstream gradient has {} values, the geometry needs {}", dy.len(), g.output_len());
    let (depth, per_image, n, plane) = (g.depth(), g.positions(), g.batch * g.positions(), g.plane());
    let weight_t = View::transposed(w, depth, g.out_channels, depth);
    let slices = g.slices();
    let parts: Vec<(Option<Vec<f32>>, Vec<f32>)> = slices
        .par_iter()
        .map(|&slice| {
            let (first, images) = slice;
            let cols = images * per_image;
            let upstream = View::row_major(&dy[first * per_image..], g.out_channels, cols, n);
            // dW_slice = dy_slice · columnsᵀ
            let mut dw = vec![0.0f32; g.weight_len()];
            with_columns(depth * cols, false, |columns| {
                im2col(x, g, slice, columns);
                matmul(upstream, View::transposed(columns, cols, depth, cols), &mut dw, depth, false);
            });
            // dx_slice = col2im(wᵀ · dy_slice)
            let dx = want_input.then(|| {
                let mut dx = vec![0.0f32; g.channels * images * plane];
                with_columns(depth * cols, true, |dcols| {
                    matmul(weight_t, upstream, dcols, cols, false);
                    col2im(dcols, g, images, &mut dx);
                });
                dx
            });
            (dx, dw)
        })
        .collect();
    // The slices' weight gradients, summed in slice order.
    let mut dw = vec![0.0f32; g.weight_len()];
    for (_, part) in &parts {
        dw.iter_mut().zip(part).for_each(|(a, b)| *a += b);
    }
    let dx = want_input.then(|| {
        let mut dx = vec![0.0f32; g.input_len()];
        for (&(first, images), (part, _)) in slices.iter().zip(&parts) {
            let part = part.as_ref().expect("input gradient computed for every slice");
            for c in 0..g.channels {
                let src = &part[c * images * plane..(c + 1) * images * plane];
                dx[(c * g.batch + first) * plane..][..images * plane].copy_from_slice(src);
            }
        }
        dx
    });
    (dx, dw)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct convolution by its definition, `[c, b, h, w]` in and out.
    fn naive(x: &[f32], w: &[f32], g: &ConvGeometry) -> Vec<f32> {
        let (oh, ow) = (g.out_rows(), g.out_cols());
        let mut y = vec![0.0f32; g.output_len()];
        for o in 0..g.out_channels {
            for b in 0..g.batch {
                for yo in 0..oh {
                    for xo in 0..ow {
                        let mut s = 0.0f64;
                        for c in 0..g.channels {
                            for ki in 0..g.kh {
                                for kj in 0..g.kw {
                                    let (r, col) = ((yo * g.stride + ki) as isize - g.padding as isize, (xo * g.stride + kj) as isize - g.padding as isize);
                                    if r < 0 || col < 0 || r >= g.rows as isize || col >= g.cols as isize {
                                        continue;
                                    }
                                    let xi = ((c * g.batch + b) * g.rows + r as usize) * g.cols + col as usize;
                                    s += f64::from(w[((o * g.channels + c) * g.kh + ki) * g.kw + kj]) * f64::from(x[xi]);
                                }
                            }
                        }
                        y[((o * g.batch + b) * oh + yo) * ow + xo] = s as f32;
                    }
                }
            }
        }
        y
    }

    /// Deterministic pseudo-random values in [-1, 1).
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn geometry(channels: usize, batch: usize, side: usize, out_channels: usize, k: usize, stride: usize, padding: usize) -> ConvGeometry {
        ConvGeometry { channels, batch, rows: side, cols: side + 1, out_channels, kh: k, kw: k, stride, padding }
    }

    fn close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len());
        let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= 1e-4 * scale, "{what}[{i}]: {x} vs {y}");
        }
    }

    const CASES: &[(usize, usize, usize, usize, usize, usize, usize)] = &[
        // channels, batch, side, out, kernel, stride, padding
        (3, 2, 6, 4, 3, 1, 1),
        (2, 3, 7, 3, 3, 2, 1),
        (4, 2, 6, 5, 1, 2, 0),
        (1, 2, 8, 2, 5, 1, 0),
        (2, 1, 2, 2, 3, 2, 1),
        (2, 2, 3, 2, 3, 1, 2),
    ];

    #[test]
    fn forward_matches_the_definition() {
        for &(c, b, side, o, k, s, p) in CASES {
            let g = geometry(c, b, side, o, k, s, p);
            let (x, w) = (values(g.input_len(), 1), values(g.weight_len(), 2));
            close(&forward(&x, &w, &g), &naive(&x, &w, &g), &format!("y {g:?}"));
        }
    }

    /// The gradients against the adjoint identities ⟨dy, conv(dx_probe, w)⟩ = ⟨backward_x(dy), dx_probe⟩
    /// and the same for w, with the naive forward as the linear map: exact for a linear operator.
    #[test]
    fn gradients_are_the_adjoints_of_the_forward() {
        for &(c, b, side, o, k, s, p) in CASES {
            let g = geometry(c, b, side, o, k, s, p);
            let (x, w, dy) = (values(g.input_len(), 3), values(g.weight_len(), 4), values(g.output_len(), 5));
            let (dx, dw) = backward(&x, &w, &dy, &g, true);
            let dx = dx.unwrap();
            let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum::<f64>();
            // dL/dx_i with L = ⟨dy, conv(x, w)⟩: perturb each input by the unit vector.
            for i in 0..g.input_len() {
                let mut e = vec![0.0f32; g.input_len()];
                e[i] = 1.0;
                let expected = dot(&dy, &naive(&e, &w, &g));
                assert!((f64::from(dx[i]) - expected).abs() < 1e-4, "dx[{i}] {} vs {expected} ({g:?})", dx[i]);
            }
            for i in 0..g.weight_len() {
                let mut e = vec![0.0f32; g.weight_len()];
                e[i] = 1.0;
                let expected = dot(&dy, &naive(&x, &e, &g));
                assert!((f64::from(dw[i]) - expected).abs() < 1e-4, "dw[{i}] {} vs {expected} ({g:?})", dw[i]);
            }
            let (none, dw2) = backward(&x, &w, &dy, &g, false);
            assert!(none.is_none());
            assert_eq!(dw, dw2);
        }
    }

    /// Many slices (a batch larger than one slice holds) give the same result as the definition.
    #[test]
    fn sliced_batches_match() {
        let g = geometry(16, 40, 12, 8, 3, 1, 1);
        assert!(g.slices().len() > 1, "{:?}", g.slices());
        let (x, w) = (values(g.input_len(), 6), values(g.weight_len(), 7));
        close(&forward(&x, &w, &g), &naive(&x, &w, &g), "y");
    }

    /// Padded taps by hand: 1 channel, a 2x2 input [1 2; 3 4], 3x3 kernel of ones, padding 1,
    /// stride 1: every output is the sum of the pixels its window covers, i.e. all four = 10.
    #[test]
    fn padded_sum_by_hand() {
        let g = ConvGeometry { channels: 1, batch: 1, rows: 2, cols: 2, out_channels: 1, kh: 3, kw: 3, stride: 1, padding: 1 };
        assert_eq!(forward(&[1.0, 2.0, 3.0, 4.0], &[1.0; 9], &g), vec![10.0; 4]);
        // Each input pixel is covered by all four windows: dx = 4 for dy = 1. dw[tap] is the sum
        // of the pixels that tap reads over the four windows: tap (0, 0) reads x[y−1, x−1], only
        // (0, 0) = 1 for the window at (1, 1); tap (0, 1) reads row 0 twice, 1 + 2 = 3; the centre
        // reads all four, 10; and so on.
        let (dx, dw) = backward(&[1.0, 2.0, 3.0, 4.0], &[1.0; 9], &[1.0; 4], &g, true);
        assert_eq!(dx.unwrap(), vec![4.0; 4]);
        assert_eq!(dw, vec![1.0, 3.0, 2.0, 4.0, 10.0, 6.0, 3.0, 7.0, 4.0]);
    }
}
