//! A 2-D convolution layer (square stride and zero padding, no dilation, one group) on
//! *channel-major* activations `[channels, batch, rows, cols]` (see
//! [`GemmConv2d::forward_cbhw`]); [`GemmConv2d::forward`] accepts the usual
//! `[batch, channels, rows, cols]`.
//!
//! The work is one operation with its own backward pass ([`super::conv2d_cbhw`]: im2col + GEMM
//! per slice of the batch, forward and both gradients), instead of Burn/Flex's generic
//! convolution, whose input gradient is a transposed convolution with direct loops. With the
//! batch inside each channel plane no layout change happens between layers.
//!
//! Parameters are exactly those of `burn::nn::conv::Conv2d`: `weight` `[out, in, kh, kw]`
//! and `bias` `[out]` (optional), initialised by `Conv2dConfig` (same distribution, same random
//! stream).

use burn::module::{Module, Param};
use burn::nn::conv::Conv2dConfig;
use burn::prelude::*;

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
        let y = super::conv2d_cbhw(x, self.weight.val(), self.stride, self.padding);
        match &self.bias {
            Some(bias) => {
                let [out_c, batch, oh, ow] = y.dims();
                (y.reshape([out_c, batch * oh * ow]) + bias.val().reshape([out_c, 1])).reshape([out_c, batch, oh, ow])
            }
            None => y,
        }
    }
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
    /// weight gradients; an input that needs a gradient and one that does not.
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

    /// conv → conv: the first layer's input needs no gradient, the second's does: the first
    /// layer's weight gradient must still match Burn's.
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

    /// Large untracked batches are convolved in many slices; the result must not change.
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
        let x = Tensor::<4>::random([515, 2, 9, 9], Distribution::Normal(0.0, 1.0), &device);
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
        // LeNet-5's two layers, then ResNet-20's convolutions: the stem, the 3x3 of each stage
        // (padding 1), the strided 3x3 and 1x1 at the stage changes.
        for (in_c, out_c, side, kernel, stride, padding, input_grad) in [
            (1, 20, 28, 5, 1, 0, false),
            (20, 50, 12, 5, 1, 0, true),
            (3, 16, 32, 3, 1, 1, false),
            (16, 16, 32, 3, 1, 1, true),
            (32, 32, 16, 3, 1, 1, true),
            (64, 64, 8, 3, 1, 1, true),
            (16, 32, 32, 3, 2, 1, true),
            (16, 32, 32, 1, 2, 0, true),
        ] {
            let config = Conv2dConfig::new([in_c, out_c], [kernel, kernel]);
            let ours = GemmConv2d::from_config(&config, stride, padding, &device);
            let theirs: Conv2d = config.with_stride([stride, stride]).with_padding(PaddingConfig2d::Explicit(padding, padding, padding, padding)).init(&device);
            let x = Tensor::<4>::random([b, in_c, side, side], Distribution::Normal(0.0, 1.0), &device);
            let xc = x.clone().swap_dims(0, 1).reshape([in_c, b, side, side]);
            let prep = |t: Tensor<4>| if input_grad { t.detach().require_grad() } else { t.detach() };
            let label = format!("{in_c}->{out_c} {kernel}x{kernel}/{stride} on {side}x{side}");
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
