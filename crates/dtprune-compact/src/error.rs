//! One error type for everything that can go wrong with user input.
//!
//! Every variant that concerns a tensor names it, so a user with a broken checkpoint knows
//! *which* tensor is broken and *how*, instead of a bare "invalid header".

use std::path::PathBuf;

/// Errors of loading, compacting, running and exporting models.
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a valid safetensors file: {reason}")]
    BadSafetensors { path: PathBuf, reason: String },
    #[error("{path}: tensor `{name}` is truncated: its data ends at byte {needed} of the data section but the file holds only {available} bytes there")]
    TruncatedTensor {
        path: PathBuf,
        name: String,
        needed: usize,
        available: usize,
    },
    #[error("{path}: missing tensor `{name}` (the graph's layer needs it)")]
    MissingTensor { path: PathBuf, name: String },
    #[error("{path}: tensor `{name}` has dtype {found}, expected {expected}")]
    WrongDtype {
        path: PathBuf,
        name: String,
        expected: String,
        found: String,
    },
    #[error("{path}: tensor `{name}` has shape {found:?}, expected {expected:?}")]
    WrongShape {
        path: PathBuf,
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("{path}: tensor `{name}` contains a non-finite value (NaN or infinity)")]
    NonFinite { path: PathBuf, name: String },
    #[error("{path}: invalid graph JSON: {source}")]
    GraphJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid graph at node {index} `{id}` ({op}): {reason}")]
    InvalidGraph {
        index: usize,
        id: String,
        op: String,
        reason: String,
    },
    #[error("run directory {dir} has no model: expected {expected}")]
    NoModel { dir: PathBuf, expected: String },
    #[error("bad input: {0}")]
    Input(String),
    #[error("could not serialize `{path}`: {reason}")]
    Serialize { path: PathBuf, reason: String },
}

pub type Result<T, E = CompactError> = std::result::Result<T, E>;

impl CompactError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CompactError::Io {
            path: path.into(),
            source,
        }
    }
}
