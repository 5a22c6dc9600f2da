//! The pruning engine: runs a [`ThresholdPolicy`] over host copies of the prunable tensors,
//! applies its masks, keeps every tensor alive, records every change as a [`PruneEvent`], and
//! rolls back prune events that cost more validation accuracy than the tolerance.
//!
//! It knows nothing of the deep-learning framework: the trainer hands it `Vec<f32>` copies at
//! pruning points (epoch ends, or every N steps for step-scheduled policies) and writes the
//! returned values and masks back to the device. Between pruning points the trainer enforces
//! the masks on its own (masked gradients, zeroed optimizer state, zero weights).
//!
//! Besides weight tensors the engine tracks *followers* (BatchNorm γ and β): maskable, but only
//! ever masked with the structure they follow — weight-level policies do not see them. Whole
//! structures are [`crate::group`]s (and residual blocks): a policy names the units to remove
//! ([`crate::policy::Removal`]) and the engine masks every member slice at once (producers,
//! followers, consumers), keeps them masked, counts dead units per group and rolls removals
//! back with the weights. Without a graph every weight tensor's rows are their own groups.

mod snapshot;
pub(crate) mod structures;

pub use snapshot::EngineSnapshot;

use crate::error::PruneError;
use crate::group::{resolve, row_groups, Block, StructureGroup};
use crate::mask::Mask;
use crate::policy::signals::{OwnedSignals, SensitivityCurve, Wants};
use crate::policy::{Observation, Removal, TensorDecision, TensorView, ThresholdPolicy};
use serde::{Deserialize, Serialize};
use structures::Structures;

/// A prunable tensor as the engine tracks it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrunableSpec {
    pub name: String,
    /// PyTorch layout; dim 0 indexes structures (neurons, output channels).
    pub shape: Vec<usize>,
    /// False for layers whose outputs the model needs whole (the classifier).
    pub structures_removable: bool,
    /// A follower (BatchNorm γ or β): masked only with the structure it follows, never by
    /// weight-level (magnitude) policies.
    #[serde(default)]
    pub follower: bool,
}

impl PrunableSpec {
    /// A weight tensor (conv/linear weight) that policies prune.
    pub fn weight(name: impl Into<String>, shape: Vec<usize>, structures_removable: bool) -> Self {
        Self { name: name.into(), shape, structures_removable, follower: false }
    }

    /// A follower tensor: masked only when a unit it follows is removed.
    pub fn follower(name: impl Into<String>, shape: Vec<usize>) -> Self {
        Self { name: name.into(), shape, structures_removable: false, follower: true }
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// Weights newly masked.
    Prune,
    /// Masked weights that came back (regrowth policies only).
    Regrow,
    /// Whole structures (neurons/channels) newly masked; `count` is structures.
    Structure,
    /// τ moved.
    Threshold,
    /// A prune event undone because validation accuracy fell by more than the tolerance.
    Rollback,
    /// The guard kept weights a policy would have removed, so no tensor is emptied.
    Guard,
}

/// One entry of the event log (`events` in `history.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PruneEvent {
    pub kind: EventKind,
    pub tensor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<f32>,
    pub reason: String,
    /// For a rollback: the epoch of the event undone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_epoch: Option<usize>,
    /// Optimizer step at which it happened.
    pub step: usize,
}

/// When to undo a prune event (seed step 5).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RollbackConfig {
    pub enabled: bool,
    /// Largest allowed fall of validation accuracy (fraction, 0.01 = one point).
    pub tolerance: f64,
    /// Epochs of training after the event before it is judged.
    pub recovery_epochs: usize,
}

impl Default for RollbackConfig {
    fn default() -> Self {
        Self { enabled: true, tolerance: 0.01, recovery_epochs: 1 }
    }
}

/// What the run measured at this pruning point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunMetrics {
    pub epoch: usize,
    pub epochs: usize,
    pub step: usize,
    pub steps_per_epoch: usize,
    pub train_loss: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
    pub best_val_accuracy: f64,
}

/// The result of one pruning point.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub events: Vec<PruneEvent>,
    /// Whether masks or values changed (the trainer must write them back).
    pub changed: bool,
}

/// Pruning waiting to be judged: everything removed since the last judgement, with each
/// weight's value at the moment it was removed, so a rollback restores it bit for bit.
/// Step-level pruning during epoch `e` forms one unit with `after_epoch = e - 1`: it is judged
/// like a prune event at the end of epoch `e - 1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Pending {
    /// The epoch after whose end the pruned model started training.
    after_epoch: usize,
    /// Validation accuracy just before the first removal.
    val_before: f64,
    /// Per tensor: (flat index, value before removal).
    removed: Vec<Vec<(usize, f32)>>,
    /// Whole structures removed, given back with the weights.
    #[serde(default)]
    structures: Vec<Removal>,
}

pub struct PruningEngine {
    policy: Box<dyn ThresholdPolicy>,
    specs: Vec<PrunableSpec>,
    /// Indices of the weight (non-follower) tensors: what policies see as `Observation::tensors`.
    weights: Vec<usize>,
    structures: Structures,
    masks: Vec<Mask>,
    thresholds: Vec<Option<f32>>,
    rollback: RollbackConfig,
    /// Smallest fraction of a tensor's weights the guard keeps (at least one weight).
    min_keep: f64,
    pending: Option<Pending>,
    /// Validation accuracy at the last epoch end (the reference for step-level pruning).
    last_val: Option<f64>,
    prune_events: usize,
    rollbacks: usize,
    /// The trainer's last measurements for the policy (weight tensors only).
    signals: OwnedSignals,
}

impl PruningEngine {
    pub fn new(policy: Box<dyn ThresholdPolicy>, specs: Vec<PrunableSpec>, rollback: RollbackConfig, min_keep: f64) -> Self {
        let masks = specs.iter().map(|s| Mask::ones(s.numel())).collect();
        let thresholds = vec![None; specs.len()];
        let weights = (0..specs.len()).filter(|&i| !specs[i].follower).collect();
        let structures = Structures::new(row_groups(&specs), Vec::new());
        Self { policy, specs, weights, structures, masks, thresholds, rollback, min_keep, pending: None, last_val: None, prune_events: 0, rollbacks: 0, signals: OwnedSignals::default() }
    }

    /// Replaces the default structures (each weight tensor's rows) by the graph's coupled
    /// groups and residual blocks, checked against the engine's tensors.
    pub fn with_structure(mut self, groups: &[StructureGroup], blocks: &[Block]) -> Result<Self, PruneError> {
        let (groups, blocks) = resolve(&self.specs, groups, blocks)?;
        self.structures = Structures::new(groups, blocks);
        Ok(self)
    }

    /// Units removed per group (group name, removed, total), for reports.
    pub fn removed_units(&self) -> Vec<(&str, usize, usize)> {
        let s = &self.structures;
        s.groups.iter().zip(&s.removed_units).map(|(g, r)| (g.name.as_str(), r.iter().filter(|&&x| x).count(), g.units)).collect()
    }

    /// Names of the residual blocks removed so far.
    pub fn removed_blocks(&self) -> Vec<&str> {
        let s = &self.structures;
        s.blocks.iter().zip(&s.removed_blocks).filter(|(_, &r)| r).map(|(b, _)| b.name.as_str()).collect()
    }

    pub fn specs(&self) -> &[PrunableSpec] {
        &self.specs
    }

    pub fn masks(&self) -> &[Mask] {
        &self.masks
    }

    pub fn thresholds(&self) -> &[Option<f32>] {
        &self.thresholds
    }

    pub fn policy_name(&self) -> &str {
        self.policy.name()
    }

    pub fn regrowth(&self) -> bool {
        self.policy.allows_regrowth()
    }

    pub fn step_interval(&self) -> Option<usize> {
        self.policy.step_interval()
    }

    /// What the policy needs measured ([`ThresholdPolicy::wants`]).
    pub fn wants(&self) -> Wants {
        self.policy.wants()
    }

    /// Per-element mean g² of every spec tensor (followers' entries are ignored), for the next
    /// decisions.
    pub fn set_gradients(&mut self, grad_sq: Vec<Vec<f32>>) {
        self.signals.grad_sq = Some(self.weights_of(grad_sq));
    }

    /// Sensitivity curves of every spec tensor (followers' entries are ignored), kept until the
    /// next measurement.
    pub fn set_sensitivity(&mut self, curves: Vec<SensitivityCurve>) {
        self.signals.sensitivity = Some(self.weights_of(curves));
    }

    fn weights_of<T>(&self, per_spec: Vec<T>) -> Vec<T> {
        assert_eq!(per_spec.len(), self.specs.len(), "one measurement per prunable tensor");
        per_spec.into_iter().enumerate().filter(|(i, _)| !self.specs[*i].follower).map(|(_, v)| v).collect()
    }

    pub fn prune_events(&self) -> usize {
        self.prune_events
    }

    pub fn rollbacks(&self) -> usize {
        self.rollbacks
    }

    /// Fraction of all prunable weights masked (followers not counted: they are not weights).
    pub fn sparsity(&self) -> f64 {
        let total: usize = self.weights.iter().map(|&i| self.masks[i].len()).sum();
        let pruned: usize = self.weights.iter().map(|&i| self.masks[i].pruned()).sum();
        if total == 0 {
            0.0
        } else {
            pruned as f64 / total as f64
        }
    }

    /// Serialisable engine state (masks, τ, pending event, counters, policy state).
    pub fn state(&self) -> serde_json::Value {
        serde_json::json!({
            "masks_sparsity": self.masks.iter().map(Mask::sparsity).collect::<Vec<_>>(),
            "thresholds": self.thresholds,
            "pending_after_epoch": self.pending.as_ref().map(|p| p.after_epoch),
            "prune_events": self.prune_events,
            "rollbacks": self.rollbacks,
            "units_removed": self.structures.removed_units.iter().flatten().filter(|&&x| x).count(),
            "blocks_removed": self.structures.removed_blocks.iter().filter(|&&x| x).count(),
            "policy": self.policy.state(),
        })
    }

    /// Epoch end: first judge a pending prune event (and roll it back if it hurt), then ask the
    /// policy. `values` are the host copies of the prunable tensors, in spec order.
    pub fn on_epoch_end(&mut self, m: RunMetrics, values: &mut [Vec<f32>]) -> Outcome {
        let mut out = Outcome::default();
        let judged = self.judge_pending(&m, values, false);
        self.last_val = Some(m.val_accuracy);
        if let Some(event) = judged {
            out.events.push(event);
            out.changed = true;
            // The model just changed back; let it train before the next decision.
            return out;
        }
        if self.pending.is_some() {
            return out; // still recovering from the last event
        }
        self.run_policy(m, true, values, &mut out);
        out
    }

    /// The end of the last epoch: judge pending pruning (roll it back if it hurt) but prune
    /// nothing new — no training or validation would follow to check it.
    pub fn on_final_epoch_end(&mut self, m: RunMetrics, values: &mut [Vec<f32>]) -> Outcome {
        let mut out = Outcome::default();
        if let Some(event) = self.judge_pending(&m, values, true) {
            out.events.push(event);
            out.changed = true;
        }
        self.last_val = Some(m.val_accuracy);
        out
    }

    /// A step-level pruning point (policies with a [`ThresholdPolicy::step_interval`]).
    pub fn on_step(&mut self, m: RunMetrics, values: &mut [Vec<f32>]) -> Outcome {
        let mut out = Outcome::default();
        // Step-level pruning in epoch e joins the unit judged as "after epoch e - 1"; while an
        // older unit is still recovering, wait.
        if self.pending.as_ref().is_some_and(|p| p.after_epoch + 1 != m.epoch) {
            return out;
        }
        self.run_policy(m, false, values, &mut out);
        out
    }

    fn run_policy(&mut self, m: RunMetrics, epoch_end: bool, values: &mut [Vec<f32>], out: &mut Outcome) {
        let Some(decision) = self.decide(m, epoch_end, values) else { return };
        assert_eq!(decision.tensors.len(), self.weights.len(), "policy `{}` decided for the wrong number of tensors", self.policy.name());
        let removed_structures = self.structures.remove(&decision.removals);
        let open = self.structures.open_masks(&self.specs);
        let dead_before = self.structures.dead_units(&self.masks);
        let mut decisions: Vec<Option<TensorDecision>> = vec![None; self.specs.len()];
        for (&i, d) in self.weights.iter().zip(decision.tensors) {
            decisions[i] = Some(d);
        }

        let mut removed: Vec<Vec<(usize, f32)>> = vec![Vec::new(); self.specs.len()];
        let mut reasons: Vec<String> = vec![String::new(); self.specs.len()];
        let mut any_pruned = false;
        for (i, d) in decisions.into_iter().enumerate() {
            // A follower keeps its mask unless a removal locks its entries.
            let d = d.unwrap_or_else(|| TensorDecision { threshold: None, mask: self.masks[i].clone(), reason: "follows its structures".into() });
            let mut mask = match &open[i] {
                Some(open) => d.mask.and(open),
                None => d.mask,
            };
            if !self.specs[i].follower {
                if let Some(kept) = self.guard(&mut mask, &values[i], open[i].as_ref()) {
                    out.events.push(self.event(EventKind::Guard, i, Some(kept), m.step, format!("kept the {kept} largest weights so the tensor stays alive")));
                }
            }
            let (pruned, regrown) = self.masks[i].diff(&mask);
            if d.threshold != self.thresholds[i] && d.threshold.is_some() {
                let mut e = self.event(EventKind::Threshold, i, None, m.step, d.reason.clone());
                e.old = self.thresholds[i];
                e.new = d.threshold;
                out.events.push(e);
                self.thresholds[i] = d.threshold;
            }
            if pruned > 0 {
                any_pruned = true;
                out.events.push(self.event(EventKind::Prune, i, Some(pruned), m.step, d.reason.clone()));
            }
            if regrown > 0 {
                out.events.push(self.event(EventKind::Regrow, i, Some(regrown), m.step, d.reason.clone()));
            }
            for j in 0..mask.len() {
                if self.masks[i].keeps(j) && !mask.keeps(j) {
                    removed[i].push((j, values[i][j]));
                }
            }
            if !self.policy.allows_regrowth() {
                mask.apply(&mut values[i]);
            }
            if pruned > 0 || regrown > 0 {
                out.changed = true;
            }
            self.masks[i] = mask;
            reasons[i] = d.reason;
        }
        self.structure_events(&dead_before, &reasons, m.step, out);
        for r in &removed_structures {
            if let Removal::Block(b) = *r {
                let name = self.structures.blocks[b].name.clone();
                let reason = format!("residual block `{name}` removed whole: its branch is masked, the shortcut stays");
                out.events.push(PruneEvent { kind: EventKind::Structure, tensor: Some(name), count: Some(1), old: None, new: None, reason, event_epoch: None, step: m.step });
            }
        }
        if any_pruned {
            self.prune_events += 1;
            if self.rollback.enabled && self.policy.supports_rollback() {
                let (after_epoch, val_before) = if epoch_end { (m.epoch, Some(m.val_accuracy)) } else { (m.epoch - 1, self.last_val) };
                // Without a validation figure from before the pruning there is nothing to judge.
                if let Some(val_before) = val_before {
                    let pending = self.pending.get_or_insert_with(|| Pending { after_epoch, val_before, removed: vec![Vec::new(); removed.len()], structures: Vec::new() });
                    for (all, new) in pending.removed.iter_mut().zip(removed) {
                        all.extend(new);
                    }
                    pending.structures.extend(removed_structures);
                }
            }
        }
    }

    /// Asks the policy, showing it the weight tensors and the structures.
    fn decide(&mut self, m: RunMetrics, epoch_end: bool, values: &[Vec<f32>]) -> Option<crate::Decision> {
        let all: Vec<TensorView> = self
            .specs
            .iter()
            .enumerate()
            .map(|(i, s)| TensorView {
                name: &s.name,
                shape: &s.shape,
                values: &values[i],
                mask: &self.masks[i],
                structures_removable: s.structures_removable,
                follower: s.follower,
            })
            .collect();
        let weights: Vec<TensorView> = self.weights.iter().map(|&i| all[i]).collect();
        let obs = Observation {
            epoch: m.epoch,
            epochs: m.epochs,
            step: m.step,
            steps_per_epoch: m.steps_per_epoch,
            epoch_end,
            train_loss: m.train_loss,
            val_loss: m.val_loss,
            val_accuracy: m.val_accuracy,
            best_val_accuracy: m.best_val_accuracy,
            tensors: &weights,
            structure: self.structures.view(&all),
            signals: self.signals.view(),
        };
        self.policy.decide(&obs)
    }

    /// One `structure` event per group whose count of dead units grew, with the reason of its
    /// first producer tensor's decision.
    fn structure_events(&self, dead_before: &[usize], reasons: &[String], step: usize, out: &mut Outcome) {
        let dead_after = self.structures.dead_units(&self.masks);
        for (g, (&before, &after)) in self.structures.groups.iter().zip(dead_before.iter().zip(&dead_after)) {
            if after > before {
                let reason = g.producers().next().map(|p| reasons[p.tensor].clone()).unwrap_or_default();
                let tensor = Some(g.label(&self.specs));
                out.events.push(PruneEvent { kind: EventKind::Structure, tensor, count: Some(after - before), old: None, new: None, reason, event_epoch: None, step });
            }
        }
    }

    /// Keeps at least `max(1, ceil(min_keep * numel))` weights, the largest by magnitude,
    /// never inside a removed structure (`open` says which entries are not locked; a tensor of
    /// a removed block has none and stays empty). Returns how many the guard kept back, if any.
    fn guard(&self, mask: &mut Mask, values: &[f32], open: Option<&Mask>) -> Option<usize> {
        let need = ((self.min_keep * mask.len() as f64).ceil() as usize).max(1).min(mask.len());
        let kept = mask.kept();
        if kept >= need {
            return None;
        }
        let mut order: Vec<usize> = (0..values.len()).filter(|&j| !mask.keeps(j) && open.is_none_or(|o| o.keeps(j))).collect();
        order.sort_by(|&a, &b| values[b].abs().total_cmp(&values[a].abs()).then(a.cmp(&b)));
        order.truncate(need - kept);
        for &j in &order {
            mask.set(j, true);
        }
        (!order.is_empty()).then_some(order.len())
    }

    /// If the pending event's recovery period is over (or `now`), confirm it or roll it back.
    fn judge_pending(&mut self, m: &RunMetrics, values: &mut [Vec<f32>], now: bool) -> Option<PruneEvent> {
        let due = self.pending.as_ref().is_some_and(|p| now || m.epoch >= p.after_epoch + self.rollback.recovery_epochs);
        if !due {
            return None;
        }
        let p = self.pending.take()?;
        let fall = p.val_before - m.val_accuracy;
        if fall <= self.rollback.tolerance {
            return None;
        }
        // Restore exactly what was removed, with the values from before the removal.
        self.structures.restore(&p.structures);
        let mut restored = 0;
        for (i, removed) in p.removed.iter().enumerate() {
            for &(j, value) in removed {
                self.masks[i].set(j, true);
                values[i][j] = value;
                restored += 1;
            }
        }
        self.rollbacks += 1;
        self.policy.on_rollback();
        Some(PruneEvent {
            kind: EventKind::Rollback,
            tensor: None,
            count: Some(restored),
            old: None,
            new: None,
            reason: format!(
                "val acc fell {:.4} (from {:.4} to {:.4}) > tolerance {}; restored {restored} weights, policy made more conservative",
                fall, p.val_before, m.val_accuracy, self.rollback.tolerance
            ),
            event_epoch: Some(p.after_epoch),
            step: m.step,
        })
    }

    fn event(&self, kind: EventKind, i: usize, count: Option<usize>, step: usize, reason: String) -> PruneEvent {
        PruneEvent { kind, tensor: Some(self.specs[i].name.clone()), count, old: None, new: None, reason, event_epoch: None, step }
    }
}

#[cfg(test)]
mod structure_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::build;
    use crate::policy::threshold::{prune_all_below, thresholds_for_sparsity, Scope};
    use std::collections::BTreeMap;

    fn specs() -> Vec<PrunableSpec> {
        vec![
            PrunableSpec::weight("fc1.weight", vec![2, 2], true),
            PrunableSpec::weight("fc2.weight", vec![1, 2], false),
        ]
    }

    fn metrics(epoch: usize, val: f64) -> RunMetrics {
        RunMetrics { epoch, epochs: 10, step: epoch * 10, steps_per_epoch: 10, train_loss: 0.3, val_loss: 0.3, val_accuracy: val, best_val_accuracy: val.max(0.9) }
    }

    /// Prunes each tensor to `sparsity` by magnitude at the first epoch end (or at every step
    /// in `steps`), and accepts rollback — the engine's view of a dynamic policy.
    struct Fixed {
        sparsity: f64,
        steps: bool,
        done: bool,
    }

    impl ThresholdPolicy for Fixed {
        fn name(&self) -> &str {
            "fixed"
        }
        fn step_interval(&self) -> Option<usize> {
            self.steps.then_some(1)
        }
        fn decide(&mut self, obs: &crate::Observation) -> Option<crate::Decision> {
            if self.done || obs.epoch_end == self.steps {
                return None;
            }
            self.done = !self.steps;
            let taus = thresholds_for_sparsity(obs.tensors, self.sparsity, Scope::PerTensor);
            if self.steps {
                self.sparsity += 0.25; // each step prunes further
            }
            Some(prune_all_below(obs.tensors, &taus, "fixed"))
        }
    }

    fn oneshot(sparsity: f64) -> Box<dyn ThresholdPolicy> {
        Box::new(Fixed { sparsity, steps: false, done: false })
    }

    #[test]
    fn baselines_are_never_rolled_back() {
        let mut g = BTreeMap::new();
        g.insert("sparsity".into(), toml::Value::Float(0.5));
        let policy = build("oneshot", &g).unwrap().0;
        let mut e = PruningEngine::new(policy, specs(), RollbackConfig::default(), 0.0);
        let mut v = vec![vec![0.1, -0.4, 0.3, 0.2], vec![1.0, 0.5]];
        e.on_epoch_end(metrics(1, 0.90), &mut v);
        let out = e.on_epoch_end(metrics(2, 0.50), &mut v);
        assert!(out.events.iter().all(|x| x.kind != EventKind::Rollback));
    }

    #[test]
    fn step_level_pruning_of_an_epoch_is_rolled_back_as_one_unit() {
        let policy = Box::new(Fixed { sparsity: 0.25, steps: true, done: false });
        let mut e = PruningEngine::new(policy, specs(), RollbackConfig::default(), 0.0);
        let original = vec![vec![0.1, -0.4, 0.3, 0.2], vec![1.0, 0.5]];
        let mut v = original.clone();
        e.on_epoch_end(metrics(1, 0.90), &mut v); // reference accuracy
        e.on_step(metrics(2, f64::NAN), &mut v); // prunes 0.1 and 0.5
        e.on_step(metrics(2, f64::NAN), &mut v); // 50%: now 0.2 goes too
        assert_eq!(v[0], vec![0.0, -0.4, 0.3, 0.0]);
        let out = e.on_epoch_end(metrics(2, 0.80), &mut v);
        assert_eq!(out.events[0].kind, EventKind::Rollback);
        assert_eq!(out.events[0].count, Some(3));
        assert_eq!(v, original);
        assert_eq!(e.sparsity(), 0.0);
    }

    #[test]
    fn prunes_zeroes_and_records() {
        let mut e = PruningEngine::new(oneshot(0.5), specs(), RollbackConfig::default(), 0.0);
        let mut v = vec![vec![0.1, -0.4, 0.3, 0.2], vec![1.0, 0.5]];
        let out = e.on_epoch_end(metrics(1, 0.9), &mut v);
        assert!(out.changed);
        assert_eq!(v, vec![vec![0.0, -0.4, 0.3, 0.0], vec![1.0, 0.0]]);
        assert_eq!(e.prune_events(), 1);
        let prunes: usize = out.events.iter().filter(|x| x.kind == EventKind::Prune).map(|x| x.count.unwrap()).sum();
        assert_eq!(prunes, 3);
        assert!((e.sparsity() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn rollback_restores_bit_identical_values() {
        let mut e = PruningEngine::new(oneshot(0.5), specs(), RollbackConfig { enabled: true, tolerance: 0.01, recovery_epochs: 1 }, 0.0);
        let original = vec![vec![0.123_456_79f32, -0.4, 0.3, 0.2], vec![1.0, 0.5]];
        let mut v = original.clone();
        e.on_epoch_end(metrics(1, 0.90), &mut v);
        // training moves the surviving weights
        v[0][1] = -0.41;
        // accuracy fell 0.05 > 0.01
        let out = e.on_epoch_end(metrics(2, 0.85), &mut v);
        assert_eq!(out.events.len(), 1);
        assert_eq!(out.events[0].kind, EventKind::Rollback);
        assert_eq!(out.events[0].count, Some(3));
        assert_eq!(out.events[0].event_epoch, Some(1));
        assert_eq!(v[0][0].to_bits(), original[0][0].to_bits());
        assert_eq!(v[0][3].to_bits(), original[0][3].to_bits());
        assert_eq!(v[1][1].to_bits(), original[1][1].to_bits());
        assert_eq!(v[0][1], -0.41, "weights the event did not prune keep their trained values");
        assert_eq!(e.sparsity(), 0.0);
        assert_eq!(e.rollbacks(), 1);
    }

    #[test]
    fn final_epoch_end_judges_but_never_prunes() {
        let mut e = PruningEngine::new(oneshot(0.5), specs(), RollbackConfig { enabled: true, tolerance: 0.01, recovery_epochs: 3 }, 0.0);
        let mut v = vec![vec![0.1, -0.4, 0.3, 0.2], vec![1.0, 0.5]];
        assert!(e.on_final_epoch_end(metrics(1, 0.9), &mut v).events.is_empty(), "no prune at the last epoch end");
        assert_eq!(e.sparsity(), 0.0);
        let mut e = PruningEngine::new(oneshot(0.5), specs(), RollbackConfig { enabled: true, tolerance: 0.01, recovery_epochs: 3 }, 0.0);
        e.on_epoch_end(metrics(1, 0.9), &mut v);
        // recovery not over (3 epochs), but the run ends: judged now
        let out = e.on_final_epoch_end(metrics(2, 0.5), &mut v);
        assert_eq!(out.events[0].kind, EventKind::Rollback);
    }

    #[test]
    fn event_within_tolerance_is_kept() {
        let mut e = PruningEngine::new(oneshot(0.5), specs(), RollbackConfig::default(), 0.0);
        let mut v = vec![vec![0.1, -0.4, 0.3, 0.2], vec![1.0, 0.5]];
        e.on_epoch_end(metrics(1, 0.90), &mut v);
        let out = e.on_epoch_end(metrics(2, 0.895), &mut v);
        assert!(out.events.iter().all(|x| x.kind != EventKind::Rollback));
        assert_eq!(e.rollbacks(), 0);
    }

    #[test]
    fn guard_never_empties_a_tensor() {
        let mut e = PruningEngine::new(oneshot(0.999), specs(), RollbackConfig::default(), 0.0);
        let mut v = vec![vec![0.1, -0.4, 0.3, 0.2], vec![1.0, 0.5]];
        let out = e.on_epoch_end(metrics(1, 0.9), &mut v);
        assert!(e.masks().iter().all(|m| m.kept() >= 1));
        assert_eq!(v[0], vec![0.0, -0.4, 0.0, 0.0], "the largest weight survives");
        assert!(out.events.iter().any(|x| x.kind == EventKind::Guard));
    }
}
