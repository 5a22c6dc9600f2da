//! The layer graph a model declares, written to `graph.json` in the run directory. It is what
//! `dtprune-compact` reads to derive structure dependencies (which inputs of a consumer go with
//! which output unit of a producer), so new models get compaction without special cases.

use crate::models::InputInfo;
use serde::{Deserialize, Serialize};

/// Input preprocessing: x = (pixel * scale - mean) / std.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    pub scale: f32,
    pub mean: f32,
    pub std: f32,
}

/// MNIST statistics; used for every grey-scale IDX set as well.
pub const MNIST_PREPROCESS: Preprocess = Preprocess { scale: 1.0 / 255.0, mean: 0.1307, std: 0.3081 };

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Layer {
    Conv2d {
        name: String,
        in_channels: usize,
        out_channels: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        bias: bool,
    },
    Maxpool2d {
        kernel: [usize; 2],
        stride: [usize; 2],
    },
    Linear {
        name: String,
        in_features: usize,
        out_features: usize,
        bias: bool,
    },
    Relu,
    Flatten,
}

impl Layer {
    pub fn linear(name: &str, in_features: usize, out_features: usize) -> Self {
        Layer::Linear { name: name.into(), in_features, out_features, bias: true }
    }

    pub fn conv2d(name: &str, in_channels: usize, out_channels: usize, kernel: usize) -> Self {
        Layer::Conv2d {
            name: name.into(),
            in_channels,
            out_channels,
            kernel: [kernel; 2],
            stride: [1, 1],
            padding: [0, 0],
            bias: true,
        }
    }

    pub fn maxpool2d(size: usize) -> Self {
        Layer::Maxpool2d { kernel: [size; 2], stride: [size; 2] }
    }

    /// The parameterised layer's name, if it has weights.
    pub fn name(&self) -> Option<&str> {
        match self {
            Layer::Conv2d { name, .. } | Layer::Linear { name, .. } => Some(name),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub model: String,
    /// `[channels, rows, cols]`.
    pub input: Vec<usize>,
    pub preprocess: Preprocess,
    pub layers: Vec<Layer>,
}

impl Graph {
    pub fn new(model: &str, info: InputInfo, layers: Vec<Layer>) -> Self {
        Self { model: model.into(), input: vec![info.channels, info.rows, info.cols], preprocess: MNIST_PREPROCESS, layers }
    }

    /// Name of the last parameterised layer: the classifier, whose outputs are never removed.
    pub fn classifier(&self) -> Option<&str> {
        self.layers.iter().rev().find_map(Layer::name)
    }
}
