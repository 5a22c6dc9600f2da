//! Event files read back by the real `tensorboard` Python package (tests/tb_check.py).
//! Interpreter: env `DTPRUNE_PYTHON`, default `python3`.

mod common;

use std::path::Path;
use std::process::Command;

use dtprune_report::history::read_history;
use dtprune_report::tb::{self, EventWriter};

fn python() -> String {
    std::env::var("DTPRUNE_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Whether the interpreter can import tensorboard; handles the "missing" policy.
fn tensorboard_available() -> bool {
    let ok = Command::new(python())
        .args([
            "-c",
            "import tensorboard.backend.event_processing.event_accumulator",
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        common::missing_tool(
            &format!("python package `tensorboard` for {}", python()),
            "pip install tensorboard, and point DTPRUNE_PYTHON at that interpreter",
        );
    }
    ok
}

fn run_check(tb_dir: &Path, history: &Path, extra: &[String]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tb_check.py");
    let out = Command::new(python())
        .arg(&script)
        .arg(tb_dir)
        .arg(history)
        .args(extra)
        .output()
        .expect("run tb_check.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "tb_check.py failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("OK:"), "{stdout}");
}

#[test]
fn tb_from_history_is_read_back_by_tensorboard() {
    if !tensorboard_available() {
        return;
    }
    let run = tempfile::tempdir().unwrap();
    let hist = run.path().join("history.jsonl");
    std::fs::copy(common::fixture("run-a/history.jsonl"), &hist).unwrap();
    let file = tb::tb_from_history(run.path()).unwrap();
    assert!(file
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("events.out.tfevents."));

    // The trainer also adds weight histograms at prune events, from a writer of its own.
    let weights: Vec<f32> = (0..1000)
        .map(|i| ((i as f32) * 0.37).sin() * 0.05)
        .collect();
    let sum: f64 = weights.iter().map(|&w| w as f64).sum();
    let mut w = EventWriter::create(run.path().join("tb")).unwrap();
    w.add_histogram("weights/fc1.weight", &weights, 2).unwrap();
    w.flush().unwrap();

    run_check(
        &run.path().join("tb"),
        &hist,
        &[
            "--histogram".into(),
            format!("weights/fc1.weight:2:1000:{sum:.17e}"),
        ],
    );
}

#[test]
fn live_logging_is_read_back_by_tensorboard() {
    if !tensorboard_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let hist_path = common::fixture("run-b/history.jsonl");
    let history = read_history(&hist_path).unwrap();
    let mut w = EventWriter::create(dir.path()).unwrap();
    for rec in &history {
        // As the trainer does it: one call per epoch end (flushes).
        tb::log_epoch(&mut w, rec).unwrap();
        w.add_scalar(
            "custom/epoch_squared",
            (rec.epoch * rec.epoch) as f64,
            rec.epoch,
        )
        .unwrap();
    }
    // No drop/close needed: log_epoch flushed, as it would in a run that is killed later.
    run_check(dir.path(), &hist_path, &[]);
    drop(w);
}

/// Guards the test above against a reader that does not look at checksums: one flipped bit
/// in the data of a record must make the check fail.
#[test]
fn corrupted_record_is_rejected_by_tensorboard() {
    if !tensorboard_available() {
        return;
    }
    let run = tempfile::tempdir().unwrap();
    let hist = run.path().join("history.jsonl");
    std::fs::copy(common::fixture("run-a/history.jsonl"), &hist).unwrap();
    let file = tb::tb_from_history(run.path()).unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    let n = bytes.len();
    bytes[n - 40] ^= 0x01; // inside the data of the last record
    std::fs::write(&file, bytes).unwrap();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tb_check.py");
    let out = Command::new(python())
        .arg(&script)
        .arg(run.path().join("tb"))
        .arg(&hist)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a corrupted file must not pass:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
