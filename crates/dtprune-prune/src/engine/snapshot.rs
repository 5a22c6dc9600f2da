//! The engine's complete mutable state as one serialisable value: masks, thresholds, the
//! pending (not yet judged) prune event with the values it removed — the rollback snapshot —,
//! counters and the policy's own state. Restoring it into an engine built from the same config
//! makes every later decision identical to the run that wrote it (exact resume, and the
//! trainer's return to the last good state after a divergence).

use super::{Pending, PruningEngine};
use crate::error::PruneError;
use crate::mask::Mask;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineSnapshot {
    masks: Vec<Mask>,
    thresholds: Vec<Option<f32>>,
    pending: Option<Pending>,
    last_val: Option<f64>,
    prune_events: usize,
    rollbacks: usize,
    policy: serde_json::Value,
    /// Removed group units and residual blocks (absent in checkpoints written before groups:
    /// nothing removed as a whole).
    #[serde(default)]
    removed_units: Vec<Vec<bool>>,
    #[serde(default)]
    removed_blocks: Vec<bool>,
}

impl PruningEngine {
    pub fn snapshot(&self) -> EngineSnapshot {
        EngineSnapshot {
            masks: self.masks.clone(),
            thresholds: self.thresholds.clone(),
            pending: self.pending.clone(),
            last_val: self.last_val,
            prune_events: self.prune_events,
            rollbacks: self.rollbacks,
            policy: self.policy.state(),
            removed_units: self.structures.removed_units.clone(),
            removed_blocks: self.structures.removed_blocks.clone(),
        }
    }

    /// Puts a snapshot back. It must come from an engine over the same tensors and policy;
    /// anything else is an error and leaves this engine unchanged.
    pub fn restore(&mut self, s: EngineSnapshot) -> Result<(), PruneError> {
        let policy = self.policy.name().to_string();
        let invalid = |message: String| PruneError::Invalid { policy: policy.clone(), message };
        if s.masks.len() != self.specs.len() || s.thresholds.len() != self.specs.len() {
            return Err(invalid(format!("snapshot has {} masks, the engine {} tensors", s.masks.len(), self.specs.len())));
        }
        for (spec, mask) in self.specs.iter().zip(&s.masks) {
            if mask.len() != spec.numel() {
                return Err(PruneError::Tensor { name: spec.name.clone(), message: format!("snapshot mask has {} elements, the tensor {}", mask.len(), spec.numel()) });
            }
        }
        if let Some(p) = &s.pending {
            let fits = p.removed.len() == self.specs.len() && p.removed.iter().zip(&self.specs).all(|(r, spec)| r.iter().all(|&(j, _)| j < spec.numel()));
            if !fits {
                return Err(invalid("snapshot's pending prune event does not fit the tensors".into()));
            }
        }
        let old_checkpoint = s.removed_units.is_empty() && s.removed_blocks.is_empty();
        if !old_checkpoint && !self.structures.fits(&s.removed_units, &s.removed_blocks) {
            return Err(invalid("snapshot's removed structures do not fit the engine's groups and blocks".into()));
        }
        if let Some(p) = &s.pending {
            let fits = p.structures.iter().all(|r| match *r {
                crate::policy::Removal::Unit { group, unit } => self.structures.groups.get(group).is_some_and(|g| unit < g.units),
                crate::policy::Removal::Block(b) => b < self.structures.blocks.len(),
            });
            if !fits {
                return Err(invalid("snapshot's pending prune event removes structures the engine does not have".into()));
            }
        }
        // The policy checks its own state last: nothing below can fail.
        self.policy.restore_state(&s.policy).map_err(&invalid)?;
        self.masks = s.masks;
        self.thresholds = s.thresholds;
        self.pending = s.pending;
        self.last_val = s.last_val;
        self.prune_events = s.prune_events;
        self.rollbacks = s.rollbacks;
        if old_checkpoint {
            self.structures.restore_flags(None);
        } else {
            self.structures.restore_flags(Some((s.removed_units, s.removed_blocks)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::{EventKind, PrunableSpec, PruningEngine, RollbackConfig, RunMetrics};
    use crate::policy::{build, REGISTRY};
    use std::collections::BTreeMap;

    fn specs() -> Vec<PrunableSpec> {
        vec![
            PrunableSpec::weight("fc1.weight", vec![3, 4], true),
            PrunableSpec::weight("fc2.weight", vec![2, 3], false),
        ]
    }

    fn metrics(epoch: usize, val: f64) -> RunMetrics {
        RunMetrics { epoch, epochs: 6, step: epoch * 10, steps_per_epoch: 10, train_loss: 0.5 / epoch as f64, val_loss: 0.4, val_accuracy: val, best_val_accuracy: 0.9 }
    }

    fn values(epoch: usize) -> Vec<Vec<f32>> {
        let v = |n: usize, salt: usize| (0..n).map(|j| ((j * 7 + salt * 3 + epoch) % 11) as f32 / 10.0 - 0.5).collect();
        vec![v(12, 1), v(6, 2)]
    }

    /// Every registered policy: an engine restored from a JSON round trip of a snapshot taken
    /// after two epoch ends (one of them a rollback) decides exactly as the original from then on.
    #[test]
    fn a_restored_engine_continues_identically_for_every_policy() {
        let vals = [0.90, 0.80, 0.85, 0.88, 0.70, 0.86];
        for info in REGISTRY {
            let engine = || {
                let policy = build(info.name, &BTreeMap::new()).unwrap().0;
                PruningEngine::new(policy, specs(), RollbackConfig::default(), 0.0)
            };
            let mut original = engine();
            let mut v = values(0);
            for (e, &acc) in vals.iter().enumerate().take(2) {
                original.on_epoch_end(metrics(e + 1, acc), &mut v);
            }
            // Through a JSON value (exact floats; the checkpoint keeps their bits).
            let value = serde_json::to_value(original.snapshot()).unwrap();
            let mut restored = engine();
            restored.restore(serde_json::from_value(value).unwrap()).unwrap();
            assert_eq!(restored.snapshot(), original.snapshot(), "{}", info.name);
            let (mut va, mut vb) = (v.clone(), v.clone());
            for (e, &acc) in vals.iter().enumerate().skip(2) {
                let a = original.on_epoch_end(metrics(e + 1, acc), &mut va);
                let b = restored.on_epoch_end(metrics(e + 1, acc), &mut vb);
                assert_eq!(a, b, "{} epoch {}", info.name, e + 1);
                assert_eq!(va, vb);
            }
            assert_eq!(restored.snapshot(), original.snapshot(), "{}", info.name);
        }
    }

    #[test]
    fn a_pending_rollback_survives_the_round_trip_bit_for_bit() {
        let mut g = BTreeMap::new();
        g.insert("begin_epoch".to_string(), toml::Value::Integer(1));
        let policy = || build("performance", &g).unwrap().0;
        let mut e = PruningEngine::new(policy(), specs(), RollbackConfig::default(), 0.0);
        let original = values(0);
        let mut v = original.clone();
        e.on_epoch_end(metrics(1, 0.9), &mut v);
        assert!(e.sparsity() > 0.0, "the first epoch end prunes");
        let mut r = PruningEngine::new(policy(), specs(), RollbackConfig::default(), 0.0);
        r.restore(serde_json::from_value(serde_json::to_value(e.snapshot()).unwrap()).unwrap()).unwrap();
        let out = r.on_epoch_end(metrics(2, 0.5), &mut v);
        assert_eq!(out.events[0].kind, EventKind::Rollback);
        let bits = |x: &Vec<Vec<f32>>| x.iter().flatten().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&v), bits(&original), "the restored rollback snapshot puts back the exact values");
    }

    #[test]
    fn a_snapshot_of_other_tensors_is_refused_and_changes_nothing() {
        let policy = || build("distribution", &BTreeMap::new()).unwrap().0;
        let mut small = PruningEngine::new(policy(), specs()[..1].to_vec(), RollbackConfig::default(), 0.0);
        let mut v = vec![values(0)[0].clone()];
        small.on_epoch_end(metrics(1, 0.9), &mut v);
        let mut e = PruningEngine::new(policy(), specs(), RollbackConfig::default(), 0.0);
        let before = e.snapshot();
        let err = e.restore(small.snapshot()).unwrap_err();
        assert!(err.to_string().contains("1 masks"), "{err}");
        assert_eq!(e.snapshot(), before);
    }
}
