//! The layer graph of a [`ResNet`](super::resnet::ResNet), for compaction and structure groups.

use super::resnet::{Arch, ResNet};
use crate::graph::{model_graph, Graph};
use crate::input::InputInfo;

/// Placeholder until the DAG graph types land: an empty graph, which the pre-training graph
/// check rejects (every weight must be in the graph), so no run starts with it.
pub fn graph<A: Arch>(_model: &ResNet<A>, info: InputInfo) -> Graph {
    model_graph(A::NAME, info, Vec::new())
}
