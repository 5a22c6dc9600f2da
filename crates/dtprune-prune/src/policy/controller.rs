//! Budget controller: the performance-based policy of seed §3 as a feedback loop. At each epoch
//! end the share of surviving weights to prune over the next epoch is set from the *headroom*
//! left in the validation budget — `max_rate` while accuracy holds, slowing towards the rate that
//! just reaches the target sparsity by the deadline as accuracy nears the budget, slower still
//! (down to a pause) beyond it. The move is then made gradually over the next epoch (a prune
//! every `frequency` steps, the global magnitude threshold τ recomputed from the current weights
//! each time), so the network adapts between small prunes as in gradual magnitude pruning, while
//! the speed of the schedule is decided by the run rather than fixed in advance.

use super::threshold::{prune_all_below, thresholds_for_sparsity, Scope, SCOPE};
use super::{Decision, Observation, PolicyInfo, ThresholdPolicy};
use crate::params::{ParamKind, ParamSpec, ParamValue};

pub const INFO: PolicyInfo = PolicyInfo {
    name: "controller",
    family: "performance",
    summary: "prune rate set each epoch from the headroom left in the val-accuracy budget, reached gradually over the next epoch",
    params: &[
        ParamSpec {
            name: "target_sparsity",
            kind: ParamKind::Float { min: 0.0, max: 0.999, open_min: true },
            default: ParamValue::Float(0.9),
            help: "overall sparsity to reach by end_epoch",
        },
        ParamSpec {
            name: "budget",
            kind: ParamKind::Float { min: 0.0, max: 1.0, open_min: true },
            default: ParamValue::Float(0.005),
            help: "allowed drop of val accuracy below the best seen (0.005 = half a point)",
        },
        ParamSpec {
            name: "max_rate",
            kind: ParamKind::Float { min: 0.0, max: 0.99, open_min: true },
            default: ParamValue::Float(0.65),
            help: "share of the surviving weights pruned over one epoch with the whole budget left (0.65 measured best on LeNet-300-100, BENCHMARKS.md)",
        },
        ParamSpec {
            name: "begin_epoch",
            kind: ParamKind::Int { min: 0, max: 100_000 },
            default: ParamValue::Int(0),
            help: "first epoch end at which to decide (0: before training, so pruning starts in epoch 1)",
        },
        ParamSpec {
            name: "end_epoch",
            kind: ParamKind::Int { min: 0, max: 100_000 },
            default: ParamValue::Int(0),
            help: "epoch by whose end the target is reached (0: 60% of the epochs, as gmp's default end)",
        },
        ParamSpec {
            name: "frequency",
            kind: ParamKind::Int { min: 1, max: i64::MAX },
            default: ParamValue::Int(100),
            help: "prune every this many steps while moving towards an epoch's decision",
        },
        SCOPE,
    ],
    build: |p| {
        let (begin, end) = (p.int("begin_epoch") as usize, p.int("end_epoch") as usize);
        if end != 0 && end <= begin {
            return Err(p.invalid(format!("end_epoch {end} must be after begin_epoch {begin}")));
        }
        Ok(Box::new(BudgetController {
            target: p.float("target_sparsity"),
            budget: p.float("budget"),
            max_rate: p.float("max_rate"),
            begin_epoch: begin,
            end_epoch: end,
            frequency: p.int("frequency") as usize,
            scope: Scope::from_params(p),
            ramp: None,
        }))
    },
};

pub struct BudgetController {
    target: f64,
    budget: f64,
    max_rate: f64,
    begin_epoch: usize,
    end_epoch: usize,
    frequency: usize,
    scope: Scope,
    ramp: Option<SparsityRamp>,
}

/// Overall sparsity moves from `from` to `to` linearly over epoch `epoch`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
struct SparsityRamp {
    epoch: usize,
    from: f64,
    to: f64,
}

/// Share of the budget still unused: 1 at the best accuracy seen, 0 at the budget's edge,
/// negative beyond it (clamped at −1).
pub fn headroom(drop: f64, budget: f64) -> f64 {
    ((budget - drop) / budget).clamp(-1.0, 1.0)
}

/// The constant per-epoch rate that takes density `density` to `target_density` in `epochs_left`
/// equal geometric steps: `1 − (d_T / d)^(1/n)`.
pub fn required_rate(density: f64, target_density: f64, epochs_left: usize) -> f64 {
    if density <= target_density {
        return 0.0;
    }
    1.0 - (target_density / density).powf(1.0 / epochs_left.max(1) as f64)
}

/// The controller's law. `max_rate` caps every epoch (it halves after a rollback), so the
/// deadline is a goal, not a command: a run that fell behind catches up at `max_rate` rather
/// than in one destructive jump. Below the cap, with headroom `h ≥ 0` the rate moves from the
/// required one (at the budget's edge) up to `max_rate` (whole budget left); beyond the budget
/// it falls below the required rate in proportion, to 0 at twice the budget, and the later
/// epochs make up what the pause deferred.
pub fn epoch_rate(required: f64, max_rate: f64, h: f64) -> f64 {
    let floor = required.min(max_rate);
    if h >= 0.0 {
        floor + (max_rate - floor) * h
    } else {
        floor * (1.0 + h)
    }
}

impl BudgetController {
    fn end_epoch(&self, obs: &Observation) -> usize {
        if self.end_epoch == 0 {
            (obs.epochs * 3 / 5).max(self.begin_epoch + 1)
        } else {
            self.end_epoch
        }
    }

    fn prune_to(&self, obs: &Observation, sparsity: f64, reason: &str) -> Decision {
        let taus = thresholds_for_sparsity(obs.tensors, sparsity, self.scope);
        prune_all_below(obs.tensors, &taus, reason)
    }

    /// A step inside the ramp of the current epoch.
    fn ramp_step(&self, obs: &Observation) -> Option<Decision> {
        let ramp = self.ramp.filter(|r| r.epoch == obs.epoch)?;
        let into_epoch = obs.step.saturating_sub((obs.epoch - 1) * obs.steps_per_epoch);
        let progress = (into_epoch as f64 / obs.steps_per_epoch.max(1) as f64).clamp(0.0, 1.0);
        let s = ramp.from + (ramp.to - ramp.from) * progress;
        (s > obs.sparsity()).then(|| {
            self.prune_to(obs, s, &format!("moving to this epoch's decision {:.2}%: {:.2}% at {:.0}% of the epoch", ramp.to * 100.0, s * 100.0, progress * 100.0))
        })
    }
}

impl ThresholdPolicy for BudgetController {
    fn name(&self) -> &str {
        "controller"
    }

    fn step_interval(&self) -> Option<usize> {
        Some(self.frequency)
    }

    fn decide(&mut self, obs: &Observation) -> Option<Decision> {
        if !obs.epoch_end {
            return self.ramp_step(obs);
        }
        // Finish the move the epoch was given (its last scheduled step may fall short of the end).
        let reached = self.ramp.take().filter(|r| r.epoch == obs.epoch).map_or(obs.sparsity(), |r| r.to.max(obs.sparsity()));
        let end = self.end_epoch(obs);
        if obs.epoch < self.begin_epoch {
            return None;
        }
        if obs.epoch >= obs.epochs || reached >= self.target - 1e-12 {
            return (reached > obs.sparsity()).then(|| self.prune_to(obs, reached, "end of this epoch's move"));
        }
        let density = 1.0 - reached;
        let epochs_left = end.saturating_sub(obs.epoch).max(1);
        let required = required_rate(density, 1.0 - self.target, epochs_left);
        let drop = obs.best_val_accuracy - obs.val_accuracy;
        let h = headroom(drop, self.budget);
        let rate = epoch_rate(required, self.max_rate, h);
        let next = (1.0 - density * (1.0 - rate)).min(self.target);
        self.ramp = Some(SparsityRamp { epoch: obs.epoch + 1, from: reached, to: next });
        let reason = format!(
            "val acc {:.4}, {:.4} below best: headroom {h:.2} of budget {}; rate {:.3} (required {:.3} to reach {:.2}% by epoch {end}); next epoch {:.2}% -> {:.2}%",
            obs.val_accuracy,
            drop,
            self.budget,
            rate,
            required,
            self.target * 100.0,
            reached * 100.0,
            next * 100.0
        );
        Some(self.prune_to(obs, reached, &reason))
    }

    fn on_rollback(&mut self) {
        // The engine restored the weights of the last event: prune more slowly from here.
        self.max_rate *= 0.5;
        self.ramp = None;
    }

    fn state(&self) -> serde_json::Value {
        serde_json::json!({ "max_rate": self.max_rate, "ramp": self.ramp })
    }

    fn restore_state(&mut self, state: &serde_json::Value) -> Result<(), String> {
        self.max_rate = super::state_field(state, "max_rate")?;
        self.ramp = super::state_field(state, "ramp")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testing::{obs, params, Fixture};

    #[test]
    fn headroom_by_hand() {
        assert_eq!(headroom(0.0, 0.01), 1.0);
        assert!((headroom(0.0025, 0.01) - 0.75).abs() < 1e-12);
        assert_eq!(headroom(0.01, 0.01), 0.0);
        assert!((headroom(0.015, 0.01) + 0.5).abs() < 1e-12);
        assert_eq!(headroom(0.05, 0.01), -1.0);
    }

    #[test]
    fn required_rate_by_hand() {
        // density 1 -> 0.25 in 2 epochs: halve twice
        assert!((required_rate(1.0, 0.25, 2) - 0.5).abs() < 1e-12);
        // density 0.5 -> 0.02 in one epoch: prune 96% of the survivors
        assert!((required_rate(0.5, 0.02, 1) - 0.96).abs() < 1e-12);
        assert_eq!(required_rate(0.02, 0.05, 3), 0.0);
    }

    #[test]
    fn rate_follows_the_headroom() {
        // required 0.2, max 0.6
        assert!((epoch_rate(0.2, 0.6, 1.0) - 0.6).abs() < 1e-12);
        assert!((epoch_rate(0.2, 0.6, 0.5) - 0.4).abs() < 1e-12);
        assert!((epoch_rate(0.2, 0.6, 0.0) - 0.2).abs() < 1e-12);
        // over budget: slower than required, 0 at twice the budget
        assert!((epoch_rate(0.2, 0.6, -0.5) - 0.1).abs() < 1e-12);
        assert_eq!(epoch_rate(0.2, 0.6, -1.0), 0.0);
        // behind schedule: max_rate caps the catch-up, and over budget it still slows
        assert!((epoch_rate(0.7, 0.5, 1.0) - 0.5).abs() < 1e-12);
        assert!((epoch_rate(0.7, 0.5, 0.0) - 0.5).abs() < 1e-12);
        assert!((epoch_rate(0.7, 0.5, -0.5) - 0.25).abs() < 1e-12);
    }

    fn policy(pairs: &[(&str, toml::Value)]) -> Box<dyn ThresholdPolicy> {
        (INFO.build)(&params(&INFO, pairs)).unwrap()
    }

    #[test]
    fn moves_gradually_and_slows_near_the_budget() {
        // 10 weights |w| = 1..10, target 80% by epoch 3 (10 epochs, 100 steps each), max_rate 0.6,
        // budget 0.01.
        let values: Vec<f32> = (1..=10).map(|v| v as f32).collect();
        let mut f = Fixture::new(vec![("a", vec![10], values)]);
        let mut pol = policy(&[
            ("target_sparsity", toml::Value::Float(0.8)),
            ("end_epoch", toml::Value::Integer(3)),
            ("budget", toml::Value::Float(0.01)),
            ("max_rate", toml::Value::Float(0.6)),
            ("frequency", toml::Value::Integer(50)),
        ]);
        // End of epoch 1 at the best accuracy: required 1 - 0.2^(1/2) = 0.553, whole budget left,
        // so max_rate 0.6; nothing pruned now, the next epoch moves 0% -> 60%.
        let d = pol.decide(&obs(1, 0.9, 0.9, &f.views())).unwrap();
        assert_eq!(d.tensors[0].mask.pruned(), 0);
        assert!(d.tensors[0].reason.contains("rate 0.600 (required 0.553"), "{}", d.tensors[0].reason);
        let mut step = obs(2, f64::NAN, 0.9, &[]);
        step.epoch_end = false;
        // halfway through epoch 2 (step 150): 30% of 10 weights -> 3 pruned, tau = 4
        let views = f.views();
        let d = pol.decide(&Observation { step: 150, tensors: &views, ..step }).unwrap();
        assert_eq!(d.tensors[0].threshold, Some(4.0));
        assert_eq!(d.tensors[0].mask.pruned(), 3);
        f.apply(&d);
        // End of epoch 2, 0.5 point below best (headroom 0.5): the move is finished (6 pruned);
        // required 1 - 0.2/0.4 = 0.5, rate 0.5 + (0.6 - 0.5) * 0.5 = 0.55 -> 82%, capped at 80%.
        let d = pol.decide(&obs(2, 0.895, 0.9, &f.views())).unwrap();
        assert_eq!(d.tensors[0].mask.pruned(), 6);
        assert!(d.tensors[0].reason.contains("headroom 0.50"), "{}", d.tensors[0].reason);
        assert!(d.tensors[0].reason.contains("rate 0.550"), "{}", d.tensors[0].reason);
        f.apply(&d);
        let views = f.views();
        let d = pol.decide(&Observation { epoch: 3, step: 300, tensors: &views, ..step }).unwrap();
        assert_eq!(d.tensors[0].mask.pruned(), 8);
        f.apply(&d);
        // at the target: nothing more
        assert!(pol.decide(&obs(3, 0.9, 0.9, &f.views())).is_none());
    }

    #[test]
    fn waits_for_begin_epoch_and_checks_the_window() {
        let f = Fixture::new(vec![("a", vec![4], vec![1.0, 2.0, 3.0, 4.0])]);
        let mut pol = policy(&[("begin_epoch", toml::Value::Integer(2))]);
        assert!(pol.decide(&obs(0, 0.1, 0.1, &f.views())).is_none());
        assert!(pol.decide(&obs(1, 0.9, 0.9, &f.views())).is_none());
        assert!(pol.decide(&obs(2, 0.9, 0.9, &f.views())).is_some());
        let p = params(&INFO, &[("begin_epoch", toml::Value::Integer(5)), ("end_epoch", toml::Value::Integer(5))]);
        let e = (INFO.build)(&p).err().unwrap();
        assert!(e.to_string().contains("end_epoch 5 must be after begin_epoch 5"), "{e}");
    }

    #[test]
    fn pauses_beyond_twice_the_budget() {
        let values: Vec<f32> = (1..=100).map(|v| v as f32).collect();
        let f = Fixture::new(vec![("a", vec![100], values)]);
        let mut pol = policy(&[("target_sparsity", toml::Value::Float(0.9)), ("end_epoch", toml::Value::Integer(6)), ("budget", toml::Value::Float(0.01))]);
        let d = pol.decide(&obs(2, 0.88, 0.9, &f.views())).unwrap();
        assert!(d.tensors[0].reason.contains("rate 0.000"), "{}", d.tensors[0].reason);
        let mut step = obs(3, f64::NAN, 0.9, &[]);
        step.epoch_end = false;
        let views = f.views();
        assert!(pol.decide(&Observation { step: 280, tensors: &views, ..step }).is_none(), "no prune while paused");
    }
}
