//! Policies that need the trainer to measure more than the weights ([`dtprune_prune::Wants`]):
//! per-layer sparsity from measured sensitivity, Taylor importance from per-element gradients,
//! and Dynamic Network Surgery's splicing with shadow weights. Each a real 3-epoch run on the
//! MNIST subset (LeNet-300-100, about a second each).

mod common;

use common::*;
use serde_json::Value;

fn events(h: &[Value]) -> Vec<&Value> {
    h.iter().flat_map(|l| l["events"].as_array().unwrap()).collect()
}

fn layer_sparsity(s: &Value, name: &str) -> f64 {
    s["sparsity_per_layer"][name].as_f64().unwrap()
}

#[test]
fn controller_allocates_layers_by_measured_sensitivity() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let s = train(&dir, 3, &["--policy", "controller", "-P", "target_sparsity=0.8", "-P", "end_epoch=2", "-P", "frequency=5", "-P", "allocation=sensitivity", "-P", "probe_images=500", "--no-compact"]);
    let h = read_history(&dir);
    let sp = num(&s, "sparsity");
    assert!((sp - 0.8).abs() < 0.01, "sparsity {sp}");
    assert!(num(&s, "test_accuracy") > 0.8);
    let split: Vec<&str> = events(&h).iter().filter_map(|e| e["reason"].as_str()).filter(|r| r.contains("by measured sensitivity")).collect();
    assert!(!split.is_empty(), "no decision was split by sensitivity");
    // Layers end at different sparsities (one global threshold would also give that, but then
    // the split is not reported; with per-tensor scope they would be equal).
    let (a, b, c) = (layer_sparsity(&s, "fc1.weight"), layer_sparsity(&s, "fc2.weight"), layer_sparsity(&s, "fc3.weight"));
    assert!((a - b).abs() > 1e-3 || (a - c).abs() > 1e-3, "every layer at the same sparsity: {a} {b} {c}");
    assert!((check_masks_enforced(&dir) - sp).abs() < 1e-9);
}

#[test]
fn taylor_importance_prunes_other_weights_than_magnitude() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |name: &str, importance: &str| {
        let dir = tmp.path().join(name);
        let s = train(&dir, 2, &["--policy", "controller", "-P", "target_sparsity=0.7", "-P", "end_epoch=1", "-P", "frequency=5", "-P", &format!("importance={importance}"), "--no-compact"]);
        assert!((num(&s, "sparsity") - 0.7).abs() < 0.01, "{importance}: sparsity {}", s["sparsity"]);
        assert!(num(&s, "test_accuracy") > 0.8, "{importance}: {}", s["test_accuracy"]);
        read_safetensors(&dir.join("masks.safetensors")).tensors["fc1.weight"].f32s()
    };
    let (magnitude, taylor) = (run("magnitude", "magnitude"), run("taylor", "taylor"));
    let differ = magnitude.iter().zip(&taylor).filter(|(a, b)| a != b).count();
    // Same seed, same data order: only the ranking differs.
    assert!(differ > magnitude.len() / 100, "Taylor kept nearly the same weights as magnitude ({differ} differ)");
}

#[test]
fn surgery_splices_with_shadow_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let s = train(&dir, 3, &["--policy", "surgery", "-P", "target_sparsity=0.8", "-P", "end_epoch=2", "-P", "frequency=5", "-P", "gamma=0", "--no-compact"]);
    let h = read_history(&dir);
    let sp = num(&s, "sparsity");
    assert!((sp - 0.8).abs() < 0.01, "sparsity {sp}");
    assert!(num(&s, "test_accuracy") > 0.8);
    let kinds: Vec<&str> = events(&h).iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"prune") && kinds.contains(&"regrow"), "splicing must prune and restore: {kinds:?}");
    assert_eq!(s["rollbacks"], 0);
    assert!((check_masks_enforced(&dir) - sp).abs() < 1e-9);
}
