//! Entry points by name — what the command line calls: load the data set a config names,
//! train the model it names, re-evaluate or analyse a saved run.

use crate::config::ExperimentConfig;
use crate::experiment::{normalization, Experiment};
use crate::input::Split;
use crate::registry::model;
use crate::sensitivity::{check_budget, check_levels, suggest, write_outputs, SensitivityReport};
use crate::trainer::{Summary, TrainObserver};
use crate::TrainError;
use dtprune_data::{Dataset, DatasetRequest};
use std::path::Path;

pub use crate::run_dir::{load_model, open_run, RunFiles};

/// The data set a config asks for.
pub fn load_data(cfg: &ExperimentConfig) -> Result<Dataset, TrainError> {
    let request = DatasetRequest { data_dir: cfg.data_dir.as_deref(), val_size: cfg.val_size, options: &cfg.data };
    Ok(dtprune_data::load_dataset(&cfg.dataset, &request)?)
}

/// Trains the model the config names on the data set it names: the config is resolved once
/// (checked, policy built) and handed to the trainer.
pub fn train_config(cfg: &ExperimentConfig, out: &Path, observer: &mut dyn TrainObserver) -> Result<Summary, TrainError> {
    train_experiment(Experiment::resolve(cfg)?, out, observer)
}

/// Trains an experiment resolved already ([`Experiment::resolve`]) on the data set it names.
pub fn train_experiment(experiment: Experiment, out: &Path, observer: &mut dyn TrainObserver) -> Result<Summary, TrainError> {
    let data = load_data(&experiment.cfg)?;
    let runner = experiment.model.runner;
    runner.train(experiment, &data, out, observer)
}

/// Result of re-evaluating a saved run on its test set.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EvalReport {
    pub model: String,
    pub test_accuracy: f64,
    pub test_loss: f64,
    pub test_images: usize,
}

/// The run's registry entry; a name no longer known is a [`TrainError::NotARun`].
fn run_model(run: &RunFiles) -> Result<crate::registry::ModelEntry, TrainError> {
    model(&run.cfg.model.name).map_err(|_| TrainError::NotARun { path: run.dir.clone(), message: format!("unknown model `{}` in config.toml", run.cfg.model) })
}

/// Loads `DIR/config.toml` and `DIR/model.safetensors` and evaluates on the test set, with the
/// normalisation the run recorded.
pub fn eval_run(dir: &Path) -> Result<EvalReport, TrainError> {
    let run = open_run(dir)?;
    let cfg = &run.cfg;
    let data = load_data(cfg)?;
    let norm = normalization(cfg, &data)?;
    let tests = data.splits.sizes().2;
    let eval = run_model(&run)?.runner.evaluate(&run, &data, Split::Test, cfg.test_limit, norm.as_ref())?;
    let test_images = if cfg.test_limit == 0 { tests } else { cfg.test_limit.min(tests) };
    Ok(EvalReport { model: cfg.model.name.clone(), test_accuracy: eval.accuracy, test_loss: eval.loss, test_images })
}

/// Sensitivity analysis of the run directory `dir` on its validation split; writes
/// `sensitivity.csv`, `sensitivity.json`, `sensitivity.png` and `sensitivity.svg` into it.
pub fn sensitivity(dir: &Path, levels: &[f64], budget: f64) -> Result<SensitivityReport, TrainError> {
    let levels = check_levels(levels)?;
    check_budget(budget)?;
    let run = open_run(dir)?;
    let entry = run_model(&run)?;
    let data = load_data(&run.cfg)?;
    let norm = normalization(&run.cfg, &data)?;
    let (baseline, rows) = entry.runner.sensitivity(&run, &data, Split::Val, norm.as_ref(), &levels)?;
    let suggestions = suggest(&rows, budget);
    let mut report = SensitivityReport {
        run: dir.to_path_buf(),
        model: run.cfg.model.name.clone(),
        val_images: data.splits.sizes().1,
        baseline_val_accuracy: baseline,
        budget,
        levels,
        rows,
        suggestions,
        files: Vec::new(),
    };
    report.files = write_outputs(dir, &report)?;
    Ok(report)
}
