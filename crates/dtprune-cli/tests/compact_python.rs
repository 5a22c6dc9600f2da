//! Compaction of real pruned runs (LeNet-300-100 and one short LeNet-5 run): `dtprune compact`,
//! `bench`, the compact model's predictions against the trainer's, and the exported
//! `compact.safetensors` + `compact.json` run by plain numpy
//! (`crates/dtprune-compact/tests/numpy_forward.py`) reproducing dtprune's logits within 1e-4.
//!
//! The `reference.safetensors` the numpy script compares against is written by
//! `dtprune compact --reference 100`: the first 100 MNIST test images and the compact model's
//! logits for them.
//!
//! Interpreter: `$DTPRUNE_PYTHON` (default `python3`). Without numpy/safetensors the numpy part
//! fails when `CI` is set and is skipped with a notice otherwise.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// The first `n` MNIST test images (u8 pixels) and labels.
fn test_images(n: usize) -> (Vec<u8>, Vec<u8>) {
    let cfg = dtprune_train::ExperimentConfig { data_dir: Some(mnist_dir()), ..Default::default() };
    let s = dtprune_train::run::load_data(&cfg).expect("load MNIST").images().unwrap().clone();
    let t = s.test.first(n);
    (t.images().to_vec(), t.labels().to_vec())
}

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold(0, |b, (i, x)| if *x > v[b] { i } else { b })
}

/// Compact vs masked-dense logits on the first `n` test images, and the compact model's accuracy
/// against the trainer's `test_accuracy` (same images).
fn check_compact_predictions(dir: &Path, summary: &Value, n: usize) {
    let (pixels, labels) = test_images(n);
    let (_json, compact) = dtprune_compact::load_compact(dir).expect("load compact model");
    let dense = dtprune_compact::load_run(dir).expect("load run").dense_network().expect("dense network");
    let lc = compact.forward_u8(&pixels, n).expect("compact forward");
    let ld = dense.forward_u8(&pixels, n).expect("dense forward");
    assert_eq!(lc.len(), ld.len());
    let diff = lc.iter().zip(&ld).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(diff <= 1e-4, "compact vs masked-dense logits differ by {diff:e}");
    let k = compact.num_outputs();
    let (mut agree, mut correct) = (0, 0);
    for i in 0..n {
        let (a, b) = (argmax(&lc[i * k..(i + 1) * k]), argmax(&ld[i * k..(i + 1) * k]));
        agree += usize::from(a == b);
        correct += usize::from(a == labels[i] as usize);
    }
    assert_eq!(agree, n, "compact and dense argmax differ");
    // The deployment-side kernels and the Burn trainer see the same images with the same
    // preprocessing: the accuracy must agree (one image of slack for a float near-tie).
    let acc = correct as f64 / n as f64;
    let want = num(summary, "test_accuracy");
    eprintln!("{}: compact accuracy {acc} vs trainer {want}, max logit diff {diff:e}", summary["model"]);
    assert!((acc - want).abs() <= 1.0 / n as f64 + 1e-12, "compact model accuracy {acc} vs summary test_accuracy {want}");
}

/// Checks the `reference.safetensors` that `compact --reference 100` wrote (the test images'
/// pixels, and logits equal to the compact model's) and runs the numpy forward pass against it.
fn numpy_check(dir: &Path, test: &str) {
    let n = 100;
    let (pixels, _) = test_images(n);
    let reference = read_safetensors(&dir.join("reference.safetensors"));
    assert_eq!(reference.tensors["pixels"].bytes, pixels, "reference pixels are not the first {n} test images");
    let (_json, compact) = dtprune_compact::load_compact(dir).expect("load compact model");
    let logits = compact.forward_u8(&pixels, n).expect("compact forward");
    assert_eq!(reference.tensors["logits"].f32s(), logits, "reference logits are not the compact model's");
    let Some(py) = python_with_numpy(test) else { return };
    let script = repo_root().join("crates/dtprune-compact/tests/numpy_forward.py");
    let out = Command::new(&py).arg(&script).arg(dir).output().expect("run python");
    let (so, se) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "numpy check failed\nstdout: {so}\nstderr: {se}");
    eprintln!("{}", so.trim());
    assert!(so.contains("argmax agree: True"), "{so}");
}

#[test]
fn compact_pruned_lenet300_matches_and_loads_in_numpy() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    // Whole neurons removed (structure) and 90% of the rest (gmp): both compaction paths.
    let s = train(
        &dir,
        3,
        &["--policy", "structure+gmp", "-P", "k=0.9", "-P", "final_sparsity=0.9", "-P", "frequency=5", "-P", "end_step=60", "--no-compact", "--rollback-tolerance", "0.05"],
    );
    let sp = num(&s, "sparsity");
    assert!(sp > 0.85, "sparsity {sp}");
    assert!(!dir.join("compact.safetensors").exists(), "--no-compact still compacted");

    // A fixed crossover: the default one is measured on this machine, and a loaded CI runner must
    // not change what the test checks (the synthetic tests of dtprune-compact do the same).
    let err = run_fail(&["compact", "--run", dir.to_str().unwrap(), "--reference", "0"]);
    assert!(err.contains("--reference 0 is out of range"), "{err}");
    assert!(!dir.join("compact.safetensors").exists(), "a rejected compact wrote compact.safetensors");
    let out = run_ok(&["compact", "--run", dir.to_str().unwrap(), "--crossover", "0.3", "--reference", "100"]);
    assert!(out.contains("reference.safetensors (100 test images"), "compact output:\n{out}");
    assert!(out.contains("fc1") && out.contains("csr"), "compact output:\n{out}");
    let cj = read_json(&dir.join("compact.json"));
    assert_eq!(cj["model"], "lenet300");
    let layers = cj["layers"].as_array().unwrap();
    assert!(layers.iter().any(|l| l["storage"]["format"] == "csr"), "no layer stored as CSR at {sp} sparsity: {cj}");
    let dense_bytes = std::fs::metadata(dir.join("model.safetensors")).unwrap().len();
    let compact_bytes = std::fs::metadata(dir.join("compact.safetensors")).unwrap().len();
    assert!(compact_bytes * 3 < dense_bytes, "compact.safetensors {compact_bytes} B vs model.safetensors {dense_bytes} B at {sp} sparsity");
    // The compact tensors are plain safetensors (our own parser reads them).
    let ct = read_safetensors(&dir.join("compact.safetensors"));
    assert!(ct.tensors.contains_key("fc1.bias"));

    check_compact_predictions(&dir, &s, 1000);

    let bench = run_ok(&["bench", "--run", dir.to_str().unwrap(), "--batch", "1,64"]);
    assert!(bench.contains("speedup") && bench.contains("argmax agree: true"), "bench output:\n{bench}");
    // Where the time goes: one line per op of the network, at the largest batch.
    assert!(bench.contains("per op at batch 64") && bench.contains("fc1 (linear, ") && bench.contains("layout changes"), "bench output:\n{bench}");
    // Every kernel copy this CPU can run (`DTPRUNE_SIMD` caps the level): dense and compact
    // still agree, and the report says which copy ran.
    for level in ["avx2", "generic"] {
        let args = ["bench", "--run", dir.to_str().unwrap(), "--batch", "1,64"];
        let out = dtprune().args(args).env("DTPRUNE_SIMD", level).output().expect("run dtprune");
        assert!(out.status.success(), "{}", show(&args, &out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("argmax agree: true"), "DTPRUNE_SIMD={level}:\n{text}");
        if level == "generic" {
            assert!(text.contains("kernels: generic;"), "DTPRUNE_SIMD=generic:\n{text}");
        }
    }

    numpy_check(&dir, "compact_pruned_lenet300_matches_and_loads_in_numpy");
}

#[test]
fn compact_pruned_lenet5_matches_and_loads_in_numpy() {
    // The one LeNet-5 run of the suite: 2000 images, 1 epoch (16 steps), gmp to 90% by step 10.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let d = dir.to_str().unwrap();
    run_ok(&[
        "train", "--model", "lenet5", "--train-limit", "2000", "--val-size", "500", "--test-limit", "500", "--epochs", "1",
        "--policy", "gmp", "-P", "final_sparsity=0.9", "-P", "frequency=2", "-P", "end_step=10", "--quiet", "--out", d,
    ]);
    let s = read_json(&dir.join("summary.json"));
    let acc = num(&s, "test_accuracy");
    eprintln!("lenet5 gmp: test accuracy {acc}, sparsity {}", s["sparsity"]);
    assert!(acc >= 0.6, "LeNet-5 test accuracy {acc} after one short epoch");
    assert!((num(&s, "sparsity") - 0.9).abs() < 0.02, "sparsity {}", s["sparsity"]);
    check_masks_enforced(&dir);

    let model = read_safetensors(&dir.join("model.safetensors"));
    let shape = |n: &str| model.tensors[n].shape.clone();
    assert_eq!(shape("conv1.weight"), [20, 1, 5, 5], "conv weights are [out, in, kh, kw]");
    assert_eq!(shape("conv2.weight"), [50, 20, 5, 5]);
    assert_eq!(shape("fc1.weight"), [500, 800], "linear weights are [out, in]");
    assert_eq!(shape("fc2.weight"), [10, 500]);
    assert_eq!(s["params_total"].as_u64(), Some(20 * 25 + 20 + 50 * 20 * 25 + 50 + 500 * 800 + 500 + 10 * 500 + 10));

    let e: Value = serde_json::from_str(run_ok(&["eval", "--run", d, "--json"]).trim()).unwrap();
    assert_eq!(e["test_accuracy"].as_f64(), Some(acc), "eval disagrees with summary.json");

    // Re-compacting (crossover measured again, as the trainer did) also writes the reference.
    run_ok(&["compact", "--run", d, "--reference", "100"]);
    check_compact_predictions(&dir, &s, 500);
    numpy_check(&dir, "compact_pruned_lenet5_matches_and_loads_in_numpy");
}
