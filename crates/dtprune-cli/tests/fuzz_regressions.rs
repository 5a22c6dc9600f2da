//! Replays every kept fuzz input — the small corpora under `fuzz/corpus/TARGET/` and every
//! input that once crashed a target, under `fuzz/regressions/TARGET/` — through the same code
//! the fuzz targets run (`fuzz/checks.rs`, `fuzz/checks_train.rs`), so a fixed finding stays fixed without nightly or
//! cargo-fuzz. Any panic fails the test and names the file.

#[path = "../../../fuzz/checks.rs"]
mod checks;
#[path = "../../../fuzz/checks_train.rs"]
mod checks_train;

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn replay(target: &str, check: fn(&[u8])) {
    let mut files = Vec::new();
    for kind in ["corpus", "regressions"] {
        let dir = fuzz_dir().join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        files.extend(entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()));
    }
    files.sort();
    assert!(!files.is_empty(), "no kept inputs for fuzz target `{target}` under {}", fuzz_dir().display());
    let mut failed = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        if std::panic::catch_unwind(|| check(&bytes)).is_err() {
            failed.push(f.display().to_string());
        }
    }
    assert!(failed.is_empty(), "fuzz target `{target}`: {} of {} kept inputs panic:\n{}", failed.len(), files.len(), failed.join("\n"));
    eprintln!("fuzz target `{target}`: {} kept inputs replayed", files.len());
}

#[test]
fn idx_inputs() {
    replay("idx", checks::idx);
}

#[test]
fn config_toml_inputs() {
    replay("config_toml", checks_train::config_toml);
}

#[test]
fn safetensors_inputs() {
    replay("safetensors", checks::safetensors);
}

#[test]
fn graph_model_inputs() {
    replay("graph_model", checks::graph_model);
}

#[test]
fn recurrent_model_inputs() {
    replay("recurrent_model", checks::recurrent_model);
}

#[test]
fn transformer_model_inputs() {
    replay("transformer_model", checks::transformer_model);
}

#[test]
fn tabular_model_inputs() {
    replay("tabular_model", checks::tabular_model);
}

#[test]
fn compact_model_inputs() {
    replay("compact_model", checks::compact_model);
}

#[test]
fn checkpoint_inputs() {
    replay("checkpoint", checks_train::checkpoint);
}
