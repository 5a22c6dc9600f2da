//! Baseline: constant sparsity (TF-MOT `ConstantSparsity`): from `begin_step` on, every
//! `frequency` steps, re-prune to the same target sparsity by magnitude.

use super::threshold::{prune_all_below, thresholds_for_sparsity, Scope, SCOPE};
use super::{Decision, Observation, PolicyInfo, ThresholdPolicy};
use crate::params::{ParamKind, ParamSpec, ParamValue};

pub const INFO: PolicyInfo = PolicyInfo {
    name: "constant",
    family: "baseline",
    summary: "hold `sparsity` from `begin_step`, re-applied every `frequency` steps (TF-MOT ConstantSparsity)",
    params: &[
        ParamSpec {
            name: "sparsity",
            kind: ParamKind::Float { min: 0.0, max: 0.999, open_min: false },
            default: ParamValue::Float(0.9),
            help: "target fraction of prunable weights removed",
        },
        ParamSpec {
            name: "begin_step",
            kind: ParamKind::Int { min: 0, max: i64::MAX },
            default: ParamValue::Int(0),
            help: "first optimizer step at which to prune",
        },
        ParamSpec {
            name: "frequency",
            kind: ParamKind::Int { min: 1, max: i64::MAX },
            default: ParamValue::Int(100),
            help: "prune every this many optimizer steps",
        },
        SCOPE,
    ],
    build: |p| {
        Ok(Box::new(Constant {
            sparsity: p.float("sparsity"),
            begin_step: p.int("begin_step") as usize,
            frequency: p.int("frequency") as usize,
            scope: Scope::from_params(p),
        }))
    },
};

pub struct Constant {
    sparsity: f64,
    begin_step: usize,
    frequency: usize,
    scope: Scope,
}

impl ThresholdPolicy for Constant {
    fn supports_rollback(&self) -> bool {
        false
    }

    fn name(&self) -> &str {
        "constant"
    }

    fn step_interval(&self) -> Option<usize> {
        Some(self.frequency)
    }

    fn decide(&mut self, obs: &Observation) -> Option<Decision> {
        if obs.epoch_end || obs.step < self.begin_step || (obs.step - self.begin_step) % self.frequency != 0 {
            return None;
        }
        let taus = thresholds_for_sparsity(obs.tensors, self.sparsity, self.scope);
        Some(prune_all_below(obs.tensors, &taus, &format!("constant sparsity {:.1}%", self.sparsity * 100.0)))
    }
}
