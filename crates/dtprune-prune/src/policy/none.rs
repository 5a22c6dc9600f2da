//! Baseline: no pruning at all (the dense reference run).

use super::{Decision, Observation, PolicyInfo, ThresholdPolicy};

pub const INFO: PolicyInfo = PolicyInfo {
    name: "none",
    family: "baseline",
    summary: "no pruning: the dense reference",
    params: &[],
    build: |_| Ok(Box::new(NoPruning)),
};

pub struct NoPruning;

impl ThresholdPolicy for NoPruning {
    fn supports_rollback(&self) -> bool {
        false
    }

    fn name(&self) -> &str {
        "none"
    }

    fn decide(&mut self, _obs: &Observation) -> Option<Decision> {
        None
    }
}
