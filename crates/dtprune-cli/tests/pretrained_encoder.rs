//! `dtprune embed` and `dtprune distill` end to end on the real all-MiniLM-L6-v2 (the weights
//! are fetched by `.ci/run`; without them these tests say why they skip).

mod common;

use common::{read_json, run_fail, run_ok};
use std::path::{Path, PathBuf};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/models/all-MiniLM-L6-v2")
}

/// The weights and the model folder (config, tokenizer) beside the repository; both are needed.
fn minilm() -> Option<PathBuf> {
    if !model_dir().join("config.json").is_file() {
        return None;
    }
    [std::env::var_os("DTPRUNE_MINILM").map(PathBuf::from), Some(model_dir().join("model.safetensors"))].into_iter().flatten().find(|p| p.is_file())
}

/// The 16 sentences of the encoder's reference fixture.
fn sentences() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dtprune-train/tests/fixtures/minilm/sentences.txt")
}

#[test]
fn distill_prunes_and_embed_compares() {
    let Some(weights) = minilm() else {
        eprintln!("SKIPPED distill_prunes_and_embed_compares: no MiniLM model folder (../shared/datasets/models/all-MiniLM-L6-v2) or no model.safetensors (run shared/datasets/models/all-MiniLM-L6-v2/fetch-weights.sh DIR and set DTPRUNE_MINILM=DIR/model.safetensors)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (out, report) = (dir.path().join("distilled.safetensors"), dir.path().join("distill.json"));
    let md = model_dir();
    // One epoch of 12 texts in batches of 4 = 3 steps; gmp reaches 50% at step 2.
    run_ok(&[
        "distill", "--model-dir", s(&md), "--weights", s(&weights), "--input", s(&sentences()), "--val", "4", "--epochs", "1",
        "--batch", "4", "--sparsity", "0.5", "-P", "begin_step=0", "-P", "end_step=2", "-P", "frequency=1", "-o", s(&out), "--report", s(&report),
    ]);
    let r = read_json(&report);
    let last = &r["epochs"][0];
    let sparsity = last["sparsity"].as_f64().unwrap();
    assert!((sparsity - 0.5).abs() < 0.01, "{r}");
    let cos = last["val_cosine"].as_f64().unwrap();
    assert!(cos > 0.0 && cos < 1.0, "{r}");
    assert_eq!(r["start_val_cosine"].as_f64().unwrap().min(1.0), r["start_val_cosine"].as_f64().unwrap());

    // The written encoder loads under the Hugging Face names; the dense weights compared with
    // themselves give cosine 1, the pruned ones less.
    let cmp = dir.path().join("cmp.json");
    run_ok(&["embed", "--model-dir", s(&md), "--weights", s(&weights), "--input", s(&sentences()), "--compare", s(&weights), "--compare", s(&out), "--report", s(&cmp)]);
    let c = read_json(&cmp);
    assert!((c[0]["mean_cosine"].as_f64().unwrap() - 1.0).abs() < 1e-6, "{c}");
    let pruned = c[1]["mean_cosine"].as_f64().unwrap();
    assert!(pruned < 0.9999 && pruned > 0.0, "{c}");
}

#[test]
fn distill_refuses_bad_settings_before_writing() {
    let Some(weights) = minilm() else {
        eprintln!("SKIPPED distill_refuses_bad_settings_before_writing: no MiniLM model.safetensors");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never.safetensors");
    let md = model_dir();
    let e = run_fail(&["distill", "--model-dir", s(&md), "--weights", s(&weights), "--input", s(&sentences()), "--val", "16", "-o", s(&out)]);
    assert!(e.contains("--val 16") && e.contains("16 texts"), "{e}");
    let e = run_fail(&["distill", "--model-dir", s(&md), "--weights", s(&weights), "--input", s(&sentences()), "--val", "4", "--policy", "gmp", "-P", "final_sparsity=1.5", "-o", s(&out)]);
    assert!(e.contains("final_sparsity"), "{e}");
    let e = run_fail(&["embed", "--model-dir", s(&md), "--weights", s(&weights), "--input", s(&sentences()), "--field", "2"]);
    assert!(e.contains("sentences.txt:1") && e.contains("column 2"), "{e}");
    assert!(!out.exists());
}
