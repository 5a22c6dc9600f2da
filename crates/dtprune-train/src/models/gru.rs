use super::recurrent::{node_graph, PARAMS};
use crate::input::speech::{SequenceBatch, SequenceInfo, SpeechData};
use crate::model::Model;
use crate::model_graph::ModelGraph;
use crate::model_params::ModelParams;
use crate::task::Classification;
use burn::nn::{Linear, LinearConfig, Gru, GruConfig};
use burn::prelude::*;
use dtprune_prune::params::ParamSpec;

/// Stacked GRU over log-mel frames (Burn's `Gru`: update, reset and new gates, each an
/// `input_transform` and a `hidden_transform` Linear; reset after the product, as cuDNN and
/// PyTorch), classified from each utterance's last valid frame.
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
        let hidden = crate::graph::param_dims(&self.fc.weight)[0];
        node_graph(self, "gru", "gru", info, hidden, self.rnn.len()).into()
    }
}
