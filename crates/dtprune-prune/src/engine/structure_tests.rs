//! The engine with groups and blocks: removals mask every member slice, stay locked, roll back
//! bit for bit, survive a snapshot, and followers are never pruned by magnitude.

use super::*;
use crate::policy::build;
use crate::policy::structure::tests::{tied_specs, two_blocks};
use crate::Decision;
use std::collections::BTreeMap;

fn metrics(epoch: usize, val: f64) -> RunMetrics {
    RunMetrics { epoch, epochs: 10, step: epoch * 10, steps_per_epoch: 10, train_loss: 0.3, val_loss: 0.3, val_accuracy: val, best_val_accuracy: val.max(0.9) }
}

fn policy(name: &str, pairs: &[(&str, toml::Value)]) -> Box<dyn ThresholdPolicy> {
    let given: BTreeMap<String, toml::Value> = pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    build(name, &given).unwrap().0
}

fn tied_engine(policy: Box<dyn ThresholdPolicy>, min_keep: f64) -> (PruningEngine, Vec<Vec<f32>>) {
    let (tensors, g) = tied_specs();
    let (specs, values): (Vec<_>, Vec<_>) = tensors.into_iter().unzip();
    let e = PruningEngine::new(policy, specs, RollbackConfig::default(), min_keep).with_structure(&[g], &[]).unwrap();
    (e, values)
}

#[test]
fn removing_a_unit_masks_producers_followers_and_consumers_and_rollback_restores_them() {
    // structure k = 0.6 removes unit 1 of the group (hand-computed in the policy's tests)
    let (mut e, mut v) = tied_engine(policy("structure", &[("k", toml::Value::Float(0.6))]), 0.0);
    let original = v.clone();
    let out = e.on_epoch_end(metrics(1, 0.9), &mut v);
    let masks: Vec<Vec<f32>> = e.masks().iter().map(Mask::to_f32).collect();
    assert_eq!(masks[0], vec![1.0, 1.0, 0.0, 0.0, 1.0, 1.0], "a: row 1");
    assert_eq!(masks[1], vec![1.0, 0.0, 1.0], "γ[1]");
    assert_eq!(masks[2], vec![1.0, 0.0, 1.0], "β[1]");
    assert_eq!(masks[3], vec![1.0, 0.0, 1.0], "d: row 1");
    assert_eq!(masks[4], vec![1.0, 0.0, 1.0, 1.0, 0.0, 1.0], "c: column 1");
    assert_eq!(v[1], vec![0.0, 0.0, 1.0]);
    assert_eq!(v[4], vec![1.0, 0.0, 3.0, 4.0, 0.0, 6.0]);
    let structure: Vec<&PruneEvent> = out.events.iter().filter(|x| x.kind == EventKind::Structure).collect();
    assert_eq!(structure.len(), 1);
    assert_eq!((structure[0].tensor.as_deref(), structure[0].count), (Some("stream"), Some(1)));
    assert_eq!(e.removed_units(), vec![("stream", 1, 3)]);
    // sparsity counts weights only: 5 of a, d, c's 15 entries
    assert!((e.sparsity() - 5.0 / 15.0).abs() < 1e-12);

    let out = e.on_epoch_end(metrics(2, 0.5), &mut v);
    assert_eq!(out.events[0].kind, EventKind::Rollback);
    assert_eq!(out.events[0].count, Some(7));
    let bits = |x: &Vec<Vec<f32>>| x.iter().flatten().map(|f| f.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&v), bits(&original));
    assert_eq!(e.removed_units(), vec![("stream", 0, 3)], "the unit is back");
    assert_eq!(e.sparsity(), 0.0);
}

#[test]
fn magnitude_policies_never_prune_followers() {
    let (mut e, mut v) = tied_engine(policy("oneshot", &[("sparsity", toml::Value::Float(0.5)), ("scope", toml::Value::String("global".into()))]), 0.0);
    e.on_epoch_end(metrics(1, 0.9), &mut v);
    assert!(e.sparsity() > 0.3);
    assert_eq!(e.masks()[1].pruned() + e.masks()[2].pruned(), 0, "γ and β (one of them 0.0) are untouched");
    assert_eq!(v[1], vec![0.0, 1.0, 1.0]);
}

/// Removes unit 1 of group 0 once, then asks to keep every weight (as a regrowing policy would).
struct RemoveThenRegrow {
    calls: usize,
}

impl ThresholdPolicy for RemoveThenRegrow {
    fn name(&self) -> &str {
        "remove-then-regrow"
    }
    fn decide(&mut self, obs: &Observation) -> Option<Decision> {
        self.calls += 1;
        let tensors = obs.tensors.iter().map(|t| TensorDecision { threshold: None, mask: Mask::ones(t.mask.len()), reason: "all".into() }).collect();
        let removals = if self.calls == 1 { vec![Removal::Unit { group: 0, unit: 1 }] } else { Vec::new() };
        Some(Decision { tensors, removals })
    }
}

#[test]
fn a_removed_unit_stays_masked_and_the_guard_never_revives_it() {
    let (mut e, mut v) = tied_engine(Box::new(RemoveThenRegrow { calls: 0 }), 0.0);
    let rollback_off = RollbackConfig { enabled: false, ..RollbackConfig::default() };
    e.rollback = rollback_off;
    e.on_epoch_end(metrics(1, 0.9), &mut v);
    e.on_epoch_end(metrics(2, 0.9), &mut v);
    assert_eq!(e.masks()[4].to_f32(), vec![1.0, 0.0, 1.0, 1.0, 0.0, 1.0], "column 1 of c stays removed");
    // d: [3, 1] with row 1 removed; a guard asking for 100% may only restore open entries
    let (mut e, mut v) = tied_engine(Box::new(RemoveThenRegrow { calls: 0 }), 0.99);
    e.on_epoch_end(metrics(1, 0.9), &mut v);
    assert_eq!(e.masks()[3].to_f32(), vec![1.0, 0.0, 1.0]);
    assert_eq!(e.masks()[1].to_f32(), vec![1.0, 0.0, 1.0], "followers are not guarded back");
}

#[test]
fn a_removed_unit_is_never_the_last_or_of_an_unremovable_group() {
    struct RemoveAll;
    impl ThresholdPolicy for RemoveAll {
        fn name(&self) -> &str {
            "remove-all"
        }
        fn decide(&mut self, obs: &Observation) -> Option<Decision> {
            let tensors = obs.tensors.iter().map(|t| TensorDecision { threshold: None, mask: t.mask.clone(), reason: String::new() }).collect();
            let removals = (0..obs.structure.groups.len()).flat_map(|group| (0..obs.structure.groups[group].units).map(move |unit| Removal::Unit { group, unit })).collect();
            Some(Decision { tensors, removals })
        }
    }
    let specs = vec![PrunableSpec::weight("fc1.weight", vec![3, 2], true), PrunableSpec::weight("fc2.weight", vec![2, 3], false)];
    let mut e = PruningEngine::new(Box::new(RemoveAll), specs, RollbackConfig::default(), 0.0);
    let mut v = vec![vec![1.0; 6], vec![1.0; 6]];
    e.on_epoch_end(metrics(1, 0.9), &mut v);
    // row groups: fc1's 3 rows (2 go, one stays), fc2 is the classifier (none go)
    assert_eq!(e.removed_units(), vec![("fc1.weight", 2, 3), ("fc2.weight", 0, 2)]);
    assert_eq!(e.masks()[0].kept(), 2);
    assert_eq!(e.masks()[1].kept(), 6, "without a graph a row group masks nothing but its rows");
}

fn blocks_engine() -> (PruningEngine, Vec<Vec<f32>>) {
    let (specs, values, groups, blocks) = two_blocks();
    let p = policy("structure", &[("k", toml::Value::Float(0.01)), ("block_tau", toml::Value::Float(0.3))]);
    let e = PruningEngine::new(p, specs, RollbackConfig::default(), 0.0).with_structure(&groups, &blocks).unwrap();
    (e, values)
}

#[test]
fn a_removed_block_is_masked_whole_and_stays_so() {
    let (mut e, mut v) = blocks_engine();
    let out = e.on_epoch_end(metrics(1, 0.9), &mut v);
    assert_eq!(e.removed_blocks(), vec!["b1"]);
    for (t, values) in v.iter().enumerate().take(4).skip(1) {
        assert_eq!(e.masks()[t].kept(), 0, "{} is masked whole, the guard keeps nothing back", e.specs()[t].name);
        assert!(values.iter().all(|&x| x == 0.0));
    }
    assert!(out.events.iter().all(|x| x.kind != EventKind::Guard));
    for t in [0, 4, 5, 6] {
        assert_eq!(e.masks()[t].pruned(), 0, "{}", e.specs()[t].name);
    }
    // The next decision: b2 is the stage's last block, b1's inner group went with it.
    let out = e.on_epoch_end(metrics(2, 0.9), &mut v);
    let out = if out.events.is_empty() { e.on_epoch_end(metrics(3, 0.9), &mut v) } else { out };
    assert_eq!(e.removed_blocks(), vec!["b1"]);
    assert!(out.events.iter().all(|x| x.kind != EventKind::Structure && x.kind != EventKind::Guard), "{:?}", out.events);
    assert_eq!(e.masks()[2].kept(), 0);
}

#[test]
fn removed_structures_survive_a_snapshot_and_old_snapshots_load() {
    let (mut e, mut v) = blocks_engine();
    e.on_epoch_end(metrics(1, 0.9), &mut v);
    let json = serde_json::to_value(e.snapshot()).unwrap();
    let (mut r, _) = blocks_engine();
    r.restore(serde_json::from_value(json.clone()).unwrap()).unwrap();
    assert_eq!(r.snapshot(), e.snapshot());
    assert_eq!(r.removed_blocks(), vec!["b1"]);
    // the rollback of the pending event gives the block back in the restored engine too
    let out = r.on_epoch_end(metrics(2, 0.5), &mut v);
    assert_eq!(out.events[0].kind, EventKind::Rollback);
    assert!(r.removed_blocks().is_empty());
    // a checkpoint written before groups has no removal flags: nothing removed as a whole
    let mut old = json.clone();
    old.as_object_mut().unwrap().remove("removed_units");
    old.as_object_mut().unwrap().remove("removed_blocks");
    old["pending"] = serde_json::Value::Null;
    let (mut r, _) = blocks_engine();
    r.restore(serde_json::from_value(old).unwrap()).unwrap();
    assert!(r.removed_blocks().is_empty());
    // flags for other groups are refused
    let mut bad = json;
    bad["removed_blocks"] = serde_json::json!([true]);
    let (mut r, _) = blocks_engine();
    let err = r.restore(serde_json::from_value(bad).unwrap()).unwrap_err();
    assert!(err.to_string().contains("removed structures do not fit"), "{err}");
}
