//! What the recurrent classifiers (`lstm`, `gru`) share: their `[model]` parameters, the
//! classifier head on each sequence's last valid frame, their node graph, and what their
//! structured units ([`super::recurrent_groups`]) and compact form ([`super::recurrent_shrink`])
//! need to know of them ([`RecurrentClassifier`]).

use crate::input::speech::{SequenceInfo, SpeechData};
use crate::model::Model;
use crate::model_graph::{Node, NodeGraph};
use crate::params::list_params;
use burn::module::Module;
use dtprune_prune::params::{ParamKind, ParamSpec, ParamValue};

pub const PARAMS: &[ParamSpec] = &[
    ParamSpec { name: "hidden", kind: ParamKind::Int { min: 1, max: 4096 }, default: ParamValue::Int(64), help: "hidden units per recurrent layer" },
    ParamSpec { name: "layers", kind: ParamKind::Int { min: 1, max: 8 }, default: ParamValue::Int(1), help: "stacked recurrent layers" },
];

/// A stack of recurrent layers (`rnn.0`, `rnn.1`, …: Burn's `Lstm` or `Gru`, every gate a
/// `GateController` with an `input_transform` and a `hidden_transform` Linear) read by the
/// classifier `fc` at each sequence's last valid frame.
pub trait RecurrentClassifier: Model<Input = SpeechData> {
    /// The gates' field names (`rnn.l.{gate}.input_transform.weight`, …).
    fn gates(&self) -> Vec<&'static str>;
    /// Hidden units of each layer, as its weights now have them.
    fn hidden_sizes(&self) -> Vec<usize>;
    /// Each layer's `d_hidden` (the size of its state, which Burn allocates from it) set to its
    /// weights' width, after units were cut out of them.
    fn refit_hidden(self) -> Self;
}

/// `rnn.0` … `rnn.{layers-1}` (one op each, its gates' tensors; `hidden[l]` units in layer l),
/// the pick of each item's last valid frame, and the linear classifier `fc`.
pub fn node_graph<M: Module>(model: &M, name: &str, op: &str, info: SequenceInfo, hidden: &[usize]) -> NodeGraph {
    let params = list_params(model);
    let tensors = |prefix: &str| params.iter().filter(|p| p.name.starts_with(prefix)).map(|p| (p.name.clone(), p.torch_shape())).collect::<Vec<_>>();
    let mut nodes = Vec::new();
    let mut last = "input".to_string();
    for (l, &units) in hidden.iter().enumerate() {
        let id = format!("rnn.{l}");
        let mut node = Node::new(&id, op, &[&last])
            .attr("input_size", if l == 0 { info.features } else { hidden[l - 1] })
            .attr("hidden_size", units)
            .attr("batch_first", true);
        for (t, shape) in tensors(&format!("{id}.")) {
            node = node.param(t, &shape);
        }
        nodes.push(node);
        last = id;
    }
    nodes.push(Node::new("last", "last_valid", &[&last]).attr("note", "each sequence's output at its last valid frame (lengths are an input)"));
    let mut fc = Node::new("fc", "linear", &["last"]).attr("name", "fc").attr("in_features", hidden.last().copied().unwrap_or(0)).attr("out_features", info.classes).attr("bias", true);
    for (t, shape) in tensors("fc.") {
        fc = fc.param(t, &shape);
    }
    nodes.push(fc);
    NodeGraph { model: name.into(), input: vec![info.frames, info.features], nodes, output: "fc".into() }
}
