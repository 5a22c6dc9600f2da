//! Threshold policies: how τ (and with it the mask) moves during training.
//!
//! A policy only *decides*: it looks at an [`Observation`] (metrics of the epoch that just ended
//! and every prunable tensor with its current mask) and returns a [`Decision`] — the threshold
//! and the new mask per tensor, each with its reason. Applying masks, guarding against emptied
//! layers, recording events and rolling back are the engine's job ([`crate::engine`]), so a new
//! policy is one new file here plus one line in [`REGISTRY`].

pub mod allocation;
mod composite;
mod constant;
mod controller;
pub(crate) mod distribution;
mod gmp;
pub mod importance;
mod none;
mod oneshot;
mod performance;
mod performance_seed;
pub mod signals;
pub mod structure;
mod surgery;
pub mod threshold;

pub use composite::Composite;
pub use signals::{SensitivityCurve, Signals, Wants};

use crate::error::PruneError;
use crate::group::{Group, ResolvedBlock};
use crate::mask::Mask;
use crate::params::{ParamSpec, Params};
use std::collections::BTreeMap;

/// One prunable tensor as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct TensorView<'a> {
    /// Dotted parameter name, e.g. `fc1.weight`.
    pub name: &'a str,
    /// PyTorch layout: Linear `[out, in]`, Conv `[out, in, kh, kw]`; dim 0 indexes structures.
    pub shape: &'a [usize],
    /// Current values (masked entries are 0). With regrowth, the dense shadow values instead.
    pub values: &'a [f32],
    pub mask: &'a Mask,
    /// Whether whole structures (rows of dim 0) may be removed: false for the classifier layer,
    /// whose outputs are the model's outputs.
    pub structures_removable: bool,
    /// A follower tensor (BatchNorm γ, β): only in [`StructureView::all`], never in
    /// [`Observation::tensors`].
    pub follower: bool,
}

/// What the run observed when a policy is asked.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// 1-based epoch that is ending (or running, for step-level events).
    pub epoch: usize,
    pub epochs: usize,
    /// Optimizer steps done so far, and per epoch.
    pub step: usize,
    pub steps_per_epoch: usize,
    /// True at an epoch end (validation metrics are fresh), false at a step-level event.
    pub epoch_end: bool,
    pub train_loss: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
    /// Best validation accuracy seen so far in the run (including this epoch).
    pub best_val_accuracy: f64,
    /// The weight tensors (followers such as BatchNorm γ/β are not here: magnitude policies
    /// never prune them).
    pub tensors: &'a [TensorView<'a>],
    pub structure: StructureView<'a>,
    /// What the trainer measured for this policy ([`ThresholdPolicy::wants`]), aligned with
    /// `tensors`.
    pub signals: Signals<'a>,
}

impl Observation<'_> {
    pub fn total_steps(&self) -> usize {
        self.epochs * self.steps_per_epoch
    }

    /// Fraction of all prunable weights currently masked.
    pub fn sparsity(&self) -> f64 {
        let total: usize = self.tensors.iter().map(|t| t.mask.len()).sum();
        let pruned: usize = self.tensors.iter().map(|t| t.mask.pruned()).sum();
        if total == 0 {
            0.0
        } else {
            pruned as f64 / total as f64
        }
    }
}

/// The policy's verdict for one tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorDecision {
    /// τ for this tensor after the update (None when the policy has no magnitude threshold).
    pub threshold: Option<f32>,
    pub mask: Mask,
    /// Why τ moved (or did not), in words, for the event log.
    pub reason: String,
}

/// One decision per tensor, in the order of [`Observation::tensors`], and the whole structures
/// to remove (the engine masks every slice of each; see [`crate::group`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub tensors: Vec<TensorDecision>,
    pub removals: Vec<Removal>,
}

impl Decision {
    /// Per-tensor masks only, no structure removed.
    pub fn new(tensors: Vec<TensorDecision>) -> Self {
        Self { tensors, removals: Vec::new() }
    }
}

/// A whole structure a policy removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Removal {
    /// Unit `unit` of group `group` ([`StructureView::groups`]): every member slice.
    Unit { group: usize, unit: usize },
    /// Block `0` ([`StructureView::blocks`]): every tensor of the branch.
    Block(usize),
}

/// The coupled structures of the network, as the engine tracks them.
#[derive(Debug, Clone, Copy)]
pub struct StructureView<'a> {
    pub groups: &'a [Group],
    pub blocks: &'a [ResolvedBlock],
    /// Per group, per unit: removed as a whole (by a [`Removal`]) and not rolled back.
    pub removed_units: &'a [Vec<bool>],
    pub removed_blocks: &'a [bool],
    /// Every engine tensor, followers (BatchNorm γ, β) included: [`crate::group::Member::tensor`]
    /// indexes this, not [`Observation::tensors`].
    pub all: &'a [TensorView<'a>],
}

impl StructureView<'static> {
    /// No groups, no blocks: what a policy sees when nothing describes structures.
    pub fn empty() -> Self {
        Self { groups: &[], blocks: &[], removed_units: &[], removed_blocks: &[], all: &[] }
    }
}

/// How a policy moves the pruning threshold during training.
pub trait ThresholdPolicy: Send {
    fn name(&self) -> &str;

    /// Prune at step-level events every this many optimizer steps (as TF-MOT's `frequency`),
    /// besides epoch ends. `None`: epoch ends only.
    fn step_interval(&self) -> Option<usize> {
        None
    }

    /// Whether masked weights may come back. Then the trainer keeps updating a dense shadow copy
    /// of the weights (Dynamic Network Surgery) and [`TensorView::values`] shows the shadow.
    fn allows_regrowth(&self) -> bool {
        false
    }

    /// What the trainer must measure for this policy at its pruning points (gradient
    /// statistics, layer sensitivity); see [`signals`]. Nothing by default.
    fn wants(&self) -> Wants {
        Wants::default()
    }

    /// Whether the engine may undo this policy's pruning when validation accuracy falls. The
    /// baselines say no: they must behave as in the toolkits they stand for.
    fn supports_rollback(&self) -> bool {
        true
    }

    /// Decide thresholds and masks now; `None` when the policy does nothing at this point.
    fn decide(&mut self, obs: &Observation) -> Option<Decision>;

    /// The last prune event cost more validation accuracy than the tolerance and was rolled
    /// back: become more conservative.
    fn on_rollback(&mut self) {}

    /// Mutable state, serialisable for an exact resume.
    fn state(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// Puts back what [`ThresholdPolicy::state`] returned (exact resume, divergence rollback).
    /// A policy without state accepts only `null`.
    fn restore_state(&mut self, state: &serde_json::Value) -> Result<(), String> {
        if state.is_null() {
            Ok(())
        } else {
            Err(format!("policy `{}` keeps no state, but the checkpoint holds {state}", self.name()))
        }
    }
}

/// Field `key` of a policy state object, for [`ThresholdPolicy::restore_state`].
pub(crate) fn state_field<T: serde::de::DeserializeOwned>(state: &serde_json::Value, key: &str) -> Result<T, String> {
    let value = state.get(key).ok_or_else(|| format!("policy state has no `{key}`: {state}"))?;
    serde_json::from_value(value.clone()).map_err(|e| format!("policy state `{key}`: {e}"))
}

/// A named policy with its documented, validated parameters.
pub struct PolicyInfo {
    pub name: &'static str,
    pub family: &'static str,
    pub summary: &'static str,
    pub params: &'static [ParamSpec],
    pub build: fn(&Params) -> Result<Box<dyn ThresholdPolicy>, PruneError>,
}

/// Every policy dtprune knows. `dtprune policies` prints this table.
pub const REGISTRY: &[PolicyInfo] = &[
    performance::INFO,
    controller::INFO,
    performance_seed::INFO,
    distribution::INFO,
    surgery::INFO,
    structure::INFO,
    none::INFO,
    oneshot::INFO,
    constant::INFO,
    gmp::INFO,
];

pub fn info(name: &str) -> Result<&'static PolicyInfo, PruneError> {
    REGISTRY.iter().find(|p| p.name == name).ok_or_else(|| PruneError::UnknownPolicy(name.into()))
}

/// Builds a policy from its name and raw parameter values. `a+b` composes a structure policy
/// with a weight-level one; a parameter goes to every part that declares it, or to one part
/// when written `part.name` (e.g. `structure.k`).
pub fn build(
    name: &str,
    given: &BTreeMap<String, toml::Value>,
) -> Result<(Box<dyn ThresholdPolicy>, serde_json::Value), PruneError> {
    let parts: Vec<&str> = name.split('+').map(str::trim).collect();
    if parts.len() == 1 {
        let info = info(name)?;
        let params = Params::resolve(info.name, info.params, given)?;
        return Ok(((info.build)(&params)?, params.to_json()));
    }
    let infos = parts.iter().map(|p| info(p)).collect::<Result<Vec<_>, _>>()?;
    // `member.key` goes to that member only; a plain `key` to every member that declares it.
    let targets = |key: &str| -> Vec<(usize, String)> {
        match key.split_once('.') {
            Some((member, k)) => infos.iter().position(|i| i.name == member).map(|i| vec![(i, k.to_string())]).unwrap_or_default(),
            None => infos.iter().enumerate().filter(|(_, i)| i.params.iter().any(|s| s.name == key)).map(|(i, _)| (i, key.to_string())).collect(),
        }
    };
    let mut own: Vec<BTreeMap<String, toml::Value>> = vec![BTreeMap::new(); infos.len()];
    for (key, value) in given {
        let t = targets(key);
        if t.is_empty() {
            let valid: Vec<String> = infos.iter().flat_map(|i| i.params.iter().map(move |s| format!("{}.{}", i.name, s.name))).collect();
            return Err(PruneError::UnknownParam { policy: name.into(), param: key.clone(), valid: valid.join(", ") });
        }
        for (i, k) in t {
            own[i].insert(k, value.clone());
        }
    }
    let mut members = Vec::new();
    let mut record = serde_json::Map::new();
    for (info, own) in infos.iter().zip(&own) {
        let params = Params::resolve(info.name, info.params, own)?;
        record.insert(info.name.into(), params.to_json());
        members.push((info.build)(&params)?);
    }
    Ok((Box::new(Composite::new(name.into(), members)), serde_json::Value::Object(record)))
}

/// Mask that keeps what `old` keeps and `|w| >= tau` — pruning without regrowth.
pub(crate) fn prune_below(view: &TensorView, tau: f32) -> Mask {
    view.mask.and(&Mask::from_threshold(view.values, tau))
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Owns tensors so tests can build [`Observation`]s.
    pub struct Fixture {
        pub names: Vec<String>,
        pub shapes: Vec<Vec<usize>>,
        pub values: Vec<Vec<f32>>,
        pub masks: Vec<Mask>,
    }

    impl Fixture {
        pub fn new(tensors: Vec<(&str, Vec<usize>, Vec<f32>)>) -> Self {
            let masks = tensors.iter().map(|(_, _, v)| Mask::ones(v.len())).collect();
            Self {
                names: tensors.iter().map(|t| t.0.to_string()).collect(),
                shapes: tensors.iter().map(|t| t.1.clone()).collect(),
                values: tensors.into_iter().map(|t| t.2).collect(),
                masks,
            }
        }

        pub fn views(&self) -> Vec<TensorView<'_>> {
            (0..self.names.len())
                .map(|i| TensorView {
                    name: &self.names[i],
                    shape: &self.shapes[i],
                    values: &self.values[i],
                    mask: &self.masks[i],
                    structures_removable: i + 1 < self.names.len(),
                    follower: false,
                })
                .collect()
        }

        /// Specs of the fixture's tensors (the last one is the classifier).
        pub fn specs(&self) -> Vec<crate::engine::PrunableSpec> {
            let n = self.names.len();
            (0..n).map(|i| crate::engine::PrunableSpec::weight(self.names[i].clone(), self.shapes[i].clone(), i + 1 < n)).collect()
        }

        pub fn apply(&mut self, d: &Decision) {
            for (i, t) in d.tensors.iter().enumerate() {
                self.masks[i] = t.mask.clone();
                t.mask.apply(&mut self.values[i]);
            }
        }
    }

    pub fn obs<'a>(epoch: usize, val_accuracy: f64, best: f64, tensors: &'a [TensorView<'a>]) -> Observation<'a> {
        Observation {
            epoch,
            epochs: 10,
            step: epoch * 100,
            steps_per_epoch: 100,
            epoch_end: true,
            train_loss: 0.5,
            val_loss: 0.4,
            val_accuracy,
            best_val_accuracy: best,
            tensors,
            structure: StructureView::empty(),
            signals: Signals::default(),
        }
    }

    pub fn params(info: &PolicyInfo, pairs: &[(&str, toml::Value)]) -> Params {
        let given = pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        Params::resolve(info.name, info.params, &given).unwrap()
    }
}
