//! `dtprune compact --quantize int8` on a real pruned LeNet-300-100 (MNIST subset): the int8
//! model's accuracy within tolerance of the f32 compact model's, the calibration images recorded
//! in compact.json, `dtprune bench`'s int8 column, and clear errors for a bad `--quantize` value,
//! a bad calibration count and a calibration set that cannot be loaded.

mod common;

use common::*;

#[test]
fn quantize_int8_on_real_mnist() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    train(&dir, 2, &["--policy", "gmp", "-P", "final_sparsity=0.9", "-P", "frequency=5", "-P", "end_step=60", "--no-compact"]);
    let d = dir.to_str().unwrap();

    // A bad value is clap's usage error (exit 2) naming the valid one.
    let out = dtprune().args(["compact", "--run", d, "--quantize", "int4"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("invalid value 'int4'") && err.contains("possible values: int8"), "{err}");
    let err = run_fail(&["compact", "--run", d, "--quantize", "int8", "--calibration", "0"]);
    assert!(err.contains("--calibration 0 is out of range"), "{err}");
    assert!(!dir.join("compact.safetensors").exists(), "a rejected compact wrote compact.safetensors");

    let out = run_ok(&["compact", "--run", d, "--crossover", "0.3", "--quantize", "int8", "--calibration", "200"]);
    assert!(out.contains("compact-int8.safetensors"), "{out}");
    let cj = read_json(&dir.join("compact.json"));
    let q = &cj["quantization"];
    assert_eq!(q["activations"], "static");
    assert_eq!(q["calibration"]["count"], 200);
    let idx = q["calibration"]["indices"].as_array().unwrap();
    assert_eq!(idx.len(), 200);
    let check = &q["check"];
    let (a32, a8) = (num(check, "f32_accuracy"), num(check, "int8_accuracy"));
    eprintln!("f32 {a32} int8 {a8} agreement {}", check["argmax_agreement"]);
    assert_eq!(check["count"], 10000, "the whole MNIST test split");
    assert!((a8 - a32).abs() <= 0.005, "int8 accuracy {a8} vs f32 {a32}: more than half a point apart");
    assert!(num(check, "argmax_agreement") >= 0.99, "{check}");
    let (f32_len, q_len) = (
        std::fs::metadata(dir.join("compact.safetensors")).unwrap().len(),
        std::fs::metadata(dir.join("compact-int8.safetensors")).unwrap().len(),
    );
    assert!(q_len * 2 < f32_len, "int8 file {q_len} B vs f32 {f32_len} B");

    let out = run_ok(&["bench", "--run", d, "--batch", "1,16"]);
    assert!(out.contains("int8 compact (static activations)") && out.contains("compact-int8.safetensors"), "{out}");

    // Dynamic activations need no calibration images.
    let out = run_ok(&["compact", "--run", d, "--crossover", "0.3", "--quantize", "int8", "--activations", "dynamic"]);
    assert!(out.contains("int8 (dynamic activations)"), "{out}");
    assert!(read_json(&dir.join("compact.json"))["quantization"].get("calibration").is_none());

    // A calibration set that cannot be loaded: the run's data set points nowhere.
    let cfg = dir.join("config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace("dataset = \"mnist\"", "dataset = \"idx\"\ndata_dir = \"/nonexistent/calibration\"")).unwrap();
    let err = run_fail(&["compact", "--run", d, "--quantize", "int8"]);
    assert!(err.contains("calibrates on the run's training images"), "{err}");
}
