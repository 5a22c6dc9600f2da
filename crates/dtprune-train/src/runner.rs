//! The generic entry points (train, evaluate, sensitivity), instantiated for one model type
//! and erased behind a trait object so the registry can hold models by name.

use crate::evaluate::{evaluate, Evaluation};
use crate::experiment::Experiment;
use crate::input::{InputKind, Prepare, Split};
use crate::model::Model;
use crate::run_dir::{load_model, RunFiles};
use crate::sensitivity::{measure, SensitivityRow};
use crate::trainer::{Summary, TrainObserver};
use crate::TrainError;
use burn::prelude::*;
use dtprune_data::{Dataset, Normalization};
use dtprune_prune::params::ParamSpec;
use std::marker::PhantomData;
use std::path::Path;

pub trait ModelRunner: Send + Sync {
    /// The kind of input (`image`): the model takes the data sets of that kind.
    fn input_kind(&self) -> &'static str;
    /// The `[model]` parameters.
    fn params(&self) -> &'static [ParamSpec];
    /// Data-parallel shards per batch by default.
    fn replicas(&self) -> usize;
    fn train(&self, experiment: Experiment, data: &Dataset, out: &Path, observer: &mut dyn TrainObserver) -> Result<Summary, TrainError>;
    /// Loss and metric of the run's saved model on `split` of `data` (its first `limit` items, 0: all).
    fn evaluate(&self, run: &RunFiles, data: &Dataset, split: Split, limit: usize, norm: Option<&Normalization>) -> Result<Evaluation, TrainError>;
    /// Baseline metric on `split` of `data` and one row per (prunable tensor, level).
    fn sensitivity(&self, run: &RunFiles, data: &Dataset, split: Split, norm: Option<&Normalization>, levels: &[f64]) -> Result<(f64, Vec<SensitivityRow>), TrainError>;
}

/// [`ModelRunner`] for the model type `M`.
pub struct Runner<M>(PhantomData<fn() -> M>);

impl<M> Runner<M> {
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<M> Default for Runner<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: Model> ModelRunner for Runner<M> {
    fn input_kind(&self) -> &'static str {
        M::Input::NAME
    }

    fn params(&self) -> &'static [ParamSpec] {
        M::params()
    }

    fn replicas(&self) -> usize {
        M::REPLICAS
    }

    fn train(&self, experiment: Experiment, data: &Dataset, out: &Path, observer: &mut dyn TrainObserver) -> Result<Summary, TrainError> {
        crate::trainer::train::<M>(experiment, data, out, observer)
    }

    fn evaluate(&self, run: &RunFiles, data: &Dataset, split: Split, limit: usize, norm: Option<&Normalization>) -> Result<Evaluation, TrainError> {
        let device = Device::flex();
        let model = load_model::<M>(M::Input::info(data)?, run, &device)?;
        let items = M::Input::prepare(data, split, &Prepare { limit, norm, ..Default::default() })?;
        Ok(evaluate(&model, &items, &device))
    }

    fn sensitivity(&self, run: &RunFiles, data: &Dataset, split: Split, norm: Option<&Normalization>, levels: &[f64]) -> Result<(f64, Vec<SensitivityRow>), TrainError> {
        let device = Device::flex();
        let model = load_model::<M>(M::Input::info(data)?, run, &device)?;
        let items = M::Input::prepare(data, split, &Prepare { norm, ..Default::default() })?;
        measure(&model, &items, &run.cfg.prune_only, levels, &device)
    }
}
