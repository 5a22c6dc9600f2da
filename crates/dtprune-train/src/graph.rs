//! The layer graph a model declares, written to `graph.json` in the run directory. The types
//! are `dtprune-compact`'s — the reader that derives structure dependencies from them (which
//! inputs of a consumer go with which output unit of a producer) — so new models get
//! compaction without special cases. This module adds the constructors models use.

use crate::models::InputInfo;
pub use dtprune_compact::{Graph, Layer, Preprocess};

/// MNIST statistics; used for every grey-scale IDX set as well.
pub const MNIST_PREPROCESS: Preprocess = Preprocess { scale: 1.0 / 255.0, mean: 0.1307, std: 0.3081 };

pub fn linear(name: &str, in_features: usize, out_features: usize) -> Layer {
    Layer::Linear { name: name.into(), in_features, out_features, bias: true }
}

/// A valid (unpadded), stride-1 square convolution with bias.
pub fn conv2d(name: &str, in_channels: usize, out_channels: usize, kernel: usize) -> Layer {
    Layer::Conv2d { name: name.into(), in_channels, out_channels, kernel: [kernel; 2], stride: [1, 1], padding: [0, 0], bias: true }
}

/// Non-overlapping square max pooling.
pub fn maxpool2d(size: usize) -> Layer {
    Layer::Maxpool2d { kernel: [size; 2], stride: Some([size; 2]) }
}

/// A model's graph for input `info`, with MNIST preprocessing.
pub fn model_graph(model: &str, info: InputInfo, layers: Vec<Layer>) -> Graph {
    Graph { model: model.into(), input: vec![info.channels, info.rows, info.cols], preprocess: Some(MNIST_PREPROCESS), layers }
}

/// Name of the last parameterised layer: the classifier, whose outputs are never removed.
pub fn classifier(graph: &Graph) -> Option<&str> {
    graph.layers.iter().rev().find_map(Layer::param_name)
}
