//! The model contract: what the trainer needs from a model. A model declares the kind of batch
//! it takes ([`InputKind`]) and what it is trained for ([`Task`]), is built from its validated
//! `[model]` parameters, returns logits, and describes its layer graph for compaction.

use crate::graph::Graph;
use crate::input::{InputInfo, InputKind};
use crate::model_params::ModelParams;
use crate::task::Task;
use burn::module::Module;
use burn::prelude::*;
use dtprune_prune::params::ParamSpec;

pub trait Model: Module + Sized + Send + Sync + 'static {
    /// The batches `forward` takes (images: [`crate::input::ImageData`]).
    type Input: InputKind;
    /// Loss and metric ([`crate::task::Classification`]).
    type Task: Task;
    /// Data-parallel shards per batch when the config does not say (`replicas`): measure with
    /// `dtprune bench train --replicas 1,2,3`. Unsplit unless a model says otherwise.
    const REPLICAS: usize = 1;
    /// The `[model]` parameters it is built from (none by default).
    fn params() -> &'static [ParamSpec] {
        &[]
    }
    /// Whether the model can take this input (image size, classes) with these parameters; the
    /// message says why not.
    fn check_input(_info: InputInfo, _params: &ModelParams) -> Result<(), String> {
        Ok(())
    }
    /// Builds the model with freshly initialised weights.
    fn init(info: InputInfo, params: &ModelParams, device: &Device) -> Self;
    /// Logits `[batch, classes]`.
    fn forward(&self, batch: <Self::Input as InputKind>::Batch) -> Tensor<2>;
    /// The layer graph, in the form `dtprune-compact` reads (structure dependencies for removal).
    fn graph(&self, info: InputInfo) -> Graph;
}

/// The batch type of model `M`.
pub type BatchOf<M> = <<M as Model>::Input as InputKind>::Batch;
