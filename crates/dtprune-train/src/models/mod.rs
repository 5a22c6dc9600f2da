//! Built-in models and their registry. A model is one file: a `#[derive(Module)]` struct that
//! implements [`ImageClassifier`], plus one line in [`REGISTRY`].

mod lenet300;
mod lenet5;

pub use lenet300::Lenet300;
pub use lenet5::Lenet5;

use crate::config::ExperimentConfig;
use crate::data::Prepared;
use crate::graph::Graph;
use crate::run::{load_model, RunFiles};
use crate::sensitivity::SensitivityRow;
use crate::trainer::{Evaluation, Summary, TrainObserver};
use crate::TrainError;
use burn::module::Module;
use burn::prelude::*;
use dtprune_data::ImageSplits;
use std::marker::PhantomData;
use std::path::Path;

/// An image classifier the trainer can train and prune.
pub trait ImageClassifier: Module + Sized + Send + Sync + 'static {
    /// Data-parallel shards per batch when the config does not say (`replicas`): measure with
    /// `dtprune bench train --replicas 1,2,3`. Unsplit unless a model says otherwise.
    const REPLICAS: usize = 1;
    /// Whether the model can take this input (image size, classes); the message says why not.
    fn check_input(_info: InputInfo) -> Result<(), String> {
        Ok(())
    }
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

/// The generic entry points, instantiated for one model type and erased behind a trait object
/// so the registry can hold them by name.
pub trait ModelRunner: Sync {
    fn train(&self, cfg: &ExperimentConfig, splits: &ImageSplits, out: &Path, observer: &mut dyn TrainObserver) -> Result<Summary, TrainError>;
    fn evaluate(&self, info: InputInfo, run: &RunFiles, data: &Prepared) -> Result<Evaluation, TrainError>;
    fn sensitivity(&self, info: InputInfo, run: &RunFiles, val: &Prepared, levels: &[f64]) -> Result<(f64, Vec<SensitivityRow>), TrainError>;
    /// [`ImageClassifier::REPLICAS`]: the shard count (threads per step) of a run whose config
    /// leaves `replicas` unset. `dtprune sweep` sizes its parallel trials by it.
    fn default_replicas(&self) -> usize;
}

/// [`ModelRunner`] for the model type `M`.
pub struct Runner<M>(PhantomData<fn() -> M>);

impl<M: ImageClassifier> ModelRunner for Runner<M> {
    fn train(&self, cfg: &ExperimentConfig, splits: &ImageSplits, out: &Path, observer: &mut dyn TrainObserver) -> Result<Summary, TrainError> {
        crate::trainer::train::<M>(cfg, splits, out, observer)
    }

    fn evaluate(&self, info: InputInfo, run: &RunFiles, data: &Prepared) -> Result<Evaluation, TrainError> {
        let device = Device::flex();
        let model = load_model::<M>(info, run, &device)?;
        Ok(crate::trainer::evaluate(&model, data, &device))
    }

    fn sensitivity(&self, info: InputInfo, run: &RunFiles, val: &Prepared, levels: &[f64]) -> Result<(f64, Vec<SensitivityRow>), TrainError> {
        crate::sensitivity::measure::<M>(info, run, val, levels)
    }

    fn default_replicas(&self) -> usize {
        M::REPLICAS
    }
}

/// A registry entry: the name users type, a short description, and the model's entry points.
pub struct ModelInfo {
    pub name: &'static str,
    pub summary: &'static str,
    pub runner: &'static dyn ModelRunner,
}

/// Every built-in model. A new model is one file in this folder and one line here.
pub const REGISTRY: &[ModelInfo] = &[
    ModelInfo {
        name: "lenet300",
        summary: "LeNet-300-100: fc 784-300-100-10 with ReLU (LeCun et al. 1998)",
        runner: &Runner::<Lenet300>(PhantomData),
    },
    ModelInfo {
        name: "lenet5",
        summary: "LeNet-5, Caffe variant: conv5x5x20, pool, conv5x5x50, pool, fc 800-500 ReLU, fc 500-10",
        runner: &Runner::<Lenet5>(PhantomData),
    },
];

/// The registry entry for `name`; an unknown name is an error listing the valid ones.
pub fn model(name: &str) -> Result<&'static ModelInfo, TrainError> {
    REGISTRY.iter().find(|m| m.name == name).ok_or_else(|| TrainError::Config {
        path: None,
        message: format!("unknown model `{name}`; valid: {}", REGISTRY.iter().map(|m| m.name).collect::<Vec<_>>().join(", ")),
    })
}
