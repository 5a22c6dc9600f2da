//! `dtprune export --format onnx` on real trained runs (LeNet-300-100 and LeNet-5, one short
//! epoch on a small MNIST subset, pruned): `model.onnx` and `compact.onnx` run in onnxruntime
//! (`crates/dtprune-compact/tests/onnxruntime_forward.py`) and give dtprune's logits for the
//! first 100 test images (`reference.safetensors` from `compact --reference 100`); `dtprune
//! bench` then shows onnxruntime beside dtprune. Bad `export` input is a clean error that
//! writes nothing.
//!
//! Interpreter: `$DTPRUNE_PYTHON` (default `python3`). Without onnxruntime the onnxruntime part
//! fails when `CI` is set (`.ci/run` installs it) and is skipped with a printed reason otherwise.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

fn python_with_onnxruntime(test: &str) -> Option<String> {
    let py = std::env::var("DTPRUNE_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py).args(["-c", "import onnxruntime, safetensors, numpy"]).output().map(|o| o.status.success()).unwrap_or(false);
    if ok {
        return Some(py);
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but `{py} -c \"import onnxruntime, safetensors, numpy\"` fails: install them (pip install onnxruntime numpy safetensors) or set DTPRUNE_PYTHON");
    }
    eprintln!("SKIPPED {test}: `{py}` cannot import onnxruntime, safetensors and numpy (set DTPRUNE_PYTHON to an interpreter that has them)");
    None
}

/// Exports both models, checks the files' first bytes, and runs each in onnxruntime against the
/// reference logits dtprune wrote.
fn export_and_check(dir: &Path, test: &str) {
    let d = dir.to_str().unwrap();
    run_ok(&["compact", "--run", d, "--reference", "100"]);
    let out = run_ok(&["export", "--run", d, "--format", "onnx"]);
    assert!(out.contains("model.onnx") && out.contains("dense model"), "{out}");
    let out = run_ok(&["export", "--run", d, "--format", "onnx", "--compact", "-o", dir.join("c.onnx").to_str().unwrap()]);
    assert!(out.contains("c.onnx") && out.contains("compact model"), "{out}");
    let (dense, compact) = (std::fs::read(dir.join("model.onnx")).unwrap(), std::fs::read(dir.join("c.onnx")).unwrap());
    // ModelProto starts with ir_version (field 1, varint) = 8.
    assert_eq!(&dense[..2], &[0x08, 0x08]);
    // CSR layers are dense initialisers in ONNX: compact.onnx is smaller only by the removed
    // units, never larger than a few bytes of metadata.
    assert!(compact.len() <= dense.len() + 64, "compact.onnx {} B vs model.onnx {} B", compact.len(), dense.len());
    let Some(py) = python_with_onnxruntime(test) else { return };
    let script = repo_root().join("crates/dtprune-compact/tests/onnxruntime_forward.py");
    for (file, logits) in [("model.onnx", "dense_logits"), ("c.onnx", "logits")] {
        let out = Command::new(&py).arg(&script).arg(dir.join(file)).arg(dir.join("reference.safetensors")).args(["--logits", logits]).output().expect("run python");
        let (so, se) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{file}: onnxruntime check failed\nstdout: {so}\nstderr: {se}");
        assert!(so.contains("argmax agree: True"), "{so}");
        eprintln!("{}", so.trim());
    }
    // The bench shows onnxruntime dense and compact beside dtprune's two models.
    let bench = dtprune().args(["bench", "--run", d, "--batch", "1,32"]).env("DTPRUNE_PYTHON", &py).output().unwrap();
    let text = String::from_utf8_lossy(&bench.stdout);
    assert!(bench.status.success(), "{}", show(&["bench", "--run", d], &bench));
    assert!(text.contains("onnxruntime 1.") && text.contains("ort dense") && text.contains("speedup vs ort"), "bench output:\n{text}");
    assert_eq!(text.lines().filter(|l| l.trim_start().starts_with("32 |")).count(), 2, "one timing and one range line at batch 32:\n{text}");
}

#[test]
fn lenet300_exports_run_in_onnxruntime() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    train(&dir, 1, &["--policy", "gmp", "-P", "final_sparsity=0.9", "-P", "frequency=5", "-P", "end_step=30", "--no-compact"]);
    export_and_check(&dir, "lenet300_exports_run_in_onnxruntime");
    // Without onnxruntime, bench says why the baseline is missing and still times dtprune.
    let d = dir.to_str().unwrap();
    let out = dtprune().args(["bench", "--run", d, "--batch", "1"]).env("DTPRUNE_PYTHON", "/nonexistent/python").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("onnxruntime baseline: skipped") && text.contains("speedup"), "{text}");
}

#[test]
fn lenet5_exports_run_in_onnxruntime() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let d = dir.to_str().unwrap();
    run_ok(&[
        "train", "--model", "lenet5", "--train-limit", "2000", "--val-size", "500", "--test-limit", "500", "--epochs", "1",
        "--policy", "gmp", "-P", "final_sparsity=0.9", "-P", "frequency=2", "-P", "end_step=10", "--quiet", "--no-compact", "--out", d,
    ]);
    export_and_check(&dir, "lenet5_exports_run_in_onnxruntime");
}

#[test]
fn export_bad_input_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    let err = run_fail(&["export", "--run", d, "--format", "onnx"]);
    assert!(err.contains("has no model") && err.contains("model.safetensors"), "{err}");
    let err = run_fail(&["export", "--run", d, "--format", "tflite"]);
    assert!(err.contains("--format `tflite` is not supported; valid: onnx"), "{err}");
    // A run whose output directory does not exist: nothing is written, the path is named.
    let dir = tmp.path().join("run");
    train(&dir, 1, &["--no-compact"]);
    let missing = tmp.path().join("nowhere/m.onnx");
    let err = run_fail(&["export", "--run", dir.to_str().unwrap(), "-o", missing.to_str().unwrap()]);
    assert!(err.contains("nowhere") && err.contains("does not exist"), "{err}");
    assert!(!missing.exists() && !dir.join("model.onnx").exists());
}
