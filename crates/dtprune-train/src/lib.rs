//! # dtprune-train — dynamic threshold pruning in Burn
//!
//! The crate reads from the ground up; each layer uses only those above it in this list:
//! - foundations: generic parameter walks ([`params`]), host [`kernels`] and the [`layers`] built on them, mask-aware optimizers
//!   ([`optim`]) and learning-rate [`schedule`]s, safetensors [`export`], [`monitor`] records, the layer [`graph`] constructors;
//! - the model contract: [`input`] kinds and batches, the [`task`] (loss and metric), the
//!   [`model`] trait with its [`model_params`] and its [`model_graph`]; the built-in [`models`];
//! - running a model: data-parallel steps ([`parallel`]), [`evaluate`], the pre-training
//!   [`graph_check`], the [`config`] and its resolved [`experiment`], the run directory
//!   ([`run_dir`]), the training loop ([`trainer`]) with its [`checkpoint`]s (exact resume),
//!   [`divergence`] handling and [`stop`] requests, and [`sensitivity`] analysis;
//! - by name: type-erased entry points ([`runner`]), the model [`registry`] (built-ins plus
//!   [`registry::register_model`] at run time), and [`run`], what the command line calls.
//!
//! The pruning decisions themselves come from the framework-free `dtprune-prune`; data sets
//! from `dtprune-data`.

pub mod checkpoint;
pub mod config;
pub mod divergence;
pub mod evaluate;
pub mod experiment;
pub mod export;
pub mod graph;
pub mod graph_check;
pub mod input;
pub mod io;
pub mod kernels;
pub mod layers;
pub mod model;
pub mod model_graph;
pub mod model_params;
pub mod models;
pub mod monitor;
pub mod optim;
pub mod parallel;
pub mod params;
pub mod platform;
pub mod pretrained;
pub mod registry;
pub mod run;
pub mod run_dir;
pub mod runner;
pub mod schedule;
pub mod sensitivity;
pub mod signals;
pub mod stop;
pub mod structure_groups;
pub mod task;
pub mod test_hook;
pub mod trainer;
pub mod unit_removal;

pub use config::ExperimentConfig;
pub use experiment::Experiment;
pub use input::{ImageData, InputInfo, InputKind};
pub use model::Model;
pub use registry::register_model;
pub use task::{Classification, Task};
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
