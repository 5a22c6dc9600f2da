use super::recurrent::{node_graph, PARAMS};
use crate::input::speech::{SequenceBatch, SequenceInfo, SpeechData};
use crate::model::Model;
use crate::model_graph::ModelGraph;
use crate::model_params::ModelParams;
use crate::task::Classification;
use burn::nn::{Linear, LinearConfig, Lstm, LstmConfig};
use burn::prelude::*;
use dtprune_prune::params::ParamSpec;

/// Stacked LSTM over log-mel frames (Burn's `Lstm`: four gates, each an `input_transform` and
/// a `hidden_transform` Linear), classified from each utterance's last valid frame.
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
        let hidden = crate::graph::param_dims(&self.fc.weight)[0];
        node_graph(self, "lstm", "lstm", info, hidden, self.rnn.len()).into()
    }
}
