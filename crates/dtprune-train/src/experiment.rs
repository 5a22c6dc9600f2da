//! A config, checked once and resolved: the model and data set entries, the model's validated
//! `[model]` parameters and the built threshold policy — what the trainer is handed.

use crate::config::ExperimentConfig;
use crate::model_params::{resolve_model_params, ModelParams};
use crate::registry::{model, ModelEntry};
use crate::TrainError;
use dtprune_data::{Dataset, DatasetEntry, Normalization};
use dtprune_prune::ThresholdPolicy;

pub struct Experiment {
    pub cfg: ExperimentConfig,
    pub model: ModelEntry,
    pub model_params: ModelParams,
    pub dataset: DatasetEntry,
    pub policy: Box<dyn ThresholdPolicy>,
    /// The policy's resolved parameters, for the run's record.
    pub policy_params: serde_json::Value,
}

impl Experiment {
    /// Checks every value and name of `cfg` (ranges, model and its parameters, data set and
    /// whether the model takes it, policy and its parameters) and builds the policy.
    pub fn resolve(cfg: &ExperimentConfig) -> Result<Self, TrainError> {
        cfg.validate()?;
        let config = |message: String| TrainError::Config { path: None, message };
        let model = model(&cfg.model.name)?;
        let model_params = resolve_model_params(model.name, model.runner.params(), &cfg.model.params)?;
        let dataset = dtprune_data::dataset(&cfg.dataset).map_err(|e| config(e.to_string()))?;
        if dataset.input != model.runner.input_kind() {
            return Err(config(format!(
                "model `{}` takes {} input but data set `{}` holds {} data",
                model.name,
                model.runner.input_kind(),
                dataset.name,
                dataset.input
            )));
        }
        let (policy, policy_params) = dtprune_prune::policy::build(&cfg.policy.name, &cfg.policy.params)?;
        Ok(Self { cfg: cfg.clone(), model, model_params, dataset, policy, policy_params })
    }
}

/// The pixel normalisation a run uses: the config's, else the data set's declared one, else
/// the statistics of the training split; checked against the images' channel count. Data other
/// than images has none (a `[normalize]` table for it is an error).
pub fn normalization(cfg: &ExperimentConfig, data: &Dataset) -> Result<Option<Normalization>, TrainError> {
    let config = |message: String| TrainError::Config { path: None, message };
    let Ok(images) = data.images() else {
        return match cfg.normalize {
            Some(_) => Err(config(format!("[normalize] applies to image data; data set `{}` holds {} data", cfg.dataset, data.splits.input()))),
            None => Ok(None),
        };
    };
    let norm = cfg.normalize.clone().or_else(|| data.declared.clone()).unwrap_or_else(|| Normalization::of(&images.train));
    norm.check(images.train.channels()).map_err(|e| config(e.to_string()))?;
    Ok(Some(norm))
}
