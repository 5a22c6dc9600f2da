//! What the recurrent classifiers (`lstm`, `gru`) share: their `[model]` parameters, the
//! classifier head on each sequence's last valid frame, and their node graph.

use crate::input::speech::SequenceInfo;
use crate::model_graph::{Node, NodeGraph};
use crate::params::list_params;
use burn::module::Module;
use dtprune_prune::params::{ParamKind, ParamSpec, ParamValue};

pub const PARAMS: &[ParamSpec] = &[
    ParamSpec { name: "hidden", kind: ParamKind::Int { min: 1, max: 4096 }, default: ParamValue::Int(64), help: "hidden units per recurrent layer" },
    ParamSpec { name: "layers", kind: ParamKind::Int { min: 1, max: 8 }, default: ParamValue::Int(1), help: "stacked recurrent layers" },
];

/// `rnn.0` … `rnn.{layers-1}` (one op each, its gates' tensors), the pick of each item's
/// last valid frame, and the linear classifier `fc`.
pub fn node_graph<M: Module>(model: &M, name: &str, op: &str, info: SequenceInfo, hidden: usize, layers: usize) -> NodeGraph {
    let params = list_params(model);
    let tensors = |prefix: &str| params.iter().filter(|p| p.name.starts_with(prefix)).map(|p| (p.name.clone(), p.torch_shape())).collect::<Vec<_>>();
    let mut nodes = Vec::new();
    let mut last = "input".to_string();
    for l in 0..layers {
        let id = format!("rnn.{l}");
        let mut node = Node::new(&id, op, &[&last])
            .attr("input_size", if l == 0 { info.features } else { hidden })
            .attr("hidden_size", hidden)
            .attr("batch_first", true);
        for (t, shape) in tensors(&format!("{id}.")) {
            node = node.param(t, &shape);
        }
        nodes.push(node);
        last = id;
    }
    nodes.push(Node::new("last", "last_valid", &[&last]).attr("note", "each sequence's output at its last valid frame (lengths are an input)"));
    let mut fc = Node::new("fc", "linear", &["last"]).attr("name", "fc").attr("in_features", hidden).attr("out_features", info.classes).attr("bias", true);
    for (t, shape) in tensors("fc.") {
        fc = fc.param(t, &shape);
    }
    nodes.push(fc);
    NodeGraph { model: name.into(), input: vec![info.frames, info.features], nodes, output: "fc".into() }
}
