//! Runs a sweep's trials on this machine: each one a `dtprune train` subprocess of this same
//! binary, several at once, each told how many threads it may use.
//!
//! Threads: a trial's training step runs `replicas` shards on `replicas` threads (a fixed part
//! of the experiment — the numbers depend on it, so the sweep never changes it), and Burn/Flex's
//! other parallel work (matrix products of an unsplit step, the optimizer) runs on rayon's
//! global pool, which `RAYON_NUM_THREADS` sizes and which does not change the numbers. So by
//! default `parallel = cores / replicas` trials run at once (never fewer than one), and each
//! gets `RAYON_NUM_THREADS = cores / parallel`: the machine is busy and not oversubscribed.
//!
//! Resume: a trial whose folder holds a complete `summary.json` (the trainer writes it last,
//! atomically) is finished and is not run again; a folder without one is the remains of an
//! interrupted run and is removed and run again from scratch.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

/// The trainer's log inside a trial folder (the subprocess's stdout and stderr).
pub const LOG_FILE: &str = "train.log";

/// One run to do: its config file and its run folder.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub label: String,
    pub config: PathBuf,
    pub dir: PathBuf,
}

/// Whether `dir` holds a finished run: a `summary.json` the trainer's own type reads.
pub fn is_finished(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("summary.json"))
        .ok()
        .is_some_and(|text| serde_json::from_str::<dtprune_train::trainer::Summary>(&text).is_ok())
}

/// Readies `dir` for a run: `false` if it is finished (nothing to do); otherwise whatever an
/// interrupted run left there is removed and `true` returned.
pub fn prepare(dir: &Path) -> Result<bool> {
    if is_finished(dir) {
        return Ok(false);
    }
    if dir.exists() {
        // Only what a run left behind is removed: the sweep's runner writes the log, the trainer
        // takes the folder's lock and then writes config.toml (atomically, through a temporary);
        // a trial killed before that rename leaves just those. A folder with other files is not
        // ours to delete.
        let entries: Vec<std::ffi::OsString> = std::fs::read_dir(dir)
            .with_context(|| format!("read {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        let before_config = |n: &std::ffi::OsString| n == LOG_FILE || n == dtprune_fs::lock::LOCK_FILE || n.to_str().is_some_and(dtprune_fs::is_temporary_name);
        let ours = entries.iter().all(before_config) || entries.iter().any(|n| n == "config.toml");
        if !ours {
            bail!("{} holds files but no config.toml: not an unfinished run, so it is not removed; choose another --out", dir.display());
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("remove the unfinished run {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(true)
}

/// How many trials run at once, and the rayon threads each gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threads {
    pub parallel: usize,
    pub per_trial: usize,
}

impl Threads {
    /// `cores` of the machine, `replicas` the largest shard count among the trials.
    pub fn choose(cores: usize, replicas: usize, requested: Option<usize>) -> Result<Self> {
        let cores = cores.max(1);
        let parallel = match requested {
            Some(p) if !(1..=256).contains(&p) => bail!("--parallel {p} is out of range; valid range is [1, 256]"),
            Some(p) => p,
            None => (cores / replicas.max(1)).max(1),
        };
        Ok(Threads { parallel, per_trial: (cores / parallel).max(1) })
    }
}

/// What became of one job.
pub struct Outcome {
    pub job: usize,
    pub seconds: f64,
    /// `Err`: the trainer failed; the message quotes its last error line and names the log.
    pub result: Result<(), String>,
}

/// Runs `jobs` with `threads.parallel` subprocesses at a time; `on_done` sees each outcome as
/// it comes (in finishing order).
pub fn run_all(exe: &Path, jobs: &[Job], threads: Threads, mut on_done: impl FnMut(&Job, &Outcome)) {
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<Outcome>();
    std::thread::scope(|scope| {
        for _ in 0..threads.parallel.min(jobs.len()) {
            let (tx, next) = (tx.clone(), &next);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(job) = jobs.get(i) else { break };
                let start = Instant::now();
                let result = run_one(exe, job, threads.per_trial);
                if tx.send(Outcome { job: i, seconds: start.elapsed().as_secs_f64(), result }).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for outcome in rx {
            on_done(&jobs[outcome.job], &outcome);
        }
    });
}

fn run_one(exe: &Path, job: &Job, rayon_threads: usize) -> Result<(), String> {
    prepare(&job.dir).map_err(|e| format!("{e:#}"))?;
    let log_path = job.dir.join(LOG_FILE);
    let log = std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let log2 = log.try_clone().map_err(|e| format!("{}: {e}", log_path.display()))?;
    let mut cmd = Command::new(exe);
    cmd.arg("train")
        .arg("--config")
        .arg(&job.config)
        .arg("--out")
        .arg(&job.dir)
        .args(["--quiet", "--no-compact"])
        .env("RAYON_NUM_THREADS", rayon_threads.to_string())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    die_with_parent(&mut cmd);
    let status = cmd.status().map_err(|e| format!("start {}: {e}", exe.display()))?;
    if status.success() && is_finished(&job.dir) {
        return Ok(());
    }
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("(no output)");
    Err(format!("{status}: {last} (log: {})", log_path.display()))
}

/// A trial must not outlive the sweep that started it: if the sweep is killed, the trainer gets
/// SIGKILL too (Linux), so a rerun never races an orphan writing into the same folder.
#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: `prctl` is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_choice_fills_the_cores_without_oversubscribing() {
        // 2 cores, 2 shards per trial: one trial at a time, two rayon threads.
        assert_eq!(Threads::choose(2, 2, None).unwrap(), Threads { parallel: 1, per_trial: 2 });
        // 8 cores, 2 shards: four trials, two threads each.
        assert_eq!(Threads::choose(8, 2, None).unwrap(), Threads { parallel: 4, per_trial: 2 });
        // Unsplit trials on 2 cores: two at once, one thread each.
        assert_eq!(Threads::choose(2, 1, None).unwrap(), Threads { parallel: 2, per_trial: 1 });
        // More shards than cores: still one trial.
        assert_eq!(Threads::choose(2, 4, None).unwrap(), Threads { parallel: 1, per_trial: 2 });
        // Asked for: as asked, threads shared out.
        assert_eq!(Threads::choose(8, 2, Some(3)).unwrap(), Threads { parallel: 3, per_trial: 2 });
        assert_eq!(Threads::choose(2, 2, Some(4)).unwrap(), Threads { parallel: 4, per_trial: 1 });
        assert!(Threads::choose(2, 2, Some(0)).unwrap_err().to_string().contains("--parallel 0 is out of range"));
    }

    #[test]
    fn prepare_keeps_finished_runs_and_clears_unfinished_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("t");
        assert!(prepare(&dir).unwrap(), "a new folder is run");
        std::fs::write(dir.join("config.toml"), "epochs = 2\n").unwrap();
        std::fs::write(dir.join("history.jsonl"), "{}\n").unwrap();
        std::fs::write(dir.join("summary.json"), "{\"model\": \"lenet300\"").unwrap();
        assert!(prepare(&dir).unwrap(), "a truncated summary is not finished");
        assert!(!dir.join("history.jsonl").exists(), "the interrupted run's files are gone");
        // Killed before its config.toml was renamed into place: the log, the lock, a temporary.
        for name in [LOG_FILE, dtprune_fs::lock::LOCK_FILE, ".config.toml.4242.tmp"] {
            std::fs::write(dir.join(name), "").unwrap();
        }
        assert!(prepare(&dir).unwrap(), "a run killed before its config is cleared and rerun");
        assert!(!dir.join(".config.toml.4242.tmp").exists());
        let other = tmp.path().join("other");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("notes.txt"), "mine").unwrap();
        assert!(prepare(&other).unwrap_err().to_string().contains("not an unfinished run"));
        assert!(other.join("notes.txt").exists(), "a folder that is not a run is left alone");
    }
}
