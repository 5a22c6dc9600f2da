use dtprune_prune::PruneError;
use std::path::PathBuf;
use thiserror::Error;

/// Everything that can go wrong while pruning a checkpoint. Each names the file concerned.
#[derive(Debug, Error)]
pub enum WeightsError {
    #[error("{path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a valid safetensors file: {message}")]
    Format { path: PathBuf, message: String },
    #[error("{path}: tensor `{name}` has dtype {dtype}; only F32, F16 and BF16 tensors can be pruned (narrow --include or add --exclude)")]
    UnsupportedDtype { path: PathBuf, name: String, dtype: String },
    #[error("{flag} `{glob}` is not a valid glob: {message}")]
    BadGlob { flag: &'static str, glob: String, message: String },
    #[error("{path}: {flag} `{glob}` matches no tensor (the file has {count} tensors: {names})")]
    NoMatch { path: PathBuf, flag: &'static str, glob: String, count: usize, names: String },
    #[error("{path}: no tensor is selected for pruning ({why})")]
    NothingSelected { path: PathBuf, why: String },
    #[error("{path}: is the input file; write the {what} to another path")]
    SameFile { path: PathBuf, what: &'static str },
    #[error("{path}: cannot write: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Policy { path: PathBuf, source: Box<PruneError> },
}
