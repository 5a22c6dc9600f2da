//! Entry points by model name: load the configured data, dispatch to the generic trainer, and
//! re-evaluate a saved run.

use crate::config::ExperimentConfig;
use crate::data::Prepared;
use crate::export::{load_into, load_safetensors, NamedTensors};
use crate::graph::MNIST_PREPROCESS;
use crate::models::{ImageClassifier, InputInfo};
use crate::trainer::{Summary, TrainObserver};
use crate::TrainError;
use burn::prelude::*;
use dtprune_data::ImageSplits;
use std::path::{Path, PathBuf};

/// The data a config asks for.
pub fn load_data(cfg: &ExperimentConfig) -> Result<ImageSplits, TrainError> {
    let splits = match cfg.dataset.as_str() {
        "mnist" => {
            let dir = cfg.data_dir.clone().unwrap_or_else(dtprune_data::default_mnist_dir);
            dtprune_data::load_mnist_with_val_size(&dir, cfg.val_size)?
        }
        "idx" => {
            let dir = cfg.data_dir.as_ref().ok_or_else(|| TrainError::Config { path: None, message: "dataset `idx` needs --data-dir".into() })?;
            dtprune_data::load_idx_dir_with_val_size(dir, cfg.val_size)?
        }
        other => return Err(TrainError::Config { path: None, message: format!("unknown dataset `{other}`; valid: mnist, idx") }),
    };
    Ok(splits)
}

/// Trains the model the config names.
pub fn train_config(cfg: &ExperimentConfig, out: &Path, observer: &mut dyn TrainObserver) -> Result<Summary, TrainError> {
    cfg.validate()?;
    let splits = load_data(cfg)?;
    crate::models::model(&cfg.model)?.runner.train(cfg, &splits, out, observer)
}

/// Result of re-evaluating a saved run on its test set.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EvalReport {
    pub model: String,
    pub test_accuracy: f64,
    pub test_loss: f64,
    pub test_images: usize,
}

/// A finished run directory, checked: its config and its saved model's tensors.
pub struct RunFiles {
    pub cfg: ExperimentConfig,
    pub model_path: PathBuf,
    pub tensors: NamedTensors,
}

/// Opens `DIR/config.toml` and `DIR/model.safetensors`; a missing directory or file is a
/// [`TrainError::NotARun`] naming what is missing.
pub fn open_run(dir: &Path) -> Result<RunFiles, TrainError> {
    let not_run = |message: String| TrainError::NotARun { path: dir.into(), message };
    if !dir.is_dir() {
        return Err(not_run("no such directory".into()));
    }
    let config_path = dir.join("config.toml");
    if !config_path.is_file() {
        return Err(not_run("config.toml is missing".into()));
    }
    let model_path = dir.join("model.safetensors");
    if !model_path.is_file() {
        return Err(not_run("model.safetensors is missing (the run did not finish?)".into()));
    }
    let cfg = ExperimentConfig::from_toml_file(&config_path)?;
    let tensors = load_safetensors(&model_path)?;
    Ok(RunFiles { cfg, model_path, tensors })
}

/// The model's input description for a data set.
pub fn input_info(splits: &ImageSplits) -> InputInfo {
    InputInfo { channels: 1, rows: splits.test.rows(), cols: splits.test.cols(), classes: splits.train.num_classes() }
}

/// A run's saved weights loaded into a fresh `M` on the inference device.
pub fn load_model<M: ImageClassifier>(info: InputInfo, run: &RunFiles, device: &Device) -> Result<M, TrainError> {
    load_into(M::init(info, device), &run.model_path, &run.tensors)
}

/// Loads `DIR/config.toml` and `DIR/model.safetensors` and evaluates on the test set.
pub fn eval_run(dir: &Path) -> Result<EvalReport, TrainError> {
    let run = open_run(dir)?;
    let cfg = &run.cfg;
    let splits = load_data(cfg)?;
    let test_set = if cfg.test_limit == 0 { splits.test.first(splits.test.len()) } else { splits.test.first(cfg.test_limit) };
    let test = Prepared::new(&test_set, MNIST_PREPROCESS);
    let info = input_info(&splits);
    let model = crate::models::model(&cfg.model).map_err(|_| TrainError::NotARun { path: dir.into(), message: format!("unknown model `{}` in config.toml", cfg.model) })?;
    let eval = model.runner.evaluate(info, &run, &test)?;
    Ok(EvalReport { model: run.cfg.model.clone(), test_accuracy: eval.accuracy, test_loss: eval.loss, test_images: test.len() })
}

