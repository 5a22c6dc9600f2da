use super::{ImageClassifier, InputInfo};
use crate::graph::{linear, model_graph, Graph, Layer};
use burn::nn::{Linear, LinearConfig, Relu};
use burn::prelude::*;

/// LeNet-300-100: two hidden fully connected layers of 300 and 100 ReLU units.
#[derive(Module, Debug)]
pub struct Lenet300 {
    fc1: Linear,
    fc2: Linear,
    fc3: Linear,
    relu: Relu,
}

impl ImageClassifier for Lenet300 {
    /// Two shards: 0.78–0.88 s/epoch against 0.92–0.99 s unsplit and 1.20 s with three
    /// (`dtprune bench train --model lenet300 --epochs 3 --replicas 2,1`, `--replicas 1,2,3`).
    const REPLICAS: usize = 2;

    fn init(info: InputInfo, device: &Device) -> Self {
        let inputs = info.channels * info.rows * info.cols;
        Self {
            fc1: LinearConfig::new(inputs, 300).init(device),
            fc2: LinearConfig::new(300, 100).init(device),
            fc3: LinearConfig::new(100, info.classes).init(device),
            relu: Relu::new(),
        }
    }

    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x: Tensor<2> = images.flatten(1, 3);
        let x = self.relu.forward(self.fc1.forward(x));
        let x = self.relu.forward(self.fc2.forward(x));
        self.fc3.forward(x)
    }

    fn graph(&self, info: InputInfo) -> Graph {
        let inputs = info.channels * info.rows * info.cols;
        model_graph(
            "lenet300",
            info,
            vec![
                Layer::Flatten,
                linear("fc1", inputs, 300),
                Layer::Relu,
                linear("fc2", 300, 100),
                Layer::Relu,
                linear("fc3", 100, info.classes),
            ],
        )
    }
}
