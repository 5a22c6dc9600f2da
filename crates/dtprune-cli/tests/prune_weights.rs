//! `dtprune prune-weights` end to end: a real pruned file checked by the Python `safetensors`
//! package and numpy (`check_pruned.py`), the real MiniLM checkpoint when it is present, and
//! every kind of bad input — each a clear error, exit 1, and no output file left behind.

mod common;

use common::{run_fail, run_ok};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A safetensors file written by hand (8-byte LE length, JSON header, data), so the tests do
/// not trust dtprune's reader: `(name, dtype, shape, little-endian bytes)` in data order.
fn write_safetensors(path: &Path, tensors: &[(&str, &str, Vec<usize>, Vec<u8>)], metadata: &str) {
    let mut header = format!("{{\"__metadata__\":{metadata}");
    let mut offset = 0;
    for (name, dtype, shape, bytes) in tensors {
        header += &format!(",\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape:?},\"data_offsets\":[{offset},{}]}}", offset + bytes.len());
        offset += bytes.len();
    }
    header += "}";
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header.as_bytes());
    tensors.iter().for_each(|t| file.extend_from_slice(&t.3));
    std::fs::write(path, file).unwrap();
}

/// Deterministic N(0,1)-ish values (sum of uniforms), scaled.
fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut x = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut uniform = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 40) as f32 / (1u64 << 24) as f32
    };
    (0..n).map(|_| ((0..4).map(|_| uniform()).sum::<f32>() - 2.0) * scale).collect()
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// f16 / bf16 bytes by rounding to nearest even, done here without the `half` crate.
fn bf16_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| { let b = x.to_bits(); (((b + 0x7FFF + ((b >> 16) & 1)) >> 16) as u16).to_le_bytes() }).collect()
}

fn f16_bytes(v: &[f32]) -> Vec<u8> {
    // Normal-range values only (|x| in [2^-14, 65504)), which these tests use: no subnormals.
    v.iter()
        .flat_map(|x| {
            let b = x.to_bits();
            let sign = ((b >> 16) & 0x8000) as u16;
            let exp = ((b >> 23) & 0xFF) as i32 - 127 + 15;
            let mant = b & 0x7F_FFFF;
            let h = if exp <= 0 { sign } else { sign | ((exp as u16) << 10) | (mant >> 13) as u16 };
            h.to_le_bytes()
        })
        .collect()
}

/// A small encoder-shaped checkpoint: F32/F16/BF16 matrices, an F32 bias, an F16 norm vector,
/// I64 position ids, and metadata.
fn encoder(path: &Path) {
    let big = |v: Vec<f32>| v.into_iter().map(|x| if x.abs() < 1e-3 { 1e-3 } else { x }).collect::<Vec<f32>>();
    write_safetensors(
        path,
        &[
            ("embeddings.word_embeddings.weight", "F32", vec![200, 16], f32_bytes(&values(3200, 1, 0.05))),
            ("embeddings.position_ids", "I64", vec![1, 12], (0..12i64).flat_map(|i| i.to_le_bytes()).collect()),
            ("encoder.layer.0.attention.query.weight", "F16", vec![16, 16], f16_bytes(&big(values(256, 2, 0.2)))),
            ("encoder.layer.0.attention.query.bias", "F32", vec![16], f32_bytes(&values(16, 3, 0.01))),
            ("encoder.layer.0.output.dense.weight", "BF16", vec![16, 64], bf16_bytes(&values(1024, 4, 0.1))),
            ("encoder.layer.0.output.LayerNorm.weight", "F16", vec![16], f16_bytes(&vec![1.0; 16])),
        ],
        r#"{"format":"pt","source":"dtprune test"}"#,
    );
}

fn python() -> Option<String> {
    let py = std::env::var("DTPRUNE_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py).args(["-c", "import safetensors, numpy"]).output().map(|o| o.status.success()).unwrap_or(false);
    if ok {
        return Some(py);
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but `{py} -c \"import safetensors, numpy\"` fails: install them or set DTPRUNE_PYTHON");
    }
    eprintln!("SKIPPED prune_weights python check: `{py}` lacks numpy/safetensors (set DTPRUNE_PYTHON to an interpreter that has them)");
    None
}

fn check_with_python(py: &str, input: &Path, output: &Path, report: &Path, sparsity: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/check_pruned.py");
    let out = Command::new(py).arg(script).args([input, output, report]).arg(sparsity).output().expect("run python");
    let (so, se) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "python check failed\nstdout: {so}\nstderr: {se}");
    println!("{so}");
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Files in `dir` (names), to show nothing was left behind.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    v.sort();
    v
}

#[test]
fn prunes_a_file_that_python_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output, report) = (dir.path().join("in.safetensors"), dir.path().join("out.safetensors"), dir.path().join("report.json"));
    encoder(&input);
    let stdout = run_ok(&["prune-weights", s(&input), "-o", s(&output), "--sparsity", "0.6", "--report", s(&report)]);
    // the per-tensor table names every tensor; copied ones say so
    let line = |name: &str| stdout.lines().find(|l| l.split_whitespace().next() == Some(name)).unwrap_or_else(|| panic!("no {name} in\n{stdout}"));
    assert!(line("encoder.layer.0.output.dense.weight").split_whitespace().collect::<Vec<_>>()[1..4] == ["BF16", "[16,", "64]"], "{stdout}");
    assert!(line("embeddings.position_ids").contains("copied"), "{stdout}");
    assert!(stdout.contains("3 of 6 tensors pruned"), "{stdout}");
    assert_eq!(listing(dir.path()), ["in.safetensors", "out.safetensors", "report.json"]);
    if let Some(py) = python() {
        check_with_python(&py, &input, &output, &report, "0.6");
    }
}

#[test]
fn include_exclude_and_global_scope() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output, report) = (dir.path().join("in.safetensors"), dir.path().join("out.safetensors"), dir.path().join("r.json"));
    encoder(&input);
    run_ok(&[
        "prune-weights", s(&input), "-o", s(&output), "-P", "sparsity=0.5", "-P", "scope=global",
        "--include", "encoder.*", "--exclude", "*.bias", "--report", s(&report), "--quiet",
    ]);
    let r = common::read_json(&report);
    let picked: Vec<&str> = r["tensors"].as_array().unwrap().iter().filter(|t| t["selected"] == true).map(|t| t["name"].as_str().unwrap()).collect();
    // --include takes the 1-D LayerNorm vector too; --exclude drops the bias
    assert_eq!(picked, ["encoder.layer.0.attention.query.weight", "encoder.layer.0.output.dense.weight", "encoder.layer.0.output.LayerNorm.weight"]);
    let taus: Vec<f64> = r["tensors"].as_array().unwrap().iter().filter_map(|t| t["threshold"].as_f64()).collect();
    assert!(taus.windows(2).all(|w| w[0] == w[1]), "one global threshold: {taus:?}");
    assert_eq!(r["params"]["scope"], "global");
}

#[test]
fn distribution_policy_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output, report) = (dir.path().join("in.safetensors"), dir.path().join("out.safetensors"), dir.path().join("r.json"));
    encoder(&input);
    run_ok(&["prune-weights", s(&input), "-o", s(&output), "--policy", "distribution", "-P", "c=0", "--sparsity", "0.9", "--report", s(&report)]);
    let r = common::read_json(&report);
    // c = 0: tau = mean|w|; for these bell-shaped weights that prunes roughly 55-60% of each
    for t in r["tensors"].as_array().unwrap().iter().filter(|t| t["selected"] == true) {
        let sp = t["sparsity_after"].as_f64().unwrap();
        assert!((0.45..0.7).contains(&sp), "{}: {sp}", t["name"]);
        assert!(t["reason"].as_str().unwrap().starts_with("tau = mean|w| + 0 * std|w|"), "{t}");
    }
}

/// The real MiniLM weights (`fetch-weights.sh` in the data set's folder), when present.
fn minilm() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("DTPRUNE_MINILM").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/models/all-MiniLM-L6-v2/model.safetensors")),
    ];
    candidates.into_iter().flatten().find(|p| p.is_file())
}

#[test]
fn prunes_the_real_minilm_checkpoint() {
    let Some(model) = minilm() else {
        eprintln!(
            "SKIPPED prunes_the_real_minilm_checkpoint: no MiniLM model.safetensors (run shared/datasets/models/all-MiniLM-L6-v2/fetch-weights.sh DIR and set DTPRUNE_MINILM=DIR/model.safetensors)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (output, report) = (dir.path().join("out.safetensors"), dir.path().join("r.json"));
    run_ok(&["prune-weights", s(&model), "-o", s(&output), "--sparsity", "0.5", "--report", s(&report), "--quiet"]);
    let r = common::read_json(&report);
    // 6 layers x (q, k, v, attention output, intermediate, output) + 3 embedding matrices +
    // the pooler; the I64 position ids [1, 512] are copied
    assert_eq!(r["selected_tensors"], 40, "{}", r["selected_tensors"]);
    assert!((r["sparsity_after"].as_f64().unwrap() - 0.5).abs() < 1e-3);
    if let Some(py) = python() {
        check_with_python(&py, &model, &output, &report, "0.5");
    }
}

// ---------------------------------------------------------------- bad input

/// Runs a failing prune-weights into `dir/out.safetensors`; asserts the message parts and that
/// `dir` holds only `keep` afterwards.
fn fails(dir: &Path, args: &[&str], expect: &[&str], keep: &[&str]) {
    let stderr = run_fail(args);
    for e in expect {
        assert!(stderr.contains(e), "expected `{e}` in:\n{stderr}");
    }
    assert_eq!(listing(dir), keep, "no output or temporary left behind");
}

#[test]
fn not_a_safetensors_file() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("notes.txt"), dir.path().join("out.safetensors"));
    std::fs::write(&input, "these are notes, not a checkpoint\n").unwrap();
    fails(dir.path(), &["prune-weights", s(&input), "-o", s(&output)], &["notes.txt", "not a valid safetensors file", "declare a"], &["notes.txt"]);
    std::fs::write(&input, "tiny").unwrap();
    fails(dir.path(), &["prune-weights", s(&input), "-o", s(&output)], &["fewer than the 8-byte header length"], &["notes.txt"]);
    fails(dir.path(), &["prune-weights", s(&dir.path().join("missing.safetensors")), "-o", s(&output)], &["missing.safetensors", "cannot read"], &["notes.txt"]);
}

#[test]
fn header_that_lies_about_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in.safetensors"), dir.path().join("out.safetensors"));
    let w = f32_bytes(&values(8, 1, 1.0));
    // data_offsets claim 64 bytes for a [2, 4] F32 tensor (32 bytes), data section is 32
    let mut lie = Vec::new();
    let header = r#"{"w":{"dtype":"F32","shape":[2,4],"data_offsets":[0,64]}}"#;
    lie.extend_from_slice(&(header.len() as u64).to_le_bytes());
    lie.extend_from_slice(header.as_bytes());
    lie.extend_from_slice(&w);
    std::fs::write(&input, &lie).unwrap();
    fails(dir.path(), &["prune-weights", s(&input), "-o", s(&output)], &["in.safetensors", "tensor `w`", "needs 32 bytes, data_offsets [0, 64]"], &["in.safetensors"]);
    // a second tensor that starts inside the first
    let header = r#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]}}"#;
    let mut lie = (header.len() as u64).to_le_bytes().to_vec();
    lie.extend_from_slice(header.as_bytes());
    lie.extend_from_slice(&w);
    std::fs::write(&input, &lie).unwrap();
    fails(dir.path(), &["prune-weights", s(&input), "-o", s(&output)], &["tensor `b`", "do not start where the previous tensor ends"], &["in.safetensors"]);
    // truncated: the header promises more data than the file has
    encoder(&input);
    let bytes = std::fs::read(&input).unwrap();
    std::fs::write(&input, &bytes[..bytes.len() - 10]).unwrap();
    fails(dir.path(), &["prune-weights", s(&input), "-o", s(&output)], &["do not end where the file ends"], &["in.safetensors"]);
}

#[test]
fn unsupported_dtype_selected() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in.safetensors"), dir.path().join("out.safetensors"));
    encoder(&input);
    fails(
        dir.path(),
        &["prune-weights", s(&input), "-o", s(&output), "--include", "embeddings.*"],
        &["tensor `embeddings.position_ids` has dtype I64", "only F32, F16 and BF16"],
        &["in.safetensors"],
    );
}

#[test]
fn glob_that_selects_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in.safetensors"), dir.path().join("out.safetensors"));
    encoder(&input);
    fails(dir.path(), &["prune-weights", s(&input), "-o", s(&output), "--include", "decoder.*"], &["--include `decoder.*` matches no tensor", "the file has 6 tensors"], &["in.safetensors"]);
    fails(dir.path(), &["prune-weights", s(&input), "-o", s(&output), "--exclude", "*.weights"], &["--exclude `*.weights` matches no tensor"], &["in.safetensors"]);
    fails(dir.path(), &["prune-weights", s(&input), "-o", s(&output), "--exclude", "*weight"], &["no tensor is selected", "--exclude removes all of them"], &["in.safetensors"]);
}

#[test]
fn output_path_is_the_input_path() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.safetensors");
    encoder(&input);
    let before = std::fs::read(&input).unwrap();
    fails(dir.path(), &["prune-weights", s(&input), "-o", s(&input)], &["is the input file"], &["in.safetensors"]);
    // the same file under another spelling
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let other = dir.path().join("sub/../in.safetensors");
    fails(dir.path(), &["prune-weights", s(&input), "-o", s(&other)], &["is the input file"], &["in.safetensors", "sub"]);
    fails(dir.path(), &["prune-weights", s(&input), "-o", s(&dir.path().join("o.safetensors")), "--report", s(&input)], &["is the input file; write the report"], &["in.safetensors", "sub"]);
    assert_eq!(std::fs::read(&input).unwrap(), before, "input untouched");
}

#[test]
fn unwritable_output_directory() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.safetensors");
    encoder(&input);
    fails(dir.path(), &["prune-weights", s(&input), "-o", s(&dir.path().join("no/such/dir/out.safetensors"))], &["no/such/dir/out.safetensors", "cannot write"], &["in.safetensors"]);
    // a "directory" that is a regular file
    std::fs::write(dir.path().join("file"), b"x").unwrap();
    fails(dir.path(), &["prune-weights", s(&input), "-o", s(&dir.path().join("file/out.safetensors"))], &["cannot write"], &["file", "in.safetensors"]);
    // a read-only directory (root ignores permission bits: then there is nothing to test)
    use std::os::unix::fs::PermissionsExt;
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::write(ro.join("probe"), b"x").is_ok() {
        std::fs::remove_file(ro.join("probe")).unwrap();
        eprintln!("read-only directory case skipped: running as root, which may write there");
    } else {
        fails(&ro, &["prune-weights", s(&input), "-o", s(&ro.join("out.safetensors"))], &["ro/out.safetensors", "cannot write", "ermission denied"], &[] as &[&str]);
    }
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn bad_values_and_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in.safetensors"), dir.path().join("out.safetensors"));
    let mut w = values(8, 1, 1.0);
    w[3] = f32::NAN;
    write_safetensors(&input, &[("w", "F32", vec![2, 4], f32_bytes(&w))], "{}");
    fails(dir.path(), &["prune-weights", s(&input), "-o", s(&output)], &["in.safetensors", "tensor `w`: 1 of its 8 values are NaN or infinite"], &["in.safetensors"]);
    encoder(&input);
    let run = |extra: &[&str], expect: &[&str]| {
        let mut args = vec!["prune-weights", s(&input), "-o", s(&output)];
        args.extend_from_slice(extra);
        fails(dir.path(), &args, expect, &["in.safetensors"]);
    };
    run(&["--sparsity", "1.5"], &["`sparsity` = 1.5 is out of range; valid range is [0, 0.999]"]);
    run(&["--policy", "performance"], &["policy `performance`: needs a training run", "oneshot, distribution, none"]);
    run(&["-P", "at_epoch=3"], &["`at_epoch` only matters during training"]);
    run(&["--policy", "none", "--sparsity", "0.5"], &["policy `none` has no target sparsity"]);
    run(&["--sparsity", "0.5", "-P", "sparsity=0.4"], &["both set `sparsity`"]);
    run(&["--policy", "nosuch"], &["unknown policy `nosuch`"]);
}
