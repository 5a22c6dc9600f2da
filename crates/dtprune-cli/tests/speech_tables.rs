//! Speech and tables end to end: `lstm` and `gru` on real FSDD recordings and `tabular-mlp` on
//! real UCI Adult rows train and prune through `dtprune train` (masks enforced, history and
//! summary written), re-evaluate with `dtprune eval` and report. The recurrent runs compact:
//! dead hidden units cut out, the compact model's predictions checked against the masked one
//! on the whole test split, its PyTorch-named file run by numpy and its ONNX export by
//! onnxruntime (`recurrent_forward.py`), and `dtprune bench` times it; `tabular-mlp` compacts
//! the same way (dead embedding dimensions and neurons, `tabular_forward.py`). Plus the errors of mixing kinds and of bad
//! data-set options. The data are the shared copies (`../shared/datasets/`); a test skips
//! with a printed reason when its copy is absent.

mod common;

use common::{check_masks_enforced, num, read_history, read_json, repo_root, run_fail, run_ok};
use std::path::PathBuf;

fn shared(dir: &str) -> Option<PathBuf> {
    let p = repo_root().join("../shared/datasets").join(dir);
    if p.is_dir() {
        Some(p)
    } else {
        println!("skipped: {} is absent (the shared data sets)", p.display());
        None
    }
}

/// 1.0 s of 20 ms frames (50 steps per utterance) and 2,000 of the 2,400 training recordings
/// keep a recurrent epoch at a few seconds; all 300 test recordings.
const SPEECH: &[&str] = &["-D", "hop=160", "-D", "frames=50", "--val-size", "300", "--train-limit", "2000", "--epochs", "3", "--lr", "0.01", "--quiet"];

#[test]
fn lstm_trains_prunes_evaluates_and_compacts() {
    let Some(fsdd) = shared("fsdd") else { return };
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("lstm");
    let (data, out) = (fsdd.to_str().unwrap(), run.to_str().unwrap());
    let mut args = vec!["train", "--model", "lstm", "-M", "hidden=32", "--dataset", "fsdd", "--data-dir", data];
    args.extend_from_slice(SPEECH);
    args.extend_from_slice(&["--policy", "gmp", "-P", "final_sparsity=0.5", "-P", "frequency=10", "--out", out]);
    run_ok(&args);
    let s = read_json(&run.join("summary.json"));
    // 10 digits: chance is 0.1 (3 short epochs; the full recipe is in BENCHMARKS.md).
    assert!(num(&s, "test_accuracy") > 0.45, "{s}");
    assert!((num(&s, "sparsity") - 0.5).abs() < 0.02, "{s}");
    assert_eq!(read_history(&run).len(), 3);
    assert!((check_masks_enforced(&run) - 0.5).abs() < 0.02);
    // Every gate's input and hidden transform is pruned (8 per LSTM layer) and the classifier;
    // the 8 gate biases are masked too, as followers of the hidden-unit groups (a removed unit's
    // bias entries are 0 with it), never pruned by magnitude.
    let masks = common::read_safetensors(&run.join("masks.safetensors"));
    let names: Vec<&String> = masks.tensors.keys().collect();
    assert_eq!(names.iter().filter(|n| n.ends_with(".weight")).count(), 9, "{names:?}");
    assert_eq!(names.iter().filter(|n| n.ends_with(".bias")).count(), 8, "{names:?}");
    assert_eq!(masks.tensors.len(), 17, "{names:?}");
    assert_eq!(masks.tensors["rnn.0.input_gate.input_transform.weight"].shape, vec![32, 40]);
    let graph = read_json(&run.join("graph.json"));
    assert_eq!(graph["nodes"][0]["op"], "lstm");

    let e = run_ok(&["eval", "--run", out, "--json"]);
    let e: serde_json::Value = serde_json::from_str(&e).unwrap();
    assert_eq!(num(&e, "test_accuracy"), num(&s, "test_accuracy"), "eval gives the run's own figure");
    let html = dir.path().join("report.html");
    run_ok(&["report", out, "-o", html.to_str().unwrap()]);
    assert!(html.is_file());

    // Training compacted the run already; again with a reference set for the outside checks.
    assert!(run.join("compact.json").is_file() && run.join("compact.safetensors").is_file());
    let c = run_ok(&["compact", "--run", out, "--reference", "40"]);
    assert!(c.contains("argmax of compact = masked on 300/300"), "{c}");
    assert!(c.contains("rnn.0.hidden_transform") && c.contains("PyTorch nn.LSTM names"), "{c}");
    let doc = read_json(&run.join("compact.json"));
    assert_eq!(doc["format"], "dtprune-compact-recurrent");
    assert_eq!(doc["gate_order"], serde_json::json!(["i", "f", "g", "o"]));
    check_outside(&run, "recurrent_forward.py", "sequences");
    bad_recurrent_files_are_named(&run);
}

/// Broken files of a compacted recurrent run are errors that name the file and what is wrong,
/// and nothing is written in their place.
fn bad_recurrent_files_are_named(run: &std::path::Path) {
    let e = run_fail(&["compact", "--run", run.to_str().unwrap(), "--quantize", "int8"]);
    assert!(e.contains("--quantize int8 does not take recurrent (lstm, gru) models yet"), "{e}");
    let copy = |name: &str| {
        let d = run.parent().unwrap().join(name);
        std::fs::create_dir_all(&d).unwrap();
        for f in ["config.toml", "graph.json", "model.safetensors", "masks.safetensors", "compact.json", "compact.safetensors"] {
            std::fs::copy(run.join(f), d.join(f)).unwrap();
        }
        d
    };
    // Its data set gone: the compaction is written, the test-split check says why it did not
    // run, naming the cause once.
    let d = copy("no-data");
    let cfg = std::fs::read_to_string(d.join("config.toml")).unwrap();
    let cfg: String = cfg.lines().map(|l| if l.starts_with("data_dir") { "data_dir = \"no/such/fsdd\"".to_string() } else { l.to_string() }).collect::<Vec<_>>().join("\n");
    std::fs::write(d.join("config.toml"), cfg).unwrap();
    let c = run_ok(&["compact", "--run", d.to_str().unwrap()]);
    assert!(c.contains("test split: not checked (") && c.contains("no/such/fsdd") && c.matches("os error 2").count() == 1, "{c}");
    // A graph whose layer is wider than its reader says, then one wider than the weights.
    let d = copy("wide-graph");
    let g = std::fs::read_to_string(d.join("graph.json")).unwrap().replace("\"hidden_size\": 32", "\"hidden_size\": 33");
    std::fs::write(d.join("graph.json"), &g).unwrap();
    let e = run_fail(&["compact", "--run", d.to_str().unwrap()]);
    assert!(e.contains("graph.json") && e.contains("`fc` (linear)") && e.contains("in_features 32 but the last layer has 33 units"), "{e}");
    std::fs::write(d.join("graph.json"), g.replace("\"in_features\": 32", "\"in_features\": 33")).unwrap();
    let e = run_fail(&["compact", "--run", d.to_str().unwrap()]);
    assert!(e.contains("model.safetensors") && e.contains("has shape [32, 40], expected [33, 40]"), "{e}");
    // A truncated compact file, then a storage name that is neither dense nor csr.
    let d = copy("cut-compact");
    let bytes = std::fs::read(d.join("compact.safetensors")).unwrap();
    std::fs::write(d.join("compact.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    let e = run_fail(&["bench", "--run", d.to_str().unwrap(), "--batch", "1"]);
    assert!(e.contains("compact.safetensors") && e.contains("truncated"), "{e}");
    let d = copy("bad-storage");
    let j = std::fs::read_to_string(d.join("compact.json")).unwrap().replacen("\"hidden_storage\": \"", "\"hidden_storage\": \"bogus", 1);
    std::fs::write(d.join("compact.json"), j).unwrap();
    let e = run_fail(&["export", "--run", d.to_str().unwrap(), "--format", "onnx", "--compact", "-o", d.join("x.onnx").to_str().unwrap()]);
    assert!(e.contains("compact.json") && e.contains("is neither dense nor csr"), "{e}");
    assert!(!d.join("x.onnx").exists());
}

/// Exports both ONNX models and runs `script` (`recurrent_forward.py` or `tabular_forward.py`:
/// numpy on the PyTorch-named file, onnxruntime on the ONNX files) against the 40 reference
/// `items` (sequences, rows) with their logits.
fn check_outside(run: &std::path::Path, script: &str, items: &str) {
    let out = run.to_str().unwrap();
    run_ok(&["export", "--run", out, "--format", "onnx"]);
    run_ok(&["export", "--run", out, "--format", "onnx", "--compact"]);
    let Some(py) = common::python_with_numpy(script) else { return };
    let path = repo_root().join("crates/dtprune-compact/tests").join(script);
    let o = std::process::Command::new(&py).arg(&path).arg(run).output().expect("run python");
    let (so, se) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{script} failed:\n{so}\n{se}");
    assert!(so.contains("numpy") && so.contains("argmax agree: True"), "{so}");
    if std::env::var_os("CI").is_some() {
        // .ci/run installs onnxruntime: both graphs must have run.
        assert!(so.contains(&format!("model.onnx: 40 {items}")) && so.contains(&format!("compact.onnx: 40 {items}")), "{so}");
    }
    println!("{}", so.trim());
}

#[test]
fn gru_learns_fsdd_with_dynamic_pruning() {
    let Some(fsdd) = shared("fsdd") else { return };
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("gru");
    let (data, out) = (fsdd.to_str().unwrap(), run.to_str().unwrap());
    // Two stacked layers: the compact form and the ONNX graph chain them.
    let mut args = vec!["train", "--model", "gru", "-M", "hidden=32", "-M", "layers=2", "--dataset", "fsdd", "--data-dir", data];
    args.extend_from_slice(SPEECH);
    args.extend_from_slice(&["--policy", "distribution", "--out", out]);
    run_ok(&args);
    let s = read_json(&run.join("summary.json"));
    assert!(num(&s, "test_accuracy") > 0.45, "{s}");
    assert!(num(&s, "sparsity") > 0.2, "{s}");
    check_masks_enforced(&run);
    let c = run_ok(&["compact", "--run", out, "--crossover", "0.9", "--reference", "40"]);
    assert!(c.contains("argmax of compact = masked on 300/300") && c.contains("rnn.1.input_transform"), "{c}");
    check_outside(&run, "recurrent_forward.py", "sequences");
    // The benchmark runs both models (no timing is asserted: the figures are BENCHMARKS.md's).
    let b = run_ok(&["bench", "--run", out, "--batch", "1", "--batch", "4"]);
    assert!(b.contains("argmax agree: true"), "{b}");
    assert!(b.lines().any(|l| l.trim_start().starts_with("1 |")), "{b}");
}

#[test]
fn tabular_mlp_learns_adult_and_prunes_its_embeddings() {
    let Some(adult) = shared("uci-adult") else { return };
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("adult");
    let (data, out) = (adult.to_str().unwrap(), run.to_str().unwrap());
    run_ok(&[
        "train", "--model", "tabular-mlp", "-M", "width=64", "--dataset", "adult", "--data-dir", data, "--epochs", "3", "--train-limit", "8000",
        "--val-size", "2000", "--test-limit", "4000", "--quiet", "--policy", "performance", "-P", "target_sparsity=0.8", "--out", out,
    ]);
    let s = read_json(&run.join("summary.json"));
    // 76% of the test rows earn <=50K: better than that is learnt.
    assert!(num(&s, "test_accuracy") > 0.8, "{s}");
    assert!(num(&s, "sparsity") > 0.3, "{s}");
    let layers = s["sparsity_per_layer"].as_object().unwrap();
    // 8 categorical columns, each its own table, plus two hidden layers and the classifier;
    // the two hidden biases are masked too, as followers of the neuron groups (0 here: no
    // neuron was removed by structure), never pruned by magnitude.
    assert_eq!(layers.len(), 13, "{layers:?}");
    assert_eq!(layers["hidden.0.bias"].as_f64(), Some(0.0), "{layers:?}");
    assert!(layers["embeddings.0.weight"].as_f64().unwrap() > 0.0, "{layers:?}");
    check_masks_enforced(&run);

    // Compaction: dead embedding dimensions and neurons cut out; the compact model gives the
    // masked model's predictions on the whole test split, and outside tools agree with both.
    let c = run_ok(&["compact", "--run", out, "--reference", "40"]);
    let agree = c.lines().find_map(|l| l.split_once("argmax of compact = masked on ")).and_then(|(_, r)| r.split(';').next()).and_then(|r| r.split_once('/'));
    assert!(agree.is_some_and(|(a, b)| a == b && a.parse::<usize>().unwrap_or(0) >= 4000), "{c}");
    let doc = read_json(&run.join("compact.json"));
    assert_eq!(doc["format"], "dtprune-compact-tabular");
    assert_eq!(doc["spec"]["tables"].as_array().map(Vec::len), Some(8), "{doc}");
    assert_eq!(doc["spec"]["numeric"], 6);
    let removed: u64 = doc["report"]["units"].as_array().unwrap().iter().map(|u| u["units_before"].as_u64().unwrap() - u["units_after"].as_u64().unwrap()).sum();
    assert!(removed > 0, "at 80% sparsity some dimension or neuron is dead: {c}");
    check_outside(&run, "tabular_forward.py", "rows");
    let b = run_ok(&["bench", "--run", out, "--batch", "1", "--batch", "64"]);
    assert!(b.contains("argmax agree: true"), "{b}");

    // A damaged compact model is named, and nothing is written from it.
    let json = std::fs::read_to_string(run.join("compact.json")).unwrap();
    let x = run.join("x.onnx");
    std::fs::write(run.join("compact.json"), json.replacen("\"numeric\": 6", "\"numeric\": 5", 1)).unwrap();
    let e = run_fail(&["export", "--run", out, "--compact", "-o", x.to_str().unwrap()]);
    assert!(e.contains("compact.safetensors") && e.contains("hidden.0.weight"), "{e}");
    assert!(!x.exists());
    std::fs::write(run.join("compact.json"), &json).unwrap();
    common::truncated_compact_is_refused(&run);
}

/// The structure policy on `tabular-mlp` removes whole embedding dimensions (a table's column
/// and the first layer's column that reads it, found past the tables before it) and whole
/// neurons (row, bias entry, and the next layer's column), as the masks record them.
#[test]
fn tabular_mlp_structure_policy_removes_embedding_dimensions_and_neurons() {
    let Some(adult) = shared("uci-adult") else { return };
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("adult-s");
    let (data, out) = (adult.to_str().unwrap(), run.to_str().unwrap());
    run_ok(&[
        "train", "--model", "tabular-mlp", "-M", "width=64", "--dataset", "adult", "--data-dir", data, "--epochs", "3", "--train-limit", "8000",
        "--val-size", "2000", "--test-limit", "4000", "--quiet", "--policy", "structure+performance", "-P", "target_sparsity=0.8", "-P", "structure.k=1.0",
        "--out", out,
    ]);
    let s = read_json(&run.join("summary.json"));
    assert!(num(&s, "test_accuracy") > 0.8, "{s}");
    let masks = common::read_safetensors(&run.join("masks.safetensors"));
    let m = |name: &str| (masks.tensors[name].shape.clone(), masks.tensors[name].f32s());
    let (h0_shape, h0) = m("hidden.0.weight");
    let column_zero = |v: &[f32], shape: &[usize], c: usize| (0..shape[0]).all(|r| v[r * shape[1] + c] == 0.0);
    let (mut offset, mut dims_removed) = (0, 0);
    for t in 0..8 {
        let (shape, e) = m(&format!("embeddings.{t}.weight"));
        for d in 0..shape[1] {
            if column_zero(&e, &shape, d) {
                dims_removed += 1;
                assert!(column_zero(&h0, &h0_shape, offset + d), "table {t} dim {d}: hidden.0 column {} still read", offset + d);
            }
        }
        offset += shape[1];
    }
    assert!(dims_removed > 0, "no embedding dimension removed");
    let (_, b0) = m("hidden.0.bias");
    let (h1_shape, h1) = m("hidden.1.weight");
    let neurons: Vec<usize> = (0..h0_shape[0]).filter(|&u| h0[u * h0_shape[1]..(u + 1) * h0_shape[1]].iter().all(|&k| k == 0.0) && b0[u] == 0.0).collect();
    assert!(!neurons.is_empty(), "no hidden.0 neuron removed");
    assert!(neurons.iter().all(|&u| column_zero(&h1, &h1_shape, u)), "a removed neuron's column of hidden.1 is still read");
    println!("{dims_removed} of 64 embedding dimensions and {} of 64 hidden.0 neurons removed", neurons.len());
}

#[test]
fn kinds_must_match_and_data_options_are_validated() {
    let Some(adult) = shared("uci-adult") else { return };
    let data = adult.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let out = out.to_str().unwrap();
    let e = run_fail(&["train", "--model", "lstm", "--dataset", "adult", "--data-dir", data, "--out", out]);
    assert!(e.contains("model `lstm` takes speech input but data set `adult` holds table data"), "{e}");
    let e = run_fail(&["train", "--model", "tabular-mlp", "--dataset", "adult", "--data-dir", data, "-D", "label=x", "--out", out]);
    assert!(e.contains("data set `adult`: unknown option `label` (valid: none)"), "{e}");
    let e = run_fail(&["train", "-D", "frames=50", "--out", out]);
    assert!(e.contains("data set `mnist`: unknown option `frames` (valid: none)"), "{e}");
    let e = run_fail(&["train", "--model", "lstm", "--dataset", "fsdd", "--out", out]);
    assert!(e.contains("dataset `fsdd` needs a data directory"), "{e}");
    assert!(!std::path::Path::new(out).exists(), "a failed start leaves no run folder");
}
