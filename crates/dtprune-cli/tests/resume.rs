//! Never lose a run: a run killed with SIGKILL at a test-hook pause point (mid-epoch, inside
//! the epoch-end prune, halfway through a checkpoint write) and continued with
//! `dtprune train --resume DIR` ends with the same summary numbers (timings aside), the same
//! history and byte-identical `model.safetensors` and `masks.safetensors` as a run that was
//! never interrupted. Also: one writer per run folder, between real processes.

mod common;

use common::{dtprune, read_history, read_json, show};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};

/// 2000 training images: 16 steps of 128 per epoch.
fn args(dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = ["train", "--model", "lenet300"].iter().map(|s| s.to_string()).collect();
    a.extend(["--train-limit", "2000", "--val-size", "1000", "--test-limit", "500", "--epochs", "3", "--quiet", "--no-compact", "--out", dir.to_str().unwrap()].iter().map(|s| s.to_string()));
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn run(args: &[String]) -> std::process::Output {
    let out = dtprune().args(args).output().unwrap();
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    assert!(out.status.success(), "expected success:\n{}", show(&refs, &out));
    out
}

/// Starts `dtprune ARGS` paused at the first of `points` (it is then alive and holds the run
/// folder); the rest of its stderr stays readable in `child.stderr`.
fn start_paused(args: &[String], points: &str) -> Child {
    let first = points.split(',').next().unwrap();
    let mut child = dtprune().args(args).env("DTPRUNE_TEST_PAUSE_AT", points).stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    let mut seen = String::new();
    let mut stderr = child.stderr.take().unwrap();
    // Byte by byte up to the marker line, so nothing after it is consumed.
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while std::io::Read::read(&mut stderr, &mut byte).unwrap() == 1 {
        if byte[0] != b'\n' {
            line.push(byte[0]);
            continue;
        }
        let text = String::from_utf8_lossy(&line).into_owned();
        if text.contains(&format!("dtprune-test-hook: paused at {first}")) {
            child.stderr = Some(stderr);
            return child;
        }
        seen.push_str(&text);
        seen.push('\n');
        line.clear();
    }
    panic!("dtprune exited without reaching {first}: {:?}\n{seen}", child.wait());
}

/// SIGKILL at `point`.
fn kill_at(args: &[String], point: &str) {
    let mut child = start_paused(args, point);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Everything of a finished run that must not depend on interruptions: summary numbers and
/// history without timings, and the bytes of the weights and masks.
fn outcome(dir: &Path) -> (Value, Vec<Value>, Vec<u8>, Vec<u8>) {
    let mut summary = read_json(&dir.join("summary.json"));
    for key in ["train_seconds", "seconds_per_epoch", "prune_overhead"] {
        summary.as_object_mut().unwrap().remove(key).unwrap_or_else(|| panic!("summary lacks {key}"));
    }
    let history = read_history(dir)
        .into_iter()
        .map(|mut h| {
            for key in ["seconds", "eval_seconds", "prune_seconds"] {
                h.as_object_mut().unwrap().remove(key);
            }
            h
        })
        .collect();
    let bytes = |f: &str| std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(f).display()));
    (summary, history, bytes("model.safetensors"), bytes("masks.safetensors"))
}

fn no_temporaries(dir: &Path) {
    let left: Vec<String> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.ends_with(".tmp")).collect();
    assert!(left.is_empty(), "temporary files left in {}: {left:?}", dir.display());
}

fn kill_and_resume_equals_uninterrupted(extra: &[&str], points: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let reference = tmp.path().join("reference");
    run(&args(&reference, extra));
    let expected = outcome(&reference);
    let h = &expected.1;
    assert_eq!(h.len(), 3);
    assert!(read_json(&reference.join("summary.json"))["sparsity"].as_f64().unwrap() > 0.0, "the policy pruned (the test covers masks)");
    for point in points {
        let dir = tmp.path().join(point.replace(':', "-"));
        kill_at(&args(&dir, extra), point);
        let resumed = run(&["train".to_string(), "--resume".into(), dir.to_str().unwrap().into(), "--quiet".into(), "--no-compact".into()]);
        let stderr = String::from_utf8_lossy(&resumed.stderr);
        assert!(stderr.contains("took over a stale lock left by pid"), "the killed writer's lock is taken over with a message:\n{stderr}");
        let got = outcome(&dir);
        assert_eq!(got.0, expected.0, "summary after a kill at {point}");
        assert_eq!(got.1, expected.1, "history after a kill at {point}");
        assert!(got.2 == expected.2, "model.safetensors differs after a kill at {point}");
        assert!(got.3 == expected.3, "masks.safetensors differs after a kill at {point}");
        no_temporaries(&dir);
    }
}

/// The default policy (performance, with rollback): kills in epoch 1 (no checkpoint yet), in
/// epoch 2, inside epoch 2's prune, and halfway through writing epoch 2's checkpoint.
#[test]
fn killed_anywhere_and_resumed_is_bit_identical() {
    kill_and_resume_equals_uninterrupted(&[], &["step:5", "step:20", "prune:2", "checkpoint:2"]);
}

/// Regrowth keeps dense shadow weights in the optimizer: they must survive the checkpoint too.
#[test]
fn killed_and_resumed_with_regrowth_is_bit_identical() {
    kill_and_resume_equals_uninterrupted(&["--policy", "distribution", "-P", "regrowth=true"], &["step:20", "checkpoint:2"]);
}

/// `--checkpoint-every 6` (16 steps an epoch): killed after the in-epoch checkpoints of steps
/// 6 and 24 and halfway through writing the one of step 18, the run resumes from inside the
/// epoch (not from its start) and still ends bit-identical.
#[test]
fn killed_after_a_mid_epoch_checkpoint_resumes_there_bit_identical() {
    let every = ["--checkpoint-every", "6"];
    let points = ["step:10", "checkpoint:step:18", "step:27"];
    kill_and_resume_equals_uninterrupted(&every, &points);
    // What the kill left: a checkpoint from inside the epoch, at the step before the kill.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    kill_at(&args(&dir, &every), "step:27");
    let bytes = std::fs::read(dir.join("checkpoint.safetensors")).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let state: Value = serde_json::from_str(header["__metadata__"]["dtprune_checkpoint"].as_str().unwrap()).unwrap();
    assert_eq!(state["state"]["step"], 24, "the last checkpoint before step 27");
    assert_eq!(state["state"]["in_epoch"]["batches_done"], 8, "step 24 is the 8th batch of epoch 2");
}

#[test]
fn a_second_writer_is_refused_while_the_first_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut first = start_paused(&args(&dir, &[]), "step:3");
    let pid = first.id();
    for second in [args(&dir, &["--overwrite"]), vec!["train".into(), "--resume".into(), dir.to_str().unwrap().into()]] {
        let out = dtprune().args(&second).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(&format!("another dtprune process (pid {pid}) is writing this run folder")), "{stderr}");
    }
    first.kill().unwrap();
    first.wait().unwrap();
}

#[test]
fn a_fresh_run_into_an_unfinished_one_says_how_to_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    kill_at(&args(&dir, &[]), "step:20");
    assert!(dir.join("checkpoint.safetensors").is_file(), "epoch 1 was checkpointed");
    let out = dtprune().args(args(&dir, &[])).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("holds an unfinished run") && stderr.contains("--resume"), "{stderr}");
}

/// `--test-limit` (like every flag that would change the run) is refused with --resume, with
/// the reason, and leaves the run as it was: the resume then ends on the run's own test split.
#[test]
fn resume_with_a_test_limit_is_refused_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    kill_at(&args(&dir, &[]), "step:20");
    let files = ["config.toml", "checkpoint.safetensors", "history.jsonl"];
    let before: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(dir.join(f)).unwrap()).collect();
    let d = dir.to_str().unwrap();
    let out = dtprune().args(["train", "--resume", d, "--test-limit", "100", "--quiet"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "a usage error, as clap's:\n{stderr}");
    assert!(stderr.contains("--test-limit would change the run") && stderr.contains("bit-identical") && stderr.contains("--config DIR/config.toml"), "{stderr}");
    let after: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(dir.join(f)).unwrap()).collect();
    assert!(before == after, "a refused resume changed the run folder");
    assert!(!dir.join("summary.json").exists());
    resume(&dir);
    let e: Value = serde_json::from_str(&String::from_utf8_lossy(&run(&["eval".into(), "--run".into(), d.into(), "--json".into()]).stdout)).unwrap();
    assert_eq!(e["test_images"], 500, "the run's own test_limit");
    assert_eq!(e["test_accuracy"], read_json(&dir.join("summary.json"))["test_accuracy"]);
}

fn signal(child: &Child, name: &str) {
    let status = std::process::Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status().unwrap();
    assert!(status.success(), "kill -{name}");
}

fn resume(dir: &Path) {
    run(&["train".to_string(), "--resume".into(), dir.to_str().unwrap().into(), "--quiet".into(), "--no-compact".into()]);
}

/// Ctrl-C finishes the step, writes a checkpoint from inside the epoch and exits 1 saying how
/// to resume; SIGTERM does the same. A second Ctrl-C while that checkpoint is written exits at
/// once (130), leaving the previous checkpoint. Every case resumes to the uninterrupted result.
#[test]
fn ctrl_c_and_sigterm_checkpoint_and_a_second_ctrl_c_exits_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let reference = tmp.path().join("reference");
    run(&args(&reference, &[]));
    let expected = outcome(&reference);
    for sig in ["INT", "TERM"] {
        let dir = tmp.path().join(format!("sig{sig}"));
        let mut child = start_paused(&args(&dir, &[]), "step:20");
        signal(&child, sig);
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(1), "SIG{sig}: {stderr}");
        assert!(stderr.contains("interrupted after step 20 (epoch 2)") && stderr.contains(&format!("dtprune train --resume {}", dir.display())), "{stderr}");
        assert!(!dir.join("model.safetensors").exists(), "an interrupted run writes no final model");
        resume(&dir);
        assert!(outcome(&dir) == expected, "SIG{sig} at step 20 and resumed differs from the uninterrupted run");
        no_temporaries(&dir);
    }
    let dir = tmp.path().join("twice");
    let mut child = start_paused(&args(&dir, &[]), "step:20,checkpoint:stop");
    signal(&child, "INT");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    assert!(lines.any(|l| l.unwrap().contains("paused at checkpoint:stop")), "the stop checkpoint is being written");
    signal(&child, "INT");
    assert_eq!(child.wait().unwrap().code(), Some(130), "a second Ctrl-C exits at once");
    resume(&dir);
    assert!(outcome(&dir) == expected, "two Ctrl-C and resumed differs from the uninterrupted run");
    no_temporaries(&dir);
}
