//! The model contract: what the trainer needs from a model. A model declares the kind of batch
//! it takes ([`InputKind`]) and what it is trained for ([`Task`]), is built from its input's
//! description and its validated `[model]` parameters, returns logits, and describes its
//! layers for compaction ([`ModelGraph`]).

use crate::input::{InfoOf, InputKind};
use crate::model_graph::ModelGraph;
use crate::model_params::ModelParams;
use crate::task::Task;
use burn::module::Module;
use burn::prelude::*;
use dtprune_prune::params::ParamSpec;
use dtprune_prune::StructureGroup;

pub trait Model: Module + Sized + Send + Sync + 'static {
    /// The batches `forward` takes (images: [`crate::input::ImageData`]; speech:
    /// [`crate::input::speech::SpeechData`]; tables: [`crate::input::table::TableData`]; text:
    /// [`crate::input::text::TextData`]).
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
    fn check_input(_info: InfoOf<Self::Input>, _params: &ModelParams) -> Result<(), String> {
        Ok(())
    }
    /// Builds the model with freshly initialised weights.
    fn init(info: InfoOf<Self::Input>, params: &ModelParams, device: &Device) -> Self;
    /// Logits `[batch, classes]`.
    fn forward(&self, batch: <Self::Input as InputKind>::Batch) -> Tensor<2>;
    /// The layer graph: in the form `dtprune-compact` reads (structure dependencies for
    /// removal; a [`crate::graph::Graph`] converts with `.into()`), or a node list for ops it
    /// does not read yet.
    fn graph(&self, info: InfoOf<Self::Input>) -> ModelGraph;
    /// The coupled structures of a model whose graph is a node list (a layer graph's come from
    /// the graph): each group's units are removed together from every member. None by default.
    fn structure_groups(&self) -> Vec<StructureGroup> {
        Vec::new()
    }
}

/// The batch type of model `M`.
pub type BatchOf<M> = <<M as Model>::Input as InputKind>::Batch;
