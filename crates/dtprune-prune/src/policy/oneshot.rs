//! Baseline: magnitude pruning to a target sparsity once, then fine-tuning with the mask fixed.

use super::threshold::{prune_all_below, thresholds_for_sparsity, Scope, SCOPE};
use super::{Decision, Observation, PolicyInfo, ThresholdPolicy};
use crate::params::{ParamKind, ParamSpec, ParamValue};

pub const INFO: PolicyInfo = PolicyInfo {
    name: "oneshot",
    family: "baseline",
    summary: "prune to `sparsity` by magnitude once, at the end of epoch `at_epoch`, then fine-tune",
    params: &[
        ParamSpec {
            name: "sparsity",
            kind: ParamKind::Float { min: 0.0, max: 0.999, open_min: false },
            default: ParamValue::Float(0.9),
            help: "fraction of prunable weights to remove",
        },
        ParamSpec {
            name: "at_epoch",
            kind: ParamKind::Int { min: 0, max: 100_000 },
            default: ParamValue::Int(1),
            help: "epoch after which to prune (0: before training, on the initial weights)",
        },
        SCOPE,
    ],
    build: |p| {
        Ok(Box::new(OneShot {
            sparsity: p.float("sparsity"),
            at_epoch: p.int("at_epoch") as usize,
            scope: Scope::from_params(p),
            done: false,
        }))
    },
};

pub struct OneShot {
    sparsity: f64,
    at_epoch: usize,
    scope: Scope,
    done: bool,
}

impl ThresholdPolicy for OneShot {
    fn supports_rollback(&self) -> bool {
        false
    }

    fn name(&self) -> &str {
        "oneshot"
    }

    fn decide(&mut self, obs: &Observation) -> Option<Decision> {
        if self.done || !obs.epoch_end || obs.epoch < self.at_epoch {
            return None;
        }
        self.done = true;
        let taus = thresholds_for_sparsity(obs.tensors, self.sparsity, self.scope);
        Some(prune_all_below(obs.tensors, &taus, &format!("one-shot magnitude pruning to {:.1}%", self.sparsity * 100.0)))
    }

    fn state(&self) -> serde_json::Value {
        serde_json::json!({ "done": self.done })
    }

    fn restore_state(&mut self, state: &serde_json::Value) -> Result<(), String> {
        self.done = super::state_field(state, "done")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testing::{obs, params, Fixture};

    #[test]
    fn prunes_once_at_epoch() {
        let mut f = Fixture::new(vec![("a", vec![4], vec![0.1, -0.4, 0.3, 0.2])]);
        let p = params(&INFO, &[("sparsity", toml::Value::Float(0.5)), ("at_epoch", toml::Value::Integer(2))]);
        let mut pol = (INFO.build)(&p).unwrap();
        assert!(pol.decide(&obs(1, 0.9, 0.9, &f.views())).is_none());
        let d = pol.decide(&obs(2, 0.9, 0.9, &f.views())).unwrap();
        assert_eq!(d.tensors[0].mask.to_f32(), vec![0.0, 1.0, 1.0, 0.0]);
        assert_eq!(d.tensors[0].threshold, Some(0.3));
        f.apply(&d);
        assert!(pol.decide(&obs(3, 0.9, 0.9, &f.views())).is_none());
    }
}
