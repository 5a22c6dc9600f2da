//! A 2-D convolution (square stride and zero padding, no dilation, one group) expressed as
//! im2col + one matrix product, so that autodiff's backward pass is a pair of GEMMs plus a
//! scatter-add instead of Burn/Flex's generic convolution kernels.
//!
//! The layer works on *channel-major* activations `[channels, batch, rows, cols]` (see
//! [`GemmConv2d::forward_cbhw`]): with that layout the whole batch is one
//! `[out, in·kh·kw] × [in·kh·kw, batch·oh·ow]` product, large enough for `gemm` to use every
//! core, and the weight gradient is one product as well (no per-image partial sums).
//! [`GemmConv2d::forward`] accepts the usual `[batch, channels, rows, cols]`.
//!
//! Padded or strided convolutions whose input needs a gradient go through Burn/Flex's own
//! convolution instead, which measured faster there than the padded gather.
//!
//! Parameters are exactly those of `burn::nn::conv::Conv2d`: `weight` `[out, in, kh, kw]`
//! and `bias` `[out]` (optional), initialised by `Conv2dConfig` (same distribution, same random
//! stream). Zero padding is one extra zero element after each flattened channel plane, which
//! every padded tap of the im2col gather points at.

use burn::module::{Module, Param};
use burn::nn::conv::Conv2dConfig;
use burn::prelude::*;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, TensorData};
use std::cell::RefCell;

/// Largest batch convolved at once when no gradient is needed.
const EVAL_SLICE: usize = 256;

#[derive(Module, Debug)]
pub struct GemmConv2d {
    /// `[out, in, kh, kw]`, as `Conv2d`.
    pub weight: Param<Tensor<4>>,
    /// `[out]`, as `Conv2d`.
    pub bias: Option<Param<Tensor<1>>>,
    /// Step between windows, both axes.
    pub stride: usize,
    /// Zero padding on every side.
    pub padding: usize,
}

/// The geometry of one convolution: input `[c, batch, rows, cols]`, kernel, stride, padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Geometry {
    batch: usize,
    rows: usize,
    cols: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    padding: usize,
}

impl Geometry {
    fn out_rows(&self) -> usize {
        (self.rows + 2 * self.padding - self.kh) / self.stride + 1
    }
    fn out_cols(&self) -> usize {
        (self.cols + 2 * self.padding - self.kw) / self.stride + 1
    }
    /// For tap `(ki, kj)` and output row `y`, column `x`: the input pixel, or `None` in the padding.
    #[inline]
    fn source(&self, ki: usize, kj: usize, y: usize, x: usize) -> Option<(usize, usize)> {
        let r = (y * self.stride + ki).checked_sub(self.padding)?;
        let c = (x * self.stride + kj).checked_sub(self.padding)?;
        (r < self.rows && c < self.cols).then_some((r, c))
    }
}

impl GemmConv2d {
    /// A valid (unpadded), stride-1 convolution `channels[0] → channels[1]`, initialised exactly
    /// as `Conv2dConfig::new(channels, kernel).init(device)` would be.
    pub fn new(channels: [usize; 2], kernel: [usize; 2], device: &Device) -> Self {
        Self::from_config(&Conv2dConfig::new(channels, kernel), 1, 0, device)
    }

    /// A square-kernel convolution with `stride` and zero `padding`, its parameters drawn as
    /// `config` (kernel, bias, initializer) draws them. Panics if `config` has a stride,
    /// padding, dilation or groups of its own: they are this layer's to apply.
    pub fn from_config(config: &Conv2dConfig, stride: usize, padding: usize, device: &Device) -> Self {
        assert!(stride >= 1, "GemmConv2d: stride must be at least 1");
        assert!(config.stride == [1, 1] && config.dilation == [1, 1] && config.groups == 1, "GemmConv2d: stride, dilation and groups are not taken from Conv2dConfig");
        let conv = config.init(device);
        Self { weight: conv.weight, bias: conv.bias, stride, padding }
    }

    /// `x`: `[batch, in, rows, cols]` → `[batch, out, out_rows, out_cols]` with
    /// `out = (side + 2·padding − kernel) / stride + 1`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_cbhw(x.swap_dims(0, 1)).swap_dims(0, 1)
    }

    /// Channel-major: `x`: `[in, batch, rows, cols]` → `[out, batch, out_rows, out_cols]`.
    pub fn forward_cbhw(&self, x: Tensor<4>) -> Tensor<4> {
        let [out_c, in_c, kh, kw] = self.weight.dims();
        let [c, batch, rows, cols] = x.dims();
        // Evaluation batches (1000 images) would make multi-hundred-MB column matrices: without
        // a graph to keep, convolve them in slices of the batch instead.
        if batch > EVAL_SLICE && !x.is_tracked() {
            let parts: Vec<Tensor<4>> = x.split(EVAL_SLICE, 1).into_iter().map(|part| self.forward_cbhw(part)).collect();
            return Tensor::cat(parts, 1);
        }
        assert_eq!(c, in_c, "GemmConv2d: input has {c} channels, the weight expects {in_c}");
        let (stride, padding) = (self.stride, self.padding);
        assert!(rows + 2 * padding >= kh && cols + 2 * padding >= kw, "GemmConv2d: input {rows}x{cols} (padding {padding}) smaller than the kernel {kh}x{kw}");
        let g = Geometry { batch, rows, cols, kh, kw, stride, padding };
        let (oh, ow) = (g.out_rows(), g.out_cols());
        let n = batch * oh * ow;
        let device = x.device();

        // im2col: columns[(c, ki, kj), (b, y, x)] = x[c, b, y·s + ki − p, x·s + kj − p], as one
        // gather along the flattened (b, row, col) axis; its backward is one scatter-add.
        if x.is_tracked() && (stride > 1 || padding > 0) {
            return self.forward_flex(x);
        }
        let columns = if x.is_tracked() {
            let index = cached_index(g, &device);
            let plane = batch * rows * cols;
            let flat = x.reshape([in_c, plane]);
            // Padded taps read the zero appended to every plane.
            let flat = if padding > 0 { Tensor::cat(vec![flat, Tensor::zeros([in_c, 1], &device)], 1) } else { flat };
            flat.select(1, index).reshape([in_c * kh * kw, n])
        } else {
            // No gradient flows into x (the network's input, or evaluation): build the columns
            // on the host, which skips the index and the gather.
            let pixels = crate::host_f32(x);
            let columns = im2col_host(&pixels, in_c, g);
            Tensor::<2>::from_data(TensorData::new(columns, [in_c * kh * kw, n]), &device)
        };

        let y = self.weight.val().reshape([out_c, in_c * kh * kw]).matmul(columns);
        let y = match &self.bias {
            Some(bias) => y + bias.val().reshape([out_c, 1]),
            None => y,
        };
        y.reshape([out_c, batch, oh, ow])
    }
}

impl GemmConv2d {
    /// Burn/Flex's own convolution (a tiled im2col + GEMM, with its own backward) for padded or
    /// strided convolutions with a gradient: for ResNet-20's 3x3 layers at batch 128 it took
    /// 160 / 93 / 66 ms of CPU per forward + backward against the padded gather's 343 / 109 / 87
    /// (`bench_conv`, stages 1 / 2 / 3). Channel-major in and out.
    fn forward_flex(&self, x: Tensor<4>) -> Tensor<4> {
        let options = ConvOptions::new([self.stride; 2], [self.padding; 2], [1, 1], 1);
        let bias = self.bias.as_ref().map(|b| b.val());
        burn::tensor::module::conv2d(x.swap_dims(0, 1), self.weight.val(), bias, options).swap_dims(0, 1)
    }
}

/// The im2col gather index for one geometry on `device`, built once per shape and thread (a
/// training run sees a few shapes per layer: full batches, the last batch, eval).
fn cached_index(key: Geometry, device: &Device) -> Tensor<1, Int> {
    thread_local! {
        static CACHE: RefCell<Vec<(Geometry, Device, Tensor<1, Int>)>> = const { RefCell::new(Vec::new()) };
    }
    CACHE.with_borrow_mut(|cache| {
        if let Some((_, _, index)) = cache.iter().find(|(k, d, _)| *k == key && d == device) {
            return index.clone();
        }
        let values = im2col_index(key);
        let len = values.len();
        // i64 is what Flex reads indices as: no conversion on creation or per use.
        let index = Tensor::<1, Int>::from_data(TensorData::new(values, [len]), (device, DType::I64));
        // A ResNet has a dozen distinct geometries (per stage: full and last batch, stride 1
        // and 2, 3x3 and 1x1).
        if cache.len() >= 32 {
            cache.remove(0);
        }
        cache.push((key, device.clone(), index.clone()));
        index
    })
}

/// im2col of a channel-major `[c, batch, rows, cols]` input: rows `(c, ki, kj)`, columns
/// `(b, y, x)`; padded taps are zero.
fn im2col_host(x: &[f32], c: usize, g: Geometry) -> Vec<f32> {
    let (oh, ow) = (g.out_rows(), g.out_cols());
    let mut out = Vec::with_capacity(c * g.kh * g.kw * g.batch * oh * ow);
    for plane in x.chunks_exact(g.batch * g.rows * g.cols).take(c) {
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                for image in plane.chunks_exact(g.rows * g.cols) {
                    if g.stride == 1 && g.padding == 0 {
                        for y in 0..oh {
                            let start = (y + ki) * g.cols + kj;
                            out.extend_from_slice(&image[start..start + ow]);
                        }
                        continue;
                    }
                    for y in 0..oh {
                        for xo in 0..ow {
                            out.push(g.source(ki, kj, y, xo).map_or(0.0, |(r, col)| image[r * g.cols + col]));
                        }
                    }
                }
            }
        }
    }
    out
}

/// For each kernel offset `(ki, kj)` (outer) and output position `(b, y, x)` (inner), the
/// position of the input pixel in one channel plane flattened as `(b, row, col)`; padded taps
/// point one past the plane (where the zero is appended).
fn im2col_index(g: Geometry) -> Vec<i64> {
    let (oh, ow) = (g.out_rows(), g.out_cols());
    let zero = (g.batch * g.rows * g.cols) as i64;
    let mut index = Vec::with_capacity(g.kh * g.kw * g.batch * oh * ow);
    for ki in 0..g.kh {
        for kj in 0..g.kw {
            for b in 0..g.batch {
                for y in 0..oh {
                    for xo in 0..ow {
                        index.push(g.source(ki, kj, y, xo).map_or(zero, |(r, c)| ((b * g.rows + r) * g.cols + c) as i64));
                    }
                }
            }
        }
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::conv::Conv2d;
    use burn::tensor::Distribution;

    fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    fn check(in_c: usize, out_c: usize, batch: usize, side: usize) {
        let device = Device::flex().autodiff();
        let _rng = crate::seeded_test_lock();
        device.seed(11);
        let ours = GemmConv2d::new([in_c, out_c], [5, 5], &device);
        let reference: Conv2d = Conv2dConfig::new([in_c, out_c], [5, 5]).init(&device);
        // Same weights in both.
        let reference = Conv2d {
            weight: Param::from_tensor(ours.weight.val().detach().require_grad()),
            bias: Some(Param::from_tensor(ours.bias.as_ref().unwrap().val().detach().require_grad())),
            ..reference
        };
        let x = Tensor::<4>::random([batch, in_c, side, side], Distribution::Normal(0.0, 1.0), &device);
        let upstream = Tensor::<4>::random([batch, out_c, side - 4, side - 4], Distribution::Normal(0.0, 1.0), &device);

        let x1 = x.clone().detach().require_grad();
        let y1 = ours.forward(x1.clone());
        let g1 = (y1.clone() * upstream.clone()).sum().backward();
        let x2 = x.detach().require_grad();
        let y2 = reference.forward(x2.clone());
        let g2 = (y2.clone() * upstream).sum().backward();

        assert_eq!(y1.dims(), y2.dims());
        let d = max_abs_diff(y1, y2);
        assert!(d < 1e-4, "forward differs by {d}");
        let d = max_abs_diff(x1.grad(&g1).unwrap(), x2.grad(&g2).unwrap());
        assert!(d < 1e-4, "input gradient differs by {d}");
        let (gw1, gw2) = (ours.weight.val().grad(&g1).unwrap(), reference.weight.val().grad(&g2).unwrap());
        let scale = gw2.clone().abs().max().into_scalar::<f32>().max(1.0);
        let d = max_abs_diff(gw1, gw2) / scale;
        assert!(d < 1e-4, "weight gradient differs by {d} (relative)");
        let (gb1, gb2) = (ours.bias.as_ref().unwrap().val().grad(&g1).unwrap(), reference.bias.as_ref().unwrap().val().grad(&g2).unwrap());
        let scale = gb2.clone().abs().max().into_scalar::<f32>().max(1.0);
        let d = max_abs_diff(gb1, gb2) / scale;
        assert!(d < 1e-4, "bias gradient differs by {d} (relative)");
    }

    #[test]
    fn matches_burn_conv2d_single_channel() {
        check(1, 20, 3, 28);
    }

    #[test]
    fn matches_burn_conv2d_multi_channel() {
        check(20, 50, 4, 12);
    }

    /// Stride and padding against Burn's `Conv2d` with the same settings: forward, input,
    /// weight gradients; tracked (gather) and untracked (host im2col) input.
    fn check_strided(in_c: usize, out_c: usize, kernel: usize, stride: usize, padding: usize, side: usize) {
        use burn::nn::PaddingConfig2d;
        let device = Device::flex().autodiff();
        let _rng = crate::seeded_test_lock();
        device.seed(13);
        let config = Conv2dConfig::new([in_c, out_c], [kernel, kernel]).with_bias(false);
        let ours = GemmConv2d::from_config(&config, stride, padding, &device);
        let reference = Conv2d {
            weight: Param::from_tensor(ours.weight.val().detach().require_grad()),
            ..config.clone().with_stride([stride, stride]).with_padding(PaddingConfig2d::Explicit(padding, padding, padding, padding)).init(&device)
        };
        assert!(ours.bias.is_none() && reference.bias.is_none());
        let x = Tensor::<4>::random([3, in_c, side, side], Distribution::Normal(0.0, 1.0), &device);
        for tracked in [true, false] {
            let prep = |t: Tensor<4>| if tracked { t.detach().require_grad() } else { t.detach() };
            let (x1, x2) = (prep(x.clone()), prep(x.clone()));
            let y1 = ours.forward(x1.clone());
            let y2 = reference.forward(x2.clone());
            assert_eq!(y1.dims(), y2.dims());
            let upstream = Tensor::<4>::random(y1.dims(), Distribution::Normal(0.0, 1.0), &device);
            let g1 = (y1.clone() * upstream.clone()).sum().backward();
            let g2 = (y2.clone() * upstream).sum().backward();
            let d = max_abs_diff(y1, y2);
            assert!(d < 1e-4, "forward differs by {d} (tracked {tracked})");
            if tracked {
                let d = max_abs_diff(x1.grad(&g1).unwrap(), x2.grad(&g2).unwrap());
                assert!(d < 1e-4, "input gradient differs by {d}");
            }
            let (gw1, gw2) = (ours.weight.val().grad(&g1).unwrap(), reference.weight.val().grad(&g2).unwrap());
            let scale = gw2.clone().abs().max().into_scalar::<f32>().max(1.0);
            let d = max_abs_diff(gw1, gw2) / scale;
            assert!(d < 1e-4, "weight gradient differs by {d} (relative, tracked {tracked})");
        }
    }

    #[test]
    fn padded_3x3_matches_burn_conv2d() {
        check_strided(3, 4, 3, 1, 1, 8);
    }

    #[test]
    fn strided_padded_3x3_matches_burn_conv2d() {
        // An odd side: the last window starts inside the padding's reach.
        check_strided(4, 6, 3, 2, 1, 9);
    }

    #[test]
    fn strided_1x1_shortcut_matches_burn_conv2d() {
        check_strided(4, 8, 1, 2, 0, 8);
    }

    /// The output size and padded taps by hand: a 2x2 input, 3x3 kernel, padding 1, stride 2
    /// gives one output at (0, 0) whose window covers rows/cols -1..=1.
    #[test]
    fn geometry_by_hand() {
        let g = Geometry { batch: 1, rows: 2, cols: 2, kh: 3, kw: 3, stride: 2, padding: 1 };
        assert_eq!((g.out_rows(), g.out_cols()), (1, 1));
        assert_eq!(g.source(0, 0, 0, 0), None);
        assert_eq!(g.source(1, 1, 0, 0), Some((0, 0)));
        assert_eq!(g.source(2, 2, 0, 0), Some((1, 1)));
        // Index: 9 taps, the zero slot is 4 (one past the 2x2 plane).
        assert_eq!(im2col_index(g), vec![4, 4, 4, 4, 0, 1, 4, 2, 3]);
        let x = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(im2col_host(&x, 1, g), vec![0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 3.0, 4.0]);
    }

    /// conv → conv: the first layer's input needs no gradient (host im2col), the second's does
    /// (gather): the first layer's weight gradient must still match Burn's.
    #[test]
    fn stacked_layers_match_burn() {
        let device = Device::flex().autodiff();
        let _rng = crate::seeded_test_lock();
        device.seed(3);
        let (a, b) = (GemmConv2d::new([1, 4], [5, 5], &device), GemmConv2d::new([4, 6], [5, 5], &device));
        let twin = |l: &GemmConv2d, c: [usize; 2]| Conv2d {
            weight: Param::from_tensor(l.weight.val().detach().require_grad()),
            bias: Some(Param::from_tensor(l.bias.as_ref().unwrap().val().detach().require_grad())),
            ..Conv2dConfig::new(c, [5, 5]).init(&device)
        };
        let (ra, rb) = (twin(&a, [1, 4]), twin(&b, [4, 6]));
        let x = Tensor::<4>::random([2, 1, 14, 14], Distribution::Normal(0.0, 1.0), &device);
        let g1 = b.forward(a.forward(x.clone())).powi_scalar(2).sum().backward();
        let g2 = rb.forward(ra.forward(x)).powi_scalar(2).sum().backward();
        let ga = a.weight.val().grad(&g1).expect("first layer gets a gradient");
        let gr = ra.weight.val().grad(&g2).unwrap();
        let scale = gr.clone().abs().max().into_scalar::<f32>().max(1.0);
        let d = max_abs_diff(ga, gr) / scale;
        assert!(d < 1e-4, "first layer's weight gradient differs by {d} (relative)");
    }

    /// Large untracked batches are convolved in slices; the result must not change.
    #[test]
    fn sliced_evaluation_matches_burn() {
        let device = Device::flex();
        let _rng = crate::seeded_test_lock();
        device.seed(9);
        let ours = GemmConv2d::new([2, 3], [5, 5], &device);
        let reference = Conv2d {
            weight: Param::from_tensor(ours.weight.val()),
            bias: Some(Param::from_tensor(ours.bias.as_ref().unwrap().val())),
            ..Conv2dConfig::new([2, 3], [5, 5]).init(&device)
        };
        let x = Tensor::<4>::random([EVAL_SLICE * 2 + 3, 2, 9, 9], Distribution::Normal(0.0, 1.0), &device);
        let d = max_abs_diff(ours.forward(x.clone()), reference.forward(x));
        assert!(d < 1e-4, "forward differs by {d}");
    }

    #[test]
    fn same_initialisation_as_conv2d() {
        let device = Device::flex();
        let _rng = crate::seeded_test_lock();
        device.seed(5);
        // Parameters are initialised lazily, on first use: draw each model's values right after
        // seeding.
        let ours = GemmConv2d::new([20, 50], [5, 5], &device);
        let ours = (ours.weight.val().into_data(), ours.bias.unwrap().val().into_data());
        device.seed(5);
        let reference = Conv2dConfig::new([20, 50], [5, 5]).init(&device);
        let reference = (reference.weight.val().into_data(), reference.bias.unwrap().val().into_data());
        assert_eq!(ours, reference);
    }
}

#[cfg(test)]
mod bench {
    //! `cargo test --release -p dtprune-train --lib bench_conv -- --ignored --nocapture`
    use super::*;
    use burn::nn::conv::Conv2d;
    use burn::tensor::Distribution;
    use std::time::Instant;

    /// Process CPU seconds (user + system) from /proc/self/stat.
    fn cpu_seconds() -> f64 {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        let ticks: f64 = fields.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
            + fields.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
        ticks / 100.0
    }

    fn time(label: &str, iters: usize, mut f: impl FnMut()) {
        f();
        let (t, c) = (Instant::now(), cpu_seconds());
        for _ in 0..iters {
            f();
        }
        let n = iters as f64;
        println!("{label:40} {:7.2} ms wall {:7.2} ms cpu per iter", t.elapsed().as_secs_f64() * 1e3 / n, (cpu_seconds() - c) * 1e3 / n);
    }

    #[test]
    #[ignore]
    fn bench_conv() {
        use burn::nn::PaddingConfig2d;
        let device = Device::flex().autodiff();
        let b = 128;
        // LeNet-5's two layers, then ResNet-20's 3x3 convolutions of each stage (padding 1).
        for (in_c, out_c, side, kernel, padding, input_grad) in [(1, 20, 28, 5, 0, false), (20, 50, 12, 5, 0, true), (16, 16, 32, 3, 1, true), (32, 32, 16, 3, 1, true), (64, 64, 8, 3, 1, true)] {
            let config = Conv2dConfig::new([in_c, out_c], [kernel, kernel]);
            let ours = GemmConv2d::from_config(&config, 1, padding, &device);
            let theirs: Conv2d = config.with_padding(PaddingConfig2d::Explicit(padding, padding, padding, padding)).init(&device);
            let x = Tensor::<4>::random([b, in_c, side, side], Distribution::Normal(0.0, 1.0), &device);
            let xc = x.clone().swap_dims(0, 1).reshape([in_c, b, side, side]);
            let prep = |t: Tensor<4>| if input_grad { t.detach().require_grad() } else { t.detach() };
            let label = format!("{in_c}->{out_c} {kernel}x{kernel} on {side}x{side}");
            time(&format!("burn Conv2d {label} fwd+bwd"), 10, || {
                let _ = theirs.forward(prep(x.clone())).sum().backward();
            });
            time(&format!("GemmConv2d {label} fwd+bwd (cbhw)"), 10, || {
                let _ = ours.forward_cbhw(prep(xc.clone())).sum().backward();
            });
            time(&format!("GemmConv2d {label} fwd (cbhw)"), 10, || {
                let _ = ours.forward_cbhw(prep(xc.clone())).sum().into_scalar::<f32>();
            });
        }
    }
}
