use super::{ImageClassifier, InputInfo};
use crate::graph::{conv2d, linear, maxpool2d, model_graph, Graph, Layer};
use crate::layers::{max_pool2d, GemmConv2d};
use burn::nn::{Linear, LinearConfig, Relu};
use burn::prelude::*;

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

impl ImageClassifier for Lenet5 {
    /// Two shards: 9.8–10.6 s/epoch against 17.8–18.8 s unsplit and 11.3 s with three
    /// (`dtprune bench train --model lenet5 --replicas 2,1`, `--replicas 1,2,3`); most of its
    /// operations are small and run on one core each.
    const REPLICAS: usize = 2;

    fn check_input(info: InputInfo) -> Result<(), String> {
        // Two valid 5x5 convolutions and two 2x2 poolings need at least 16 pixels a side.
        if info.rows < 16 || info.cols < 16 {
            return Err(format!("lenet5 needs images of at least 16x16 pixels; these are {}x{}", info.rows, info.cols));
        }
        Ok(())
    }

    fn init(info: InputInfo, device: &Device) -> Self {
        let flat = 50 * feature_side(info.rows) * feature_side(info.cols);
        Self {
            conv1: GemmConv2d::new([info.channels, 20], [5, 5], device),
            conv2: GemmConv2d::new([20, 50], [5, 5], device),
            fc1: LinearConfig::new(flat, 500).init(device),
            fc2: LinearConfig::new(500, info.classes).init(device),
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

    fn graph(&self, info: InputInfo) -> Graph {
        let flat = 50 * feature_side(info.rows) * feature_side(info.cols);
        model_graph(
            "lenet5",
            info,
            vec![
                conv2d("conv1", info.channels, 20, 5),
                maxpool2d(2),
                conv2d("conv2", 20, 50, 5),
                maxpool2d(2),
                Layer::Flatten,
                linear("fc1", flat, 500),
                Layer::Relu,
                linear("fc2", 500, info.classes),
            ],
        )
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
        let ours = Lenet5::init(info, &device);
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
