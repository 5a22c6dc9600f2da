use super::recurrent::{node_graph, RecurrentClassifier, PARAMS};
use crate::input::speech::{SequenceBatch, SequenceInfo, SpeechData};
use crate::model::Model;
use crate::model_graph::ModelGraph;
use crate::model_params::ModelParams;
use crate::task::Classification;
use burn::nn::{Linear, LinearConfig, Lstm, LstmConfig};
use burn::prelude::*;
use dtprune_prune::params::ParamSpec;
use dtprune_prune::StructureGroup;

/// Stacked LSTM over log-mel frames (Burn's `Lstm`: four gates, each an `input_transform` and
/// a `hidden_transform` Linear), classified from each utterance's last valid frame. Its
/// structured unit is a hidden unit of a layer ([`super::recurrent_groups`]).
#[derive(Module, Debug)]
pub struct LstmClassifier {
    rnn: Vec<Lstm>,
    fc: Linear,
}

impl Model for LstmClassifier {
    type Input = SpeechData;
    type Task = Classification;

    fn params() -> &'static [ParamSpec] {
        PARAMS
    }

    fn init(info: SequenceInfo, params: &ModelParams, device: &Device) -> Self {
        let (hidden, layers) = (params.int("hidden") as usize, params.int("layers") as usize);
        let rnn = (0..layers).map(|l| LstmConfig::new(if l == 0 { info.features } else { hidden }, hidden, true).init(device)).collect();
        Self { rnn, fc: LinearConfig::new(hidden, info.classes).init(device) }
    }

    fn forward(&self, batch: SequenceBatch) -> Tensor<2> {
        let mut x = batch.frames.clone();
        for layer in &self.rnn {
            x = layer.forward(x, None).0;
        }
        self.fc.forward(batch.last_valid(x))
    }

    fn graph(&self, info: SequenceInfo) -> ModelGraph {
        node_graph(self, "lstm", "lstm", info, &self.hidden_sizes()).into()
    }

    fn structure_groups(&self) -> Vec<StructureGroup> {
        super::recurrent_groups::groups(self)
    }
}

impl RecurrentClassifier for LstmClassifier {
    fn gates(&self) -> Vec<&'static str> {
        // The forget gate is absent only with Burn's `input_forget` (coupled gates), which this
        // model does not use.
        let forget = self.rnn.iter().all(|l| l.forget_gate.is_some());
        ["input_gate", "forget_gate", "output_gate", "cell_gate"].into_iter().filter(|&g| forget || g != "forget_gate").collect()
    }

    fn hidden_sizes(&self) -> Vec<usize> {
        self.rnn.iter().map(|l| crate::graph::param_dims(&l.input_gate.hidden_transform.weight)[1]).collect()
    }

    fn refit_hidden(mut self) -> Self {
        let sizes = self.hidden_sizes();
        for (layer, units) in self.rnn.iter_mut().zip(sizes) {
            layer.d_hidden = units;
        }
        self
    }
}
