//! Hostile inputs on the user's path, end to end through the `dtprune` binary: data files that
//! lie about their size, safetensors headers that lie about their tensors, run files that do
//! not match each other, configs of the wrong type or range, a full disk and a read-only output
//! folder. Each must give exit 1, an error naming the file and the problem, no panic, and leave
//! nothing half-written behind. (The plainer cases — missing, truncated, garbage files, unknown
//! keys — are in `bad_input.rs`.)

mod common;

use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn assert_mentions(err: &str, words: &[&str]) {
    for w in words {
        assert!(err.contains(w), "the message does not mention `{w}`:\n{err}");
    }
}

/// A small train command into `out` that must fail before training.
fn train_args<'a>(out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["train", "--train-limit", "500", "--val-size", "100", "--test-limit", "100", "--epochs", "1", "--quiet"];
    args.extend_from_slice(&["--out", out.to_str().unwrap()]);
    args.extend_from_slice(extra);
    args
}

/// No file of a run is left half-written: no write_atomic temporary, and no model, summary or
/// history of a run that failed.
fn assert_nothing_partial(dir: &Path) {
    if !dir.exists() {
        return;
    }
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".tmp"), "a temporary file was left behind in {}: {name}", dir.display());
    }
    for f in ["summary.json", "model.safetensors"] {
        assert!(!dir.join(f).exists(), "a failed run left {f} in {}", dir.display());
    }
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

fn idx_labels_header(count: u32) -> Vec<u8> {
    let mut b = vec![0u8, 0, 8, 1];
    b.extend_from_slice(&count.to_be_bytes());
    b
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Runs `train` on `data` with both IDX readers (`mnist`, checksum-pinned, and generic `idx`);
/// returns their error messages.
fn train_fail_on_data(data: &Path) -> Vec<String> {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("run");
    let d = data.to_str().unwrap();
    let mut errs = Vec::new();
    for dataset in ["mnist", "idx"] {
        errs.push(run_fail(&train_args(&out, &["--dataset", dataset, "--data-dir", d])));
        assert!(!out.exists(), "a run that could not read its data created {}", out.display());
    }
    errs
}

#[test]
fn gzip_bomb_is_refused_by_its_announced_size() {
    // 10,000 labels announced, then 256 MiB of zeros: a 250 kB `.gz`. Inflated only as far as
    // the header announces (plus a bounded count), then refused.
    let data = mnist_copy();
    let mut raw = idx_labels_header(10_000);
    raw.resize(8 + 10_000 + (256 << 20), 0);
    let gz = gzip(&raw);
    drop(raw);
    assert!(gz.len() < 1 << 20, "the bomb is {} bytes", gz.len());
    std::fs::write(data.path().join("t10k-labels-idx1-ubyte.gz"), gz).unwrap();
    for err in train_fail_on_data(data.path()) {
        assert_mentions(&err, &["t10k-labels-idx1-ubyte.gz", "more than", "10008 bytes the header announces"]);
    }
}

#[test]
fn oversized_idx_headers_are_refused() {
    // A header whose sizes overflow, one that announces 4 G labels in a small file, and a raw
    // file longer than its header says.
    let data = mnist_copy();
    let labels = data.path().join("t10k-labels-idx1-ubyte");
    std::fs::remove_file(data.path().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let images = data.path().join("t10k-images-idx3-ubyte");
    std::fs::remove_file(data.path().join("t10k-images-idx3-ubyte.gz")).unwrap();

    let mut overflow = vec![0u8, 0, 8, 3];
    for _ in 0..3 {
        overflow.extend_from_slice(&u32::MAX.to_be_bytes());
    }
    std::fs::write(&images, &overflow).unwrap();
    std::fs::write(&labels, idx_labels_header(10_000).into_iter().chain(std::iter::repeat_n(1, 10_000)).collect::<Vec<u8>>()).unwrap();
    for err in train_fail_on_data(data.path()) {
        assert_mentions(&err, &["t10k-images-idx3-ubyte"]);
        assert!(err.contains("too large"), "no mention of the overflowing size:\n{err}");
    }

    std::fs::copy(mnist_dir().join("t10k-images-idx3-ubyte.gz"), &images).unwrap();
    let mut huge = idx_labels_header(u32::MAX);
    huge.extend(std::iter::repeat_n(1u8, 10_000));
    std::fs::write(&labels, &huge).unwrap();
    for err in train_fail_on_data(data.path()) {
        assert_mentions(&err, &["t10k-labels-idx1-ubyte", "truncated", "4294967303"]);
    }

    let mut long = idx_labels_header(10_000);
    long.extend(std::iter::repeat_n(1u8, 10_000 + 77));
    std::fs::write(&labels, &long).unwrap();
    for err in train_fail_on_data(data.path()) {
        assert_mentions(&err, &["t10k-labels-idx1-ubyte", "77 trailing byte"]);
    }
}

#[test]
fn images_and_labels_of_different_counts() {
    // 9,999 well-formed labels beside 10,000 test images.
    let data = mnist_copy();
    std::fs::remove_file(data.path().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let mut raw = idx_labels_header(9_999);
    raw.extend(std::iter::repeat_n(7u8, 9_999));
    std::fs::write(data.path().join("t10k-labels-idx1-ubyte"), gzip(&raw)).unwrap();
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("run");
    let err = run_fail(&train_args(&out, &["--dataset", "idx", "--data-dir", data.path().to_str().unwrap()]));
    assert_mentions(&err, &["t10k-labels-idx1-ubyte", "9999", "10000"]);
    assert!(!out.exists());
}

// ---- safetensors with a lying header -------------------------------------------------------

/// A safetensors file from a JSON header and `data_len` bytes of data.
fn safetensors(header: &str, data_len: usize) -> Vec<u8> {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    b.extend((0..data_len).map(|i| (i % 7) as u8 * 16));
    b
}

/// Every way a header can lie about its data, with the words the error must contain.
fn lying_headers() -> Vec<(&'static str, Vec<u8>, &'static [&'static str])> {
    vec![
        (
            "offsets past the end",
            safetensors(r#"{"fc1.weight":{"dtype":"F32","shape":[4],"data_offsets":[0,1000]}}"#, 16),
            &["fc1.weight"],
        ),
        (
            "overlapping ranges",
            safetensors(
                r#"{"a.weight":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b.weight":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#,
                24,
            ),
            &[],
        ),
        (
            "wrong dtype size",
            safetensors(r#"{"fc1.weight":{"dtype":"F32","shape":[4],"data_offsets":[0,12]}}"#, 12),
            &[],
        ),
        (
            "offsets that end before they start",
            safetensors(r#"{"fc1.weight":{"dtype":"F32","shape":[0],"data_offsets":[18446744073709551615,0]}}"#, 16),
            &[],
        ),
        (
            "a gap before the last tensor",
            safetensors(
                r#"{"a.weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b.weight":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}}"#,
                20,
            ),
            &[],
        ),
        ("a header length larger than the file", { let mut b = safetensors(r#"{}"#, 0); b[..8].copy_from_slice(&(1u64 << 40).to_le_bytes()); b }, &["header"]),
    ]
}

#[test]
fn lying_safetensors_headers_are_refused_by_inspect_and_prune_weights() {
    let t = tempfile::tempdir().unwrap();
    for (what, bytes, words) in lying_headers() {
        let f = t.path().join("lying.safetensors");
        std::fs::write(&f, &bytes).unwrap();
        let err = run_fail(&["inspect", f.to_str().unwrap()]);
        assert_mentions(&err, &["lying.safetensors"]);
        assert_mentions(&err, words);
        let out = t.path().join("pruned.safetensors");
        let err = run_fail(&["prune-weights", f.to_str().unwrap(), "-o", out.to_str().unwrap(), "--sparsity", "0.5"]);
        assert_mentions(&err, &["lying.safetensors"]);
        assert!(!out.exists(), "{what}: prune-weights wrote an output for a broken input");
        assert_nothing_partial(t.path());
    }
}

/// One small real run (trained once per test binary), with its compact model.
fn real_run() -> &'static Path {
    static RUN: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, p) = RUN.get_or_init(|| {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("run");
        run_ok(&train_args(&p, &["--policy", "oneshot", "-P", "sparsity=0.9"]));
        assert!(p.join("compact.json").is_file() && p.join("checkpoint.safetensors").is_file());
        (t, p)
    });
    p
}

/// A copy of the real run without its compact model (so a failed `compact` is seen to write
/// nothing).
fn run_copy(keep_compact: bool) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(real_run()).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().unwrap().is_file() && (keep_compact || !name.starts_with("compact.")) {
            std::fs::copy(e.path(), t.path().join(&name)).unwrap();
        }
    }
    t
}

#[test]
fn lying_model_masks_and_checkpoint_files_are_named() {
    for (what, bytes, _) in lying_headers() {
        for file in ["model.safetensors", "masks.safetensors"] {
            let run = run_copy(false);
            let dir = run.path().to_str().unwrap();
            std::fs::write(run.path().join(file), &bytes).unwrap();
            let err = run_fail(&["compact", "--run", dir]);
            assert_mentions(&err, &[file]);
            assert!(!run.path().join("compact.json").exists() && !run.path().join("compact.safetensors").exists(), "{what}: compact wrote output");
            assert_nothing_partial_except_model(run.path());
            if file == "model.safetensors" {
                assert_mentions(&run_fail(&["eval", "--run", dir]), &[file]);
                assert_mentions(&run_fail(&["export", "--run", dir, "--format", "onnx"]), &[file]);
                assert!(!run.path().join("model.onnx").exists(), "{what}: export wrote model.onnx");
            }
        }
        // The checkpoint of an unfinished run: `--resume` must name it and leave the folder be.
        let run = run_copy(false);
        for f in ["summary.json", "model.safetensors"] {
            std::fs::remove_file(run.path().join(f)).unwrap();
        }
        std::fs::write(run.path().join("checkpoint.safetensors"), &bytes).unwrap();
        let err = run_fail(&["train", "--resume", run.path().to_str().unwrap(), "--quiet"]);
        assert_mentions(&err, &["checkpoint.safetensors"]);
        assert_eq!(std::fs::read(run.path().join("checkpoint.safetensors")).unwrap(), bytes, "{what}: the checkpoint was touched");
        assert_nothing_partial(run.path());
    }
}

/// Like [`assert_nothing_partial`] for a finished run (whose model and summary are its own).
fn assert_nothing_partial_except_model(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".tmp"), "a temporary file was left behind in {}: {name}", dir.display());
    }
}

// ---- graph.json / compact.json that do not match their tensors ------------------------------

fn edit_json(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut v = read_json(path);
    edit(&mut v);
    std::fs::write(path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

/// The first linear layer of a graph (`nodes`, graph.json v2) or compact document (`layers`).
fn first_linear(v: &mut serde_json::Value) -> &mut serde_json::Value {
    let key = if v.get("nodes").is_some() { "nodes" } else { "layers" };
    let layers = v[key].as_array_mut().expect("a `nodes` or `layers` array");
    layers.iter_mut().find(|l| l.get("out_features").is_some()).expect("a linear layer")
}

#[test]
fn graph_json_that_does_not_match_the_tensors() {
    // A wider first layer than model.safetensors holds; a layer whose tensors do not exist; a
    // chain whose shapes do not connect.
    type Edit = fn(&mut serde_json::Value);
    let edits: [(Edit, &[&str]); 3] = [
        (|v| { first_linear(v)["out_features"] = 301.into(); }, &["graph.json", "301"]),
        (|v| { first_linear(v)["name"] = "nosuch".into(); }, &["nosuch.weight"]),
        (|v| { first_linear(v)["in_features"] = 783.into(); }, &["graph.json", "783"]),
    ];
    for (edit, words) in edits {
        let run = run_copy(false);
        let dir = run.path().to_str().unwrap();
        edit_json(&run.path().join("graph.json"), edit);
        for cmd in ["compact", "bench"] {
            let err = run_fail(&[cmd, "--run", dir]);
            assert_mentions(&err, words);
        }
        assert!(!run.path().join("compact.json").exists() && !run.path().join("compact.safetensors").exists());
        assert_nothing_partial_except_model(run.path());
    }
}

#[test]
fn compact_json_that_does_not_match_the_tensors() {
    type Edit = fn(&mut serde_json::Value);
    let edits: [(Edit, &[&str]); 3] = [
        // The document claims another width than the stored tensors.
        (|v| { let l = first_linear(v); l["out_features"] = (l["out_features"].as_u64().unwrap() + 1).into(); }, &["compact.json"]),
        // An unknown storage format.
        (|v| { first_linear(v)["storage"]["format"] = "coo".into(); }, &["coo"]),
        // Not a compact document at all.
        (|v| { *v = serde_json::json!({"layers": 3}); }, &["compact.json"]),
    ];
    for (edit, words) in edits {
        let run = run_copy(true);
        let dir = run.path().to_str().unwrap();
        edit_json(&run.path().join("compact.json"), edit);
        let out = run.path().join("c.onnx");
        let err = run_fail(&["export", "--run", dir, "--format", "onnx", "--compact", "-o", out.to_str().unwrap()]);
        assert_mentions(&err, words);
        assert!(!out.exists(), "export wrote an ONNX file for a broken compact model");
        assert_nothing_partial_except_model(run.path());
    }
}

// ---- TOML of the wrong type or out of range ------------------------------------------------

#[test]
fn toml_wrong_types_and_out_of_range_values_name_the_file_and_key() {
    let t = tempfile::tempdir().unwrap();
    let cfg = t.path().join("exp.toml");
    let out = t.path().join("run");
    let cases: &[(&str, &[&str])] = &[
        ("epochs = \"ten\"\n", &["exp.toml", "epochs"]),
        ("lr = true\n", &["exp.toml", "lr"]),
        ("seed = -3\n", &["exp.toml", "seed"]),
        ("batch_size = 1.5\n", &["exp.toml", "batch_size"]),
        ("[policy]\nname = 7\n", &["exp.toml", "name"]),
        ("[rollback]\ntolerance = \"high\"\n", &["exp.toml", "tolerance"]),
        ("lr = -1.0\n", &["exp.toml", "lr", "(0, 10]"]),
        ("lr = nan\n", &["exp.toml", "lr"]),
        ("lr = inf\n", &["exp.toml", "lr"]),
        ("batch_size = 100000\n", &["exp.toml", "batch_size", "[1, 65536]"]),
        ("epochs = 99999999999999999999\n", &["exp.toml", "epochs"]),
        ("[policy]\nname = \"gmp\"\nfinal_sparsity = 2.0\n", &["exp.toml", "final_sparsity", "[0, 0.999]"]),
        ("[policy]\nname = \"performance\"\nbudget = \"small\"\n", &["exp.toml", "budget"]),
        ("[rollback]\ntolerance = -0.5\n", &["exp.toml", "tolerance", "[0, 1]"]),
    ];
    for (text, words) in cases {
        std::fs::write(&cfg, text).unwrap();
        let err = run_fail(&train_args(&out, &["--config", cfg.to_str().unwrap()]));
        assert!(words.iter().all(|w| err.contains(w)), "config {text:?}: the message does not name {words:?}:\n{err}");
        assert!(!out.exists(), "config {text:?}: a run with a bad config created its folder");
    }
}

// ---- a full disk and a read-only output folder ---------------------------------------------

/// A tmpfs of `size` mounted on a fresh temp dir for the test's duration (`None`, with the
/// reason printed, where this process may not mount).
struct Mount {
    dir: tempfile::TempDir,
}

impl Mount {
    fn tmpfs(options: &str) -> Option<Mount> {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount").args(["-t", "tmpfs", "-o", options, "tmpfs"]).arg(dir.path()).output();
        match out {
            Ok(o) if o.status.success() => Some(Mount { dir }),
            Ok(o) => {
                eprintln!("SKIPPED: cannot mount a tmpfs here ({}); run as root to test a full disk", String::from_utf8_lossy(&o.stderr).trim());
                None
            }
            Err(e) => {
                eprintln!("SKIPPED: no `mount` command ({e})");
                None
            }
        }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Every file in `dir` either parses completely or is not there: no partial output.
fn assert_every_file_complete(dir: &Path) {
    assert_nothing_partial_except_model(dir);
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&p).unwrap_or_default();
        if name.ends_with(".json") {
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_else(|e| panic!("{name} is incomplete: {e}"));
        } else if name.ends_with(".safetensors") {
            let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
            let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
            let end = header.as_object().unwrap().values().filter_map(|v| v["data_offsets"][1].as_u64()).max().unwrap_or(0) as usize;
            assert_eq!(bytes.len(), 8 + n + end, "{name} is incomplete");
        }
    }
}

#[test]
fn a_full_disk_is_an_error_naming_the_file_and_leaves_nothing_partial() {
    // 600 kB: room for the config, the graph and the history, not for LeNet-300-100's 1 MB
    // model and its checkpoint.
    let Some(mnt) = Mount::tmpfs("size=600k") else { return };
    let out = mnt.path().join("run");
    let err = run_fail(&train_args(&out, &[]));
    assert!(err.contains("No space left on device"), "the error does not say the disk is full:\n{err}");
    assert!(err.contains(out.to_str().unwrap()), "the error does not name the file:\n{err}");
    assert!(!out.join("summary.json").exists() && !out.join("model.safetensors").exists());
    if out.exists() {
        assert_every_file_complete(&out);
    }
    // The same for `compact` of a real run on a disk filled up to the last byte.
    let Some(mnt) = Mount::tmpfs("size=3m") else { return };
    let run = mnt.path().join("run");
    std::fs::create_dir(&run).unwrap();
    for f in ["model.safetensors", "graph.json", "masks.safetensors", "config.toml"] {
        std::fs::copy(real_run().join(f), run.join(f)).unwrap();
    }
    fill(&mnt.path().join("filler"));
    let err = run_fail(&["compact", "--run", run.to_str().unwrap()]);
    assert_mentions(&err, &["No space left on device", "compact"]);
    assert_every_file_complete(&run);
    assert!(!run.join("compact.json").exists() && !run.join("compact.safetensors").exists());
}

/// Writes `path` until the disk is full.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![1u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.flush();
}

#[test]
fn a_read_only_output_folder_is_an_error_naming_it() {
    // Root ignores permission bits, so the read-only folder is a read-only mount.
    let Some(mnt) = Mount::tmpfs("size=1m,ro") else { return };
    let out = mnt.path().join("run");
    let err = run_fail(&train_args(&out, &[]));
    assert!(err.contains("Read-only file system"), "the error does not say the folder is read-only:\n{err}");
    assert!(err.contains(mnt.path().to_str().unwrap()), "the error does not name the folder:\n{err}");
    assert!(!out.exists());
    // A finished run on a read-only disk: compact and export fail naming the file, the run stays.
    let report = mnt.path().join("report.html");
    let err = run_fail(&["report", real_run().to_str().unwrap(), "-o", report.to_str().unwrap()]);
    assert_mentions(&err, &["report.html", "Read-only file system"]);
    let onnx = mnt.path().join("model.onnx");
    let err = run_fail(&["export", "--run", real_run().to_str().unwrap(), "--format", "onnx", "-o", onnx.to_str().unwrap()]);
    assert_mentions(&err, &["model.onnx", "Read-only file system"]);
    let pruned = mnt.path().join("pruned.safetensors");
    let model = real_run().join("model.safetensors");
    let err = run_fail(&["prune-weights", model.to_str().unwrap(), "-o", pruned.to_str().unwrap(), "--sparsity", "0.5"]);
    assert_mentions(&err, &["pruned.safetensors", "Read-only file system"]);
    assert_eq!(std::fs::read_dir(mnt.path()).unwrap().count(), 0, "something was written to the read-only folder");
}
