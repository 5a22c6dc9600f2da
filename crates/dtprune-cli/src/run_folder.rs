//! Opening a run folder for writing: one writer at a time (the lock of `dtprune-fs`), no
//! leftovers of a killed writer, and the choice between a fresh run and `--resume`.

use anyhow::{bail, Context, Result};
use dtprune_fs::RunLock;
use dtprune_train::checkpoint::CHECKPOINT_FILE;
use dtprune_train::config::ExperimentConfig;
use std::path::Path;

/// A locked run folder; `created` when this process made it.
pub struct RunFolder {
    pub lock: RunLock,
    created: bool,
}

impl RunFolder {
    /// After a run that failed before writing anything: a folder this process created holds
    /// only the lock, and goes again — a run that could not start leaves nothing behind.
    pub fn discard_if_unstarted(self, dir: &Path) {
        let only_lock = std::fs::read_dir(dir).map(|e| e.flatten().all(|e| e.file_name() == dtprune_fs::lock::LOCK_FILE)).unwrap_or(false);
        if self.created && only_lock {
            drop(self.lock);
            let _ = std::fs::remove_file(dir.join(dtprune_fs::lock::LOCK_FILE));
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Creates (if needed) and locks `out` for a fresh run. A folder holding an unfinished run's
/// checkpoint is refused unless `overwrite`, which removes the checkpoint.
pub fn open_fresh(out: &Path, overwrite: bool) -> Result<RunFolder> {
    let created = !out.exists();
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create the run folder", out.display()))?;
    let lock = lock(out)?;
    let checkpoint = out.join(CHECKPOINT_FILE);
    if checkpoint.exists() {
        if !overwrite {
            bail!(
                "{} holds an unfinished run ({CHECKPOINT_FILE}); continue it with `dtprune train --resume {}`, or pass --overwrite to start again",
                out.display(),
                out.display()
            );
        }
        std::fs::remove_file(&checkpoint).with_context(|| format!("{}: cannot remove the old checkpoint", checkpoint.display()))?;
    }
    Ok(RunFolder { lock, created })
}

/// Locks `dir` to continue the run in it; returns the run's own config (`config.toml`).
pub fn open_resume(dir: &Path) -> Result<(ExperimentConfig, RunFolder)> {
    let config = dir.join("config.toml");
    if !dir.is_dir() {
        bail!("{}: not a run folder (no such directory)", dir.display());
    }
    if !config.is_file() {
        bail!("{}: not a run folder (config.toml is missing; the run stopped before it started?)", dir.display());
    }
    let lock = lock(dir)?;
    // Checked by `Experiment::resolve`, like a fresh run's config.
    let cfg = ExperimentConfig::from_toml_file(&config)?;
    Ok((cfg, RunFolder { lock, created: false }))
}

/// The message for clap's refusal of `--resume` with a flag that would change the run (clap
/// says only "cannot be used with"): `None` for any other usage error.
///
/// The flags are refused, not taken: a resumed run must end bit-identical to the uninterrupted
/// one, and its checkpoint belongs to the config.toml it was written with (a different
/// `test_limit`, say, would give another final test accuracy than the run it continues).
pub fn resume_conflict(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::ArgumentConflict {
        return None;
    }
    let args = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => vec![s.clone()],
        Some(ContextValue::Strings(v)) => v.clone(),
        _ => Vec::new(),
    };
    let mut given = args(ContextKind::InvalidArg);
    given.extend(args(ContextKind::PriorArg));
    // clap writes a flag with its value's name (`--test-limit <TEST_LIMIT>`).
    let flag = |a: &String| a.split_whitespace().next().unwrap_or_default().to_string();
    let (resume, others): (Vec<&String>, Vec<&String>) = given.iter().partition(|a| flag(a) == "--resume");
    if resume.is_empty() || others.is_empty() {
        return None;
    }
    let names: Vec<String> = others.iter().map(|a| flag(a)).collect();
    let settings: Vec<&str> = others.iter().filter(|a| !["--config", "--out", "--overwrite"].contains(&flag(a).as_str())).map(|a| a.as_str()).collect();
    let mut new_run = vec!["dtprune train --config DIR/config.toml"];
    new_run.extend(settings);
    new_run.push("--out NEW_DIR");
    let takes: Vec<String> = crate::RESUME_TAKES.iter().filter(|id| **id != "resume").map(|id| format!("--{}", id.replace('_', "-"))).collect();
    Some(format!(
        "--resume continues the run in DIR exactly as its config.toml records it, so that it ends bit-identical to a run never \
         interrupted: {} would change the run and cannot be given with --resume (a resumed run takes only {}). To train with \
         other settings, start a new run from the same config: `{}`",
        names.join(", "),
        takes.join(", "),
        new_run.join(" ")
    ))
}

fn lock(dir: &Path) -> Result<RunLock> {
    let lock = RunLock::acquire(dir)?;
    if let Some(message) = lock.takeover_message() {
        eprintln!("warning: {message}");
    }
    remove_temporaries(dir)?;
    Ok(lock)
}

/// Ctrl-C or SIGTERM: the first asks the trainer to finish its step, write a checkpoint and
/// stop (it then fails with a message saying how to resume); a second exits at once with 130.
/// Exiting at once cannot corrupt the folder: every file is replaced atomically, and the
/// temporaries a killed write leaves are removed by the next writer.
pub fn stop_on_signals() -> Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let flag = dtprune_train::stop::flag();
    for signal in [SIGINT, SIGTERM] {
        // Registered first, so it sees the flag the first signal set.
        signal_hook::flag::register_conditional_shutdown(signal, 130, flag.clone()).context("cannot install the Ctrl-C handler")?;
        signal_hook::flag::register(signal, flag.clone()).context("cannot install the Ctrl-C handler")?;
    }
    Ok(())
}

/// Temporary files of atomic writes (`.NAME.PID.tmp`) left by a killed writer. Safe to remove:
/// the lock says no other process writes here.
fn remove_temporaries(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("{}: cannot list the run folder", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(".tmp") && entry.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::remove_file(entry.path()).with_context(|| format!("{}: cannot remove a leftover temporary file", entry.path().display()))?;
        }
    }
    Ok(())
}
