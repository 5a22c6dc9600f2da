//! Performance-based policy, the behaviour seed §3 describes in words: while the validation
//! accuracy stays within `budget` of the best seen, raise τ (prune more); when it falls further,
//! lower τ (prune less). Optionally stop at a target sparsity.

use super::threshold::{keep_masks, thresholds_for_sparsity, Scope, ThresholdInit, INIT_PARAMS};
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
        ParamSpec {
            name: "frequency",
            kind: ParamKind::Int { min: 0, max: i64::MAX },
            default: ParamValue::Int(0),
            help: "0: prune at epoch ends; N: ramp tau to the epoch's decision over the next epoch, pruning every N steps",
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
            frequency: p.int("frequency") as usize,
            taus: None,
            ramp: None,
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
    frequency: usize,
    /// τ decided at the last epoch end (and reached, when ramping).
    taus: Option<Vec<f32>>,
    ramp: Option<Ramp>,
}

/// With `frequency > 0`, τ moves from `from` to `to` linearly over epoch `epoch`, one prune
/// every `frequency` steps, so weights go a few at a time as in gradual magnitude pruning while
/// the direction and size of each move stay performance-driven.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Ramp {
    epoch: usize,
    from: Vec<f32>,
    to: Vec<f32>,
}

impl Performance {
    fn prune_to(&self, obs: &Observation, taus: &[f32], reason: &str) -> Decision {
        // Never overshoot the target: cap τ at the magnitude that reaches it exactly.
        let caps = (self.target > 0.0).then(|| thresholds_for_sparsity(obs.tensors, self.target, Scope::Global));
        Decision::new(
            obs
                .tensors
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let tau = caps.as_ref().map_or(taus[i], |c| taus[i].min(c[i]));
                    let reason = if tau < taus[i] { format!("{reason}; capped at {tau:.5} to stop at the target sparsity") } else { reason.to_string() };
                    TensorDecision { threshold: Some(tau), mask: prune_below(t, tau), reason }
                })
                .collect(),
        )
    }

    /// A step inside a ramp: prune at the interpolated τ.
    fn ramp_step(&self, obs: &Observation) -> Option<Decision> {
        let ramp = self.ramp.as_ref().filter(|r| r.epoch == obs.epoch)?;
        let into_epoch = obs.step.saturating_sub((obs.epoch - 1) * obs.steps_per_epoch);
        let progress = (into_epoch as f64 / obs.steps_per_epoch.max(1) as f64).clamp(0.0, 1.0) as f32;
        let taus: Vec<f32> = ramp.from.iter().zip(&ramp.to).map(|(a, b)| a + (b - a) * progress).collect();
        Some(self.prune_to(obs, &taus, &format!("ramping tau to this epoch's target ({:.0}% of the way)", progress * 100.0)))
    }
}

impl ThresholdPolicy for Performance {
    fn name(&self) -> &str {
        "performance"
    }

    fn step_interval(&self) -> Option<usize> {
        (self.frequency > 0).then_some(self.frequency)
    }

    fn decide(&mut self, obs: &Observation) -> Option<Decision> {
        if self.target > 0.0 && obs.sparsity() >= self.target {
            return None;
        }
        if !obs.epoch_end {
            return self.ramp_step(obs);
        }
        if obs.epoch < self.begin_epoch || (self.end_epoch != 0 && obs.epoch > self.end_epoch) {
            return None;
        }
        let drop = obs.best_val_accuracy - obs.val_accuracy;
        // The τ reached so far: where the next move starts from, and where a ramp starts.
        let previous = self.taus.take();
        let (taus, reason) = match &previous {
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
        if self.frequency > 0 {
            // Decide now, prune gradually during the next epoch.
            let from = previous.unwrap_or_else(|| vec![0.0; taus.len()]);
            self.ramp = Some(Ramp { epoch: obs.epoch + 1, from, to: taus.clone() });
            let taus_opt: Vec<Option<f32>> = taus.iter().map(|t| Some(*t)).collect();
            self.taus = Some(taus);
            return Some(keep_masks(obs.tensors, &taus_opt, &format!("{reason}; reached over the next epoch")));
        }
        let decision = self.prune_to(obs, &taus, &reason);
        self.taus = Some(taus);
        Some(decision)
    }

    fn on_rollback(&mut self) {
        self.raise *= 0.5;
        self.ramp = None;
        if let Some(taus) = &mut self.taus {
            for t in taus.iter_mut() {
                *t *= (1.0 - self.lower) as f32;
            }
        }
    }

    fn state(&self) -> serde_json::Value {
        serde_json::json!({ "taus": self.taus, "raise": self.raise, "ramp": self.ramp })
    }

    fn restore_state(&mut self, state: &serde_json::Value) -> Result<(), String> {
        self.taus = super::state_field(state, "taus")?;
        self.raise = super::state_field(state, "raise")?;
        self.ramp = super::state_field(state, "ramp")?;
        Ok(())
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
    fn ramps_tau_over_the_next_epoch() {
        // |w| = 1,2,3,4: tau0 = 2.5, decided at the end of epoch 1, reached over epoch 2
        let mut f = Fixture::new(vec![("a", vec![4], vec![1.0, 2.0, -3.0, 4.0])]);
        let mut pol = policy(&[("frequency", toml::Value::Integer(50))]);
        assert_eq!(pol.step_interval(), Some(50));
        let d = pol.decide(&obs(1, 0.9, 0.9, &f.views())).unwrap();
        assert_eq!(d.tensors[0].threshold, Some(2.5));
        assert_eq!(d.tensors[0].mask.pruned(), 0, "nothing pruned at the epoch end");
        let mut step = obs(2, f64::NAN, 0.9, &[]);
        step.epoch_end = false;
        // halfway through epoch 2 (step 150 of 100..200): tau = 1.25 prunes |w| = 1
        let views = f.views();
        let mid = Observation { step: 150, tensors: &views, ..step };
        let d = pol.decide(&mid).unwrap();
        assert_eq!(d.tensors[0].threshold, Some(1.25));
        assert_eq!(d.tensors[0].mask.to_f32(), vec![0.0, 1.0, 1.0, 1.0]);
        f.apply(&d);
        let views = f.views();
        let end = Observation { step: 200, tensors: &views, ..step };
        let d = pol.decide(&end).unwrap();
        assert_eq!(d.tensors[0].threshold, Some(2.5));
        assert_eq!(d.tensors[0].mask.to_f32(), vec![0.0, 0.0, 1.0, 1.0]);
        // steps of another epoch are not part of the ramp
        let views = f.views();
        let later = Observation { epoch: 3, step: 250, tensors: &views, ..step };
        assert!(pol.decide(&later).is_none());
    }

    #[test]
    fn each_ramp_starts_where_the_last_one_ended() {
        // |w| = 1,2,3,4; raise = lower = 0.5. Decisions: tau0 = 2.5 (end of epoch 1), within
        // budget 3.75 (end of epoch 2), over budget 1.875 (end of epoch 3). Each is reached over
        // the following epoch, starting from the previous decision, never from 0.
        let mut f = Fixture::new(vec![("a", vec![4], vec![1.0, 2.0, -3.0, 4.0])]);
        let mut pol = policy(&[("frequency", toml::Value::Integer(50))]);
        let mut step_obs = obs(1, f64::NAN, 0.9, &[]);
        step_obs.epoch_end = false;
        let tau_at = |pol: &mut Box<dyn ThresholdPolicy>, f: &mut Fixture, epoch: usize, step: usize| {
            let views = f.views();
            let d = pol.decide(&Observation { epoch, step, tensors: &views, ..step_obs }).unwrap();
            let tau = d.tensors[0].threshold.unwrap();
            f.apply(&d);
            tau
        };
        assert_eq!(pol.decide(&obs(1, 0.90, 0.90, &f.views())).unwrap().tensors[0].threshold, Some(2.5));
        // epoch 2 (steps 100..200) ramps 0 -> 2.5: a quarter of the way is 0.625
        assert_eq!(tau_at(&mut pol, &mut f, 2, 125), 0.625);
        assert_eq!(tau_at(&mut pol, &mut f, 2, 200), 2.5);
        assert_eq!(pol.decide(&obs(2, 0.895, 0.90, &f.views())).unwrap().tensors[0].threshold, Some(3.75));
        // epoch 3 (200..300) ramps 2.5 -> 3.75: halfway is 3.125, which also prunes |w| = 3
        assert_eq!(tau_at(&mut pol, &mut f, 3, 250), 3.125);
        assert_eq!(f.masks[0].to_f32(), vec![0.0, 0.0, 0.0, 1.0]);
        assert_eq!(pol.decide(&obs(3, 0.85, 0.90, &f.views())).unwrap().tensors[0].threshold, Some(1.875));
        // epoch 4 (300..400) ramps 3.75 -> 1.875 (lowering τ never regrows): a quarter is 3.28125
        assert_eq!(tau_at(&mut pol, &mut f, 4, 325), 3.28125);
        assert_eq!(f.masks[0].to_f32(), vec![0.0, 0.0, 0.0, 1.0]);
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
