//! The layer graph a model declares, written to `graph.json` in the run directory. The types
//! are `dtprune-compact`'s — the reader that derives structure dependencies from them (which
//! inputs of a consumer go with which output unit of a producer) — so new models get
//! compaction without special cases. This module adds the constructors models use.

use crate::input::InputInfo;
use burn::module::Param;
use burn::prelude::*;
pub use dtprune_compact::{Graph, Layer, Preprocess};
use dtprune_data::{normalize::PIXEL_SCALE, Normalization};

/// The shape of a parameter without initialising it. Burn initialises parameters lazily, on
/// first use, drawing from the seeded random stream in that order: reading `dims()` in
/// `Model::graph` would change the order and so the initial weights of a seed.
pub fn param_dims<const D: usize>(param: &Param<Tensor<D>>) -> [usize; D] {
    param.lazy_shape().dims::<D>()
}

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

/// A model's graph for input `info`; the trainer fills in the preprocessing
/// ([`preprocess_for`]) from the run's normalisation.
pub fn model_graph(model: &str, info: InputInfo, layers: Vec<Layer>) -> Graph {
    Graph { model: model.into(), input: vec![info.channels, info.rows, info.cols], preprocess: None, layers }
}

/// The graph's pixel preprocessing for a normalisation. `dtprune-compact`'s form has one mean
/// and one std, so only one-channel normalisations have one (colour runs have none yet).
pub fn preprocess_for(norm: &Normalization) -> Option<Preprocess> {
    match (norm.mean.as_slice(), norm.std.as_slice()) {
        (&[mean], &[std]) => Some(Preprocess { scale: PIXEL_SCALE, mean, std }),
        _ => None,
    }
}

/// Name of the last parameterised layer: the classifier, whose outputs are never removed.
pub fn classifier(graph: &Graph) -> Option<&str> {
    graph.layers.iter().rev().find_map(Layer::param_name)
}
