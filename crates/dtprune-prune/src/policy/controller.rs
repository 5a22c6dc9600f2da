//! Budget controller: the performance-based policy of seed §3 as a feedback loop. At each epoch
//! end the share of surviving weights to prune over the next epoch is set from the *headroom*
//! left in the validation budget — `max_rate` while accuracy holds, slowing towards the rate that
//! just reaches the target sparsity by the deadline as accuracy nears the budget, slower still
//! (down to a pause) beyond it. The move is then made gradually over the next epoch (a prune
//! every `frequency` steps, the global magnitude threshold τ recomputed from the current weights
//! each time), so the network adapts between small prunes as in gradual magnitude pruning, while
//! the speed of the schedule is decided by the run rather than fixed in advance.

use super::allocation::equal_loss_fractions;
use super::importance::{Importance, IMPORTANCE};
use super::signals::Wants;
use super::threshold::{prune_all_below, thresholds_for_sparsity, Scope, SCOPE};
use super::{Decision, Observation, PolicyInfo, TensorView, ThresholdPolicy};
use crate::params::{ParamKind, ParamSpec, ParamValue};

/// Fractions of a layer's surviving weights the sensitivity probe prunes.
pub const PROBE_FRACTIONS: [f64; 3] = [0.3, 0.6, 0.9];
/// Largest share of a layer's survivors one epoch may take under sensitivity allocation.
const LAYER_MAX_RATE: f64 = 0.9;

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
        ParamSpec {
            name: "allocation",
            kind: ParamKind::Choice(&["threshold", "sensitivity"]),
            default: ParamValue::Choice("threshold"),
            help: "how the epoch's pruning is shared among layers: one magnitude threshold per `scope`, or per-layer sparsities at equal measured validation-loss cost (sensitivity re-measured every epoch end while pruning)",
        },
        ParamSpec {
            name: "probe_images",
            kind: ParamKind::Int { min: 100, max: 1_000_000 },
            default: ParamValue::Int(2000),
            help: "validation images the sensitivity probe evaluates on (allocation = sensitivity)",
        },
        IMPORTANCE,
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
            by_sensitivity: p.choice("allocation") == "sensitivity",
            probe_images: p.int("probe_images") as usize,
            importance: Importance::from_params(p),
            ramp: None,
            done: false,
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
    by_sensitivity: bool,
    probe_images: usize,
    importance: Importance,
    ramp: Option<SparsityRamp>,
    /// The target was reached: no more decisions, nothing more to measure.
    done: bool,
}

/// Overall sparsity moves from `from` to `to` linearly over epoch `epoch`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct SparsityRamp {
    epoch: usize,
    from: f64,
    to: f64,
    /// Under sensitivity allocation, each layer's own move (overall `from`/`to` are their
    /// weighted sums).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    layers: Option<LayerRamp>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct LayerRamp {
    from: Vec<f64>,
    to: Vec<f64>,
}

/// Each layer's sparsity after pruning `q_l` of its `kept` weights (of `numel`).
fn sparsity_after(kept: usize, numel: usize, q: f64) -> f64 {
    1.0 - kept as f64 * (1.0 - q) / numel.max(1) as f64
}

/// Per-tensor thresholds that bring tensor `i` to `sparsity[i]`.
fn layer_thresholds(tensors: &[TensorView], sparsity: &[f64]) -> Vec<f32> {
    tensors.iter().zip(sparsity).map(|(t, &s)| thresholds_for_sparsity(std::slice::from_ref(t), s, Scope::PerTensor)[0]).collect()
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

    /// Overall `sparsity` by the threshold of `scope`, ranking weights by importance.
    fn prune_to(&self, obs: &Observation, sparsity: f64, reason: &str) -> Decision {
        self.importance.with_scores(obs, |views| prune_all_below(views, &thresholds_for_sparsity(views, sparsity, self.scope), reason))
    }

    /// Each tensor at its own sparsity, ranking weights by importance.
    fn prune_layers(&self, obs: &Observation, sparsity: &[f64], reason: &str) -> Decision {
        self.importance.with_scores(obs, |views| prune_all_below(views, &layer_thresholds(views, sparsity), reason))
    }

    /// Per-layer targets under sensitivity allocation: prune `next - sparsity` of all weights,
    /// shared among the layers at equal measured loss increase. `None` without curves (the
    /// trainer did not measure them: fall back to the threshold).
    fn layer_targets(&self, obs: &Observation, next: f64) -> Option<Vec<f64>> {
        let curves = obs.signals.sensitivity.filter(|_| self.by_sensitivity)?;
        let kept: Vec<usize> = obs.tensors.iter().map(|t| t.mask.kept()).collect();
        let total: usize = obs.tensors.iter().map(|t| t.mask.len()).sum();
        let prune = next * total as f64 - (total - kept.iter().sum::<usize>()) as f64;
        let q = equal_loss_fractions(curves, &kept, prune, LAYER_MAX_RATE);
        Some(obs.tensors.iter().zip(&kept).zip(&q).map(|((t, &k), &q)| sparsity_after(k, t.mask.len(), q)).collect())
    }

    /// The end of the move `last` gave the epoch: overall sparsity `reached`, or each layer's own.
    fn finish(&self, obs: &Observation, last: Option<&SparsityRamp>, reached: f64, reason: &str) -> Decision {
        match last.and_then(|r| r.layers.as_ref()) {
            Some(l) => self.prune_layers(obs, &l.to, reason),
            None => self.prune_to(obs, reached, reason),
        }
    }

    /// A step inside the ramp of the current epoch.
    fn ramp_step(&self, obs: &Observation) -> Option<Decision> {
        let ramp = self.ramp.as_ref().filter(|r| r.epoch == obs.epoch)?;
        let into_epoch = obs.step.saturating_sub((obs.epoch - 1) * obs.steps_per_epoch);
        let progress = (into_epoch as f64 / obs.steps_per_epoch.max(1) as f64).clamp(0.0, 1.0);
        let s = ramp.from + (ramp.to - ramp.from) * progress;
        if s <= obs.sparsity() {
            return None;
        }
        let reason = format!("moving to this epoch's decision {:.2}%: {:.2}% at {:.0}% of the epoch", ramp.to * 100.0, s * 100.0, progress * 100.0);
        Some(match &ramp.layers {
            Some(l) => {
                let per_layer: Vec<f64> = l.from.iter().zip(&l.to).map(|(a, b)| a + (b - a) * progress).collect();
                self.prune_layers(obs, &per_layer, &reason)
            }
            None => self.prune_to(obs, s, &reason),
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
        let last = self.ramp.take().filter(|r| r.epoch == obs.epoch);
        let reached = last.as_ref().map_or(obs.sparsity(), |r| r.to.max(obs.sparsity()));
        let end = self.end_epoch(obs);
        if obs.epoch < self.begin_epoch {
            return None;
        }
        if obs.epoch >= obs.epochs || reached >= self.target - 1e-12 {
            self.done = reached >= self.target - 1e-12;
            return (reached > obs.sparsity()).then(|| self.finish(obs, last.as_ref(), reached, "end of this epoch's move"));
        }
        let density = 1.0 - reached;
        let epochs_left = end.saturating_sub(obs.epoch).max(1);
        let required = required_rate(density, 1.0 - self.target, epochs_left);
        let drop = obs.best_val_accuracy - obs.val_accuracy;
        let h = headroom(drop, self.budget);
        let rate = epoch_rate(required, self.max_rate, h);
        let next = (1.0 - density * (1.0 - rate)).min(self.target);
        let decision = self.finish(obs, last.as_ref(), reached, "");
        // Layer targets from the masks as this decision leaves them.
        let finished: Vec<TensorView> = obs.tensors.iter().zip(&decision.tensors).map(|(t, d)| TensorView { mask: &d.mask, ..*t }).collect();
        let layers = self.layer_targets(&Observation { tensors: &finished, ..*obs }, next).map(|to| LayerRamp { from: finished.iter().map(|t| t.mask.sparsity()).collect(), to });
        let split = layers.as_ref().map_or(String::new(), |l| {
            let parts: Vec<String> = obs.tensors.iter().zip(&l.to).map(|(t, s)| format!("{} {:.2}%", t.name, s * 100.0)).collect();
            format!("; by measured sensitivity (equal val-loss cost): {}", parts.join(", "))
        });
        self.ramp = Some(SparsityRamp { epoch: obs.epoch + 1, from: reached, to: next, layers });
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
        ) + &split;
        let mut decision = decision;
        decision.tensors.iter_mut().for_each(|t| t.reason = reason.clone());
        Some(decision)
    }

    fn wants(&self) -> Wants {
        let probe = match self.by_sensitivity && !self.done {
            true => Wants { sensitivity_fractions: PROBE_FRACTIONS.to_vec(), sensitivity_images: self.probe_images, ..Wants::default() },
            false => Wants::default(),
        };
        probe.union(self.importance.wants())
    }

    fn on_rollback(&mut self) {
        // The engine restored the weights of the last event: prune more slowly from here.
        self.max_rate *= 0.5;
        self.ramp = None;
    }

    fn state(&self) -> serde_json::Value {
        serde_json::json!({ "max_rate": self.max_rate, "ramp": self.ramp, "done": self.done })
    }

    fn restore_state(&mut self, state: &serde_json::Value) -> Result<(), String> {
        self.max_rate = super::state_field(state, "max_rate")?;
        self.ramp = super::state_field(state, "ramp")?;
        // Absent in checkpoints written before it existed.
        self.done = state.get("done").and_then(serde_json::Value::as_bool).unwrap_or(false);
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

    #[test]
    fn sensitivity_allocation_splits_at_equal_loss_cost() {
        use crate::policy::signals::{SensitivityCurve, Signals};
        // Two tensors of 10 weights |w| = 1..10. Layer a loses 0.2 per unit fraction of its
        // survivors pruned, layer b 0.8: equal cost means q_a = 4 q_b.
        let values: Vec<f32> = (1..=10).map(|v| v as f32).collect();
        let f = Fixture::new(vec![("a", vec![10], values.clone()), ("b", vec![10], values)]);
        let curves = vec![
            SensitivityCurve { points: vec![(0.3, 0.06), (0.6, 0.12), (0.9, 0.18)] },
            SensitivityCurve { points: vec![(0.3, 0.24), (0.6, 0.48), (0.9, 0.72)] },
        ];
        let mut pol = policy(&[
            ("target_sparsity", toml::Value::Float(0.8)),
            ("end_epoch", toml::Value::Integer(3)),
            ("max_rate", toml::Value::Float(0.5)),
            ("allocation", toml::Value::String("sensitivity".into())),
        ]);
        assert_eq!(pol.wants().sensitivity_fractions, PROBE_FRACTIONS.to_vec());
        // Epoch 1 end at the best accuracy: required 0.553 is above max_rate, so rate 0.5: 10 of
        // 20 weights over epoch 2. 10 (q_a + q_b) = 10 with q_a = 4 q_b: q_b = 0.2, q_a = 0.8,
        // layer targets a 80%, b 20%.
        let views = f.views();
        let o = Observation { signals: Signals { sensitivity: Some(&curves), grad_sq: None }, ..obs(1, 0.9, 0.9, &views) };
        let d = pol.decide(&o).unwrap();
        assert!(d.tensors[0].reason.contains("a 80.00%, b 20.00%"), "{}", d.tensors[0].reason);
        // Halfway through epoch 2: a at 40% (4 pruned, tau 5), b at 10% (1 pruned, tau 2).
        let mut step = obs(2, f64::NAN, 0.9, &views);
        step.epoch_end = false;
        let d = pol.decide(&Observation { step: 150, ..step }).unwrap();
        assert_eq!((d.tensors[0].mask.pruned(), d.tensors[0].threshold), (4, Some(5.0)));
        assert_eq!((d.tensors[1].mask.pruned(), d.tensors[1].threshold), (1, Some(2.0)));
    }

    #[test]
    fn taylor_importance_ranks_by_weight_times_gradient() {
        use crate::policy::signals::Signals;
        // w = 1, 2, 3, 4 with mean g² = 16, 1, 0.25, 0.01: Taylor scores 4, 2, 1.5, 0.4, so
        // pruning half removes the two *largest* weights, which the loss does not feel.
        let f = Fixture::new(vec![("a", vec![4], vec![1.0, 2.0, 3.0, 4.0])]);
        let g = vec![vec![16.0, 1.0, 0.25, 0.01]];
        let mut pol = policy(&[
            ("target_sparsity", toml::Value::Float(0.5)),
            ("end_epoch", toml::Value::Integer(2)),
            ("max_rate", toml::Value::Float(0.5)),
            ("importance", toml::Value::String("taylor".into())),
        ]);
        assert!(pol.wants().gradients);
        let views = f.views();
        let signals = Signals { grad_sq: Some(&g), sensitivity: None };
        pol.decide(&Observation { signals, ..obs(1, 0.9, 0.9, &views) }).unwrap();
        let mut step = obs(2, f64::NAN, 0.9, &views);
        step.epoch_end = false;
        // the end of epoch 2 (step 200): 50%, tau = 2 in score units
        let d = pol.decide(&Observation { step: 200, signals, ..step }).unwrap();
        assert_eq!(d.tensors[0].mask.to_f32(), vec![1.0, 1.0, 0.0, 0.0]);
        assert_eq!(d.tensors[0].threshold, Some(2.0));
    }
}
