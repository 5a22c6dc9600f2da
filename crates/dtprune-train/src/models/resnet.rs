//! Residual networks for CIFAR-size images (He et al. 2016): a 3×3 stem convolution, stages of
//! basic blocks (two 3×3 convolutions with BatchNorm, plus the shortcut), global average
//! pooling and one linear classifier.
//!
//! - `resnet20`, `resnet56`: the CIFAR variant of the paper, 3 stages of 16/32/64 channels with
//!   3 and 9 blocks each (6n+2 layers);
//! - `resnet18`: ImageNet's 4 stages of 64/128/256/512 channels with 2 blocks each, in the CIFAR
//!   form everyone trains (3×3 stem, stride 1, no max-pool).
//!
//! Shortcuts are **option B**: a 1×1 convolution with stride 2 and a BatchNorm where the shape
//! changes (the first block of a stage after the first), the identity everywhere else — for all
//! three, so every model has the same kind of removable channel groups. Names follow
//! torchvision and the common CIFAR code: `conv1`, `bn1`, `layerS.B.{conv1,bn1,conv2,bn2}`,
//! `layerS.B.shortcut.{0,1}`, `fc`. Convolutions have no bias (BatchNorm follows each).
//!
//! Activations run channel-major, `[channels, batch, rows, cols]`, so every convolution is one
//! matrix product over the whole batch ([`GemmConv2d`]) and BatchNorm reduces contiguous rows.

use crate::model_graph::ModelGraph;
use crate::input::{ImageData, InputInfo};
use crate::layers::{global_avg_pool_cbhw, BatchNorm2d, GemmConv2d};
use crate::model::Model;
use crate::model_params::ModelParams;
use crate::task::Classification;
use burn::nn::conv::Conv2dConfig;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use dtprune_prune::params::{ParamKind, ParamSpec, ParamValue};
use std::fmt::Debug;
use std::marker::PhantomData;

/// One ResNet family member: blocks and base channels per stage.
pub trait Arch: Debug + Clone + Send + Sync + 'static {
    const NAME: &'static str;
    /// Basic blocks per stage.
    const BLOCKS: &'static [usize];
    /// Channels per stage at width 1 (the stem has the first stage's).
    const WIDTHS: &'static [usize];
}

#[derive(Debug, Clone)]
pub struct R20;
#[derive(Debug, Clone)]
pub struct R56;
#[derive(Debug, Clone)]
pub struct R18;

impl Arch for R20 {
    const NAME: &'static str = "resnet20";
    const BLOCKS: &'static [usize] = &[3, 3, 3];
    const WIDTHS: &'static [usize] = &[16, 32, 64];
}
impl Arch for R56 {
    const NAME: &'static str = "resnet56";
    const BLOCKS: &'static [usize] = &[9, 9, 9];
    const WIDTHS: &'static [usize] = &[16, 32, 64];
}
impl Arch for R18 {
    const NAME: &'static str = "resnet18";
    const BLOCKS: &'static [usize] = &[2, 2, 2, 2];
    const WIDTHS: &'static [usize] = &[64, 128, 256, 512];
}

pub type Resnet20 = ResNet<R20>;
pub type Resnet56 = ResNet<R56>;
pub type Resnet18 = ResNet<R18>;

/// Two 3×3 convolutions with BatchNorm; the input comes back through the shortcut before the
/// last ReLU.
#[derive(Module, Debug)]
pub struct BasicBlock {
    pub conv1: GemmConv2d,
    pub bn1: BatchNorm2d,
    pub conv2: GemmConv2d,
    pub bn2: BatchNorm2d,
    /// Option B: 1×1 convolution (stride 2) + BatchNorm where the shape changes; identity otherwise.
    pub shortcut: Option<(GemmConv2d, BatchNorm2d)>,
}

/// He et al.'s initialisation for convolutions followed by ReLU (`kaiming_normal_`, fan-out),
/// as torchvision's ResNets use.
fn conv(in_c: usize, out_c: usize, kernel: usize, stride: usize, device: &Device) -> GemmConv2d {
    let config = Conv2dConfig::new([in_c, out_c], [kernel, kernel])
        .with_bias(false)
        .with_initializer(Initializer::KaimingNormal { gain: std::f64::consts::SQRT_2, fan_out_only: true });
    GemmConv2d::from_config(&config, stride, kernel / 2, device)
}

impl BasicBlock {
    pub fn new(in_c: usize, out_c: usize, stride: usize, device: &Device) -> Self {
        let shortcut = (stride != 1 || in_c != out_c).then(|| (conv(in_c, out_c, 1, stride, device), BatchNorm2d::new(out_c, device)));
        Self {
            conv1: conv(in_c, out_c, 3, stride, device),
            bn1: BatchNorm2d::new(out_c, device),
            conv2: conv(out_c, out_c, 3, 1, device),
            bn2: BatchNorm2d::new(out_c, device),
            shortcut,
        }
    }

    /// Channel-major in and out.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let out = relu(self.bn1.forward_cbhw(self.conv1.forward_cbhw(x.clone())));
        let out = self.bn2.forward_cbhw(self.conv2.forward_cbhw(out));
        let shortcut = match &self.shortcut {
            Some((conv, bn)) => bn.forward_cbhw(conv.forward_cbhw(x)),
            None => x,
        };
        relu(out + shortcut)
    }
}

#[derive(Module, Debug)]
pub struct ResNet<A: Arch> {
    pub conv1: GemmConv2d,
    pub bn1: BatchNorm2d,
    pub layer1: Vec<BasicBlock>,
    pub layer2: Vec<BasicBlock>,
    pub layer3: Vec<BasicBlock>,
    /// Empty for the three-stage CIFAR ResNets.
    pub layer4: Vec<BasicBlock>,
    pub fc: Linear,
    #[module(skip)]
    arch: PhantomData<A>,
}

const PARAMS: &[ParamSpec] = &[ParamSpec {
    name: "width",
    kind: ParamKind::Float { min: 0.0625, max: 8.0, open_min: false },
    default: ParamValue::Float(1.0),
    help: "channel multiplier: every stage has round(width x its base channels), at least 1",
}];

/// Channels of each stage for a width multiplier.
pub fn stage_widths<A: Arch>(width: f64) -> Vec<usize> {
    A::WIDTHS.iter().map(|&w| ((w as f64 * width).round() as usize).max(1)).collect()
}

impl<A: Arch> ResNet<A> {
    /// The stages, in order (three or four).
    pub fn stages(&self) -> Vec<&[BasicBlock]> {
        [&self.layer1, &self.layer2, &self.layer3, &self.layer4].into_iter().filter(|s| !s.is_empty()).map(Vec::as_slice).collect()
    }
}

impl<A: Arch> Model for ResNet<A> {
    type Input = ImageData;
    type Task = Classification;

    fn params() -> &'static [ParamSpec] {
        PARAMS
    }

    fn check_input(info: InputInfo, _params: &ModelParams) -> Result<(), String> {
        // Every stage after the first halves the side; the last must keep at least one pixel.
        let min = 1 << (A::BLOCKS.len() - 1);
        if info.rows < min || info.cols < min {
            return Err(format!("{} needs images of at least {min}x{min} pixels; these are {}x{}", A::NAME, info.rows, info.cols));
        }
        Ok(())
    }

    fn init(info: InputInfo, params: &ModelParams, device: &Device) -> Self {
        let widths = stage_widths::<A>(params.float("width"));
        let mut stages: Vec<Vec<BasicBlock>> = Vec::new();
        let mut in_c = widths[0];
        for (s, (&blocks, &out_c)) in A::BLOCKS.iter().zip(&widths).enumerate() {
            let stage = (0..blocks)
                .map(|b| {
                    let stride = if s > 0 && b == 0 { 2 } else { 1 };
                    let block = BasicBlock::new(in_c, out_c, stride, device);
                    in_c = out_c;
                    block
                })
                .collect();
            stages.push(stage);
        }
        stages.resize_with(4, Vec::new);
        let mut stages = stages.into_iter();
        let mut next = || stages.next().expect("four stages");
        Self {
            conv1: conv(info.channels, widths[0], 3, 1, device),
            bn1: BatchNorm2d::new(widths[0], device),
            layer1: next(),
            layer2: next(),
            layer3: next(),
            layer4: next(),
            fc: LinearConfig::new(in_c, info.classes).init(device),
            arch: PhantomData,
        }
    }

    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        // [batch, c, h, w] -> [c, batch, h, w]
        let mut x = relu(self.bn1.forward_cbhw(self.conv1.forward_cbhw(images.swap_dims(0, 1))));
        for stage in self.stages() {
            for block in stage {
                x = block.forward(x);
            }
        }
        self.fc.forward(global_avg_pool_cbhw(x))
    }

    fn graph(&self, info: InputInfo) -> ModelGraph {
        super::resnet_graph::graph(self, info).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::list_params;
    use crate::registry::default_params;

    const CIFAR: InputInfo = InputInfo { channels: 3, rows: 32, cols: 32, classes: 10 };

    /// Parameter counts of the published models (weights, BatchNorm γ/β, classifier; running
    /// statistics not counted): ResNet-20 0.27M, ResNet-56 0.85M, CIFAR ResNet-18 11.17M.
    #[test]
    fn parameter_counts_match_the_published_models() {
        let device = Device::flex();
        let trainable = |infos: Vec<crate::params::ParamInfo>| infos.iter().filter(|p| !p.name.ends_with("running_mean") && !p.name.ends_with("running_var")).map(|p| p.numel()).sum::<usize>();
        // Option-B shortcuts add 1x1 convs + BN: 16·32+64 + 32·64+128 = 2,752 over option A's 269,722.
        assert_eq!(trainable(list_params(&Resnet20::init(CIFAR, &default_params::<Resnet20>(), &device))), 272_474);
        assert_eq!(trainable(list_params(&Resnet56::init(CIFAR, &default_params::<Resnet56>(), &device))), 855_770);
        // torchvision-style CIFAR ResNet-18 (kuangliu): 11,173,962.
        assert_eq!(trainable(list_params(&Resnet18::init(CIFAR, &default_params::<Resnet18>(), &device))), 11_173_962);
    }

    #[test]
    fn pytorch_names_and_layouts() {
        let device = Device::flex();
        let model = Resnet20::init(CIFAR, &default_params::<Resnet20>(), &device);
        let params: Vec<(String, Vec<usize>)> = list_params(&model).into_iter().map(|p| (p.name.clone(), p.torch_shape())).collect();
        let has = |name: &str, shape: &[usize]| assert!(params.iter().any(|(n, s)| n == name && s == shape), "{name} {shape:?} missing in {params:?}");
        has("conv1.weight", &[16, 3, 3, 3]);
        has("bn1.running_var", &[16]);
        has("layer1.0.conv1.weight", &[16, 16, 3, 3]);
        has("layer2.0.shortcut.0.weight", &[32, 16, 1, 1]);
        has("layer2.0.shortcut.1.running_mean", &[32]);
        has("layer3.2.bn2.bias", &[64]);
        has("fc.weight", &[10, 64]);
        assert!(!params.iter().any(|(n, _)| n.starts_with("layer1.0.shortcut") || n.starts_with("layer4")));
        // Only convolution and linear weights are prunable by default.
        let prunable: Vec<String> = list_params(&model).into_iter().filter(|p| p.prunable_by_default()).map(|p| p.name).collect();
        assert_eq!(prunable.len(), 19 + 2 + 1);
    }

    #[test]
    fn width_multiplier_scales_every_stage() {
        assert_eq!(stage_widths::<R20>(0.5), vec![8, 16, 32]);
        assert_eq!(stage_widths::<R18>(0.25), vec![16, 32, 64, 128]);
        assert_eq!(stage_widths::<R20>(0.0625), vec![1, 2, 4]);
    }

    /// A training step gives gradients to every trainable tensor (and none to the running
    /// statistics); eval mode uses the running statistics, train mode the batch's.
    #[test]
    fn trains_and_evaluates_on_small_images() {
        let device = Device::flex().autodiff();
        let _rng = crate::seeded_test_lock();
        device.seed(1);
        let info = InputInfo { channels: 3, rows: 8, cols: 8, classes: 4 };
        let mut given = std::collections::BTreeMap::new();
        given.insert("width".to_string(), toml::Value::Float(0.25));
        let params = crate::model_params::resolve_model_params("resnet20", Resnet20::params(), &given).unwrap();
        let model = Resnet20::init(info, &params, &device);
        let x = Tensor::<4>::random([5, 3, 8, 8], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
        let (logits, stats) = crate::layers::batch_stats::capture(|| model.forward(x.clone()));
        assert_eq!(logits.dims(), [5, 4]);
        // stem + 9 blocks x 2 + 2 shortcuts
        assert_eq!(stats.len(), 1 + 18 + 2);
        let mut grads = burn::optim::GradientsParams::from_grads(logits.powi_scalar(2).sum().backward(), &model);
        for p in list_params(&model) {
            let has_grad = match p.burn_shape.len() {
                1 => grads.remove::<1>(p.id).is_some(),
                2 => grads.remove::<2>(p.id).is_some(),
                _ => grads.remove::<4>(p.id).is_some(),
            };
            assert_eq!(has_grad, !p.name.contains("running_"), "{}", p.name);
        }
        let eval = model.valid().forward(x.inner());
        assert_eq!(eval.dims(), [5, 4]);
    }
}
