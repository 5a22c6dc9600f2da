//! End to end: `dtprune sweep` on a real MNIST subset — the table, the front and a best config
//! that reproduces its trial; resume of an interrupted sweep; the emitted Slurm array run through
//! a stub `sbatch`, then `sweep collect`; invalid grids refused before any trial starts.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// LeNet-300-100 on 3000 training images, 2 epochs: about a second of training per trial.
/// `k = 3` prunes past every target at the first event (which the target then caps), so the
/// trials' sparsities differ after two epochs; no rollback, so they stay there. Batches of 18
/// make 167 steps per epoch, so the `gmp` baseline's schedule (prune every 100 steps, ends at
/// 60% of the 334 steps) lands on its final sparsity at step 200.
const BASE: &str = "model = \"lenet300\"\nepochs = 2\nbatch_size = 18\ntrain_limit = 3000\nval_size = 500\ntest_limit = 500\nseed = 3\n\
                    [policy]\nname = \"performance\"\nk = 3.0\ntarget_sparsity = 0.9\n[rollback]\nenabled = false\n";

fn base_config(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join("base.toml");
    std::fs::write(&p, BASE).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn trials_json(dir: &Path) -> Value {
    read_json(&dir.join("trials.json"))
}

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().map(|l| l.split(',').map(String::from).collect()).collect()
}

/// The front and the best trial recomputed here from the table's numbers (not dtprune's code).
fn check_front_and_best(t: &Value) -> String {
    let rows = t["trials"].as_array().unwrap();
    let pt = |r: &Value| (num(r, "val_accuracy"), num(r, "compression"));
    for r in rows {
        let (a, c) = pt(r);
        let dominated = rows.iter().any(|q| {
            let (qa, qc) = pt(q);
            qa >= a && qc >= c && (qa > a || qc > c)
        });
        assert_eq!(r["on_front"].as_bool(), Some(!dominated), "front membership of {}: {t}", r["id"]);
    }
    let front: Vec<&Value> = rows.iter().filter(|r| r["on_front"] == true).collect();
    let top = front.iter().map(|r| num(r, "val_accuracy")).fold(f64::MIN, f64::max);
    let within = num(t, "within");
    let best = front
        .iter()
        .filter(|r| num(r, "val_accuracy") >= top - within)
        .max_by(|a, b| num(a, "compression").total_cmp(&num(b, "compression")).then(num(a, "val_accuracy").total_cmp(&num(b, "val_accuracy"))))
        .unwrap();
    assert_eq!(t["best"], best["id"], "best trial: {t}");
    best["id"].as_str().unwrap().to_string()
}

#[test]
fn small_sweep_writes_table_front_and_a_best_config_that_reproduces_its_trial() {
    let tmp = tempfile::tempdir().unwrap();
    let base = base_config(tmp.path());
    let out = tmp.path().join("sweep");
    let stdout = run_ok(&[
        "sweep", "--config", s(&base), "--grid", "target_sparsity=0.5,0.8,0.95", "--baselines", "--baseline-sparsity", "0.8", "--out", s(&out),
    ]);
    assert_eq!(stdout.matches("] ").count(), 5, "one progress line per run (3 trials, 2 baselines):\n{stdout}");

    let t = trials_json(&out);
    assert_eq!(t["keys"], serde_json::json!(["policy.target_sparsity"]));
    let rows = t["trials"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for (r, target) in rows.iter().zip([0.5, 0.8, 0.95]) {
        assert_eq!(num(&r["values"], "policy.target_sparsity"), target);
        // The table's figures are the trial's own summary.json.
        let summary = read_json(&out.join("trials").join(r["id"].as_str().unwrap()).join("summary.json"));
        for (row_key, summary_key) in [("val_accuracy", "val_accuracy"), ("test_accuracy", "test_accuracy"), ("sparsity", "sparsity"), ("compression", "compression_ratio")] {
            assert_eq!(num(r, row_key), num(&summary, summary_key), "{row_key} of trial {}", r["id"]);
        }
        assert!((num(r, "sparsity") - target).abs() < 0.005, "performance stops at its target: {r}");
        assert_eq!(r["epochs"], 2);
    }
    let best = check_front_and_best(&t);

    let csv = csv_rows(&out.join("trials.csv"));
    assert_eq!(csv[0][..3], ["id", "policy.target_sparsity", "policy"]);
    assert_eq!(csv.len(), 4);
    let front = csv_rows(&out.join("front.csv"));
    assert_eq!(front.len() - 1, rows.iter().filter(|r| r["on_front"] == true).count());

    // Baselines: gmp and oneshot at 80%, the base's epochs and seed.
    let b = t["baselines"].as_array().unwrap();
    let mut policies: Vec<&str> = b.iter().map(|r| r["policy"].as_str().unwrap()).collect();
    policies.sort();
    assert_eq!(policies, ["gmp", "oneshot"]);
    for r in b {
        assert!((num(r, "sparsity") - 0.8).abs() < 0.01, "baseline at 80%: {r}");
        assert_eq!(r["epochs"], 2);
    }
    assert_eq!(csv_rows(&out.join("baselines.csv")).len(), 3);

    // best.toml reruns to the same numbers (bit for bit: same seed, shard count and kernels).
    let rerun = tmp.path().join("rerun");
    run_ok(&["train", "--config", s(&out.join("best.toml")), "--out", s(&rerun), "--quiet", "--no-compact"]);
    let again = read_json(&rerun.join("summary.json"));
    let original = read_json(&out.join("trials").join(&best).join("summary.json"));
    for key in ["val_accuracy", "test_accuracy", "test_loss", "sparsity", "prunable_nonzero", "prune_events"] {
        assert_eq!(again[key], original[key], "`{key}` of best.toml's rerun vs trial {best}");
    }

    // The page: the front plot with the baselines on the same axes, and `dtprune report` of the
    // folder gives the same page.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for text in ["Pareto front (validation)", "baseline gmp", "baseline oneshot", "best.toml", &format!(">{best}<")] {
        assert!(html.contains(text), "report.html lacks {text}");
    }
    let page = tmp.path().join("page.html");
    run_ok(&["report", s(&out), "-o", s(&page)]);
    assert!(std::fs::read_to_string(&page).unwrap().contains("Pareto front (validation)"));
    assert!(out.join("front.png").is_file() && out.join("front.svg").is_file());
}

/// Processes whose command line mentions `needle` (this test's temporary folder).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) && cmd.contains("train") {
                found.push(cmd);
            }
        }
    }
    found
}

#[test]
fn interrupted_sweep_resumes_and_does_not_rerun_finished_trials() {
    let tmp = tempfile::tempdir().unwrap();
    let base = base_config(tmp.path());
    let out = tmp.path().join("sweep");
    let args = ["sweep", "--config", s(&base), "--grid", "seed=1,2,3", "--parallel", "1", "--out", s(&out)];
    let mut child = dtprune().args(args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let first = out.join("trials/0000/summary.json");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !(first.is_file() && std::fs::read_to_string(&first).is_ok_and(|t| serde_json::from_str::<Value>(&t).is_ok())) {
        assert!(Instant::now() < deadline, "the first trial did not finish in 2 minutes");
        assert!(child.try_wait().unwrap().is_none(), "the sweep ended before it could be interrupted");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out.join("trials/0002/summary.json").exists(), "interrupted before the last trial");
    assert!(!out.join("trials.json").exists(), "no table from an interrupted sweep");
    // The trainer it was running died with it (no orphan writing into the folder).
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(processes_mentioning(s(tmp.path())), Vec::<String>::new());
    let kept = std::fs::read(&first).unwrap();
    let kept_time = std::fs::metadata(&first).unwrap().modified().unwrap();

    let stdout = run_ok(&args);
    assert!(stdout.contains("1 already finished") || stdout.contains("2 already finished"), "{stdout}");
    assert!(!stdout.contains("] 0000 "), "trial 0000 was run again:\n{stdout}");
    assert!(stdout.contains("] 0002 seed=3: val"), "{stdout}");
    assert_eq!(std::fs::read(&first).unwrap(), kept);
    assert_eq!(std::fs::metadata(&first).unwrap().modified().unwrap(), kept_time, "the finished trial's files are untouched");
    let t = trials_json(&out);
    assert_eq!(t["trials"].as_array().unwrap().len(), 3);
    check_front_and_best(&t);

    // A third run has nothing to do.
    let stdout = run_ok(&args);
    assert!(stdout.contains("3 already finished") && !stdout.contains("] 00"), "{stdout}");
    // A different sweep into the same folder is refused.
    let e = run_fail(&["sweep", "--config", s(&base), "--grid", "seed=7,8", "--out", s(&out)]);
    assert!(e.contains("holds another sweep"), "{e}");
}

/// A stand-in for Slurm's `sbatch`: reads `#SBATCH --array=A-B` and runs every task of the
/// array here, one after the other, with `SLURM_ARRAY_TASK_ID` set as Slurm sets it.
const STUB_SBATCH: &str = r#"#!/bin/sh
set -eu
script="$1"
range=$(sed -n 's/^#SBATCH --array=\([0-9][0-9]*\)-\([0-9][0-9]*\)$/\1 \2/p' "$script")
[ -n "$range" ] || { echo "sbatch stub: no #SBATCH --array=A-B line in $script" >&2; exit 1; }
set -- $range
i=$1
while [ "$i" -le "$2" ]; do
  SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_JOB_ID=1 SLURM_CPUS_PER_TASK=1 bash "$script"
  i=$((i + 1))
done
echo "Submitted batch job 1"
"#;

#[test]
fn emitted_job_array_runs_through_a_stub_sbatch_and_collects() {
    let tmp = tempfile::tempdir().unwrap();
    let base = base_config(tmp.path());
    let out = tmp.path().join("sweep");
    let stdout = run_ok(&["sweep", "--config", s(&base), "--grid", "target_sparsity=0.5,0.9", "--emit-jobs", "--out", s(&out)]);
    assert!(stdout.contains("2 runs to do"), "{stdout}");
    let lines: Vec<String> = std::fs::read_to_string(out.join("jobs.txt")).unwrap().lines().map(String::from).collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[1].contains(" sweep trial --config ") && lines[1].contains("configs/0001.toml"), "{}", lines[1]);
    let script = std::fs::read_to_string(out.join("jobs.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --array=0-1\n"), "{script}");
    assert!(Command::new("bash").arg("-n").arg(out.join("jobs.sbatch")).status().unwrap().success(), "bash -n rejects jobs.sbatch");
    assert!(!out.join("trials").exists(), "--emit-jobs runs nothing");

    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let stub = bin.join("sbatch");
    std::fs::write(&stub, STUB_SBATCH).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let o = Command::new("sbatch").arg(out.join("jobs.sbatch")).env("PATH", &path).env_remove("DTPRUNE_DATA_DIR").output().unwrap();
    assert!(o.status.success(), "stub sbatch failed:\n{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    for id in ["0000", "0001"] {
        assert!(out.join("trials").join(id).join("summary.json").is_file(), "array task for {id} did not train");
    }
    // The array tasks had one rayon thread each (SLURM_CPUS_PER_TASK=1); the machine's default
    // pool gives the same numbers, so the thread count the sweep picks never changes a result.
    let rerun = tmp.path().join("rerun");
    run_ok(&["train", "--config", s(&out.join("configs/0001.toml")), "--out", s(&rerun), "--quiet", "--no-compact"]);
    let (a, b) = (read_json(&rerun.join("summary.json")), read_json(&out.join("trials/0001/summary.json")));
    for key in ["val_accuracy", "test_accuracy", "test_loss", "prunable_nonzero"] {
        assert_eq!(a[key], b[key], "`{key}`: 1 rayon thread vs the default pool");
    }
    // A line run again skips its finished trial.
    let again = Command::new("bash").arg("-c").arg(&lines[0]).output().unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("already finished"), "{again:?}");

    let merged = tmp.path().join("merged");
    run_ok(&["sweep", "collect", s(&out), "-o", s(&merged)]);
    let t = trials_json(&merged);
    assert_eq!(t["trials"].as_array().unwrap().len(), 2);
    assert_eq!(t["keys"], serde_json::json!(["policy.target_sparsity"]));
    check_front_and_best(&t);
    assert!(merged.join("best.toml").is_file() && merged.join("front.csv").is_file() && merged.join("report.html").is_file());

    // Trial folders from anywhere: copied apart, then merged into the same table.
    let elsewhere = tmp.path().join("elsewhere");
    for (id, to) in [("0000", "a/run"), ("0001", "b/other")] {
        let dst = elsewhere.join(to);
        std::fs::create_dir_all(&dst).unwrap();
        for f in ["config.toml", "summary.json"] {
            std::fs::copy(out.join("trials").join(id).join(f), dst.join(f)).unwrap();
        }
    }
    let apart = tmp.path().join("apart");
    run_ok(&["sweep", "collect", s(&elsewhere.join("a/run")), s(&elsewhere.join("b")), "-o", s(&apart)]);
    let u = trials_json(&apart);
    let figures = |t: &Value| -> Vec<(f64, f64)> { t["trials"].as_array().unwrap().iter().map(|r| (num(r, "val_accuracy"), num(r, "compression"))).collect() };
    assert_eq!(figures(&u), figures(&t));
    assert_eq!(u["keys"], serde_json::json!(["policy.target_sparsity"]), "the varied key is found from the configs alone");
}

#[test]
fn invalid_grids_are_errors_before_any_trial_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let base = base_config(tmp.path());
    let out = tmp.path().join("sweep");
    for (args, expect) in [
        (vec!["--grid", "epochz=1,2"], "epochz"),
        (vec!["--grid", "epochs=2,0"], "epochs = 0 is out of range"),
        (vec!["--grid", "budget=0.005,2"], "budget"),
        (vec!["--grid", "lr=fast"], "lr = fast"),
        (vec!["--grid", "budget="], "key `budget` has an empty list"),
        (vec!["--grid", "policy=performance,nosuch"], "nosuch"),
        (vec!["--random", "lr=0.01:0.001"], "lower bound"),
        (vec!["--random", "lr=0.001:0.01"], "--trials"),
        (vec!["--grid", "seed=1,2", "--parallel", "0"], "--parallel 0"),
        (vec!["--grid", "seed=1,2", "--within", "2"], "--within 2"),
        (vec![], "nothing to sweep"),
    ] {
        let mut a = vec!["sweep", "--config", s(&base), "--out", s(&out)];
        a.extend(args.iter().copied());
        let e = run_fail(&a);
        assert!(e.contains(expect), "`{}`: expected `{expect}` in:\n{e}", a.join(" "));
        assert!(!out.exists(), "`{}` wrote {}", a.join(" "), out.display());
    }
    let e = run_fail(&["sweep", "--config", s(&tmp.path().join("missing.toml")), "--grid", "seed=1,2", "--out", s(&out)]);
    assert!(e.contains("missing.toml"), "{e}");
    assert!(!out.exists());
}
