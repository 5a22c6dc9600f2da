//! Channel-major 2-D convolution as one Burn operation with its own backward pass (a backend
//! extension, see Burn's `backend_extension`): forward, input gradient and weight gradient are
//! the host kernels of [`crate::kernels::conv`], run on the Flex tensors' memory.
//!
//! Why: Flex's generic convolution computes the input gradient of a padded convolution as a
//! transposed convolution with direct loops, and composing im2col from Burn ops (gather +
//! matmul) makes the input gradient a scatter-add. Both measured slower than an im2col + GEMM
//! per slice of the batch in each direction (`bench_conv` in `gemm_conv.rs`).
//!
//! Only the Flex backend (and autodiff over it) implements the operation; every dtprune model
//! runs there. Weights and activations are `f32`.

use crate::kernels::conv::{self, ConvGeometry};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex};
use burn::prelude::*;
use burn::tensor::TensorData;

#[backend_extension(Flex, Autodiff)]
pub trait ChannelMajorConv: Backend {
    /// `x` `[channels, batch, rows, cols]`, `weight` `[out, channels, kh, kw]` →
    /// `[out, batch, out_rows, out_cols]`; zero padding, no bias.
    fn conv_cbhw(x: FloatTensor<Self>, weight: FloatTensor<Self>, stride: usize, padding: usize) -> FloatTensor<Self>;
}

/// `x`: `[channels, batch, rows, cols]`, `weight`: `[out, channels, kh, kw]` →
/// `[out, batch, (rows + 2·padding − kh)/stride + 1, (cols + 2·padding − kw)/stride + 1]`.
///
/// # Panics
/// If the channel counts differ, the kernel does not fit the padded input, or the stride is 0.
pub fn conv2d_cbhw(x: Tensor<4>, weight: Tensor<4>, stride: usize, padding: usize) -> Tensor<4> {
    let [c, batch, rows, cols] = x.dims();
    let [out, in_c, kh, kw] = weight.dims();
    assert_eq!(c, in_c, "conv2d_cbhw: input has {c} channels, the weight expects {in_c}");
    let g = ConvGeometry { channels: c, batch, rows, cols, out_channels: out, kh, kw, stride, padding };
    assert!(g.is_valid(), "conv2d_cbhw: a {kh}x{kw} kernel with stride {stride} does not fit a {rows}x{cols} input with padding {padding}");
    Tensor::from_dispatch(<Dispatch as ChannelMajorConv>::conv_cbhw(x.into_dispatch(), weight.into_dispatch(), stride, padding))
}

fn geometry(x: &FlexTensor, weight: &FlexTensor, stride: usize, padding: usize) -> ConvGeometry {
    let (xs, ws) = (x.layout().shape(), weight.layout().shape());
    ConvGeometry { channels: xs[0], batch: xs[1], rows: xs[2], cols: xs[3], out_channels: ws[0], kh: ws[2], kw: ws[3], stride, padding }
}

/// The tensor's values in row-major order (a copy only when its layout is not contiguous).
fn contiguous(t: &FlexTensor) -> FlexTensor {
    if t.is_contiguous() {
        t.clone()
    } else {
        t.to_contiguous()
    }
}

fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("conv2d_cbhw: f32 tensors in a contiguous layout")
}

fn tensor(values: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

impl ChannelMajorConv for Flex {
    fn conv_cbhw(x: FlexTensor, weight: FlexTensor, stride: usize, padding: usize) -> FlexTensor {
        let g = geometry(&x, &weight, stride, padding);
        let (x, weight) = (contiguous(&x), contiguous(&weight));
        let y = conv::forward(values(&x), values(&weight), &g);
        tensor(y, [g.out_channels, g.batch, g.out_rows(), g.out_cols()])
    }
}

#[derive(Debug)]
struct ConvBackward;

impl Backward<Flex, 2> for ConvBackward {
    /// The (contiguous) input and weight, stride and padding.
    type State = (FlexTensor, FlexTensor, usize, usize);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x, node_weight] = ops.parents;
        let upstream = contiguous(&grads.consume::<Flex>(&ops.node));
        let (x, weight, stride, padding) = ops.state;
        let g = geometry(&x, &weight, stride, padding);
        let (dx, dw) = conv::backward(values(&x), values(&weight), values(&upstream), &g, node_x.is_some());
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<Flex>(node.id, tensor(dx, [g.channels, g.batch, g.rows, g.cols]));
        }
        if let Some(node) = node_weight {
            grads.register::<Flex>(node.id, tensor(dw, [g.out_channels, g.channels, g.kh, g.kw]));
        }
    }
}

impl<C: CheckpointStrategy> ChannelMajorConv for Autodiff<Flex, C> {
    fn conv_cbhw(x: FloatTensor<Self>, weight: FloatTensor<Self>, stride: usize, padding: usize) -> FloatTensor<Self> {
        let prep = ConvBackward.prepare::<C>([x.node(), weight.node()]).compute_bound().stateful();
        let (x, weight) = (contiguous(&x.into_primitive()), contiguous(&weight.into_primitive()));
        let output = Flex::conv_cbhw(x.clone(), weight.clone(), stride, padding);
        match prep {
            OpsKind::Tracked(prep) => prep.finish((x, weight, stride, padding), output),
            OpsKind::UnTracked(prep) => prep.finish(output),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::nn::conv::{Conv2d, Conv2dConfig};
    use burn::nn::PaddingConfig2d;
    use burn::tensor::Distribution;

    fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    /// Forward and both gradients against Burn's own `Conv2d` (batch-major), through autodiff.
    fn check(in_c: usize, out_c: usize, kernel: usize, stride: usize, padding: usize, side: usize) {
        let device = Device::flex().autodiff();
        let _rng = crate::seeded_test_lock();
        device.seed(21);
        let config = Conv2dConfig::new([in_c, out_c], [kernel, kernel]).with_bias(false);
        let reference: Conv2d = config.with_stride([stride, stride]).with_padding(PaddingConfig2d::Explicit(padding, padding, padding, padding)).init(&device);
        let weight = reference.weight.val().detach().require_grad();
        let x = Tensor::<4>::random([3, in_c, side, side], Distribution::Normal(0.0, 1.0), &device);
        let (x1, x2) = (x.clone().detach().require_grad(), x.detach().require_grad());
        let y1 = conv2d_cbhw(x1.clone().swap_dims(0, 1), weight.clone(), stride, padding).swap_dims(0, 1);
        let reference = Conv2d { weight: Param::from_tensor(reference.weight.val().detach().require_grad()), ..reference };
        let y2 = reference.forward(x2.clone());
        assert_eq!(y1.dims(), y2.dims());
        let upstream = Tensor::<4>::random(y1.dims(), Distribution::Normal(0.0, 1.0), &device);
        let g1 = (y1.clone() * upstream.clone()).sum().backward();
        let g2 = (y2.clone() * upstream).sum().backward();
        let d = max_abs_diff(y1, y2);
        assert!(d < 1e-4, "forward differs by {d}");
        let d = max_abs_diff(x1.grad(&g1).unwrap(), x2.grad(&g2).unwrap());
        assert!(d < 1e-4, "input gradient differs by {d}");
        let (gw1, gw2) = (weight.grad(&g1).unwrap(), reference.weight.val().grad(&g2).unwrap());
        let scale = gw2.clone().abs().max().into_scalar::<f32>().max(1.0);
        let d = max_abs_diff(gw1, gw2) / scale;
        assert!(d < 1e-4, "weight gradient differs by {d} (relative)");
    }

    #[test]
    fn padded_3x3_matches_burn() {
        check(3, 4, 3, 1, 1, 8);
    }

    #[test]
    fn strided_padded_3x3_matches_burn() {
        check(4, 6, 3, 2, 1, 9);
    }

    #[test]
    fn strided_1x1_matches_burn() {
        check(4, 8, 1, 2, 0, 8);
    }

    #[test]
    fn valid_5x5_matches_burn() {
        check(2, 3, 5, 1, 0, 12);
    }

    /// Without autodiff the operation runs on Flex directly; an input that needs no gradient
    /// still gives the weight its gradient.
    #[test]
    fn untracked_input_and_plain_device() {
        let device = Device::flex();
        let x = Tensor::<4>::ones([1, 1, 2, 2], &device);
        let w = Tensor::<4>::ones([1, 1, 3, 3], &device);
        assert_eq!(crate::host_f32(conv2d_cbhw(x, w, 1, 1)), vec![4.0; 4]);

        let device = Device::flex().autodiff();
        let x = Tensor::<4>::ones([1, 1, 2, 2], &device);
        let w = Tensor::<4>::ones([1, 1, 3, 3], &device).require_grad();
        let grads = conv2d_cbhw(x, w.clone(), 1, 1).sum().backward();
        // Each tap's gradient counts the input pixels it reads over the four windows.
        assert_eq!(crate::host_f32(w.grad(&grads).unwrap()), vec![1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0]);
    }
}
