//! Max pooling of batch-innermost images `[C, H, W, N]` (see `network.rs`).
//!
//! With the batch innermost, one output pixel of one channel is the element-wise maximum of
//! `kh × kw` contiguous vectors of `N` values: plain vectorisable loops, whatever the window.
//! (With the batch outermost, a 2×2 pool is a strided, mostly scalar walk; in a compact LeNet-5
//! the first pooling reads more data than any other layer.)

use rayon::prelude::*;

use crate::simd::{multiversion, PARALLEL_MIN_WORK};

/// `max(a, b)` as a plain compare-and-select (`maxps`); NaN handling is that of the
/// instruction, not IEEE `maxNum` (activations of a trained network are finite).
#[inline(always)]
fn max(a: f32, b: f32) -> f32 {
    if a > b {
        a
    } else {
        b
    }
}

/// Widest input row the batch-1 path takes: its row maximum lives on the stack, zeroed per
/// row (a 4 KB buffer made the zeroing 31% of the pass).
const POOL_ROW_MAX: usize = 128;

/// `x`: `[C, h, w, N]` → `[C, oh, ow, N]`, the maximum over each `kernel` window (floor mode).
pub fn max_pool(x: &[f32], [h, w]: [usize; 2], n: usize, kernel: [usize; 2], stride: [usize; 2]) -> Vec<f32> {
    let (oh, ow) = ((h - kernel[0]) / stride[0] + 1, (w - kernel[1]) / stride[1] + 1);
    let channels = x.len() / (h * w * n).max(1);
    let mut y = vec![0f32; channels * oh * ow * n];
    if y.is_empty() {
        return y;
    }
    // Task = one output row of one channel: `ow × N` values.
    let run = |(r, out): (usize, &mut [f32])| {
        let (c, oy) = (r / oh, r % oh);
        pool_output_row(&x[c * h * w * n..][..h * w * n], w, n, oy, kernel, stride, out);
    };
    if x.len() >= PARALLEL_MIN_WORK {
        y.par_chunks_mut(ow * n).enumerate().for_each(run);
    } else {
        y.chunks_mut(ow * n).enumerate().for_each(run);
    }
    y
}

/// Output row `oy` of one channel's plane `[h, w, N]` into `out` (`ow × N` values): the
/// kernel `max_pool` runs per row, for callers that pool a plane they just computed.
pub(crate) fn pool_output_row(plane: &[f32], w: usize, n: usize, oy: usize, kernel: [usize; 2], stride: [usize; 2], out: &mut [f32]) {
    if n == 1 && w <= POOL_ROW_MAX {
        pool_row_single(plane, w, oy, kernel, stride, out);
    } else {
        pool_row(plane, w, n, oy, kernel, stride, out);
    }
}

multiversion! {
    /// One output row at batch 1, in two steps: the element-wise maximum of the window's
    /// `kh` input rows (a vector loop), then each output's maximum over its `kw` columns of that
    /// row. (The vector path below would spend a slice, a bounds check and a one-value
    /// `memmove` on every window element: 40% of a batch-1 compact LeNet-5 pass in perf; a
    /// scalar compare per element instead mispredicted its branch on half of them.)
    fn pool_row_single(plane: &[f32], w: usize, oy: usize, kernel: [usize; 2], stride: [usize; 2], out: &mut [f32]) {
        let rows = &plane[oy * stride[0] * w..][..kernel[0] * w];
        let mut col = [0f32; POOL_ROW_MAX];
        let col = &mut col[..w];
        col.copy_from_slice(&rows[..w]);
        for row in rows.chunks_exact(w).skip(1) {
            for (c, &v) in col.iter_mut().zip(row) {
                *c = max(*c, v);
            }
        }
        if kernel[1] == 2 && stride[1] == 2 {
            // The common 2×2/2 window: pairs of columns, a loop LLVM vectorises (a fold with
            // `f32::max` was scalar, with a NaN test per element: a quarter of a batch-1
            // LeNet-5 pass).
            for (dst, pair) in out.iter_mut().zip(col.chunks_exact(2)) {
                *dst = max(pair[0], pair[1]);
            }
        } else {
            for (ox, dst) in out.iter_mut().enumerate() {
                let x0 = ox * stride[1];
                *dst = col[x0..x0 + kernel[1]].iter().fold(col[x0], |m, &v| max(m, v));
            }
        }
    }
}

multiversion! {
    fn pool_row(plane: &[f32], w: usize, n: usize, oy: usize, kernel: [usize; 2], stride: [usize; 2], out: &mut [f32]) {
        for (ox, dst) in out.chunks_exact_mut(n).enumerate() {
            let mut first = true;
            for dy in 0..kernel[0] {
                let line = &plane[(oy * stride[0] + dy) * w * n..][..w * n];
                for dx in 0..kernel[1] {
                    let src = &line[(ox * stride[1] + dx) * n..][..n];
                    if first {
                        dst.copy_from_slice(src);
                        first = false;
                    } else {
                        for (d, &v) in dst.iter_mut().zip(src) {
                            *d = max(*d, v);
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

    /// `[C, H, W, N]` from per-image planes `[N][C][H][W]`.
    fn chwn(images: &[Vec<f32>], c: usize, hw: usize) -> Vec<f32> {
        let n = images.len();
        let mut out = vec![0f32; c * hw * n];
        for (i, img) in images.iter().enumerate() {
            for (p, &v) in img.iter().enumerate() {
                out[p * n + i] = v;
            }
        }
        out
    }

    #[test]
    fn two_by_two_by_hand() {
        // One 3x5 channel, one image; floor mode drops the last row and column.
        let x = [
            1.0, 5.0, 2.0, 0.0, 9.0, //
            3.0, 4.0, 7.0, 6.0, 9.0, //
            9.0, 9.0, 9.0, 9.0, 9.0,
        ];
        assert_eq!(max_pool(&x, [3, 5], 1, [2, 2], [2, 2]), vec![5.0, 7.0]);
    }

    /// Every image of the batch pools on its own; a 3x3 window with stride 1 by hand.
    #[test]
    fn batch_and_general_window() {
        let a: Vec<f32> = (0..16).map(|i| ((i * 5) % 7) as f32).collect();
        let b: Vec<f32> = a.iter().map(|v| -v).collect();
        let x = chwn(&[a, b], 1, 16);
        // Image a: every 3x3 window of the 4x4 plane holds a 6; image b: the negated minima.
        let y = max_pool(&x, [4, 4], 2, [3, 3], [1, 1]);
        assert_eq!(y, vec![6.0, -0.0, 6.0, -0.0, 6.0, -0.0, 6.0, -0.0]);
    }

    /// Batch 1 (the scalar path): a 3x3 window with stride 1 and a 2x2 one with stride 2 equal
    /// the per-window maxima.
    #[test]
    fn single_image_windows() {
        let x: Vec<f32> = (0..20).map(|i| ((i * 7) % 11) as f32).collect(); // 4 x 5
        let naive = |k: usize, s: usize| {
            let (oh, ow) = ((4 - k) / s + 1, (5 - k) / s + 1);
            let mut y = Vec::new();
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut m = f32::MIN;
                    for dy in 0..k {
                        for dx in 0..k {
                            m = m.max(x[(oy * s + dy) * 5 + ox * s + dx]);
                        }
                    }
                    y.push(m);
                }
            }
            y
        };
        assert_eq!(max_pool(&x, [4, 5], 1, [3, 3], [1, 1]), naive(3, 1));
        assert_eq!(max_pool(&x, [4, 5], 1, [2, 2], [2, 2]), naive(2, 2));
    }

    /// Across the parallel threshold: equals a plain per-image window walk.
    #[test]
    fn matches_naive_over_many_channels() {
        let (c, h, w) = (7, 9, 12);
        let n = PARALLEL_MIN_WORK / (c * h * w) + 1;
        let x: Vec<f32> = (0..c * h * w * n).map(|i| ((i * 7919) % 1013) as f32 - 500.0).collect();
        assert!(x.len() >= PARALLEL_MIN_WORK);
        let y = max_pool(&x, [h, w], n, [2, 2], [2, 2]);
        let (oh, ow) = (4, 6);
        for ch in 0..c {
            for oy in 0..oh {
                for ox in 0..ow {
                    for i in 0..n {
                        let at = |yy: usize, xx: usize| x[((ch * h + yy) * w + xx) * n + i];
                        let m = at(2 * oy, 2 * ox).max(at(2 * oy, 2 * ox + 1)).max(at(2 * oy + 1, 2 * ox)).max(at(2 * oy + 1, 2 * ox + 1));
                        assert_eq!(y[((ch * oh + oy) * ow + ox) * n + i], m);
                    }
                }
            }
        }
    }
}
