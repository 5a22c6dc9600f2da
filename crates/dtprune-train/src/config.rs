//! The experiment config: everything a run needs, settable from a TOML file (`--config`) with
//! command-line flags overriding it. Unknown keys are errors (except inside `[model]`,
//! `[policy]` and `[data]`, whose keys are validated against the chosen model's, policy's and
//! data set's declared parameters when the experiment is resolved or the data loaded).
//!
//! [`ExperimentConfig::validate`] checks what the config alone can tell (ranges); names and
//! parameters are checked once, by `crate::experiment::Experiment::resolve`.

use crate::optim::OptimizerKind;
use crate::TrainError;
use dtprune_data::{Augment, Normalization};
use dtprune_prune::RollbackConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExperimentConfig {
    /// `model = "NAME"`, or a `[model]` table: `name` and the model's parameters.
    pub model: ModelConfig,
    /// A data set by name (`dtprune models` lists them): `mnist` (built in, checksum-verified),
    /// `idx`, `cifar10`, `image-folder` (these read `data_dir`).
    pub dataset: String,
    pub data_dir: Option<PathBuf>,
    /// The data set's options (`[data]`, `-D key=value`): validated by its loader against the
    /// options it declares (`dtprune models` lists them); image sets take none.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, toml::Value>,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub optimizer: OptimizerKind,
    pub momentum: f64,
    pub weight_decay: f64,
    /// Multiply the learning rate by this after every epoch (1: constant). Unset: 0.9 with
    /// `lr_schedule = "exponential"`, 1 with `cosine` (which shapes the rate itself; any other
    /// value with `cosine` is an error). [`Self::lr_decay_factor`] gives the value used; the
    /// run's `config.toml` records it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr_decay: Option<f64>,
    /// Nesterov momentum for `optimizer = "sgd"` (as `torch.optim.SGD(nesterov=True)`).
    #[serde(skip_serializing_if = "is_false")]
    pub nesterov: bool,
    /// The learning-rate schedule within the run: `exponential` (`lr_decay` after every epoch)
    /// or `cosine` (from `lr` to 0 over the run, per step, and nothing else: `lr_decay` is 1),
    /// after `warmup_epochs` of linear warm-up.
    #[serde(skip_serializing_if = "LrSchedule::is_default")]
    pub lr_schedule: LrSchedule,
    /// Epochs of linear warm-up (per step, from lr/steps to lr) before the schedule (0: none).
    #[serde(skip_serializing_if = "is_zero")]
    pub warmup_epochs: usize,
    /// Label smoothing of the training loss (targets (1 − α)·one-hot + α/classes; 0: none).
    #[serde(skip_serializing_if = "is_zero_f64")]
    pub label_smoothing: f64,
    pub seed: u64,
    /// Images taken from the end of the training set for validation.
    pub val_size: usize,
    /// Train on the first N training images only (0: all). For quick checks and tests.
    pub train_limit: usize,
    /// Evaluate on the first N test images only (0: all).
    pub test_limit: usize,
    /// Only tensors whose names match one of these globs are pruned (default: every Linear/Conv weight).
    pub prune_only: Vec<String>,
    /// Smallest fraction of each tensor's weights that is always kept.
    pub min_keep: f64,
    /// Also record running loss, accuracy and sparsity every N optimizer steps in
    /// `steps.jsonl` (0: per epoch only).
    pub monitor_every: usize,
    /// Also checkpoint inside an epoch every N optimizer steps (0: at epoch ends only), so a
    /// run killed mid-epoch loses at most N steps. Unset in `config.toml` when 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub checkpoint_every: usize,
    /// Each batch is split into this many shards whose forward and backward passes run on
    /// their own threads (data parallelism over the machine's cores). Part of the experiment,
    /// not of the machine: the numbers depend on it, not on how many cores there are.
    /// Unset: the model's measured default ([`crate::model::Model::REPLICAS`]); the
    /// run's `config.toml` records the value used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<usize>,
    /// Per-channel normalisation of the pixels. Unset: the data set's declared statistics
    /// (MNIST's published ones) or those of the training split; the run's `config.toml` records
    /// the values used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub normalize: Option<Normalization>,
    /// Training-image augmentation (default: none).
    #[serde(skip_serializing_if = "Augment::is_identity")]
    pub augment: Augment,
    pub policy: PolicyConfig,
    pub rollback: RollbackSection,
}

pub use crate::schedule::LrSchedule;

fn is_false(b: &bool) -> bool {
    !*b
}
fn is_zero(n: &usize) -> bool {
    *n == 0
}
fn is_zero_f64(x: &f64) -> bool {
    *x == 0.0
}

/// The model and its `[model]` parameters. Written as a plain `model = "NAME"` when it has no
/// parameters, so configs from before the table stay valid and look the same.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelConfig {
    pub name: String,
    /// Validated by the model (`dtprune models` lists them).
    pub params: BTreeMap<String, toml::Value>,
}

impl ModelConfig {
    pub fn named(name: &str) -> Self {
        Self { name: name.into(), params: BTreeMap::new() }
    }
}

impl From<&str> for ModelConfig {
    fn from(name: &str) -> Self {
        Self::named(name)
    }
}

impl std::fmt::Display for ModelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum ModelConfigForm {
    Name(String),
    Table {
        name: String,
        #[serde(flatten)]
        params: BTreeMap<String, toml::Value>,
    },
}

impl Serialize for ModelConfig {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.params.is_empty() {
            ModelConfigForm::Name(self.name.clone()).serialize(s)
        } else {
            ModelConfigForm::Table { name: self.name.clone(), params: self.params.clone() }.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for ModelConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match ModelConfigForm::deserialize(d)? {
            ModelConfigForm::Name(name) => Self::named(&name),
            ModelConfigForm::Table { name, params } => Self { name, params },
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyConfig {
    pub name: String,
    /// Policy parameters; validated by the policy (`dtprune policies` lists them).
    #[serde(flatten)]
    pub params: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RollbackSection {
    pub enabled: bool,
    pub tolerance: f64,
    pub recovery_epochs: usize,
}

impl Default for RollbackSection {
    fn default() -> Self {
        let d = RollbackConfig::default();
        Self { enabled: d.enabled, tolerance: d.tolerance, recovery_epochs: d.recovery_epochs }
    }
}

impl From<RollbackSection> for RollbackConfig {
    fn from(r: RollbackSection) -> Self {
        RollbackConfig { enabled: r.enabled, tolerance: r.tolerance, recovery_epochs: r.recovery_epochs }
    }
}

impl Default for PolicyConfig {
    /// The dynamic performance-based policy, stopping at 95% sparsity.
    fn default() -> Self {
        let mut params = BTreeMap::new();
        params.insert("target_sparsity".to_string(), toml::Value::Float(0.95));
        Self { name: "performance".into(), params }
    }
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        Self {
            model: ModelConfig::named("lenet300"),
            dataset: "mnist".into(),
            data_dir: None,
            data: BTreeMap::new(),
            epochs: 10,
            batch_size: 128,
            lr: 1e-3,
            optimizer: OptimizerKind::Adam,
            momentum: 0.9,
            weight_decay: 0.0,
            lr_decay: None,
            nesterov: false,
            lr_schedule: LrSchedule::Exponential,
            warmup_epochs: 0,
            label_smoothing: 0.0,
            seed: 42,
            val_size: 5000,
            train_limit: 0,
            test_limit: 0,
            prune_only: Vec::new(),
            min_keep: 0.002,
            monitor_every: 0,
            checkpoint_every: 0,
            replicas: None,
            normalize: None,
            augment: Augment::default(),
            policy: PolicyConfig::default(),
            rollback: RollbackSection::default(),
        }
    }
}

impl ExperimentConfig {
    pub fn from_toml_file(path: &Path) -> Result<Self, TrainError> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::Io { path: path.into(), source: e })?;
        Self::from_toml_str(&text).map_err(|message| TrainError::Config { path: Some(path.into()), message })
    }

    pub fn from_toml_str(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The factor on the rate after every epoch: `lr_decay` if set, else the schedule's
    /// default (0.9 for `exponential`, 1 for `cosine`).
    pub fn lr_decay_factor(&self) -> f64 {
        self.lr_decay.unwrap_or(match self.lr_schedule {
            LrSchedule::Exponential => 0.9,
            LrSchedule::Cosine => 1.0,
        })
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serialises to TOML")
    }

    /// Checks every value's range; the message names the key and the valid range. Names
    /// (model, data set, policy) and their parameters are checked by
    /// `crate::experiment::Experiment::resolve`, which calls this first.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |message: String| Err(TrainError::Config { path: None, message });
        if self.epochs == 0 || self.epochs > 10_000 {
            return bad(format!("epochs = {} is out of range; valid range is [1, 10000]", self.epochs));
        }
        if self.batch_size == 0 || self.batch_size > 65_536 {
            return bad(format!("batch_size = {} is out of range; valid range is [1, 65536]", self.batch_size));
        }
        if let Some(r) = self.replicas.filter(|r| !(1..=64).contains(r)) {
            return bad(format!("replicas = {r} is out of range; valid range is [1, 64]"));
        }
        if !(self.lr > 0.0 && self.lr <= 10.0) {
            return bad(format!("lr = {} is out of range; valid range is (0, 10]", self.lr));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad(format!("momentum = {} is out of range; valid range is [0, 1)", self.momentum));
        }
        if !(0.0..=1.0).contains(&self.weight_decay) {
            return bad(format!("weight_decay = {} is out of range; valid range is [0, 1]", self.weight_decay));
        }
        if let Some(d) = self.lr_decay {
            if !(d > 0.0 && d <= 1.0) {
                return bad(format!("lr_decay = {d} is out of range; valid range is (0, 1]"));
            }
            if self.lr_schedule == LrSchedule::Cosine && d != 1.0 {
                return bad(format!(
                    "lr_decay = {d} with lr_schedule = \"cosine\": the cosine schedule takes the rate from lr to 0 over the run by itself, and lr_decay would also multiply it by {d} after every epoch; leave lr_decay (--lr-decay) unset or set it to 1 with cosine"
                ));
            }
        }
        if self.nesterov && !(self.optimizer == OptimizerKind::Sgd && self.momentum > 0.0) {
            return bad("nesterov = true needs optimizer = \"sgd\" with momentum > 0".into());
        }
        if self.warmup_epochs >= self.epochs && self.warmup_epochs > 0 {
            return bad(format!("warmup_epochs = {} is out of range; valid range is [0, epochs) = [0, {})", self.warmup_epochs, self.epochs));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return bad(format!("label_smoothing = {} is out of range; valid range is [0, 1)", self.label_smoothing));
        }
        if !(0.0..1.0).contains(&self.min_keep) {
            return bad(format!("min_keep = {} is out of range; valid range is [0, 1)", self.min_keep));
        }
        if self.val_size == 0 {
            return bad("val_size must be at least 1: the pruning controller watches validation".into());
        }
        if !(0.0..=1.0).contains(&self.rollback.tolerance) {
            return bad(format!("rollback.tolerance = {} is out of range; valid range is [0, 1]", self.rollback.tolerance));
        }
        if self.rollback.recovery_epochs == 0 {
            return bad("rollback.recovery_epochs must be at least 1".into());
        }
        if self.augment.crop_padding > 64 {
            return bad(format!("augment.crop_padding = {} is out of range; valid range is [0, 64]", self.augment.crop_padding));
        }
        if let Some(n) = &self.normalize {
            // The channel count is checked against the data when it is loaded.
            n.check(n.mean.len()).map_err(|e| TrainError::Config { path: None, message: e.to_string() })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_an_error() {
        let e = ExperimentConfig::from_toml_str("epochz = 3").unwrap_err();
        assert!(e.contains("unknown field `epochz`"), "{e}");
    }

    #[test]
    fn policy_table_round_trips() {
        let c = ExperimentConfig::from_toml_str("epochs = 3\n[policy]\nname = \"gmp\"\nfinal_sparsity = 0.95\n").unwrap();
        assert_eq!(c.epochs, 3);
        assert_eq!(c.policy.name, "gmp");
        assert_eq!(c.policy.params["final_sparsity"], toml::Value::Float(0.95));
        crate::experiment::Experiment::resolve(&c).unwrap();
        let back = ExperimentConfig::from_toml_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn bad_policy_value_is_reported() {
        let c = ExperimentConfig::from_toml_str("[policy]\nname = \"gmp\"\nfinal_sparsity = 1.5\n").unwrap();
        let e = crate::experiment::Experiment::resolve(&c).err().unwrap().to_string();
        assert!(e.contains("final_sparsity") && e.contains("[0, 0.999]"), "{e}");
    }

    #[test]
    fn model_is_a_name_or_a_table() {
        // The plain form (every config before `[model]`) reads and writes as before.
        let c = ExperimentConfig::from_toml_str("model = \"lenet5\"\n").unwrap();
        assert_eq!(c.model, ModelConfig::named("lenet5"));
        assert!(c.to_toml().starts_with("model = \"lenet5\"\n"), "{}", c.to_toml());
        let c = ExperimentConfig::from_toml_str("[model]\nname = \"lenet300\"\nhidden1 = 64\n").unwrap();
        assert_eq!(c.model.params["hidden1"], toml::Value::Integer(64));
        assert_eq!(ExperimentConfig::from_toml_str(&c.to_toml()).unwrap(), c);
        crate::experiment::Experiment::resolve(&c).unwrap();
        let c = ExperimentConfig::from_toml_str("[model]\nname = \"lenet300\"\nhidden1 = 0\n").unwrap();
        let e = crate::experiment::Experiment::resolve(&c).err().unwrap().to_string();
        assert!(e.contains("[model] `lenet300`: parameter `hidden1` = 0 is out of range; valid range is [1, 16384]"), "{e}");
    }

    #[test]
    fn augment_and_normalize_sections() {
        let c = ExperimentConfig::from_toml_str("[augment]\ncrop_padding = 4\nflip = true\n[normalize]\nmean = [0.5, 0.5, 0.5]\nstd = [0.25, 0.25, 0.25]\n").unwrap();
        assert_eq!(c.augment, Augment { crop_padding: 4, flip: true });
        c.validate().unwrap();
        assert_eq!(ExperimentConfig::from_toml_str(&c.to_toml()).unwrap(), c);
        let c = ExperimentConfig::from_toml_str("[normalize]\nmean = [0.5]\nstd = [0.0]\n").unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("std 0 must be a positive"));
        let c = ExperimentConfig::from_toml_str("[augment]\ncrop_padding = 65\n").unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("augment.crop_padding = 65"));
        assert!(ExperimentConfig::from_toml_str("[augment]\ncrop = 4\n").unwrap_err().contains("unknown field `crop`"));
    }

    /// Every experiment shipped in `configs/` parses and passes validation.
    #[test]
    fn shipped_configs_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("configs/ exists") {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let config = ExperimentConfig::from_toml_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                crate::experiment::Experiment::resolve(&config).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                seen += 1;
            }
        }
        assert!(seen >= 5, "expected the shipped configs in {}, found {seen}", dir.display());
    }

    #[test]
    fn recipe_keys_validate() {
        let c = ExperimentConfig::from_toml_str("optimizer = \"sgd\"\nnesterov = true\nlr_schedule = \"cosine\"\nwarmup_epochs = 1\nlabel_smoothing = 0.1\n").unwrap();
        c.validate().unwrap();
        assert_eq!((c.lr_schedule, c.warmup_epochs, c.label_smoothing), (LrSchedule::Cosine, 1, 0.1));
        assert_eq!(ExperimentConfig::from_toml_str(&c.to_toml()).unwrap(), c);
        // Defaults are not written: older configs and their config.toml read and write as before.
        assert!(!ExperimentConfig::default().to_toml().contains("nesterov"));
        let e = ExperimentConfig::from_toml_str("nesterov = true\n").unwrap().validate().unwrap_err().to_string();
        assert!(e.contains("nesterov = true needs optimizer = \"sgd\""), "{e}");
        let e = ExperimentConfig::from_toml_str("epochs = 2\nwarmup_epochs = 2\n").unwrap().validate().unwrap_err().to_string();
        assert!(e.contains("warmup_epochs = 2 is out of range; valid range is [0, epochs) = [0, 2)"), "{e}");
        let e = ExperimentConfig::from_toml_str("label_smoothing = 1.0\n").unwrap().validate().unwrap_err().to_string();
        assert!(e.contains("label_smoothing = 1 is out of range"), "{e}");
        let e = ExperimentConfig::from_toml_str("lr_schedule = \"linear\"\n").unwrap_err();
        assert!(e.contains("unknown variant `linear`") && e.contains("cosine"), "{e}");
    }

    /// The rate of step `step` as the trainer forms it (no divergence): the epoch's rate
    /// `lr · lr_decay^epoch` shaped by the schedule's factor.
    fn step_lr(c: &ExperimentConfig, step: usize, batches: usize) -> f64 {
        let epoch_lr = c.lr * c.lr_decay_factor().powi((step / batches) as i32);
        epoch_lr * c.lr_schedule.factor(step, c.warmup_epochs * batches, c.epochs * batches)
    }

    #[test]
    fn cosine_alone_goes_from_lr_to_zero_by_hand() {
        // 4 epochs of 2 steps: t = step of 8. ½(1 + cos(π·t/8)) · 0.1, no per-epoch decay.
        let c = ExperimentConfig::from_toml_str("lr = 0.1\nepochs = 4\nlr_schedule = \"cosine\"\n").unwrap();
        c.validate().unwrap();
        assert_eq!((c.lr_decay, c.lr_decay_factor()), (None, 1.0));
        assert_eq!(step_lr(&c, 0, 2), 0.1);
        // t = 2 (epoch 1): ½(1 + cos(π/4)) = ½(1 + 0.70710678) = 0.85355339.
        assert!((step_lr(&c, 2, 2) - 0.085355339).abs() < 1e-9, "{}", step_lr(&c, 2, 2));
        // t = 4 (epoch 2): ½(1 + 0) = 0.5; the old default decay made it 0.05 · 0.9² = 0.0405.
        assert!((step_lr(&c, 4, 2) - 0.05).abs() < 1e-15, "{}", step_lr(&c, 4, 2));
        // t = 7 (epoch 3, the last step): ½(1 + cos(7π/8)) = ½(1 − 0.92387953) = 0.03806023.
        assert!((step_lr(&c, 7, 2) - 0.003806023).abs() < 1e-9, "{}", step_lr(&c, 7, 2));
        // An explicit 1 is the same run; exponential keeps its default 0.9 (0.1 · 0.9² at epoch 2).
        let one = ExperimentConfig::from_toml_str("lr = 0.1\nepochs = 4\nlr_schedule = \"cosine\"\nlr_decay = 1.0\n").unwrap();
        one.validate().unwrap();
        assert_eq!(step_lr(&one, 7, 2), step_lr(&c, 7, 2));
        let exp = ExperimentConfig::from_toml_str("lr = 0.1\nepochs = 4\n").unwrap();
        assert_eq!(exp.lr_decay_factor(), 0.9);
        assert!((step_lr(&exp, 4, 2) - 0.081).abs() < 1e-15);
    }

    #[test]
    fn lr_decay_with_cosine_is_an_error_naming_both_keys() {
        let c = ExperimentConfig::from_toml_str("lr_schedule = \"cosine\"\nlr_decay = 0.9\n").unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("lr_decay = 0.9 with lr_schedule = \"cosine\"") && e.contains("--lr-decay"), "{e}");
        // The range is checked first; exponential takes any decay in (0, 1].
        let e = ExperimentConfig::from_toml_str("lr_schedule = \"cosine\"\nlr_decay = 0.0\n").unwrap().validate().unwrap_err().to_string();
        assert!(e.contains("lr_decay = 0 is out of range; valid range is (0, 1]"), "{e}");
        ExperimentConfig::from_toml_str("lr_decay = 0.5\n").unwrap().validate().unwrap();
        // Unset is not written (a config reads back unset); set values are.
        assert!(!ExperimentConfig::default().to_toml().contains("lr_decay"));
        let c = ExperimentConfig { lr_decay: Some(0.8), ..Default::default() };
        assert!(c.to_toml().contains("lr_decay = 0.8"), "{}", c.to_toml());
    }

    #[test]
    fn bad_ranges() {
        let c = ExperimentConfig { batch_size: 0, ..Default::default() };
        assert!(c.validate().unwrap_err().to_string().contains("batch_size = 0"));
        let c = ExperimentConfig { model: ModelConfig::named("resnet"), ..Default::default() };
        assert!(crate::experiment::Experiment::resolve(&c).err().unwrap().to_string().contains("unknown model `resnet`"));
    }
}
