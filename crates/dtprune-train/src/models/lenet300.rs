use crate::graph::{linear, model_graph, param_dims, Layer};
use crate::model_graph::ModelGraph;
use crate::input::{ImageData, InputInfo};
use crate::model::Model;
use crate::model_params::ModelParams;
use crate::task::Classification;
use burn::nn::{Linear, LinearConfig, Relu};
use burn::prelude::*;
use dtprune_prune::params::{ParamKind, ParamSpec, ParamValue};

/// LeNet-300-100: two hidden fully connected layers of 300 and 100 ReLU units.
#[derive(Module, Debug)]
pub struct Lenet300 {
    fc1: Linear,
    fc2: Linear,
    fc3: Linear,
    relu: Relu,
}

const PARAMS: &[ParamSpec] = &[
    ParamSpec { name: "hidden1", kind: ParamKind::Int { min: 1, max: 16384 }, default: ParamValue::Int(300), help: "units of the first hidden layer" },
    ParamSpec { name: "hidden2", kind: ParamKind::Int { min: 1, max: 16384 }, default: ParamValue::Int(100), help: "units of the second hidden layer" },
];

impl Model for Lenet300 {
    type Input = ImageData;
    type Task = Classification;
    /// Two shards: 0.78–0.88 s/epoch against 0.92–0.99 s unsplit and 1.20 s with three
    /// (`dtprune bench train --model lenet300 --epochs 3 --replicas 2,1`, `--replicas 1,2,3`).
    const REPLICAS: usize = 2;

    fn params() -> &'static [ParamSpec] {
        PARAMS
    }

    fn init(info: InputInfo, params: &ModelParams, device: &Device) -> Self {
        let inputs = info.channels * info.rows * info.cols;
        let (h1, h2) = (params.int("hidden1") as usize, params.int("hidden2") as usize);
        Self {
            fc1: LinearConfig::new(inputs, h1).init(device),
            fc2: LinearConfig::new(h1, h2).init(device),
            fc3: LinearConfig::new(h2, info.classes).init(device),
            relu: Relu::new(),
        }
    }

    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x: Tensor<2> = images.flatten(1, 3);
        let x = self.relu.forward(self.fc1.forward(x));
        let x = self.relu.forward(self.fc2.forward(x));
        self.fc3.forward(x)
    }

    fn graph(&self, info: InputInfo) -> ModelGraph {
        let inputs = info.channels * info.rows * info.cols;
        // Burn stores Linear weights [in, out].
        let (h1, h2) = (param_dims(&self.fc1.weight)[1], param_dims(&self.fc2.weight)[1]);
        model_graph(
            "lenet300",
            info,
            vec![
                Layer::Flatten,
                linear("fc1", inputs, h1),
                Layer::Relu,
                linear("fc2", h1, h2),
                Layer::Relu,
                linear("fc3", h2, info.classes),
            ],
        )
        .into()
    }
}
