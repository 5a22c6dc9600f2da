//! `graph.json` in node form (version 2) read loosely: every node's id, op, inputs and its
//! other attributes as JSON values. The model families that compaction reads as a whole
//! (`recurrent`, `transformer`, `tabular`) check the exact node sequence of their model from
//! this; the layer graph ([`crate::graph`]) has a typed op per node instead.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{CompactError, Result};

#[derive(Deserialize)]
pub(crate) struct NodeFile {
    pub id: String,
    pub op: String,
    #[serde(default)]
    pub inputs: Vec<String>,
    #[serde(flatten)]
    pub attrs: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
pub(crate) struct GraphFile {
    pub model: String,
    pub input: Vec<usize>,
    pub nodes: Vec<NodeFile>,
    pub output: String,
}

impl GraphFile {
    /// The file at `path` when it reads as a node graph; `None` for a layer chain (version 1)
    /// or an unreadable file (whose error the family that loads it reports).
    pub fn peek(path: &Path) -> Option<GraphFile> {
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Parses `text`, the contents of `path`.
    pub fn parse(text: &str, path: &Path) -> Result<GraphFile> {
        serde_json::from_str(text).map_err(|e| CompactError::GraphJson { path: path.to_owned(), source: e })
    }

    /// The error for node `index` (its id and op named) of the file at `path`.
    pub fn invalid(&self, path: &Path, index: usize, reason: String) -> CompactError {
        CompactError::InvalidGraph {
            index,
            id: self.nodes.get(index).map(|n| n.id.clone()).unwrap_or_default(),
            op: self.nodes.get(index).map(|n| n.op.clone()).unwrap_or_default(),
            reason: format!("{} ({}): {reason}", path.display(), self.model),
        }
    }

    pub fn has_op(&self, op: &str) -> bool {
        self.nodes.iter().any(|n| n.op == op)
    }
}
