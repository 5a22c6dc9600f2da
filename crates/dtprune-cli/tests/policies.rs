//! One real run per pruning policy on the MNIST subset (LeNet-300-100, 3 epochs, about a second
//! each), with parameters chosen so each policy prunes within the run and leaves at least one
//! epoch of fine-tuning after its last prune. Each checks: sparsity in a sane range, accuracy far
//! above chance, `prune` events in `history.jsonl`, masked weights exactly zero in
//! `model.safetensors`, and the summary agreeing with the files.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

/// What a policy run must show.
struct Expect {
    /// Sparsity range of the final model (fraction of prunable weights that are zero).
    sparsity: (f64, f64),
    /// Smallest acceptable test accuracy (dense: about 0.90; chance: 0.1).
    min_accuracy: f64,
    /// Event kinds that must appear somewhere in history.jsonl.
    events: &'static [&'static str],
}

fn run_policy(policy: &str, params: &[&str], expect: Expect) -> (tempfile::TempDir, Value, Vec<Value>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut extra = vec!["--policy", policy];
    for p in params {
        if p.starts_with("--") {
            extra.push(p); // a train flag, `--name=value`
        } else {
            extra.extend_from_slice(&["-P", p]);
        }
    }
    let s = train(&dir, 3, &extra);
    let h = read_history(&dir);
    let sp = num(&s, "sparsity");
    let acc = num(&s, "test_accuracy");
    let trace: Vec<String> = h
        .iter()
        .map(|l| format!("ep{} val {:.3} sp {:.3}", l["epoch"], num(l, "val_accuracy"), num(l, "sparsity")))
        .collect();
    eprintln!("{policy} {params:?}: test accuracy {acc:.3}, sparsity {sp:.4}, prune events {}, rollbacks {}; {}", s["prune_events"], s["rollbacks"], trace.join(", "));

    assert_eq!(s["policy"], policy);
    assert!(sp >= expect.sparsity.0 && sp <= expect.sparsity.1, "{policy}: sparsity {sp} outside {:?}", expect.sparsity);
    assert!(acc >= expect.min_accuracy, "{policy}: test accuracy {acc} < {}", expect.min_accuracy);
    assert!(s["prune_events"].as_u64().unwrap() >= 1, "{policy}: no prune events in the summary");

    // history.jsonl: schema, and the events the policy must have produced.
    assert_eq!(h.len(), 3);
    for (i, l) in h.iter().enumerate() {
        check_history_line(l, i + 1);
    }
    let kinds: Vec<&str> = h.iter().flat_map(|l| l["events"].as_array().unwrap()).map(|e| e["kind"].as_str().unwrap()).collect();
    for k in expect.events {
        assert!(kinds.contains(k), "{policy}: no `{k}` event in history.jsonl (kinds: {kinds:?})");
    }
    for e in h.iter().flat_map(|l| l["events"].as_array().unwrap()) {
        if e["kind"] == "prune" {
            assert!(e["count"].as_u64().is_some_and(|c| c > 0), "{policy}: prune event without a positive count: {e}");
        }
    }
    let last = h.last().unwrap();
    assert!((num(last, "sparsity") - sp).abs() < 1e-3, "{policy}: last history sparsity {} vs summary {sp}", last["sparsity"]);

    // The files agree with the summary.
    let masked = check_masks_enforced(&dir);
    assert!((masked - sp).abs() < 1e-3, "{policy}: {masked} of the weights are masked but summary sparsity is {sp}");
    let cr = num(&s, "compression_ratio");
    assert!((cr - 1.0 / (1.0 - sp)).abs() / cr < 1e-3, "{policy}: compression ratio {cr} vs sparsity {sp}");
    let per_layer = s["sparsity_per_layer"].as_object().unwrap();
    for (name, layer_sp) in per_layer {
        let v = layer_sp.as_f64().unwrap();
        assert!(v < 1.0, "{policy}: layer {name} pruned to nothing");
        let model = read_safetensors(&dir.join("model.safetensors"));
        let w = model.tensors[name].f32s();
        let zeros = w.iter().filter(|x| **x == 0.0).count() as f64 / w.len() as f64;
        assert!((zeros - v).abs() < 1e-9, "{policy}: {name} sparsity_per_layer {v} vs file {zeros}");
    }
    assert_eq!(per_layer.len(), 3);
    assert!(dir.join("compact.json").is_file() && dir.join("compact.safetensors").is_file());
    // (Sizes of the compact files are checked in compact_python.rs with a fixed crossover: here
    // the crossover is measured, so the dense/CSR choice depends on the machine's load.)
    (tmp, s, h)
}

/// Rows (output units) of `name` whose mask is entirely 0.
fn dead_rows(dir: &Path, name: &str) -> usize {
    let masks = read_safetensors(&dir.join("masks.safetensors"));
    let t = &masks.tensors[name];
    let cols: usize = t.shape[1..].iter().product();
    t.f32s().chunks(cols).filter(|r| r.iter().all(|m| *m == 0.0)).count()
}

#[test]
fn policy_performance() {
    // Raises tau every epoch while val accuracy holds; end_epoch=2 leaves epoch 3 to fine-tune.
    let (_t, s, h) = run_policy("performance", &["end_epoch=2"], Expect { sparsity: (0.3, 0.99), min_accuracy: 0.8, events: &["prune", "threshold"] });
    assert!(num(&h[1], "sparsity") > num(&h[0], "sparsity"), "the threshold was not raised at epoch 2");
    assert!(h[2]["events"].as_array().unwrap().iter().all(|e| e["kind"] != "prune"), "pruned after end_epoch");
    assert!(s["threshold_final"]["fc1.weight"].as_f64().is_some_and(|t| t > 0.0));
}

#[test]
fn policy_performance_seed() {
    // tau = alpha*tau0 + (1-alpha)*L/epsilon with L the training loss (about 1 after epoch 1,
    // 0.3 later): epsilon=20 puts tau at a few times mean|w|. (The default epsilon=3 prunes
    // 99.8% at epoch 1 and relies on the guard and a rollback.)
    run_policy("performance-seed", &["epsilon=20"], Expect { sparsity: (0.3, 0.99), min_accuracy: 0.8, events: &["prune", "threshold"] });
}

#[test]
fn policy_distribution() {
    // tau = mean|w| - 0.5 std|w| per tensor each epoch, until 60% overall.
    let (_t, s, _h) = run_policy("distribution", &["target_sparsity=0.6"], Expect { sparsity: (0.3, 0.7), min_accuracy: 0.8, events: &["prune", "threshold"] });
    assert!(s["threshold_final"].as_object().unwrap().values().all(|t| t.as_f64().is_some_and(|t| t > 0.0)), "per-tensor thresholds: {}", s["threshold_final"]);
}

#[test]
fn policy_structure() {
    // Whole neurons whose L2 norm is below the layer's mean norm (at most half of a layer).
    let (t, _s, _h) = run_policy("structure", &["k=1.0"], Expect { sparsity: (0.1, 0.6), min_accuracy: 0.8, events: &["structure", "prune"] });
    let dir = t.path().join("run");
    let dead = dead_rows(&dir, "fc1.weight") + dead_rows(&dir, "fc2.weight");
    assert!(dead > 0, "structure pruning masked no whole neuron");
    assert_eq!(dead_rows(&dir, "fc3.weight"), 0, "the classifier's outputs are never removed");
    assert!(dead_rows(&dir, "fc1.weight") <= 150 && dead_rows(&dir, "fc2.weight") <= 50, "max_fraction=0.5 exceeded");
    // A neuron is a group: its row goes with the next layer's column that reads it.
    let masks = read_safetensors(&dir.join("masks.safetensors"));
    for (producer, consumer) in [("fc1.weight", "fc2.weight"), ("fc2.weight", "fc3.weight")] {
        let (p, c) = (&masks.tensors[producer], &masks.tensors[consumer]);
        let (pv, cv, cols) = (p.f32s(), c.f32s(), c.shape[1]);
        let dead: Vec<usize> = (0..p.shape[0]).filter(|&r| pv[r * p.shape[1]..(r + 1) * p.shape[1]].iter().all(|&m| m == 0.0)).collect();
        for j in dead {
            assert!((0..c.shape[0]).all(|r| cv[r * cols + j] == 0.0), "{producer} row {j} removed but {consumer} column {j} is not masked");
        }
    }
    // Compaction physically removes the dead neurons.
    let compact = read_json(&dir.join("compact.json"));
    for (name, units) in [("fc1", 300), ("fc2", 100)] {
        let layer = compact["layers"].as_array().unwrap().iter().find(|l| l["name"] == name).unwrap_or_else(|| panic!("{name} not in compact.json"));
        let out = layer["out_features"].as_u64().unwrap() as usize;
        let dead = dead_rows(&dir, &format!("{name}.weight"));
        assert!(out <= units - dead, "{name}: {dead} neurons masked but compact.json keeps {out} of {units}");
    }
}

#[test]
fn policy_oneshot() {
    let (_t, s, h) = run_policy("oneshot", &["sparsity=0.8"], Expect { sparsity: (0.78, 0.82), min_accuracy: 0.8, events: &["prune"] });
    assert_eq!(s["prune_events"], 1);
    assert!(h[1..].iter().all(|l| l["events"].as_array().unwrap().iter().all(|e| e["kind"] != "prune")), "oneshot pruned twice");
}

#[test]
fn policy_constant() {
    // ~40 steps per epoch: pruned to 80% at step 10, held there afterwards.
    let (_t, _s, h) = run_policy("constant", &["sparsity=0.8", "frequency=10"], Expect { sparsity: (0.78, 0.82), min_accuracy: 0.8, events: &["prune"] });
    for l in &h {
        assert!((num(l, "sparsity") - 0.8).abs() < 0.02, "constant sparsity not held: {}", l["sparsity"]);
    }
}

#[test]
fn policy_gmp() {
    // Cubic schedule from 0 to 90% over steps 0..60 (epoch 1 and half of epoch 2), every 5 steps.
    let (_t, s, h) = run_policy("gmp", &["final_sparsity=0.9", "frequency=5", "end_step=60"], Expect { sparsity: (0.88, 0.92), min_accuracy: 0.8, events: &["prune"] });
    assert!(s["prune_events"].as_u64().unwrap() >= 5, "gmp prunes gradually: {} events", s["prune_events"]);
    assert!(num(&h[0], "sparsity") > 0.5 && num(&h[0], "sparsity") < 0.9, "epoch 1 ends mid-schedule: {}", h[0]["sparsity"]);
}

#[test]
fn policy_structure_plus_performance() {
    // Composite: `k` goes to both members (structure: tau' = k * mean norm; performance:
    // tau0 = k * mean|w|). With k=1 the first prune takes 77% and val accuracy after one
    // recovery epoch falls 0.012 > the default tolerance 0.01: the rollback restores everything
    // and the run ends dense. k=0.9 and a 0.03 tolerance keep the test about composition.
    let (t, _s, _h) = run_policy("structure+performance", &["k=0.9", "end_epoch=2", "--rollback-tolerance=0.03"], Expect { sparsity: (0.3, 0.99), min_accuracy: 0.8, events: &["structure", "prune", "threshold"] });
    let dir = t.path().join("run");
    assert!(dead_rows(&dir, "fc1.weight") + dead_rows(&dir, "fc2.weight") > 0, "the structure member removed no neuron");
}

/// The last epoch end prunes nothing new (no training or validation would follow to check it)
/// but still judges pending pruning, so the reported val accuracy describes the saved model.
/// (Before this was fixed, 5000 images x 3 epochs gave val 0.939 / test 0.82 for `performance`.)
#[test]
fn last_epoch_prune_is_validated() {
    for policy in ["performance", "distribution"] {
        let tmp = tempfile::tempdir().unwrap();
        let s = train(&tmp.path().join("run"), 3, &["--policy", policy, "--no-compact"]);
        let (val, test) = (num(&s, "val_accuracy"), num(&s, "test_accuracy"));
        assert!(test >= val - 0.05, "{policy}: test accuracy {test} far below the reported val accuracy {val}");
    }
}

/// `oneshot -P at_epoch=0` prunes the initial weights, before training: the trainer has a
/// pruning point at epoch 0, so its masks differ from `at_epoch=1`.
#[test]
fn oneshot_at_epoch_0_prunes_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    train(&a, 1, &["--policy", "oneshot", "-P", "sparsity=0.9", "-P", "at_epoch=0", "--no-compact"]);
    train(&b, 1, &["--policy", "oneshot", "-P", "sparsity=0.9", "-P", "at_epoch=1", "--no-compact"]);
    let (ma, mb) = (read_safetensors(&a.join("masks.safetensors")), read_safetensors(&b.join("masks.safetensors")));
    assert!(
        ma.tensors.iter().zip(&mb.tensors).any(|(x, y)| x.1.bytes != y.1.bytes),
        "at_epoch=0 produced the same masks as at_epoch=1: it did not prune the initial weights"
    );
    // Pruned before training, epoch 1 trains the sparse network: its validation already sees
    // the 90% sparsity.
    let h = read_history(&a);
    assert!(h[0]["events"].as_array().unwrap().iter().any(|e| e["kind"] == "prune"));
}
