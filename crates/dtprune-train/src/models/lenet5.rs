use crate::graph::{conv2d, linear, maxpool2d, model_graph, param_dims, Layer};
use crate::model_graph::ModelGraph;
use crate::input::{ImageData, InputInfo};
use crate::layers::{max_pool2d, GemmConv2d};
use crate::model::Model;
use crate::model_params::ModelParams;
use crate::task::Classification;
use burn::nn::{Linear, LinearConfig, Relu};
use burn::prelude::*;
use dtprune_prune::params::{ParamKind, ParamSpec, ParamValue};

/// LeNet-5 as in Caffe's MNIST example, the variant the pruning papers (Han et al. 2015,
/// Dynamic Network Surgery) use: no activation after the convolutions.
///
/// The convolutions are [`GemmConv2d`] (same parameters and layouts as `Conv2d`, im2col +
/// GEMM inside) and the convolution/pooling part runs channel-major, `[channels, batch, h, w]`,
/// so each convolution is one large matrix product over the whole batch.
#[derive(Module, Debug)]
pub struct Lenet5 {
    conv1: GemmConv2d,
    conv2: GemmConv2d,
    fc1: Linear,
    fc2: Linear,
    relu: Relu,
}

/// Side of the feature map after conv5 → pool2 → conv5 → pool2.
fn feature_side(side: usize) -> usize {
    ((side - 4) / 2 - 4) / 2
}

const PARAMS: &[ParamSpec] = &[
    ParamSpec { name: "conv1", kind: ParamKind::Int { min: 1, max: 1024 }, default: ParamValue::Int(20), help: "output channels of the first convolution" },
    ParamSpec { name: "conv2", kind: ParamKind::Int { min: 1, max: 1024 }, default: ParamValue::Int(50), help: "output channels of the second convolution" },
    ParamSpec { name: "fc", kind: ParamKind::Int { min: 1, max: 16384 }, default: ParamValue::Int(500), help: "units of the hidden fully connected layer" },
];

impl Model for Lenet5 {
    type Input = ImageData;
    type Task = Classification;
    /// Two shards: 9.8–10.6 s/epoch against 17.8–18.8 s unsplit and 11.3 s with three
    /// (`dtprune bench train --model lenet5 --replicas 2,1`, `--replicas 1,2,3`); most of its
    /// operations are small and run on one core each.
    const REPLICAS: usize = 2;

    fn params() -> &'static [ParamSpec] {
        PARAMS
    }

    fn check_input(info: InputInfo, _params: &ModelParams) -> Result<(), String> {
        // Two valid 5x5 convolutions and two 2x2 poolings need at least 16 pixels a side.
        if info.rows < 16 || info.cols < 16 {
            return Err(format!("lenet5 needs images of at least 16x16 pixels; these are {}x{}", info.rows, info.cols));
        }
        Ok(())
    }

    fn init(info: InputInfo, params: &ModelParams, device: &Device) -> Self {
        let [c1, c2, fc] = ["conv1", "conv2", "fc"].map(|k| params.int(k) as usize);
        let flat = c2 * feature_side(info.rows) * feature_side(info.cols);
        Self {
            conv1: GemmConv2d::new([info.channels, c1], [5, 5], device),
            conv2: GemmConv2d::new([c1, c2], [5, 5], device),
            fc1: LinearConfig::new(flat, fc).init(device),
            fc2: LinearConfig::new(fc, info.classes).init(device),
            relu: Relu::new(),
        }
    }

    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        // [batch, c, h, w] -> [c, batch, h, w]; pooling is per (first, second) index pair, so
        // it does not care which of the two is the batch.
        let x = images.swap_dims(0, 1);
        let x = max_pool2d(self.conv1.forward_cbhw(x), 2);
        let x = max_pool2d(self.conv2.forward_cbhw(x), 2);
        let x: Tensor<2> = x.swap_dims(0, 1).flatten(1, 3);
        let x = self.relu.forward(self.fc1.forward(x));
        self.fc2.forward(x)
    }

    fn graph(&self, info: InputInfo) -> ModelGraph {
        let (c1, c2) = (param_dims(&self.conv1.weight)[0], param_dims(&self.conv2.weight)[0]);
        // Burn stores Linear weights [in, out].
        let fc = param_dims(&self.fc1.weight)[1];
        let flat = c2 * feature_side(info.rows) * feature_side(info.cols);
        model_graph(
            "lenet5",
            info,
            vec![
                conv2d("conv1", info.channels, c1, 5),
                maxpool2d(2),
                conv2d("conv2", c1, c2, 5),
                maxpool2d(2),
                Layer::Flatten,
                linear("fc1", flat, fc),
                Layer::Relu,
                linear("fc2", fc, info.classes),
            ],
        )
        .into()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn mnist_feature_map_is_4x4() {
        // 28 -> 24 -> 12 -> 8 -> 4: fc1 takes 50 * 4 * 4 = 800 inputs
        assert_eq!(super::feature_side(28), 4);
    }
}

#[cfg(test)]
mod bench {
    //! `cargo test --release -p dtprune-train --lib bench_lenet5 -- --ignored --nocapture`
    use super::*;
    use burn::nn::conv::{Conv2d, Conv2dConfig};
    use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
    use burn::tensor::Distribution;
    use std::time::Instant;

    fn cpu_seconds() -> f64 {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let f: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
    }

    #[derive(Module, Debug)]
    struct Reference {
        conv1: Conv2d,
        conv2: Conv2d,
        fc1: Linear,
        fc2: Linear,
        pool: MaxPool2d,
        relu: Relu,
    }
    impl Reference {
        fn forward(&self, images: Tensor<4>) -> Tensor<2> {
            let x = self.pool.forward(self.conv1.forward(images));
            let x = self.pool.forward(self.conv2.forward(x));
            let x: Tensor<2> = x.flatten(1, 3);
            let x = self.relu.forward(self.fc1.forward(x));
            self.fc2.forward(x)
        }
    }

    #[test]
    #[ignore]
    fn bench_lenet5() {
        let device = Device::flex().autodiff();
        let info = InputInfo { channels: 1, rows: 28, cols: 28, classes: 10 };
        let ours = Lenet5::init(info, &crate::registry::default_params::<Lenet5>(), &device);
        let reference = Reference {
            conv1: Conv2dConfig::new([1, 20], [5, 5]).init(&device),
            conv2: Conv2dConfig::new([20, 50], [5, 5]).init(&device),
            fc1: LinearConfig::new(800, 500).init(&device),
            fc2: LinearConfig::new(500, 10).init(&device),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            relu: Relu::new(),
        };
        let x = Tensor::<4>::random([128, 1, 28, 28], Distribution::Normal(0.0, 1.0), &device);
        let steps = 20;
        for round in 0..3 {
            for which in 0..2 {
                let (t, c) = (Instant::now(), cpu_seconds());
                for _ in 0..steps {
                    let logits = if which == 0 { reference.forward(x.clone()) } else { ours.forward(x.clone()) };
                    let _ = logits.sum().backward();
                }
                let n = steps as f64;
                println!(
                    "round {round} {:9}: {:6.1} ms wall {:6.1} ms cpu per fwd+bwd",
                    ["Conv2d", "GemmConv"][which],
                    t.elapsed().as_secs_f64() * 1e3 / n,
                    (cpu_seconds() - c) * 1e3 / n
                );
            }
        }
    }
}
