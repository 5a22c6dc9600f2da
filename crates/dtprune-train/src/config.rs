//! The experiment config: everything a run needs, settable from a TOML file (`--config`) with
//! command-line flags overriding it. Unknown keys are errors (except inside `[policy]`, whose
//! keys are validated against the chosen policy's declared parameters).

use crate::optim::OptimizerKind;
use crate::TrainError;
use dtprune_prune::RollbackConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExperimentConfig {
    pub model: String,
    /// `mnist` (built in, checksum-verified) or `idx` (any IDX image set in `data_dir`).
    pub dataset: String,
    pub data_dir: Option<PathBuf>,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub optimizer: OptimizerKind,
    pub momentum: f64,
    pub weight_decay: f64,
    /// Multiply the learning rate by this after every epoch (1: constant).
    pub lr_decay: f64,
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
    /// Each batch is split into this many shards whose forward and backward passes run on
    /// their own threads (data parallelism over the machine's cores). Part of the experiment,
    /// not of the machine: the numbers depend on it, not on how many cores there are.
    /// Unset: the model's measured default ([`crate::models::ImageClassifier::REPLICAS`]); the
    /// run's `config.toml` records the value used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<usize>,
    pub policy: PolicyConfig,
    pub rollback: RollbackSection,
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
            model: "lenet300".into(),
            dataset: "mnist".into(),
            data_dir: None,
            epochs: 10,
            batch_size: 128,
            lr: 1e-3,
            optimizer: OptimizerKind::Adam,
            momentum: 0.9,
            weight_decay: 0.0,
            lr_decay: 0.9,
            seed: 42,
            val_size: 5000,
            train_limit: 0,
            test_limit: 0,
            prune_only: Vec::new(),
            min_keep: 0.002,
            monitor_every: 0,
            replicas: None,
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

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serialises to TOML")
    }

    /// Checks every value's range; the message names the key and the valid range.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |message: String| Err(TrainError::Config { path: None, message });
        crate::models::model(&self.model)?;
        if self.dataset != "mnist" && self.dataset != "idx" {
            return bad(format!("unknown dataset `{}`; valid: mnist, idx", self.dataset));
        }
        if self.dataset == "idx" && self.data_dir.is_none() {
            return bad("dataset `idx` needs `data_dir` (--data-dir DIR)".into());
        }
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
        if !(self.lr_decay > 0.0 && self.lr_decay <= 1.0) {
            return bad(format!("lr_decay = {} is out of range; valid range is (0, 1]", self.lr_decay));
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
        // Policy parameters are checked by building the policy.
        dtprune_prune::policy::build(&self.policy.name, &self.policy.params)?;
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
        c.validate().unwrap();
        let back = ExperimentConfig::from_toml_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn bad_policy_value_is_reported() {
        let c = ExperimentConfig::from_toml_str("[policy]\nname = \"gmp\"\nfinal_sparsity = 1.5\n").unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("final_sparsity") && e.contains("[0, 0.999]"), "{e}");
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
                config.validate().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                seen += 1;
            }
        }
        assert!(seen >= 5, "expected the shipped configs in {}, found {seen}", dir.display());
    }

    #[test]
    fn bad_ranges() {
        let c = ExperimentConfig { batch_size: 0, ..Default::default() };
        assert!(c.validate().unwrap_err().to_string().contains("batch_size = 0"));
        let c = ExperimentConfig { model: "resnet".into(), ..Default::default() };
        assert!(c.validate().unwrap_err().to_string().contains("unknown model `resnet`"));
    }
}
