//! What a model says about its layers: a layer graph `dtprune-compact` reads ([`Graph`]:
//! checked against the parameters, compacted), or — for recurrent, Transformer and tabular
//! classifiers (compacted as whole families by `dtprune_compact::recurrent`, `::transformer`
//! and `::tabular`) and a user's own models with ops compaction does not read — a plain node
//! list ([`NodeGraph`]) in the DAG form of `graph.json` version 2 (`id`, `op`, `inputs`, the op's sizes, its parameter
//! tensors). `dtprune compact` on such a run says which ops it lacks instead of failing
//! obscurely ([`unsupported_ops`]).

use crate::graph::Graph;
use crate::params::list_params;
use crate::TrainError;
use burn::module::Module;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub enum ModelGraph {
    Layers(Graph),
    Nodes(NodeGraph),
}

impl ModelGraph {
    /// The layer graph, if it is one.
    pub fn into_layers(self) -> Option<Graph> {
        match self {
            ModelGraph::Layers(g) => Some(g),
            ModelGraph::Nodes(_) => None,
        }
    }
}

impl From<Graph> for ModelGraph {
    fn from(g: Graph) -> Self {
        ModelGraph::Layers(g)
    }
}

impl From<NodeGraph> for ModelGraph {
    fn from(g: NodeGraph) -> Self {
        ModelGraph::Nodes(g)
    }
}

/// The ops of [`NodeGraph`]s that compaction reads only inside a whole family's model (the
/// Transformer's and the tabular classifier's); a user's own model with one cannot be compacted
/// (its masked `model.safetensors` is the result). `lstm`, `gru` and `last_valid` are read by
/// `dtprune_compact::recurrent`.
pub const OPS_WITHOUT_COMPACTION: &[&str] = &["embedding", "concat", "self_attention", "stream_norm", "mean_pool"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeGraph {
    pub model: String,
    /// One item's shape without the batch axis (`[frames, features]`, `[columns]`).
    pub input: Vec<usize>,
    pub nodes: Vec<Node>,
    pub output: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub id: String,
    pub op: String,
    pub inputs: Vec<String>,
    /// The op's sizes (`input_size`, `hidden_size`, `in_features`, …).
    #[serde(flatten)]
    pub attrs: BTreeMap<String, serde_json::Value>,
    /// Its parameter tensors (PyTorch-layout names in `model.safetensors`) with their shapes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Vec<usize>>,
}

impl Node {
    pub fn new(id: &str, op: &str, inputs: &[&str]) -> Self {
        Self { id: id.into(), op: op.into(), inputs: inputs.iter().map(|s| s.to_string()).collect(), attrs: BTreeMap::new(), params: BTreeMap::new() }
    }

    pub fn attr(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.attrs.insert(key.into(), value.into());
        self
    }

    pub fn param(mut self, name: String, shape: &[usize]) -> Self {
        self.params.insert(name, shape.to_vec());
        self
    }
}

impl NodeGraph {
    /// The output node's parameter whose name ends in `.weight`: the classifier, whose outputs
    /// are never removed.
    pub fn classifier(&self) -> Option<String> {
        let out = self.nodes.iter().find(|n| n.id == self.output)?;
        out.params.keys().find(|k| k.ends_with(".weight")).cloned()
    }

    /// Checks that every node's inputs come before it, that every listed parameter exists with
    /// its shape, and that every parameter of the model is listed.
    pub fn check<M: Module>(&self, model: &M) -> Result<(), TrainError> {
        let bad = |message: String| Err(TrainError::Config { path: None, message: format!("model `{}`: its node graph does not match it: {message}", self.model) });
        let params: BTreeMap<String, Vec<usize>> = list_params(model).into_iter().map(|p| (p.name.clone(), p.torch_shape())).collect();
        let mut seen = vec!["input".to_string()];
        let mut listed = Vec::new();
        for node in &self.nodes {
            if let Some(missing) = node.inputs.iter().find(|i| !seen.contains(i)) {
                return bad(format!("node `{}` takes `{missing}`, which is not an earlier node", node.id));
            }
            for (name, shape) in &node.params {
                match params.get(name) {
                    None => return bad(format!("node `{}` lists `{name}`, which the model does not have", node.id)),
                    Some(s) if s != shape => return bad(format!("`{name}` is {s:?} but node `{}` declares {shape:?}", node.id)),
                    Some(_) => listed.push(name.clone()),
                }
            }
            seen.push(node.id.clone());
        }
        if !seen.contains(&self.output) {
            return bad(format!("output `{}` is no node", self.output));
        }
        let missing: Vec<&String> = params.keys().filter(|k| !listed.contains(k)).collect();
        if !missing.is_empty() {
            return bad(format!("parameters {missing:?} are in no node"));
        }
        Ok(())
    }
}

/// The ops of `graph.json` at `path` that compaction does not read ([`OPS_WITHOUT_COMPACTION`]),
/// in node order; empty for a layer graph and for a Transformer or tabular classifier (whose
/// families `dtprune_compact::transformer` and `::tabular` read as a whole). An unreadable
/// file gives none (compaction reports it).
pub fn unsupported_ops(path: &Path) -> Vec<String> {
    if dtprune_compact::transformer::is_transformer_graph(path) || dtprune_compact::tabular::is_tabular_graph(path) {
        return Vec::new();
    }
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    let Ok(graph) = serde_json::from_str::<NodeGraph>(&text) else { return Vec::new() };
    let mut ops: Vec<String> = Vec::new();
    for n in &graph.nodes {
        if OPS_WITHOUT_COMPACTION.contains(&n.op.as_str()) && !ops.contains(&n.op) {
            ops.push(n.op.clone());
        }
    }
    ops
}

/// Checks `graph` against `model` and writes it to `path` (`graph.json`); a layer graph gets the
/// run's pixel preprocessing. Returns the classifier's weight name (never structure-pruned)
/// and, for a layer graph, the graph (its coupled channel groups go to the pruning engine).
pub fn check_and_write<M: Module>(graph: ModelGraph, model: &M, norm: Option<&dtprune_data::Normalization>, path: &Path) -> Result<(Option<String>, Option<Graph>), TrainError> {
    match graph {
        ModelGraph::Layers(mut g) => {
            g.preprocess = norm.and_then(crate::graph::preprocess_for);
            crate::graph_check::check_graph(&g, model)?;
            crate::io::write_json(path, &g)?;
            Ok((crate::graph::classifier(&g).map(|c| format!("{c}.weight")), Some(g)))
        }
        ModelGraph::Nodes(g) => {
            g.check(model)?;
            crate::io::write_json(path, &g)?;
            Ok((g.classifier(), None))
        }
    }
}
