//! Built-in models and their registry. A model is one file: a `#[derive(Module)]` struct that
//! implements [`ImageClassifier`], plus one line in [`REGISTRY`].

mod lenet300;
mod lenet5;

pub use lenet300::Lenet300;
pub use lenet5::Lenet5;

use crate::graph::Graph;
use burn::module::Module;
use burn::prelude::*;

/// An image classifier the trainer can train and prune.
pub trait ImageClassifier: Module + Sized + 'static {
    /// Builds the model with freshly initialised weights.
    fn init(info: InputInfo, device: &Device) -> Self;
    /// `images`: `[batch, channels, rows, cols]`, normalised; returns logits `[batch, classes]`.
    fn forward(&self, images: Tensor<4>) -> Tensor<2>;
    /// The layer graph, in the form `dtprune-compact` reads (structure dependencies for removal).
    fn graph(&self, info: InputInfo) -> Graph;
}

/// What a model needs to know about its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputInfo {
    pub channels: usize,
    pub rows: usize,
    pub cols: usize,
    pub classes: usize,
}

/// A registry entry: the name users type and a short description. Dispatch to the generic
/// trainer happens in [`crate::run`] with one match arm per model.
pub struct ModelInfo {
    pub name: &'static str,
    pub summary: &'static str,
}

pub const REGISTRY: &[ModelInfo] = &[
    ModelInfo { name: "lenet300", summary: "LeNet-300-100: fc 784-300-100-10 with ReLU (LeCun et al. 1998)" },
    ModelInfo { name: "lenet5", summary: "LeNet-5, Caffe variant: conv5x5x20, pool, conv5x5x50, pool, fc 800-500 ReLU, fc 500-10" },
];
