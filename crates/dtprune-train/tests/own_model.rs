//! A model defined outside the crates (`examples/own_model.rs`) is registered, trained and
//! pruned, analysed and compacted; a model whose graph does not match its parameters is an
//! error before training starts.

#[path = "../examples/own_model.rs"]
mod own_model;

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use dtprune_train::config::ExperimentConfig;
use dtprune_train::graph::{linear, model_graph, Layer};
use dtprune_train::model_graph::ModelGraph;
use dtprune_train::model_params::ModelParams;
use dtprune_train::{register_model, Classification, ImageData, InputInfo, Model};
use own_model::{train_tiny_mlp, TinyMlp};

#[test]
fn own_model_trains_prunes_and_compacts() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let s = train_tiny_mlp(&run, 2, 6000).unwrap();
    assert_eq!(s.model, "tiny-mlp");
    // 6000 images, two epochs, 90% of the weights gone by step 56 of 94: chance is 0.1.
    assert!(s.test_accuracy > 0.75, "accuracy {}", s.test_accuracy);
    assert!((s.sparsity - 0.9).abs() < 0.01, "sparsity {}", s.sparsity);
    // Its `[model]` parameter is recorded and reloads.
    let cfg = ExperimentConfig::from_toml_file(&run.join("config.toml")).unwrap();
    assert_eq!(cfg.model.params["width"], toml::Value::Integer(64));
    assert_eq!(s.params_total, 784 * 64 + 64 + 64 * 10 + 10);

    // Public sensitivity analysis on the user's own type.
    let files = dtprune_train::run::open_run(&run).unwrap();
    let data = dtprune_train::run::load_data(&files.cfg).unwrap();
    let device = Device::flex();
    let images = data.images().unwrap();
    let model: TinyMlp = dtprune_train::run::load_model(InputInfo::of(&images.val), &files, &device).unwrap();
    let norm = files.cfg.normalize.clone().unwrap();
    let val = ImageData::new(&images.val, &norm, Default::default());
    let (baseline, rows) = dtprune_train::sensitivity::measure(&model, &val, &[], &[0.95, 0.99], &device).unwrap();
    assert!(baseline > 0.75, "{baseline}");
    assert_eq!(rows.len(), 4);

    // Compaction reads its graph like a built-in model's.
    let (c, _files) = dtprune_compact::compact_run_dir(&run, &Default::default()).unwrap();
    assert!(c.report.compact_param_bytes < c.report.original_param_bytes);
}

/// TinyMlp's layers, but a graph that declares the hidden layer 32 wide.
#[derive(Module, Debug)]
struct WrongGraph {
    hidden: Linear,
    out: Linear,
}

impl Model for WrongGraph {
    type Input = ImageData;
    type Task = Classification;
    fn init(info: InputInfo, _params: &ModelParams, device: &Device) -> Self {
        Self { hidden: LinearConfig::new(784, 64).init(device), out: LinearConfig::new(64, info.classes).init(device) }
    }
    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.out.forward(self.hidden.forward(images.flatten(1, 3)))
    }
    fn graph(&self, info: InputInfo) -> ModelGraph {
        model_graph("wrong-graph", info, vec![Layer::Flatten, linear("hidden", 784, 32), linear("out", 32, info.classes)]).into()
    }
}

#[test]
fn a_wrong_graph_is_an_error_at_start() {
    register_model::<WrongGraph>("wrong-graph", "a graph that is not the model's").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = ExperimentConfig { model: "wrong-graph".into(), epochs: 1, train_limit: 500, val_size: 100, ..Default::default() };
    let e = dtprune_train::run::train_config(&cfg, dir.path(), &mut dtprune_train::trainer::Silent).err().unwrap().to_string();
    assert!(e.contains("`hidden.weight` is [64, 784] but the graph declares [32, 784]"), "{e}");
    // Nothing was trained: no history, no model.
    assert!(!dir.path().join("history.jsonl").exists() && !dir.path().join("model.safetensors").exists());
    // Built-in names cannot be taken.
    assert!(register_model::<WrongGraph>("lenet5", "").is_err());
}
