//! Broken user input gives an error naming the tensor and the problem, never a panic.

use std::path::Path;

use dtprune_compact::synth::{lenet300_graph, random_model, write_run};
use dtprune_compact::tensor_io::{write_safetensors, OwnedTensor};
use dtprune_compact::{compact_run_dir, load_run, CompactError, CompactOptions, Crossover};

fn run_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), &random_model(&lenet300_graph(false), 1)).unwrap();
    dir
}

fn err(dir: &Path) -> String {
    let o = CompactOptions {
        crossover: Crossover::Fixed(0.3),
        remove_structure: true,
    };
    match compact_run_dir(dir, &o) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

/// Rewrites model.safetensors with `fc2.weight` replaced by `t` (or dropped).
fn replace_fc2(dir: &Path, t: Option<OwnedTensor>) {
    let m = load_run(dir).unwrap();
    let mut tensors = Vec::new();
    for (name, v) in &m.params {
        if name == "fc2.weight" {
            continue;
        }
        tensors.push((name.clone(), OwnedTensor::f32(v.shape.clone(), &v.data)));
    }
    if let Some(t) = t {
        tensors.push(("fc2.weight".into(), t));
    }
    write_safetensors(&dir.join("model.safetensors"), &tensors, None).unwrap();
}

#[test]
fn truncated_file_names_the_tensor() {
    let dir = run_dir();
    let p = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() - 100]).unwrap();
    let e = err(dir.path());
    assert!(e.contains("truncated") && e.contains("fc"), "{e}");
    std::fs::write(&p, &bytes[..4]).unwrap();
    assert!(err(dir.path()).contains("not a valid safetensors file"));
}

#[test]
fn wrong_dtype() {
    let dir = run_dir();
    replace_fc2(
        dir.path(),
        Some(OwnedTensor::i32(vec![100, 300], &vec![0; 30000])),
    );
    let e = err(dir.path());
    assert!(
        e.contains("`fc2.weight`") && e.contains("dtype I32") && e.contains("F32"),
        "{e}"
    );
}

#[test]
fn unexpected_shape() {
    let dir = run_dir();
    replace_fc2(
        dir.path(),
        Some(OwnedTensor::f32(vec![300, 100], &vec![0.0; 30000])),
    );
    let e = err(dir.path());
    assert!(
        e.contains("`fc2.weight`") && e.contains("[300, 100]") && e.contains("[100, 300]"),
        "{e}"
    );
}

#[test]
fn missing_tensor() {
    let dir = run_dir();
    replace_fc2(dir.path(), None);
    let e = err(dir.path());
    assert!(e.contains("missing tensor `fc2.weight`"), "{e}");
}

#[test]
fn non_finite_weights() {
    let dir = run_dir();
    let mut w = vec![0.0f32; 30000];
    w[5] = f32::NAN;
    replace_fc2(dir.path(), Some(OwnedTensor::f32(vec![100, 300], &w)));
    assert!(err(dir.path()).contains("non-finite"));
}

#[test]
fn run_without_model() {
    let dir = tempfile::tempdir().unwrap();
    let e = err(dir.path());
    assert!(
        e.contains("has no model") && e.contains("model.safetensors"),
        "{e}"
    );
    assert!(matches!(
        compact_run_dir(dir.path(), &CompactOptions::default()),
        Err(CompactError::NoModel { .. })
    ));
    assert!(dtprune_compact::load_compact(dir.path()).is_err());
}

#[test]
fn bad_graph() {
    let dir = run_dir();
    std::fs::write(dir.path().join("graph.json"), r#"{"model":"x","input":[784],"layers":[{"op":"linear","name":"fc1","in_features":100,"out_features":3}]}"#).unwrap();
    let e = err(dir.path());
    assert!(e.contains("in_features 100") && e.contains("784"), "{e}");
    std::fs::write(dir.path().join("graph.json"), "{not json").unwrap();
    assert!(err(dir.path()).contains("invalid graph JSON"));
}

#[test]
fn wrong_input_length() {
    let m = random_model(&lenet300_graph(false), 1);
    let net = m.dense_network().unwrap();
    let e = net.forward(&[0.0; 100], 1).unwrap_err().to_string();
    assert!(e.contains("expected 1 samples x 784"), "{e}");
}
