//! A convolution and the max pooling after it, computed in one pass.
//!
//! LeNet-5 pools each convolution's output straight away. Run one op after the other, the
//! convolution writes its whole output (conv1 of a compact LeNet-5 at batch 1000: 20 × 24 × 24
//! × 1000 floats, 46 MB, plus the 58 MB its im2col unfolds) and pooling reads it back to keep a
//! quarter of it: at 98% sparsity that traffic, not arithmetic, was most of the pass.
//!
//! Here one step computes, for one output channel and 32 images (two SIMD registers of the
//! batch-innermost layout, see `network.rs`), the convolution at every position of one pooling
//! window — one accumulator per position, each tap one load and one multiply-add per position —
//! and stores only their maximum. The steps of one pooled pixel read the same few input pixels
//! for every channel, so the input stays in L1; nothing but the pooled output is written. Dense
//! and sparse filters take the same path: a sparse one only has fewer taps.

use rayon::prelude::*;

use crate::network::{ConvOp, ConvWeights};
use crate::simd::{multiversion, SendPtr, PARALLEL_MIN_WORK};

/// Images per step: one 512-bit register of f32.
const LANES: usize = 16;

/// Pooling window positions one step keeps accumulators for (2×2 pooling; four registers).
const MAX_WINDOW: usize = 4;

/// Images per parallel task: the task's input rows stay in L2 while all channels sweep them.
const TASK_IMAGES: usize = 64;

/// A max pooling window: `kernel` × `stride`, no padding, floor rounding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PoolWindow {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
}

impl PoolWindow {
    fn positions(&self) -> usize {
        self.kernel[0] * self.kernel[1]
    }
}

/// Whether [`conv_max_pool`] computes this pair at batch `n`: an unpadded, ungrouped
/// convolution, a pooling window of at most four positions, and at least one full step of
/// images. Smaller batches run the two ops one after the other: at batch 1 a fused step per
/// channel and pooled row (tried) was 1.6× slower than the separate full-width convolution,
/// whose every tap is one multiply-add run over the whole plane.
pub fn fusable(conv: &ConvOp, pool: PoolWindow, n: usize) -> bool {
    let g = &conv.geom;
    let pooled = g.out_h() >= pool.kernel[0] && g.out_w() >= pool.kernel[1];
    conv.groups == 1
        && g.ph == 0
        && g.pw == 0
        && pool.positions() <= MAX_WINDOW
        && pool.kernel.iter().chain(&pool.stride).all(|&v| v > 0)
        && pooled
        && n >= LANES
}

/// One nonzero filter tap: its input pixel offset `(ci·h + dy)·w + dx` (in pixels of the
/// `[C, H, W, N]` input) and its weight.
type Tap = (usize, f32);

/// Every output channel's taps: all of a dense filter's, the nonzeros of a sparse one.
fn channel_taps(conv: &ConvOp) -> Vec<Vec<Tap>> {
    let g = &conv.geom;
    let offset = |col: usize| {
        let (ci, dy, dx) = (col / (g.kh * g.kw), (col / g.kw) % g.kh, col % g.kw);
        (ci * g.h + dy) * g.w + dx
    };
    match &conv.weight {
        // A dense filter computes every tap, zeros too: that is what dense storage means here
        // (the dense reference of `dtprune bench`); compaction stores a filter sparse where
        // skipping its zeros pays, timing this very kernel (`compact::measure_crossover`).
        ConvWeights::Dense(d) => d.data.chunks_exact(g.k()).map(|row| row.iter().enumerate().map(|(c, &v)| (offset(c), v)).collect()).collect(),
        ConvWeights::Sparse(s) => {
            (0..s.csr.rows).map(|o| s.csr.row_range(o).map(|p| (offset(s.csr.indices[p] as usize), s.csr.data[p])).collect()).collect()
        }
        ConvWeights::Grouped(_) => unreachable!("fusable() admits no grouped convolution"),
    }
}

/// `maxpool(conv(x) + bias)` for `x` = `[cin, h, w, N]`: `[cout, ph, pw, N]`, the same values
/// as the two ops one after the other up to the order of the additions. Call only when
/// [`fusable`].
pub fn conv_max_pool(conv: &ConvOp, pool: PoolWindow, x: &[f32], n: usize) -> Vec<f32> {
    let g = conv.geom;
    assert!(fusable(conv, pool, n), "conv_max_pool on a pair it does not fuse");
    assert_eq!(x.len(), g.cin * g.h * g.w * n);
    let (poh, pow) = ((g.out_h() - pool.kernel[0]) / pool.stride[0] + 1, (g.out_w() - pool.kernel[1]) / pool.stride[1] + 1);
    let taps = channel_taps(conv);
    // The input pixel of each window position's convolution, relative to its pooled pixel's
    // first; unused positions repeat position 0 (a maximum is unchanged by repeats).
    let mut window = [0usize; MAX_WINDOW];
    for (p, at) in window.iter_mut().enumerate().take(pool.positions()) {
        let (wy, wx) = (p / pool.kernel[1], p % pool.kernel[1]);
        *at = wy * g.sh * g.w + wx * g.sw;
    }
    let plane = poh * pow * n;
    let mut y = vec![0f32; g.cout * plane];
    if y.is_empty() {
        return y;
    }
    // Offsets in floats: a tap's input pixel, a window position's; the largest read must fall
    // inside `x` (the steps below read without bounds checks).
    let taps: Vec<Vec<Tap>> = taps.into_iter().map(|c| c.into_iter().map(|(off, v)| (off * n, v)).collect()).collect();
    let window = window.map(|d| d * n);
    let last_base = ((poh - 1) * pool.stride[0] * g.sh * g.w + (pow - 1) * pool.stride[1] * g.sw) * n;
    let reach = taps.iter().flatten().map(|t| t.0).max().unwrap_or(0) + last_base + window.iter().max().expect("window") + n;
    assert!(reach <= x.len(), "fused convolution reads past its input");
    // Dense filters share their taps: four channels at a time load each input vector once
    // for sixteen multiply-adds (the single-channel step does one load per multiply-add).
    let quads = match &conv.weight {
        ConvWeights::Dense(_) if crate::simd::has_avx512() => Some(ChannelQuads::new(&taps, &conv.bias)),
        _ => None,
    };
    let grouped = quads.as_ref().map_or(0, |q| 4 * q.weights.len());
    // Task = one pooled row, one run of images, every channel: it writes `pow` runs of its
    // images per channel, disjoint from every other task's.
    let image_runs = n.div_ceil(TASK_IMAGES);
    let yp = SendPtr(y.as_mut_ptr());
    let task = |t: usize| {
        let (py, run) = (t / image_runs, t % image_runs);
        let (s0, s1) = (run * TASK_IMAGES, ((run + 1) * TASK_IMAGES).min(n));
        // Channels innermost: they all read the same input pixels of one pooled pixel, which
        // then stay in L1 from one channel to the next.
        for px in 0..pow {
            // Input offset of window position 0 of pooled pixel (py, px), image s0.
            let base = (py * pool.stride[0] * g.sh * g.w + px * pool.stride[1] * g.sw) * n + s0;
            let bases = window.map(|d| base + d);
            // Images s0..s1 of pooled pixel (o, py, px): inside `y`, and this task's alone
            // (tasks differ in py or in the image run).
            // SAFETY: the offset is below `y.len()` (o < cout, py < poh, px < pow, s0 < n).
            let out = |o: usize| unsafe { yp.get().add(o * plane + (py * pow + px) * n + s0) };
            #[cfg(target_arch = "x86_64")]
            if let Some(q) = &quads {
                for (gi, (w, bias)) in q.weights.iter().zip(&q.biases).enumerate() {
                    // SAFETY: AVX-512 present (quads exist only then); reads below `reach`;
                    // writes s1 − s0 values at `out` of channels 4gi..4gi+4.
                    unsafe { avx512::pooled_run4(&q.offsets, w, *bias, x, &bases, [0, 1, 2, 3].map(|c| out(4 * gi + c)), s1 - s0) };
                }
            }
            for (o, channel) in taps.iter().enumerate().skip(grouped) {
                // SAFETY: as `out` says; no other task writes these values.
                let dst = unsafe { std::slice::from_raw_parts_mut(out(o), s1 - s0) };
                // SAFETY: every read is below `reach` (asserted above).
                unsafe { pooled_run(channel, conv.bias[o], x, &bases, dst) };
            }
        }
    };
    let tasks = poh * image_runs;
    let work: usize = taps.iter().map(Vec::len).sum::<usize>() * pool.positions() * poh * pow * n;
    if work >= PARALLEL_MIN_WORK && tasks > 1 {
        (0..tasks).into_par_iter().for_each(task);
    } else {
        (0..tasks).for_each(task);
    }
    y
}

/// The taps of a dense filter bank, four channels at a time: the shared tap offsets, and per
/// group of four channels each tap's four weights (the last `cout % 4` channels are left out).
struct ChannelQuads {
    offsets: Vec<usize>,
    weights: Vec<Vec<[f32; 4]>>,
    biases: Vec<[f32; 4]>,
}

impl ChannelQuads {
    fn new(taps: &[Vec<Tap>], bias: &[f32]) -> ChannelQuads {
        let offsets = taps.first().map_or(Vec::new(), |c| c.iter().map(|t| t.0).collect());
        let weights: Vec<Vec<[f32; 4]>> = taps.chunks_exact(4).map(|g| (0..offsets.len()).map(|t| [0, 1, 2, 3].map(|c| g[c][t].1)).collect()).collect();
        let biases = (0..weights.len()).map(|gi| [0, 1, 2, 3].map(|c| bias[4 * gi + c])).collect();
        ChannelQuads { offsets, weights, biases }
    }
}

/// One pooled pixel of one channel for the images of `dst`: `bases[p]` is the input offset of
/// window position p's convolution for the first of them.
///
/// # Safety
/// `bases[p] + off + dst.len() <= x.len()` for every tap offset and window position.
unsafe fn pooled_run(taps: &[Tap], bias: f32, x: &[f32], bases: &[usize; MAX_WINDOW], dst: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx512() {
        // SAFETY: AVX-512 F present; the caller's bound.
        return unsafe { avx512::pooled_run(taps, bias, x, bases, dst) };
    }
    portable_run(taps, bias, x, bases, dst)
}

multiversion! {
    /// [`pooled_run`] as plain loops, 16 images a step (the AVX2 and baseline copies).
    fn portable_run(taps: &[Tap], bias: f32, x: &[f32], bases: &[usize; MAX_WINDOW], dst: &mut [f32]) {
        let mut s = 0;
        for block in dst.chunks_mut(LANES) {
            let lanes = block.len();
            let mut acc = [[bias; LANES]; MAX_WINDOW];
            for &(off, v) in taps {
                for (a, &b) in acc.iter_mut().zip(bases) {
                    for (a, &xv) in a[..lanes].iter_mut().zip(&x[b + off + s..][..lanes]) {
                        *a += v * xv;
                    }
                }
            }
            for (l, out) in block.iter_mut().enumerate() {
                *out = max(max(acc[0][l], acc[1][l]), max(acc[2][l], acc[3][l]));
            }
            s += lanes;
        }
    }
}

/// 32 images a step: two registers per window position, eight independent multiply-add
/// chains (four would leave half of the two FMA units idle on their latency); one load per tap
/// and register, from L1. The batch's last `len % 32` images take 16-wide and masked steps.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{Tap, MAX_WINDOW};
    use std::arch::x86_64::*;

    /// # Safety
    /// AVX-512 F present; `bases[p] + off + dst.len() <= x.len()` for every tap and position.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn pooled_run(taps: &[Tap], bias: f32, x: &[f32], bases: &[usize; MAX_WINDOW], dst: &mut [f32]) {
        let (len, xp, op) = (dst.len(), x.as_ptr(), dst.as_mut_ptr());
        let b = _mm512_set1_ps(bias);
        let p = bases.map(|o| unsafe { xp.add(o) });
        let mut s = 0;
        while s + 32 <= len {
            let mut a = [b; 8];
            for &(off, v) in taps {
                let w = _mm512_set1_ps(v);
                for k in 0..MAX_WINDOW {
                    let src = p[k].add(off + s);
                    a[2 * k] = _mm512_fmadd_ps(w, _mm512_loadu_ps(src), a[2 * k]);
                    a[2 * k + 1] = _mm512_fmadd_ps(w, _mm512_loadu_ps(src.add(16)), a[2 * k + 1]);
                }
            }
            let lo = _mm512_max_ps(_mm512_max_ps(a[0], a[2]), _mm512_max_ps(a[4], a[6]));
            let hi = _mm512_max_ps(_mm512_max_ps(a[1], a[3]), _mm512_max_ps(a[5], a[7]));
            _mm512_storeu_ps(op.add(s), lo);
            _mm512_storeu_ps(op.add(s + 16), hi);
            s += 32;
        }
        while s < len {
            // 16 images, or the last few under a mask (masked loads never touch the rest).
            let m = lanes(len - s);
            let mut a = [b; MAX_WINDOW];
            for &(off, v) in taps {
                let w = _mm512_set1_ps(v);
                for k in 0..MAX_WINDOW {
                    a[k] = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(m, p[k].add(off + s)), a[k]);
                }
            }
            _mm512_mask_storeu_ps(op.add(s), m, _mm512_max_ps(_mm512_max_ps(a[0], a[1]), _mm512_max_ps(a[2], a[3])));
            s += 16;
        }
    }

    /// The mask of the first `left.min(16)` lanes.
    #[inline(always)]
    fn lanes(left: usize) -> __mmask16 {
        if left >= 16 {
            0xFFFF
        } else {
            (1u16 << left) - 1
        }
    }

    /// Four channels of a dense filter bank at once, 16 images a step: per tap four input
    /// loads (one per window position) feed sixteen multiply-adds (sixteen accumulators).
    ///
    /// # Safety
    /// AVX-512 F present; `bases[p] + off + len <= x.len()` for every offset and position;
    /// `out[c]` valid for `len` writes.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn pooled_run4(offsets: &[usize], w: &[[f32; 4]], bias: [f32; 4], x: &[f32], bases: &[usize; MAX_WINDOW], out: [*mut f32; 4], len: usize) {
        let xp = x.as_ptr();
        let p = bases.map(|o| unsafe { xp.add(o) });
        let mut s = 0;
        while s < len {
            let m = lanes(len - s);
            let mut a = bias.map(|b| [_mm512_set1_ps(b); MAX_WINDOW]);
            for (&off, wq) in offsets.iter().zip(w) {
                let xs = p.map(|pk| unsafe { _mm512_maskz_loadu_ps(m, pk.add(off + s)) });
                for c in 0..4 {
                    let wv = _mm512_set1_ps(wq[c]);
                    for k in 0..MAX_WINDOW {
                        a[c][k] = _mm512_fmadd_ps(wv, xs[k], a[c][k]);
                    }
                }
            }
            for c in 0..4 {
                let v = _mm512_max_ps(_mm512_max_ps(a[c][0], a[c][1]), _mm512_max_ps(a[c][2], a[c][3]));
                _mm512_mask_storeu_ps(out[c].add(s), m, v);
            }
            s += 16;
        }
    }
}

/// The pooling kernel's compare-and-select (see `pool.rs`).
#[inline(always)]
fn max(a: f32, b: f32) -> f32 {
    if a > b {
        a
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dense::{ConvGeom, DenseMat};
    use crate::network::ConvOp;
    use crate::pool::max_pool;
    use crate::sparse::{Csr, SparseConv};

    fn conv_op(geom: ConvGeom, w: Vec<f32>, bias: Vec<f32>, sparse: bool) -> ConvOp {
        let d = DenseMat::new(geom.cout, geom.k(), w);
        let weight = if sparse { ConvWeights::Sparse(SparseConv::new(geom, Csr::from_dense(&d))) } else { ConvWeights::Dense(d) };
        ConvOp { name: "c".into(), geom, groups: 1, weight, bias }
    }

    /// One 3×3 image, a 2×2 filter, 2×2 pooling with stride 1, 16 copies of the image: by hand.
    #[test]
    fn hand_computed() {
        let g = ConvGeom { cin: 1, cout: 1, h: 3, w: 3, kh: 2, kw: 2, sh: 1, sw: 1, ph: 0, pw: 0 };
        // The filter picks x[i][j+1]: conv = [[2, 3], [5, 6]] + 0.5, pooled over all four.
        let op = conv_op(g, vec![0., 1., 0., 0.], vec![0.5], false);
        let pool = PoolWindow { kernel: [2, 2], stride: [1, 1] };
        let n = 16;
        let x: Vec<f32> = (1..=9).flat_map(|v| std::iter::repeat(v as f32).take(n)).collect();
        let y = conv_max_pool(&op, pool, &x, n);
        assert_eq!(y, vec![6.5; n]);
    }

    /// Dense and sparse filters, several channels, strides and window shapes, batches that are
    /// and are not multiples of 16: equal to the convolution then `max_pool` (the unfused path).
    #[test]
    fn matches_conv_then_pool() {
        for &(cin, cout, h, w, k, stride, pool, sparse, n) in &[
            (1usize, 6usize, 12usize, 12usize, 5usize, 1usize, ([2usize, 2usize], [2usize, 2usize]), false, 16usize),
            (3, 5, 11, 10, 3, 1, ([2, 2], [2, 2]), true, 37),
            (2, 4, 9, 9, 3, 2, ([1, 2], [1, 2]), false, 20),
            (4, 3, 10, 8, 2, 1, ([2, 2], [1, 1]), true, 64),
            (2, 3, 7, 7, 3, 1, ([1, 1], [1, 1]), false, 17),
        ] {
            let g = ConvGeom { cin, cout, h, w, kh: k, kw: k, sh: stride, sw: stride, ph: 0, pw: 0 };
            let wts: Vec<f32> = (0..cout * g.k()).map(|i| if sparse && i % 3 != 0 { 0.0 } else { ((i * 7 % 13) as f32 - 6.0) / 5.0 }).collect();
            let bias: Vec<f32> = (0..cout).map(|o| o as f32 * 0.25 - 0.5).collect();
            let op = conv_op(g, wts, bias.clone(), sparse);
            let pool = PoolWindow { kernel: pool.0, stride: pool.1 };
            let x: Vec<f32> = (0..cin * h * w * n).map(|i| ((i * 31 % 97) as f32 - 48.0) / 17.0).collect();
            let mut conv_out: Vec<f32> = bias.iter().flat_map(|&b| std::iter::repeat(b).take(g.out_h() * g.out_w() * n)).collect();
            op.forward_acc(&x, n, &mut conv_out);
            let want = max_pool(&conv_out, [g.out_h(), g.out_w()], n, pool.kernel, pool.stride);
            let got = conv_max_pool(&op, pool, &x, n);
            assert_eq!(got.len(), want.len());
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!((a - b).abs() < 1e-4, "case cin {cin} k {k} stride {stride} n {n}, value {i}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn what_it_fuses() {
        let g = ConvGeom { cin: 1, cout: 2, h: 8, w: 8, kh: 3, kw: 3, sh: 1, sw: 1, ph: 0, pw: 0 };
        let op = conv_op(g, vec![1.0; 18], vec![0.0; 2], false);
        let two = PoolWindow { kernel: [2, 2], stride: [2, 2] };
        assert!(fusable(&op, two, 16));
        assert!(!fusable(&op, two, 1), "one image");
        assert!(!fusable(&op, two, 15), "below one step of images");
        assert!(!fusable(&op, two, 2), "below one step of images");
        assert!(!fusable(&op, PoolWindow { kernel: [3, 3], stride: [2, 2] }, 64), "nine window positions");
        let padded = ConvOp { geom: ConvGeom { ph: 1, pw: 1, ..g }, ..op.clone() };
        assert!(!fusable(&padded, two, 64), "padding");
    }
}
