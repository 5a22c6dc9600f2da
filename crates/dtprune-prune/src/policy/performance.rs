//! Performance-based policy, the behaviour seed §3 describes in words: while the validation
//! accuracy stays within `budget` of the best seen, raise τ (prune more); when it falls further,
//! lower τ (prune less). Optionally stop at a target sparsity.

use super::threshold::{thresholds_for_sparsity, Scope, ThresholdInit, INIT_PARAMS};
use super::{prune_below, Decision, Observation, PolicyInfo, TensorDecision, ThresholdPolicy};
use crate::params::{ParamKind, ParamSpec, ParamValue};

pub const INFO: PolicyInfo = PolicyInfo {
    name: "performance",
    family: "performance",
    summary: "raise tau while val accuracy stays within `budget` of the best, lower it when it drops further",
    params: &[
        INIT_PARAMS[0],
        INIT_PARAMS[1],
        INIT_PARAMS[2],
        ParamSpec {
            name: "budget",
            kind: ParamKind::Float { min: 0.0, max: 1.0, open_min: false },
            default: ParamValue::Float(0.005),
            help: "allowed drop of val accuracy below the best seen (0.005 = half a point)",
        },
        ParamSpec {
            name: "raise",
            kind: ParamKind::Float { min: 0.0, max: 10.0, open_min: true },
            default: ParamValue::Float(0.3),
            help: "tau *= 1 + raise at each epoch within budget",
        },
        ParamSpec {
            name: "lower",
            kind: ParamKind::Float { min: 0.0, max: 0.99, open_min: false },
            default: ParamValue::Float(0.2),
            help: "tau *= 1 - lower at each epoch over budget",
        },
        ParamSpec {
            name: "begin_epoch",
            kind: ParamKind::Int { min: 1, max: 100_000 },
            default: ParamValue::Int(1),
            help: "first epoch at whose end to prune",
        },
        ParamSpec {
            name: "end_epoch",
            kind: ParamKind::Int { min: 0, max: 100_000 },
            default: ParamValue::Int(0),
            help: "last epoch at whose end to prune (0: no limit); later epochs fine-tune",
        },
        ParamSpec {
            name: "target_sparsity",
            kind: ParamKind::Float { min: 0.0, max: 0.999, open_min: false },
            default: ParamValue::Float(0.0),
            help: "stop pruning at this overall sparsity (0: no target)",
        },
    ],
    build: |p| {
        let end = p.int("end_epoch") as usize;
        let begin = p.int("begin_epoch") as usize;
        if end != 0 && end < begin {
            return Err(p.invalid(format!("end_epoch {end} is before begin_epoch {begin}")));
        }
        Ok(Box::new(Performance {
            init: ThresholdInit::from_params(p),
            budget: p.float("budget"),
            raise: p.float("raise"),
            lower: p.float("lower"),
            begin_epoch: begin,
            end_epoch: end,
            target: p.float("target_sparsity"),
            taus: None,
        }))
    },
};

pub struct Performance {
    init: ThresholdInit,
    budget: f64,
    raise: f64,
    lower: f64,
    begin_epoch: usize,
    end_epoch: usize,
    target: f64,
    taus: Option<Vec<f32>>,
}

impl ThresholdPolicy for Performance {
    fn name(&self) -> &str {
        "performance"
    }

    fn decide(&mut self, obs: &Observation) -> Option<Decision> {
        if !obs.epoch_end || obs.epoch < self.begin_epoch || (self.end_epoch != 0 && obs.epoch > self.end_epoch) {
            return None;
        }
        if self.target > 0.0 && obs.sparsity() >= self.target {
            return None;
        }
        let drop = obs.best_val_accuracy - obs.val_accuracy;
        let (taus, reason) = match self.taus.take() {
            None => (self.init.compute(obs.tensors), format!("tau0 = {} * {}(|w|)", self.init.k, if self.init.use_std { "std" } else { "mean" })),
            Some(taus) if drop > self.budget => (
                taus.iter().map(|t| t * (1.0 - self.lower) as f32).collect(),
                format!("val acc {:.4} is {:.4} below best > budget {}: tau *= {:.3}", obs.val_accuracy, drop, self.budget, 1.0 - self.lower),
            ),
            Some(taus) => (
                taus.iter().map(|t| t * (1.0 + self.raise) as f32).collect(),
                format!("val acc {:.4} within budget {} of best {:.4}: tau *= {:.3}", obs.val_accuracy, self.budget, obs.best_val_accuracy, 1.0 + self.raise),
            ),
        };
        // Never overshoot the target: cap τ at the magnitude that reaches it exactly.
        let caps = (self.target > 0.0).then(|| thresholds_for_sparsity(obs.tensors, self.target, Scope::Global));
        let decision = Decision {
            tensors: obs
                .tensors
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let tau = caps.as_ref().map_or(taus[i], |c| taus[i].min(c[i]));
                    TensorDecision { threshold: Some(tau), mask: prune_below(t, tau), reason: reason.clone() }
                })
                .collect(),
        };
        self.taus = Some(taus);
        Some(decision)
    }

    fn on_rollback(&mut self) {
        self.raise *= 0.5;
        if let Some(taus) = &mut self.taus {
            for t in taus.iter_mut() {
                *t *= (1.0 - self.lower) as f32;
            }
        }
    }

    fn state(&self) -> serde_json::Value {
        serde_json::json!({ "taus": self.taus, "raise": self.raise })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testing::{obs, params, Fixture};

    fn policy(extra: &[(&str, toml::Value)]) -> Box<dyn ThresholdPolicy> {
        let mut pairs = vec![("raise", toml::Value::Float(0.5)), ("lower", toml::Value::Float(0.5)), ("budget", toml::Value::Float(0.01))];
        pairs.extend(extra.iter().cloned());
        (INFO.build)(&params(&INFO, &pairs)).unwrap()
    }

    #[test]
    fn raises_within_budget_lowers_beyond() {
        // |w| = 1,2,3,4: mean 2.5 -> tau0 = 2.5 prunes 1 and 2.
        let mut f = Fixture::new(vec![("a", vec![4], vec![1.0, 2.0, -3.0, 4.0])]);
        let mut pol = policy(&[]);
        let d = pol.decide(&obs(1, 0.90, 0.90, &f.views())).unwrap();
        assert_eq!(d.tensors[0].threshold, Some(2.5));
        assert_eq!(d.tensors[0].mask.to_f32(), vec![0.0, 0.0, 1.0, 1.0]);
        f.apply(&d);
        // within budget (drop 0.005 <= 0.01): tau = 2.5 * 1.5 = 3.75, prunes 3
        let d = pol.decide(&obs(2, 0.895, 0.90, &f.views())).unwrap();
        assert_eq!(d.tensors[0].threshold, Some(3.75));
        assert_eq!(d.tensors[0].mask.to_f32(), vec![0.0, 0.0, 0.0, 1.0]);
        // over budget (drop 0.05): tau = 3.75 * 0.5 = 1.875, prunes nothing new
        let d = pol.decide(&obs(3, 0.85, 0.90, &f.views())).unwrap();
        assert_eq!(d.tensors[0].threshold, Some(1.875));
    }

    #[test]
    fn target_caps_and_stops() {
        let f = Fixture::new(vec![("a", vec![4], vec![1.0, 2.0, -3.0, 4.0])]);
        let mut pol = policy(&[("target_sparsity", toml::Value::Float(0.25)), ("k", toml::Value::Float(2.0))]);
        // tau0 = 5 would prune everything; the cap (25% -> tau 2) prunes exactly one weight.
        let d = pol.decide(&obs(1, 0.9, 0.9, &f.views())).unwrap();
        assert_eq!(d.tensors[0].threshold, Some(2.0));
        assert_eq!(d.tensors[0].mask.pruned(), 1);
        let mut f = f;
        f.apply(&d);
        assert!(pol.decide(&obs(2, 0.9, 0.9, &f.views())).is_none());
    }
}
