//! The seed's performance formula, implemented literally:
//!
//! τ = α·τ0 + (1−α)·L/ε
//!
//! τ0 is the initial threshold (a weight magnitude), α the "performance decay" coefficient, L the
//! current average loss, ε the "performance-drop threshold". Units: τ and τ0 are weight
//! magnitudes, L is in loss units (nats for cross-entropy), so ε must be in *loss per unit of
//! weight magnitude* for L/ε to be a magnitude: with L ≈ 0.3 after the first epoch and weights
//! of ≈ 0.02, ε ≈ 15–20 makes the two terms comparable (ε = 3 prunes almost everything at once
//! on LeNet-300-100). As written, a falling loss lowers τ (prunes less) — the formula
//! prunes hardest early, while the loss is high.

use super::threshold::{ThresholdInit, INIT_PARAMS};
use super::{prune_below, Decision, Observation, PolicyInfo, TensorDecision, ThresholdPolicy};
use crate::params::{ParamKind, ParamSpec, ParamValue};

pub const INFO: PolicyInfo = PolicyInfo {
    name: "performance-seed",
    family: "performance",
    summary: "the seed's formula, literally: tau = alpha*tau0 + (1-alpha)*L/epsilon (L: average loss)",
    params: &[
        INIT_PARAMS[0],
        INIT_PARAMS[1],
        INIT_PARAMS[2],
        ParamSpec {
            name: "alpha",
            kind: ParamKind::Float { min: 0.0, max: 1.0, open_min: false },
            default: ParamValue::Float(0.5),
            help: "performance decay coefficient: weight of tau0 against L/epsilon",
        },
        ParamSpec {
            name: "epsilon",
            kind: ParamKind::Float { min: 0.0, max: 1e9, open_min: true },
            default: ParamValue::Float(20.0),
            help: "performance-drop threshold, in loss units per unit of weight magnitude",
        },
        ParamSpec {
            name: "loss",
            kind: ParamKind::Choice(&["train", "val"]),
            default: ParamValue::Choice("train"),
            help: "which average loss is L",
        },
        ParamSpec {
            name: "begin_epoch",
            kind: ParamKind::Int { min: 1, max: 100_000 },
            default: ParamValue::Int(1),
            help: "first epoch at whose end to prune",
        },
    ],
    build: |p| {
        Ok(Box::new(PerformanceSeed {
            init: ThresholdInit::from_params(p),
            alpha: p.float("alpha"),
            epsilon: p.float("epsilon"),
            use_val_loss: p.choice("loss") == "val",
            begin_epoch: p.int("begin_epoch") as usize,
            tau0: None,
        }))
    },
};

pub struct PerformanceSeed {
    init: ThresholdInit,
    alpha: f64,
    epsilon: f64,
    use_val_loss: bool,
    begin_epoch: usize,
    tau0: Option<Vec<f32>>,
}

impl PerformanceSeed {
    /// τ = α·τ0 + (1−α)·L/ε.
    pub fn formula(alpha: f64, tau0: f64, loss: f64, epsilon: f64) -> f64 {
        alpha * tau0 + (1.0 - alpha) * loss / epsilon
    }
}

impl ThresholdPolicy for PerformanceSeed {
    fn name(&self) -> &str {
        "performance-seed"
    }

    fn decide(&mut self, obs: &Observation) -> Option<Decision> {
        if !obs.epoch_end || obs.epoch < self.begin_epoch {
            return None;
        }
        let tau0 = self.tau0.get_or_insert_with(|| self.init.compute(obs.tensors)).clone();
        let loss = if self.use_val_loss { obs.val_loss } else { obs.train_loss };
        let tensors = obs
            .tensors
            .iter()
            .zip(&tau0)
            .map(|(t, &t0)| {
                let tau = Self::formula(self.alpha, f64::from(t0), loss, self.epsilon) as f32;
                TensorDecision {
                    threshold: Some(tau),
                    mask: prune_below(t, tau),
                    reason: format!("tau = {} * {t0:.5} + {} * {loss:.4} / {}", self.alpha, 1.0 - self.alpha, self.epsilon),
                }
            })
            .collect();
        Some(Decision::new(tensors))
    }

    /// A larger ε shrinks the loss term, and with it τ.
    fn on_rollback(&mut self) {
        self.epsilon *= 2.0;
    }

    fn state(&self) -> serde_json::Value {
        serde_json::json!({ "tau0": self.tau0, "epsilon": self.epsilon })
    }

    fn restore_state(&mut self, state: &serde_json::Value) -> Result<(), String> {
        self.tau0 = super::state_field(state, "tau0")?;
        self.epsilon = super::state_field(state, "epsilon")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testing::{obs, params, Fixture};

    #[test]
    fn formula_by_hand() {
        // 0.25 * 0.04 + 0.75 * 0.3 / 10 = 0.01 + 0.0225 = 0.0325
        assert!((PerformanceSeed::formula(0.25, 0.04, 0.3, 10.0) - 0.0325).abs() < 1e-12);
    }

    #[test]
    fn decides_with_train_loss() {
        // mean |w| = 0.25 -> tau0 = 0.25; train loss 0.5 (fixture), eps 2, alpha 0.5:
        // tau = 0.125 + 0.125 = 0.25
        let f = Fixture::new(vec![("a", vec![4], vec![0.1, 0.2, 0.3, 0.4])]);
        let p = params(&INFO, &[("alpha", toml::Value::Float(0.5)), ("epsilon", toml::Value::Float(2.0))]);
        let mut pol = (INFO.build)(&p).unwrap();
        let d = pol.decide(&obs(1, 0.9, 0.9, &f.views())).unwrap();
        assert_eq!(d.tensors[0].threshold, Some(0.25));
        assert_eq!(d.tensors[0].mask.to_f32(), vec![0.0, 0.0, 1.0, 1.0]);
        pol.on_rollback();
        // eps 4: tau = 0.125 + 0.0625
        let d = pol.decide(&obs(2, 0.9, 0.9, &f.views())).unwrap();
        assert_eq!(d.tensors[0].threshold, Some(0.1875));
    }
}
