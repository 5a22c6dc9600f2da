//! A model defined outside the dtprune crates, registered at run time, trained and pruned.
//!
//! `cargo run --release -p dtprune-train --example own_model [OUT_DIR]`
//!
//! `TinyMlp` is a plain Burn `#[derive(Module)]` type. Implementing `dtprune_train::Model`
//! says what it takes (images), what it is trained for (classification), its `[model]`
//! parameters, and its layer graph (checked against its parameters before training starts,
//! and read by `dtprune compact`). Once registered, it is trained by name like a built-in model.

use burn::nn::{Linear, LinearConfig, Relu};
use burn::prelude::*;
use dtprune_prune::params::{ParamKind, ParamSpec, ParamValue};
use dtprune_train::config::{ExperimentConfig, ModelConfig, PolicyConfig};
use dtprune_train::graph::{linear, model_graph, param_dims, Layer};
use dtprune_train::model_graph::ModelGraph;
use dtprune_train::model_params::ModelParams;
use dtprune_train::{register_model, Classification, ImageData, InputInfo, Model};
use std::path::PathBuf;

#[derive(Module, Debug)]
pub struct TinyMlp {
    hidden: Linear,
    out: Linear,
    relu: Relu,
}

const PARAMS: &[ParamSpec] = &[ParamSpec { name: "width", kind: ParamKind::Int { min: 1, max: 4096 }, default: ParamValue::Int(128), help: "hidden units" }];

impl Model for TinyMlp {
    type Input = ImageData;
    type Task = Classification;

    fn params() -> &'static [ParamSpec] {
        PARAMS
    }

    fn init(info: InputInfo, params: &ModelParams, device: &Device) -> Self {
        let (inputs, width) = (info.channels * info.rows * info.cols, params.int("width") as usize);
        Self { hidden: LinearConfig::new(inputs, width).init(device), out: LinearConfig::new(width, info.classes).init(device), relu: Relu::new() }
    }

    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x: Tensor<2> = images.flatten(1, 3);
        self.out.forward(self.relu.forward(self.hidden.forward(x)))
    }

    fn graph(&self, info: InputInfo) -> ModelGraph {
        let (inputs, width) = (info.channels * info.rows * info.cols, param_dims(&self.hidden.weight)[1]);
        model_graph("tiny-mlp", info, vec![Layer::Flatten, linear("hidden", inputs, width), Layer::Relu, linear("out", width, info.classes)]).into()
    }
}

/// Registers `TinyMlp` as `tiny-mlp` and trains it for `epochs` on the first `train_limit`
/// MNIST images with gradual magnitude pruning to 90% sparsity.
pub fn train_tiny_mlp(out: &std::path::Path, epochs: usize, train_limit: usize) -> Result<dtprune_train::Summary, dtprune_train::TrainError> {
    register_model::<TinyMlp>("tiny-mlp", "a two-layer perceptron defined in examples/own_model.rs")?;
    let mut model = ModelConfig::named("tiny-mlp");
    model.params.insert("width".into(), toml::Value::Integer(64));
    let mut policy = PolicyConfig { name: "gmp".into(), params: Default::default() };
    policy.params.insert("final_sparsity".into(), toml::Value::Float(0.9));
    // Prune every 5 steps (the default 100 is more steps than a small run has).
    policy.params.insert("frequency".into(), toml::Value::Integer(5));
    let cfg = ExperimentConfig { model, epochs, train_limit, val_size: 1000, test_limit: 2000, policy, ..Default::default() };
    dtprune_train::run::train_config(&cfg, out, &mut dtprune_train::trainer::Silent)
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).map_or_else(|| PathBuf::from("runs/own-model"), PathBuf::from);
    let s = train_tiny_mlp(&out, 3, 20_000)?;
    println!("{}: test accuracy {:.2}%, sparsity {:.1}%, run in {}", s.model, s.test_accuracy * 100.0, s.sparsity * 100.0, out.display());
    Ok(())
}
