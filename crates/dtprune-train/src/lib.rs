//! # dtprune-train — dynamic threshold pruning in Burn
//!
//! Built-in models ([`models`]), generic parameter walks ([`params`]), mask-aware optimizers
//! ([`optim`]), the training loop with pruning hooks ([`trainer`]), per-epoch monitoring
//! ([`monitor`]), safetensors export ([`export`]) and per-tensor sensitivity analysis of a
//! finished run ([`sensitivity`]). The pruning decisions themselves come
//! from the framework-free `dtprune-prune`.

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod divergence;
pub mod export;
pub mod graph;
pub mod io;
pub mod layers;
pub mod models;
pub mod monitor;
pub mod optim;
pub mod parallel;
pub mod params;
pub mod platform;
pub mod run;
pub mod sensitivity;
pub mod stop;
pub mod test_hook;
pub mod trainer;

pub use config::ExperimentConfig;
pub use trainer::{train, Summary, TrainObserver};

use burn::prelude::*;
use std::path::PathBuf;

/// A float tensor's values on the host as `f32` (the dtype of every parameter and activation
/// here); one copy out of the backend.
pub(crate) fn host_f32<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().expect("a float tensor converts to f32")
}
use thiserror::Error;

/// Burn's random stream is global to the backend: tests that seed it and compare what they
/// draw hold this lock, so tests running beside them cannot take numbers from their stream.
#[cfg(test)]
pub(crate) fn seeded_test_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug, Error)]
pub enum TrainError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}config: {message}", path.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default())]
    Config { path: Option<PathBuf>, message: String },
    #[error(transparent)]
    Data(#[from] dtprune_data::DataError),
    #[error(transparent)]
    Prune(#[from] dtprune_prune::PruneError),
    /// Non-finite values in a step, still there after the bounded number of returns to the last
    /// good state with a lower learning rate ([`divergence`]).
    #[error("training diverged at epoch {epoch}, step {step}: {what}; {retries} returns to the last good state with a 10x lower learning rate (down to {lr}) did not help; lower --lr")]
    Diverged { epoch: usize, step: usize, what: String, retries: usize, lr: f64 },
    /// A finite loss explosion at an epoch end ([`divergence::explosion`]).
    #[error("training exploded at epoch {epoch}: {message}. Nothing was pruned or saved as a model; the run folder keeps its config and the history of the epochs before")]
    Exploded { epoch: usize, message: String },
    /// A stop was requested (Ctrl-C); the checkpoint holds everything up to `step`.
    #[error("interrupted after step {step} (epoch {epoch}); the run is saved in {} — continue it with `dtprune train --resume {}`", dir.display(), dir.display())]
    Interrupted { dir: PathBuf, epoch: usize, step: usize },
    /// A checkpoint that cannot be resumed from (another config, version or kernel set).
    #[error("{path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
    #[error("{path}: not a valid safetensors file: {message}")]
    Safetensors { path: PathBuf, message: String },
    #[error("{path}: tensor `{tensor}`: {message}")]
    Tensor { path: PathBuf, tensor: String, message: String },
    #[error("{path}: not a dtprune run directory: {message}")]
    NotARun { path: PathBuf, message: String },
    /// Writing a plot or table through `dtprune-report`.
    #[error(transparent)]
    Report(#[from] dtprune_report::ReportError),
}
