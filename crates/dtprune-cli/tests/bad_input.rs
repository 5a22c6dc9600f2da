//! Every invalid input gives exit code 1, a message naming the problem, no panic, and writes no
//! `summary.json`.

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// A fast train command into `out` (it must fail before training, so the size barely matters).
fn train_fail(out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["train", "--train-limit", "500", "--val-size", "100", "--test-limit", "100", "--epochs", "1", "--quiet", "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let err = run_fail(&args);
    assert!(!out.join("summary.json").exists(), "a failed run wrote summary.json");
    assert!(!out.join("model.safetensors").exists(), "a failed run wrote model.safetensors");
    err
}

fn assert_mentions(err: &str, words: &[&str]) {
    for w in words {
        assert!(err.contains(w), "the message does not mention `{w}`:\n{err}");
    }
}

fn out_dir() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("run");
    (t, p)
}

/// A copy of the repository's MNIST files in a temp dir, to break one of them.
fn mnist_copy() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(mnist_dir()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), t.path().join(e.file_name())).unwrap();
    }
    t
}

#[test]
fn missing_data_dir_names_the_expected_files() {
    let (_t, out) = out_dir();
    let err = train_fail(&out, &["--data-dir", "/nonexistent/dtprune-data"]);
    assert_mentions(
        &err,
        &["/nonexistent/dtprune-data", "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"],
    );
    assert!(!out.exists(), "the run directory was created for a run that could not start");
}

#[test]
fn one_missing_file_is_named() {
    let data = mnist_copy();
    std::fs::remove_file(data.path().join("t10k-images-idx3-ubyte.gz")).unwrap();
    let (_t, out) = out_dir();
    let err = train_fail(&out, &["--data-dir", data.path().to_str().unwrap()]);
    assert_mentions(&err, &["t10k-images-idx3-ubyte"]);
}

#[test]
fn truncated_gzip_idx_file_is_named() {
    let data = mnist_copy();
    let f = data.path().join("t10k-labels-idx1-ubyte.gz");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
    let (_t, out) = out_dir();
    let err = train_fail(&out, &["--data-dir", data.path().to_str().unwrap()]);
    assert_mentions(&err, &["t10k-labels-idx1-ubyte.gz"]);
}

#[test]
fn garbage_idx_file_is_named() {
    let data = mnist_copy();
    let f = data.path().join("t10k-labels-idx1-ubyte.gz");
    std::fs::write(&f, b"this is not an IDX file, nor gzip").unwrap();
    let (_t, out) = out_dir();
    // Both the checksum-pinned `mnist` and the generic `idx` reader must name it.
    let err = train_fail(&out, &["--data-dir", data.path().to_str().unwrap()]);
    assert_mentions(&err, &["t10k-labels-idx1-ubyte.gz"]);
    let err = train_fail(&out, &["--dataset", "idx", "--data-dir", data.path().to_str().unwrap()]);
    assert_mentions(&err, &["t10k-labels-idx1-ubyte.gz"]);
}

#[test]
fn truncated_raw_idx_file_is_named() {
    // A raw (not gzip) labels file cut short: the header announces 10000 labels.
    let data = mnist_copy();
    let gz = data.path().join("t10k-labels-idx1-ubyte.gz");
    std::fs::remove_file(&gz).unwrap();
    let mut raw = vec![0u8, 0, 8, 1];
    raw.extend_from_slice(&10_000u32.to_be_bytes());
    raw.extend(std::iter::repeat_n(3u8, 5000));
    std::fs::write(data.path().join("t10k-labels-idx1-ubyte"), raw).unwrap();
    let (_t, out) = out_dir();
    let err = train_fail(&out, &["--dataset", "idx", "--data-dir", data.path().to_str().unwrap()]);
    assert_mentions(&err, &["t10k-labels-idx1-ubyte", "truncated"]);
}

#[test]
fn mnist_checksum_mismatch_is_named() {
    // A well-formed IDX labels file that is not the real MNIST one: `--dataset mnist` pins
    // checksums, so it must refuse it and say which file.
    let data = mnist_copy();
    std::fs::remove_file(data.path().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let mut raw = vec![0u8, 0, 8, 1];
    raw.extend_from_slice(&10_000u32.to_be_bytes());
    raw.extend(std::iter::repeat_n(3u8, 10_000));
    std::fs::write(data.path().join("t10k-labels-idx1-ubyte"), raw).unwrap();
    let (_t, out) = out_dir();
    let err = train_fail(&out, &["--data-dir", data.path().to_str().unwrap()]);
    assert_mentions(&err, &["t10k-labels-idx1-ubyte"]);
    assert!(err.to_lowercase().contains("sha256") || err.to_lowercase().contains("checksum"), "no mention of the checksum:\n{err}");
}

#[test]
fn idx_dataset_without_data_dir() {
    let (_t, out) = out_dir();
    let err = train_fail(&out, &["--dataset", "idx"]);
    assert_mentions(&err, &["idx", "data-dir"]);
}

#[test]
fn unknown_dataset() {
    let (_t, out) = out_dir();
    let err = train_fail(&out, &["--dataset", "cifar99"]);
    assert_mentions(&err, &["cifar99", "mnist", "idx"]);
}

#[test]
fn unknown_toml_key() {
    let t = tempfile::tempdir().unwrap();
    let cfg = t.path().join("exp.toml");
    std::fs::write(&cfg, "epochs = 1\nepochz = 2\n").unwrap();
    let out = t.path().join("run");
    let err = train_fail(&out, &["--config", cfg.to_str().unwrap()]);
    assert_mentions(&err, &["epochz", "exp.toml"]);
}

#[test]
fn unknown_key_in_toml_policy_table() {
    let t = tempfile::tempdir().unwrap();
    let cfg = t.path().join("exp.toml");
    std::fs::write(&cfg, "epochs = 1\n[policy]\nname = \"gmp\"\nfinal_sparsty = 0.9\n").unwrap();
    let out = t.path().join("run");
    let err = train_fail(&out, &["--config", cfg.to_str().unwrap()]);
    assert_mentions(&err, &["final_sparsty", "gmp"]);
}

#[test]
fn lr_decay_with_cosine_names_both_keys() {
    let t = tempfile::tempdir().unwrap();
    let cfg = t.path().join("exp.toml");
    let out = t.path().join("run");
    // In the file: the error is the file's.
    std::fs::write(&cfg, "epochs = 1\nlr_schedule = \"cosine\"\nlr_decay = 0.9\n").unwrap();
    let err = train_fail(&out, &["--config", cfg.to_str().unwrap()]);
    assert_mentions(&err, &["exp.toml", "lr_decay = 0.9 with lr_schedule = \"cosine\"", "set it to 1"]);
    // From the flag on a cosine-only file (which alone is fine).
    std::fs::write(&cfg, "epochs = 1\nlr_schedule = \"cosine\"\n").unwrap();
    let err = train_fail(&out, &["--config", cfg.to_str().unwrap(), "--lr-decay", "0.8"]);
    assert_mentions(&err, &["lr_decay = 0.8 with lr_schedule = \"cosine\"", "--lr-decay"]);
    assert!(!err.contains("exp.toml"), "the flag's error was blamed on the file:\n{err}");
}

#[test]
fn invalid_toml_syntax_and_missing_config() {
    let t = tempfile::tempdir().unwrap();
    let cfg = t.path().join("exp.toml");
    std::fs::write(&cfg, "epochs = = 1\n").unwrap();
    let out = t.path().join("run");
    let err = train_fail(&out, &["--config", cfg.to_str().unwrap()]);
    assert_mentions(&err, &["exp.toml"]);
    let err = train_fail(&out, &["--config", "/nonexistent/exp.toml"]);
    assert_mentions(&err, &["/nonexistent/exp.toml"]);
}

#[test]
fn batch_size_zero_states_the_range() {
    let (_t, out) = out_dir();
    let err = train_fail(&out, &["--batch-size", "0"]);
    assert_mentions(&err, &["batch_size", "[1, 65536]"]);
}

#[test]
fn out_of_range_training_values_state_the_range() {
    let (_t, out) = out_dir();
    assert_mentions(&train_fail(&out, &["--lr=0"]), &["lr", "(0, 10]"]);
    let err = run_fail(&["train", "--epochs", "0", "--out", out.to_str().unwrap()]);
    assert_mentions(&err, &["epochs", "[1, 10000]"]);
    assert_mentions(&train_fail(&out, &["--momentum", "1.5", "--optimizer", "sgd"]), &["momentum", "[0, 1)"]);
    assert_mentions(&train_fail(&out, &["--rollback-tolerance", "2"]), &["tolerance", "[0, 1]"]);
    let err = run_fail(&["train", "--val-size", "0", "--out", out.to_str().unwrap()]);
    assert_mentions(&err, &["val_size"]);
    assert_mentions(&train_fail(&out, &["--optimizer", "rmsprop"]), &["rmsprop", "adam", "sgd"]);
    assert_mentions(&train_fail(&out, &["--replicas", "0"]), &["replicas", "[1, 64]"]);
}

#[test]
fn policy_param_out_of_range_states_the_range() {
    let (_t, out) = out_dir();
    let err = train_fail(&out, &["--policy", "performance", "-P", "budget=5"]);
    assert_mentions(&err, &["budget", "5", "[0, 1]"]);
    let err = train_fail(&out, &["--policy", "gmp", "-P", "final_sparsity=1.5"]);
    assert_mentions(&err, &["final_sparsity", "[0, 0.999]"]);
    let err = train_fail(&out, &["--policy", "oneshot", "-P", "sparsity=abc"]);
    assert_mentions(&err, &["sparsity", "abc"]);
    let err = train_fail(&out, &["--policy", "performance", "-P", "scope=everywhere"]);
    assert_mentions(&err, &["scope", "everywhere", "global", "tensor"]);
}

#[test]
fn unknown_policy() {
    let (_t, out) = out_dir();
    let err = train_fail(&out, &["--policy", "nosuchpolicy"]);
    assert_mentions(&err, &["nosuchpolicy", "dtprune policies"]);
    let err = train_fail(&out, &["--policy", "structure+nosuch"]);
    assert_mentions(&err, &["nosuch"]);
}

#[test]
fn unknown_model() {
    let (_t, out) = out_dir();
    let err = train_fail(&out, &["--model", "resnet999"]);
    assert_mentions(&err, &["resnet999", "lenet300", "lenet5"]);
}

#[test]
fn unknown_policy_param() {
    let (_t, out) = out_dir();
    let err = train_fail(&out, &["--policy", "performance", "-P", "nokey=1"]);
    assert_mentions(&err, &["nokey", "budget"]);
    let err = train_fail(&out, &["--policy", "none", "-P", "sparsity=0.5"]);
    assert_mentions(&err, &["sparsity"]);
    let err = train_fail(&out, &["--policy", "performance", "-P", "budget"]);
    assert_mentions(&err, &["budget", "KEY=VALUE"]);
}

#[test]
fn existing_finished_run_is_not_overwritten() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("run");
    std::fs::create_dir(&out).unwrap();
    let summary = "{\"model\": \"lenet300\", \"note\": \"an earlier finished run\"}";
    std::fs::write(out.join("summary.json"), summary).unwrap();
    let err = run_fail(&["train", "--epochs", "1", "--train-limit", "500", "--val-size", "100", "--quiet", "--out", out.to_str().unwrap()]);
    assert_mentions(&err, &["already", "--overwrite"]);
    assert_eq!(std::fs::read_to_string(out.join("summary.json")).unwrap(), summary, "the finished run was touched");
    assert!(!out.join("model.safetensors").exists() && !out.join("history.jsonl").exists(), "the finished run was touched");
}

#[test]
fn eval_on_empty_or_missing_dir() {
    let t = tempfile::tempdir().unwrap();
    let err = run_fail(&["eval", "--run", t.path().to_str().unwrap()]);
    assert_mentions(&err, &[t.path().to_str().unwrap(), "config.toml"]);
    let err = run_fail(&["eval", "--run", "/nonexistent/run"]);
    assert_mentions(&err, &["/nonexistent/run"]);
    // A config but no model: the run did not finish.
    std::fs::write(t.path().join("config.toml"), "model = \"lenet300\"\n").unwrap();
    let err = run_fail(&["eval", "--run", t.path().to_str().unwrap()]);
    assert_mentions(&err, &["model.safetensors"]);
}

#[test]
fn compact_on_dir_without_model() {
    let t = tempfile::tempdir().unwrap();
    let err = run_fail(&["compact", "--run", t.path().to_str().unwrap()]);
    assert_mentions(&err, &["model.safetensors"]);
    assert!(!t.path().join("compact.safetensors").exists());
    let err = run_fail(&["bench", "--run", t.path().to_str().unwrap()]);
    assert_mentions(&err, &["model.safetensors"]);
}

/// A small valid safetensors file: one F32 tensor `fc1.weight` [4, 3] and one `fc1.bias` [4].
fn tiny_safetensors() -> Vec<u8> {
    let header = r#"{"fc1.bias":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"fc1.weight":{"dtype":"F32","shape":[4,3],"data_offsets":[16,64]}}"#;
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    for i in 0..16 {
        b.extend_from_slice(&(i as f32 * 0.5 - 2.0).to_le_bytes());
    }
    b
}

#[test]
fn inspect_truncated_and_broken_safetensors() {
    let t = tempfile::tempdir().unwrap();
    let good = t.path().join("good.safetensors");
    std::fs::write(&good, tiny_safetensors()).unwrap();
    let ok = run_ok(&["inspect", good.to_str().unwrap()]);
    assert!(ok.contains("fc1.weight") && ok.contains("fc1.bias"), "inspect output:\n{ok}");

    let bytes = tiny_safetensors();
    // Cut inside the data: the tensor whose data is missing is named.
    let cut = t.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let err = run_fail(&["inspect", cut.to_str().unwrap()]);
    assert_mentions(&err, &["cut.safetensors", "fc1.weight", "truncated"]);
    // Cut inside the header.
    let cut2 = t.path().join("cut2.safetensors");
    std::fs::write(&cut2, &bytes[..40]).unwrap();
    let err = run_fail(&["inspect", cut2.to_str().unwrap()]);
    assert_mentions(&err, &["cut2.safetensors"]);
    // Shorter than the 8-byte length prefix, and not there at all.
    let tiny = t.path().join("tiny.safetensors");
    std::fs::write(&tiny, [1u8, 2, 3]).unwrap();
    assert_mentions(&run_fail(&["inspect", tiny.to_str().unwrap()]), &["tiny.safetensors"]);
    assert_mentions(&run_fail(&["inspect", "/nonexistent/x.safetensors"]), &["/nonexistent/x.safetensors"]);
}

#[test]
fn report_on_a_dir_that_is_not_a_run() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("notes.txt"), "hello").unwrap();
    let html = t.path().join("r.html");
    let err = run_fail(&["report", t.path().to_str().unwrap(), "-o", html.to_str().unwrap()]);
    assert_mentions(&err, &[t.path().to_str().unwrap(), "not a dtprune run"]);
    assert!(!html.exists(), "an error must not leave an (empty) report behind");
    let err = run_fail(&["report", "/nonexistent/run", "-o", html.to_str().unwrap()]);
    assert_mentions(&err, &["/nonexistent/run"]);
}

#[test]
fn report_with_a_broken_history_line() {
    // A real (tiny) run, then one line of its history.jsonl broken: either a clear error naming
    // the file, or a report that says what is missing; never a panic or an empty page.
    let t = tempfile::tempdir().unwrap();
    let run = t.path().join("run");
    run_ok(&[
        "train", "--train-limit", "500", "--val-size", "100", "--test-limit", "100", "--epochs", "2", "--policy", "none",
        "--quiet", "--no-compact", "--out", run.to_str().unwrap(),
    ]);
    let h = run.join("history.jsonl");
    let text = std::fs::read_to_string(&h).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let broken = &lines[1][..lines[1].len() / 2].to_string();
    lines[1] = broken;
    std::fs::write(&h, lines.join("\n") + "\n").unwrap();
    let html = t.path().join("r.html");
    let args = ["report", run.to_str().unwrap(), "-o", html.to_str().unwrap()];
    let out = dtprune().args(args).output().unwrap();
    let all = show(&args, &out);
    assert!(!all.contains("panicked"), "{all}");
    if out.status.success() {
        let page = std::fs::read_to_string(&html).unwrap();
        assert!(page.len() > 1000 && page.contains("history.jsonl"), "the report does not say history.jsonl is broken:\n{all}");
    } else {
        assert!(String::from_utf8_lossy(&out.stderr).contains("history.jsonl"), "the error does not name history.jsonl:\n{all}");
    }
}

/// `bench --batch 0` (and absurd batch sizes) are range errors, not a panic or a hang.
#[test]
fn bench_batch_out_of_range() {
    let tmp = tempfile::tempdir().unwrap();
    for b in ["0", "100000000"] {
        let err = run_fail(&["bench", "--run", tmp.path().to_str().unwrap(), "--batch", b]);
        assert!(err.contains(&format!("--batch {b} is out of range")), "{err}");
    }
    let err = run_fail(&["bench", "train", "--replicas", "0"]);
    assert!(err.contains("--replicas 0 is out of range"), "{err}");
}

#[test]
fn bad_kernel_level_is_named_before_any_work() {
    let (_t, out) = out_dir();
    let args = ["train", "--train-limit", "500", "--val-size", "100", "--test-limit", "100", "--epochs", "1", "--quiet", "--out", out.to_str().unwrap()];
    let o = dtprune().args(args).env("DTPRUNE_SIMD", "sse9").output().expect("run dtprune");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{}", show(&args, &o));
    assert_mentions(&err, &["DTPRUNE_SIMD", "sse9", "generic, avx2, avx512"]);
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.exists(), "a failed run created its output directory");
}
