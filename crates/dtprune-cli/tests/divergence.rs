//! Divergence: a finite loss explosion (`--lr 5` with Adam) stops the run with the likely cause
//! before anything is pruned; a NaN loss returns to the last good state with a lower learning
//! rate and the run goes on (or fails clearly if that does not help).
//! In every failing case the files already written stay, and no model or summary appears.

mod common;

use common::*;
use std::path::Path;

fn train_args<'a>(dir: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["train", "--model", "lenet300", "--train-limit", "2000", "--val-size", "1000", "--test-limit", "500", "--quiet", "--no-compact"];
    a.extend_from_slice(&["--out", dir.to_str().unwrap()]);
    a.extend_from_slice(extra);
    a
}

fn nothing_final_but_the_start_kept(dir: &Path) {
    for f in ["config.toml", "graph.json"] {
        assert!(dir.join(f).is_file(), "{f} was lost");
    }
    for f in ["model.safetensors", "masks.safetensors", "summary.json"] {
        assert!(!dir.join(f).exists(), "a failed run wrote {f}");
    }
}

#[test]
fn a_finite_loss_explosion_is_named_with_its_likely_cause() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let err = run_fail(&train_args(&dir, &["--epochs", "2", "--lr", "5"]));
    assert!(err.contains("training exploded at epoch 1"), "{err}");
    assert!(err.contains("chance level") && err.contains("learning rate too high for adam (lr 5)") && err.contains("try 0.001"), "{err}");
    nothing_final_but_the_start_kept(&dir);
}

#[test]
fn a_nan_loss_goes_back_to_the_last_good_state_with_a_lower_learning_rate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let args = train_args(&dir, &["--epochs", "2", "--optimizer", "sgd", "--lr", "3"]);
    let out = dtprune().args(&args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}", show(&args, &out));
    assert!(stderr.contains("back to the state after epoch 0 with the learning rate lowered to"), "{stderr}");
    let history = read_history(&dir);
    assert_eq!(history.len(), 2);
    assert!(num(&history[0], "lr") < 3.0, "epoch 1 ran with the lowered rate: {}", history[0]["lr"]);
    assert!(num(&read_json(&dir.join("summary.json")), "test_accuracy") > 0.5, "the run recovered and learned");
}

/// SGD at lr 10 gives a NaN at the first step; the return to the start at lr 1 then explodes
/// finitely, which stops the run (a second failure mode after a recovery attempt).
#[test]
fn a_return_that_does_not_help_ends_in_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let args = train_args(&dir, &["--epochs", "1", "--optimizer", "sgd", "--lr", "10"]);
    let out = dtprune().args(&args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", show(&args, &out));
    assert!(stderr.contains(": the loss is NaN; back to the state after epoch 0 with the learning rate lowered to 1 (return 1 of at most 3)"), "{stderr}");
    assert!(stderr.contains("training exploded at epoch 1") && stderr.contains("too high for sgd (lr 1)"), "{stderr}");
    nothing_final_but_the_start_kept(&dir);
}
