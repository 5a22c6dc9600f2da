//! Errors of the sweep tools: a bad search-space argument names the argument and the key, a bad
//! trial folder names the file.

use std::path::PathBuf;

use crate::error::ReportError;

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// A `--grid` / `--random` argument that cannot be read.
    #[error("`{arg}`: {message}")]
    BadDimension { arg: String, message: String },

    /// The same key is swept twice (`--grid lr=… --random lr=…`).
    #[error("key `{key}` is swept more than once")]
    DuplicateKey { key: String },

    /// Options that make no search space (no dimension, `--trials` without `--random`, …).
    #[error("{0}")]
    Space(String),

    /// A trial folder whose `summary.json` or `config.toml` lacks a figure the table needs.
    #[error("{}: {message}", path.display())]
    BadTrial { path: PathBuf, message: String },

    /// Nothing finished to tabulate.
    #[error("no finished trial to tabulate ({0})")]
    NoTrials(String),

    #[error(transparent)]
    Report(#[from] ReportError),
}

pub type Result<T, E = SweepError> = std::result::Result<T, E>;
