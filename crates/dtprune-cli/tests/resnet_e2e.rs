//! ResNet-20 end to end on a few hundred real CIFAR-10 images: train with the CIFAR recipe
//! (SGD with Nesterov momentum, cosine schedule with warm-up, label smoothing, crop + flip) while
//! pruning unstructured, then check what the run folder holds: BatchNorm running statistics
//! that moved, under their PyTorch names, in the model and in the checkpoint; a graph with the
//! residual adds; `dtprune eval` reproducing the test accuracy from the saved model (so
//! evaluation really uses the saved running statistics); and the trained model compacted
//! (BatchNorm folded into the convolutions) with the masked model's logits, exported as ONNX
//! (dense and compact) and run in onnxruntime with the same logits (when `$DTPRUNE_PYTHON` has
//! onnxruntime; required when `CI` is set).
//!
//! Needs `../shared/datasets/cifar10-jpeg/` (never committed; skipped with a message without it).

mod common;

use common::*;
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

const CLASSES: [&str; 10] = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

fn cifar_archive() -> Option<PathBuf> {
    let p = repo_root().join("../shared/datasets/cifar10-jpeg/CIFAR-10-images-jpeg-d7d0561.tar.gz");
    if p.is_file() {
        Some(p)
    } else {
        println!("skipped: the CIFAR-10 archive is not at {} (shared/datasets)", p.display());
        None
    }
}

/// An image-folder tree of `train` + `test` JPEGs per class, cut from the archive's train split.
fn cifar_tree(archive: &Path, root: &Path, train: usize, test: usize) {
    let mut tar = tar::Archive::new(GzDecoder::new(std::fs::File::open(archive).unwrap()));
    let mut seen = [0usize; 10];
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let Some(c) = CLASSES.iter().position(|c| path.contains(&format!("/train/{c}/"))) else { continue };
        if seen[c] == train + test {
            continue;
        }
        let split = if seen[c] < train { "train" } else { "test" };
        let dir = root.join(split).join(CLASSES[c]);
        std::fs::create_dir_all(&dir).unwrap();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        std::fs::write(dir.join(format!("{:03}.jpg", seen[c])), bytes).unwrap();
        seen[c] += 1;
        if seen.iter().all(|&n| n == train + test) {
            break;
        }
    }
    assert!(seen.iter().all(|&n| n == train + test), "the archive holds too few training images: {seen:?}");
}

#[test]
fn resnet20_trains_and_prunes_on_real_cifar() {
    let Some(archive) = cifar_archive() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("cifar");
    cifar_tree(&archive, &tree, 30, 8);
    let config = tmp.path().join("exp.toml");
    // 300 images, 260 after validation: 3 steps an epoch; gmp prunes to 60% by step 4, every step.
    std::fs::write(
        &config,
        r#"model = "resnet20"
dataset = "image-folder"
epochs = 2
batch_size = 128
val_size = 40
lr = 0.05
optimizer = "sgd"
momentum = 0.9
nesterov = true
weight_decay = 5e-4
lr_schedule = "cosine"
warmup_epochs = 1
lr_decay = 1.0
label_smoothing = 0.1
[augment]
crop_padding = 4
flip = true
[policy]
name = "gmp"
final_sparsity = 0.6
frequency = 1
end_step = 4
"#,
    )
    .unwrap();
    let run = tmp.path().join("run");
    let cache = tmp.path().join("cache");
    let args = ["train", "--config", config.to_str().unwrap(), "--data-dir", tree.to_str().unwrap(), "--quiet", "--no-compact", "--out", run.to_str().unwrap()];
    let out = dtprune().env("DTPRUNE_CACHE_DIR", &cache).args(args).output().unwrap();
    assert!(out.status.success(), "{}", show(&args, &out));

    let summary = read_json(&run.join("summary.json"));
    assert!((num(&summary, "sparsity") - 0.6).abs() < 0.01, "{summary}");
    let accuracy = num(&summary, "test_accuracy");
    assert!(accuracy.is_finite(), "{summary}");
    let history = read_history(&run);
    assert_eq!(history.len(), 2);
    assert!(history.iter().all(|h| num(h, "train_loss").is_finite()));

    // The running statistics moved from their initial 0 / 1, and are saved in the model and
    // the checkpoint under PyTorch's names; γ, β and convolution weights as well.
    let model = read_safetensors(&run.join("model.safetensors"));
    for name in ["bn1.running_mean", "layer2.0.shortcut.1.running_var", "layer3.2.bn2.running_mean"] {
        let v = model.tensors.get(name).unwrap_or_else(|| panic!("{name} missing from model.safetensors")).f32s();
        let initial = if name.ends_with("var") { 1.0 } else { 0.0 };
        assert!(v.iter().any(|&x| x != initial), "{name} never moved: {v:?}");
    }
    for name in ["layer1.0.bn1.weight", "layer1.0.bn1.bias", "layer2.0.shortcut.0.weight", "fc.weight"] {
        assert!(model.tensors.contains_key(name), "{name} missing");
    }
    let checkpoint = read_safetensors(&run.join("checkpoint.safetensors"));
    assert_eq!(checkpoint.tensors["model/layer3.2.bn2.running_mean"].f32s(), model.tensors["layer3.2.bn2.running_mean"].f32s());

    let graph = read_json(&run.join("graph.json"));
    let nodes = graph["nodes"].as_array().expect("a DAG graph");
    assert_eq!(nodes.iter().filter(|n| n["op"] == "add").count(), 9);

    // Re-evaluating the saved model (eval mode: running statistics) gives the run's accuracy.
    let args = ["eval", "--run", run.to_str().unwrap(), "--json"];
    let out = dtprune().env("DTPRUNE_CACHE_DIR", &cache).args(args).output().unwrap();
    assert!(out.status.success(), "{}", show(&args, &out));
    let eval: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(eval["test_accuracy"], summary["test_accuracy"]);
    assert_eq!(eval["test_images"], 80);

    compact_and_export(&run, &cache);
}

/// Compacts the trained run, checks the compact logits against the masked model's, and runs
/// both ONNX exports in onnxruntime.
fn compact_and_export(run: &Path, cache: &Path) {
    let d = run.to_str().unwrap();
    let args = ["compact", "--run", d, "--reference", "80"];
    let out = dtprune().env("DTPRUNE_CACHE_DIR", cache).args(args).output().unwrap();
    assert!(out.status.success(), "{}", show(&args, &out));
    let compact = read_json(&run.join("compact.json"));
    let ops: Vec<&str> = compact["layers"].as_array().unwrap().iter().filter_map(|l| l["op"].as_str()).collect();
    assert!(!ops.contains(&"batchnorm2d"), "BatchNorm is folded into the convolutions: {ops:?}");
    assert_eq!(ops.iter().filter(|&&op| op == "add").count(), 9, "{ops:?}");
    let reference = read_safetensors(&run.join("reference.safetensors"));
    let (logits, masked) = (reference.tensors["logits"].f32s(), reference.tensors["dense_logits"].f32s());
    assert_eq!(logits.len(), 80 * 10);
    let worst = logits.iter().zip(&masked).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-3, "compact logits differ from the masked model's by {worst}");

    run_ok(&["export", "--run", d, "--format", "onnx"]);
    run_ok(&["export", "--run", d, "--format", "onnx", "--compact"]);
    let py = std::env::var("DTPRUNE_PYTHON").unwrap_or_else(|_| "python3".into());
    let has_ort = Command::new(&py).args(["-c", "import onnxruntime, safetensors, numpy"]).output().map(|o| o.status.success()).unwrap_or(false);
    if !has_ort {
        assert!(std::env::var_os("CI").is_none(), "CI is set but `{py}` cannot import onnxruntime, safetensors and numpy");
        println!("skipped the onnxruntime check: `{py}` cannot import onnxruntime, safetensors and numpy (set DTPRUNE_PYTHON)");
        return;
    }
    let script = repo_root().join("crates/dtprune-compact/tests/onnxruntime_forward.py");
    for (file, key) in [("model.onnx", "dense_logits"), ("compact.onnx", "logits")] {
        let out = Command::new(&py).arg(&script).arg(run.join(file)).arg(run.join("reference.safetensors")).args(["--logits", key]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("argmax agree: True"), "{file} in onnxruntime:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    }
}
