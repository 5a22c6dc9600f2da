//! Non-overlapping max pooling (k×k windows, stride k, floor mode: trailing rows and columns that
//! do not fill a window are dropped, as in `MaxPool2d`).
//!
//! Flex pools through a generic 3-D kernel that re-derives window bounds and NaN rules for every
//! output, and its backward is a second generic pass: together about a quarter of LeNet-5's
//! training time. Here the winner of every window is found on the host in one pass, and the
//! output is a gather of those positions, so autodiff's backward is a single scatter of the
//! upstream gradient (exactly what max pooling's gradient is).

use burn::prelude::*;
use burn::tensor::{DType, TensorData};
use rayon::prelude::*;

/// `x`: `[a, b, h, w]` → `[a, b, h/k, w/k]`, the maximum of each k×k window. A NaN in a window
/// wins (it propagates, as in PyTorch); among equal values the first in row-major order wins.
pub fn max_pool2d(x: Tensor<4>, k: usize) -> Tensor<4> {
    assert!(k >= 1, "max_pool2d: window must be at least 1");
    let [a, b, h, w] = x.dims();
    let (oh, ow) = (h / k, w / k);
    assert!(oh > 0 && ow > 0, "max_pool2d: input {h}x{w} is smaller than the {k}x{k} window");
    let device = x.device();
    // Read in place from the host copy (`try_into_vec` may copy a second time to realign).
    let data = x.to_data().convert::<f32>();
    let values = data.as_slice::<f32>().expect("float tensor converts to f32");
    let winners = argmax_windows(values, [a * b, h, w], k);
    if !x.is_tracked() {
        // No gradient: the maxima themselves, without the gather.
        let maxima: Vec<f32> = winners.iter().map(|&i| values[i as usize]).collect();
        return Tensor::<4>::from_data(TensorData::new(maxima, [a, b, oh, ow]), &device);
    }
    let len = winners.len();
    let index = Tensor::<1, Int>::from_data(TensorData::new(winners, [len]), (&device, DType::I64));
    x.reshape([a * b * h * w]).select(0, index).reshape([a, b, oh, ow])
}

/// For every window of every plane, the flat position (in `values`) of its maximum.
fn argmax_windows(values: &[f32], [planes, h, w]: [usize; 3], k: usize) -> Vec<i64> {
    let (oh, ow) = (h / k, w / k);
    let mut winners = vec![0i64; planes * oh * ow];
    winners.par_chunks_mut(oh * ow).enumerate().for_each(|(p, out)| {
        let plane = p * h * w;
        for (y, row) in out.chunks_exact_mut(ow).enumerate() {
            let top = plane + y * k * w;
            if k == 2 {
                argmax_2x2_row(values, top, w, row);
                continue;
            }
            for (xo, slot) in row.iter_mut().enumerate() {
                let (mut best, mut best_value) = (top + xo * k, values[top + xo * k]);
                for dy in 0..k {
                    let line = top + dy * w + xo * k;
                    for (dx, &v) in values[line..line + k].iter().enumerate() {
                        if beats(v, best_value) {
                            (best, best_value) = (line + dx, v);
                        }
                    }
                }
                *slot = best as i64;
            }
        }
    });
    winners
}

/// Whether `v` replaces `best` as a window's maximum: larger, or the first NaN. Evaluated
/// without short-circuits so the comparisons compile to selects: on real activations the
/// winner is a coin toss and a branch would mispredict half the time.
#[inline(always)]
fn beats(v: f32, best: f32) -> bool {
    (v > best) | (v.is_nan() & !best.is_nan())
}

/// One output row of 2×2 windows whose top-left corners start at `top` (row-major, width `w`).
/// Ties go to the earlier position: left before right, upper row before lower. Written as
/// selects on plain values and offsets (no tuples, no branches) so it compiles to blends.
#[inline(always)]
fn argmax_2x2_row(values: &[f32], top: usize, w: usize, out: &mut [i64]) {
    let upper = &values[top..top + 2 * out.len()];
    let lower = &values[top + w..top + w + 2 * out.len()];
    for (xo, ((u, l), slot)) in upper.chunks_exact(2).zip(lower.chunks_exact(2)).zip(out.iter_mut()).enumerate() {
        let right_up = beats(u[1], u[0]);
        let (up, up_at) = (if right_up { u[1] } else { u[0] }, right_up as usize);
        let right_low = beats(l[1], l[0]);
        let (low, low_at) = (if right_low { l[1] } else { l[0] }, w + right_low as usize);
        let at = if beats(low, up) { low_at } else { up_at };
        *slot = (top + 2 * xo + at) as i64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::pool::MaxPool2dConfig;
    use burn::tensor::Distribution;

    use crate::host_f32 as host;

    #[test]
    fn by_hand() {
        // One 4x5 plane, 2x2 windows: the last column is dropped (floor mode).
        let x = [
            1.0, 5.0, 2.0, 0.0, 9.0, //
            3.0, 4.0, 7.0, 7.0, 9.0, //
            -1.0, -2.0, 0.0, 8.0, 9.0, //
            -3.0, -0.5, 6.0, 1.0, 9.0,
        ];
        let winners = argmax_windows(&x, [1, 4, 5], 2);
        // Ties (7, 7) go to the first in row-major order.
        assert_eq!(winners, vec![1, 7, 16, 13]);
        let device = Device::flex();
        let t = Tensor::<4>::from_data(TensorData::new(x.to_vec(), [1, 1, 4, 5]), &device);
        assert_eq!(host(max_pool2d(t, 2)), vec![5.0, 7.0, -0.5, 8.0]);
    }

    #[test]
    fn nan_propagates() {
        let x = [1.0, f32::NAN, 3.0, f32::NAN];
        assert_eq!(argmax_windows(&x, [1, 2, 2], 2), vec![1]);
    }

    /// The 2×2 fast path and the general path agree (3×3 windows by hand as well).
    #[test]
    fn general_window() {
        let x: Vec<f32> = (0..36).map(|i| ((i * 7) % 11) as f32).collect();
        // 6x6 plane, 3x3 windows: maxima 10 at the first occurrence in each window.
        let w = argmax_windows(&x, [1, 6, 6], 3);
        assert_eq!(w.len(), 4);
        for (o, &i) in w.iter().enumerate() {
            let (oy, ox) = (o / 2, o % 2);
            let window: Vec<usize> = (0..3).flat_map(|dy| (0..3).map(move |dx| (oy * 3 + dy) * 6 + ox * 3 + dx)).collect();
            let max = window.iter().map(|&j| x[j]).fold(f32::MIN, f32::max);
            let first = *window.iter().find(|&&j| x[j] == max).unwrap();
            assert_eq!(i as usize, first);
        }
    }

    /// Same values and the same input gradient as Burn's `MaxPool2d` on random data (no ties).
    #[test]
    fn matches_burn_max_pool2d() {
        let device = Device::flex().autodiff();
        let _rng = crate::seeded_test_lock();
        device.seed(21);
        let pool = MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
        let x = Tensor::<4>::random([3, 5, 9, 8], Distribution::Normal(0.0, 1.0), &device);
        let upstream = Tensor::<4>::random([3, 5, 4, 4], Distribution::Normal(0.0, 1.0), &device);
        let x1 = x.clone().detach().require_grad();
        let y1 = max_pool2d(x1.clone(), 2);
        let g1 = (y1.clone() * upstream.clone()).sum().backward();
        let x2 = x.detach().require_grad();
        let y2 = pool.forward(x2.clone());
        let g2 = (y2.clone() * upstream).sum().backward();
        assert_eq!(y1.dims(), y2.dims());
        assert_eq!(host(y1), host(y2));
        assert_eq!(host(x1.grad(&g1).unwrap()), host(x2.grad(&g2).unwrap()));
        // Untracked input: same values, no gather.
        let plain = Tensor::<4>::random([2, 3, 6, 6], Distribution::Normal(0.0, 1.0), &Device::flex());
        assert_eq!(host(max_pool2d(plain.clone(), 2)), host(pool.forward(plain)));
    }
}
