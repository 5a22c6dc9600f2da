//! The Transformer encoder end to end on real SMS Spam Collection messages (the shared copy,
//! `../shared/datasets/sms-spam-collection/`): `dtprune train` learns it while the structure
//! policy removes whole units (masks over every slice of a unit) and the controller prunes
//! weights; `dtprune eval` gives the run's figure again, `report` renders it, `compact` cuts the
//! removed units out (checked by numpy and onnxruntime, `transformer_forward.py`) and `bench`
//! times it. The test skips with a printed reason when the copy is absent.

mod common;

use common::{check_masks_enforced, num, read_history, read_json, read_safetensors, repo_root, run_fail, run_ok};

/// A small encoder (1 block, width 32, 4 heads of 8, 64 neurons), 32 tokens, a 1,000-piece
/// vocabulary, 1,000 training messages, 2 epochs: a few seconds.
const SMALL: &[&str] = &[
    "--model", "transformer", "-M", "d_model=32", "-M", "heads=4", "-M", "head_dim=8", "-M", "ffn=64", "-M", "layers=1", "--dataset", "sms-spam", "-D", "max_len=32", "-D",
    "vocab_size=1000", "--train-limit", "1000", "--val-size", "300", "--test-limit", "500", "--epochs", "2", "--lr", "0.003", "--batch-size", "32", "--quiet",
];

/// Units of `axis` of a `[rows, cols]` mask (row-major) whose every entry is 0.
fn dead_lines(mask: &[f32], rows: usize, cols: usize, along_rows: bool) -> Vec<usize> {
    let n = if along_rows { rows } else { cols };
    (0..n).filter(|&u| if along_rows { (0..cols).all(|c| mask[u * cols + c] == 0.0) } else { (0..rows).all(|r| mask[r * cols + u] == 0.0) }).collect()
}

#[test]
fn transformer_learns_sms_spam_while_units_are_removed() {
    let sms = repo_root().join("../shared/datasets/sms-spam-collection");
    if !sms.is_dir() {
        println!("skipped: {} is absent (the shared data sets)", sms.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("t");
    let (data, out) = (sms.to_str().unwrap(), run.to_str().unwrap());
    let mut args = vec!["train"];
    args.extend_from_slice(SMALL);
    args.extend_from_slice(&["--data-dir", data, "--policy", "structure+controller", "-P", "target_sparsity=0.5", "--out", out]);
    run_ok(&args);
    let s = read_json(&run.join("summary.json"));
    // 86.6% of the messages are ham: more than that is learnt.
    assert!(num(&s, "test_accuracy") > 0.9, "{s}");
    let h = read_history(&run);
    assert_eq!(h.len(), 2);
    assert!(num(&h[1], "train_loss") < num(&h[0], "train_loss"), "training loss did not fall: {h:?}");
    assert!(num(&s, "sparsity") > 0.3, "{s}");
    check_masks_enforced(&run);

    // Whole units went: a feed-forward neuron removed is its ffn_in row and its ffn_out column
    // at once (weight pruning alone does not empty both).
    let masks = read_safetensors(&run.join("masks.safetensors"));
    let ffn_in = &masks.tensors["blocks.0.ffn_in.weight"];
    let ffn_out = &masks.tensors["blocks.0.ffn_out.weight"];
    assert_eq!((ffn_in.shape.clone(), ffn_out.shape.clone()), (vec![64, 32], vec![32, 64]));
    let rows = dead_lines(&ffn_in.f32s(), 64, 32, true);
    let cols = dead_lines(&ffn_out.f32s(), 32, 64, false);
    let both = rows.iter().filter(|u| cols.contains(u)).count();
    assert!(both >= 1, "no feed-forward neuron removed whole: rows {rows:?}, columns {cols:?}");
    // Its bias follows it (a follower of the group).
    let bias = masks.tensors["blocks.0.ffn_in.bias"].f32s();
    assert!(rows.iter().filter(|u| cols.contains(u)).all(|&u| bias[u] == 0.0));
    let graph = read_json(&run.join("graph.json"));
    assert_eq!(graph["nodes"][0]["op"], "embedding");

    let e = run_ok(&["eval", "--run", out, "--json"]);
    let e: serde_json::Value = serde_json::from_str(&e).unwrap();
    assert_eq!(num(&e, "test_accuracy"), num(&s, "test_accuracy"), "eval gives the run's own figure");
    let html = dir.path().join("report.html");
    run_ok(&["report", out, "-o", html.to_str().unwrap()]);
    assert!(html.is_file());

    // Compaction: every unit the policy removed is cut out; the compact model gives the masked
    // model's predictions on the whole test split, and outside tools agree with both.
    let c = run_ok(&["compact", "--run", out, "--reference", "40"]);
    // Every test text (the whole split: the check does not take the run's --test-limit).
    let agree = c.lines().find_map(|l| l.split_once("argmax of compact = masked on ")).and_then(|(_, r)| r.split(';').next()).and_then(|r| r.split_once('/'));
    assert!(agree.is_some_and(|(a, b)| a == b && a.parse::<usize>().unwrap_or(0) >= 500), "{c}");
    let removed: usize = c.lines().find(|l| l.starts_with("units:")).and_then(|l| l.rsplit_once('(')).and_then(|(_, r)| r.split(' ').next()).and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(removed >= both, "the {both} whole neurons of the masks are cut out: {c}");
    let doc = read_json(&run.join("compact.json"));
    assert_eq!(doc["format"], "dtprune-compact-transformer");
    assert_eq!(doc["spec"]["norm_width"], 32, "the norms keep the original width");
    check_outside(&run);
    let b = run_ok(&["bench", "--run", out, "--batch", "1", "--batch", "4"]);
    assert!(b.contains("argmax agree: true"), "{b}");

    // A damaged compact model is named, and nothing is written from it.
    let json = std::fs::read_to_string(run.join("compact.json")).unwrap();
    std::fs::write(run.join("compact.json"), json.replacen("\"csr\"", "\"sparse\"", 1).replacen("\"dense\"", "\"sparse\"", 1)).unwrap();
    let x = run.join("x.onnx");
    let e = run_fail(&["export", "--run", out, "--compact", "-o", x.to_str().unwrap()]);
    assert!(e.contains("compact.json") && e.contains("storage `sparse`") && e.contains("is neither dense nor csr"), "{e}");
    assert!(!x.exists());
    std::fs::write(run.join("compact.json"), &json).unwrap();
    common::truncated_compact_is_refused(&run);
}

/// Exports both ONNX models and runs `transformer_forward.py` (numpy on the compact file,
/// onnxruntime on the ONNX files) against the reference logits.
fn check_outside(run: &std::path::Path) {
    let out = run.to_str().unwrap();
    run_ok(&["export", "--run", out, "--format", "onnx"]);
    run_ok(&["export", "--run", out, "--format", "onnx", "--compact"]);
    let Some(py) = common::python_with_numpy("transformer_forward.py") else { return };
    let script = repo_root().join("crates/dtprune-compact/tests/transformer_forward.py");
    let o = std::process::Command::new(&py).arg(&script).arg(run).output().expect("run python");
    let (so, se) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "transformer_forward.py failed:\n{so}\n{se}");
    assert!(so.contains("numpy") && so.contains("argmax agree: True"), "{so}");
    if std::env::var_os("CI").is_some() {
        // .ci/run installs onnxruntime: both graphs must have run.
        assert!(so.contains("model.onnx: 40 texts") && so.contains("compact.onnx: 40 texts"), "{so}");
    }
    println!("{}", so.trim());
}

#[test]
fn transformer_parameters_and_input_kind_are_checked() {
    let sms = repo_root().join("../shared/datasets/sms-spam-collection");
    if !sms.is_dir() {
        println!("skipped: {} is absent (the shared data sets)", sms.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let out = out.to_str().unwrap();
    let e = run_fail(&["train", "--model", "transformer", "-M", "heads=0", "--dataset", "sms-spam", "--data-dir", sms.to_str().unwrap(), "--out", out]);
    assert!(e.contains("[model] `transformer`: parameter `heads` = 0 is out of range"), "{e}");
    let e = run_fail(&["train", "--model", "transformer", "-M", "width=3", "--dataset", "sms-spam", "--data-dir", sms.to_str().unwrap(), "--out", out]);
    assert!(e.contains("unknown parameter `width` (valid: d_model, heads, head_dim, ffn, layers)"), "{e}");
    let e = run_fail(&["train", "--model", "transformer", "--out", out]);
    assert!(e.contains("model `transformer` takes text input but data set `mnist` holds image data"), "{e}");
    assert!(!std::path::Path::new(out).exists(), "a failed start leaves no run folder");
}
