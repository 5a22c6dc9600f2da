use super::recurrent::{node_graph, RecurrentClassifier, PARAMS};
use crate::input::speech::{SequenceBatch, SequenceInfo, SpeechData};
use crate::model::Model;
use crate::model_graph::ModelGraph;
use crate::model_params::ModelParams;
use crate::task::Classification;
use burn::nn::{Gru, GruConfig, Linear, LinearConfig};
use burn::prelude::*;
use dtprune_prune::params::ParamSpec;
use dtprune_prune::StructureGroup;

/// Stacked GRU over log-mel frames (Burn's `Gru`: update, reset and new gates, each an
/// `input_transform` and a `hidden_transform` Linear; reset after the product, as cuDNN and
/// PyTorch), classified from each utterance's last valid frame. Its structured unit is a
/// hidden unit of a layer ([`super::recurrent_groups`]).
#[derive(Module, Debug)]
pub struct GruClassifier {
    rnn: Vec<Gru>,
    fc: Linear,
}

impl Model for GruClassifier {
    type Input = SpeechData;
    type Task = Classification;

    fn params() -> &'static [ParamSpec] {
        PARAMS
    }

    fn init(info: SequenceInfo, params: &ModelParams, device: &Device) -> Self {
        let (hidden, layers) = (params.int("hidden") as usize, params.int("layers") as usize);
        let rnn = (0..layers).map(|l| GruConfig::new(if l == 0 { info.features } else { hidden }, hidden, true).init(device)).collect();
        Self { rnn, fc: LinearConfig::new(hidden, info.classes).init(device) }
    }

    fn forward(&self, batch: SequenceBatch) -> Tensor<2> {
        let mut x = batch.frames.clone();
        for layer in &self.rnn {
            x = layer.forward(x, None);
        }
        self.fc.forward(batch.last_valid(x))
    }

    fn graph(&self, info: SequenceInfo) -> ModelGraph {
        node_graph(self, "gru", "gru", info, &self.hidden_sizes()).into()
    }

    fn structure_groups(&self) -> Vec<StructureGroup> {
        super::recurrent_groups::groups(self)
    }
}

impl RecurrentClassifier for GruClassifier {
    fn gates(&self) -> Vec<&'static str> {
        vec!["update_gate", "reset_gate", "new_gate"]
    }

    fn hidden_sizes(&self) -> Vec<usize> {
        self.rnn.iter().map(|l| crate::graph::param_dims(&l.update_gate.hidden_transform.weight)[1]).collect()
    }

    fn refit_hidden(mut self) -> Self {
        let sizes = self.hidden_sizes();
        for (layer, units) in self.rnn.iter_mut().zip(sizes) {
            layer.d_hidden = units;
        }
        self
    }
}
