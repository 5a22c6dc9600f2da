//! TensorBoard event files written by hand (see `writer` for the format), plus the mapping of
//! a `history.jsonl` epoch record to scalar tags.
//!
//! The trainer logs live with [`EventWriter`] + [`log_epoch`] (and `add_histogram` at prune
//! events); [`tb_from_history`] produces the same scalars after the fact for a run that has no
//! `tb/` folder. Both go through [`epoch_scalars`], so the tags are identical either way.

pub mod crc32c;
pub mod proto;
pub mod writer;

use std::path::{Path, PathBuf};

pub use writer::{histogram, EventWriter, HISTOGRAM_BUCKETS};

use crate::error::{ReportError, Result};
use crate::history::{read_history, EpochRecord, Run, HISTORY_FILE};

/// Sub-folder of a run directory that holds the event files.
pub const TB_DIR: &str = "tb";

/// The scalar `(tag, value)` pairs of one epoch, in a fixed order. Missing figures (and
/// tensors whose policy has no τ) are left out rather than logged as zero.
///
/// Tags: `train/loss`, `train/accuracy`, `val/loss`, `val/accuracy`, `train/lr`,
/// `sparsity/global`, `events/pruned`, `events/rollbacks`, and per tensor `threshold/<name>`,
/// `sparsity/<name>`, `abs_mean/<name>`.
pub fn epoch_scalars(rec: &EpochRecord) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let mut push = |tag: &str, v: Option<f64>| {
        if let Some(v) = v {
            out.push((tag.to_string(), v));
        }
    };
    push("train/loss", rec.train_loss);
    push("train/accuracy", rec.train_accuracy);
    push("val/loss", rec.val_loss);
    push("val/accuracy", rec.val_accuracy);
    push("train/lr", rec.lr);
    push("sparsity/global", rec.sparsity);
    push("events/pruned", Some(rec.prune_count() as f64));
    push("events/rollbacks", Some(rec.rollbacks() as f64));
    for (name, t) in &rec.tensors {
        push(&format!("threshold/{name}"), t.threshold);
        push(&format!("sparsity/{name}"), t.sparsity);
        push(&format!("abs_mean/{name}"), t.abs_mean);
    }
    out
}

/// Logs the scalars of one epoch (step = epoch number) and flushes, so a live TensorBoard sees
/// the epoch as soon as it ends.
pub fn log_epoch(w: &mut EventWriter, rec: &EpochRecord) -> Result<()> {
    log_epoch_at(w, rec, writer::now_secs())?;
    w.flush()
}

fn log_epoch_at(w: &mut EventWriter, rec: &EpochRecord, wall_time: f64) -> Result<()> {
    let scalars = epoch_scalars(rec);
    let refs: Vec<(&str, f64)> = scalars.iter().map(|(t, v)| (t.as_str(), *v)).collect();
    w.add_scalars_at(&refs, rec.epoch, wall_time)
}

/// Writes `run_dir/tb/` from `run_dir/history.jsonl` and returns the event file's path.
///
/// Refuses (`TbExists`) when `tb/` already holds event files, e.g. from live logging: a second
/// copy would draw every point twice. Wall times are spread by each epoch's `seconds`, ending
/// now, so TensorBoard's "relative" axis shows training time.
pub fn tb_from_history(run_dir: impl AsRef<Path>) -> Result<PathBuf> {
    let run_dir = run_dir.as_ref();
    let history_path = run_dir.join(HISTORY_FILE);
    if !history_path.is_file() {
        // Run::load gives the precise "not a run" error.
        Run::load(run_dir)?;
        return Err(ReportError::NotARun {
            path: run_dir.to_path_buf(),
            reason: format!("{HISTORY_FILE} is missing"),
        });
    }
    let history = read_history(&history_path)?;
    if history.is_empty() {
        return Err(ReportError::EmptyHistory { path: history_path });
    }
    write_history_to(&history, &run_dir.join(TB_DIR))
}

/// Writes the scalars of `history` to a new event file in `tb_dir` (see [`tb_from_history`]).
pub fn write_history_to(history: &[EpochRecord], tb_dir: &Path) -> Result<PathBuf> {
    if has_event_files(tb_dir) {
        return Err(ReportError::TbExists {
            path: tb_dir.to_path_buf(),
        });
    }
    let mut w = EventWriter::create(tb_dir)?;
    let total: f64 = history.iter().filter_map(|r| r.seconds).sum();
    let mut t = writer::now_secs() - total;
    for rec in history {
        t += rec.seconds.unwrap_or(0.0);
        log_epoch_at(&mut w, rec, t)?;
    }
    w.flush()?;
    Ok(w.path().to_path_buf())
}

fn has_event_files(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .any(|e| e.file_name().to_string_lossy().contains("tfevents"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{PruneEvent, TensorStats};

    #[test]
    fn scalars_of_an_epoch() {
        let mut rec = EpochRecord {
            epoch: 4,
            train_loss: Some(0.3),
            train_accuracy: None,
            val_loss: Some(0.2),
            val_accuracy: Some(0.95),
            lr: None,
            seconds: Some(1.0),
            sparsity: Some(0.5),
            tensors: Default::default(),
            events: vec![PruneEvent {
                kind: "prune".into(),
                tensor: Some("w".into()),
                count: Some(10),
                reason: None,
                old: None,
                new: None,
                event_epoch: None,
            }],
        };
        rec.tensors.insert(
            "w".into(),
            TensorStats {
                threshold: None,
                sparsity: Some(0.5),
                abs_mean: Some(0.01),
                ..Default::default()
            },
        );
        let s = epoch_scalars(&rec);
        let tags: Vec<&str> = s.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            tags,
            [
                "train/loss",
                "val/loss",
                "val/accuracy",
                "sparsity/global",
                "events/pruned",
                "events/rollbacks",
                "sparsity/w",
                "abs_mean/w"
            ]
        );
        assert_eq!(s[4].1, 10.0);
    }

    #[test]
    fn refuses_to_duplicate_and_empty_history() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(HISTORY_FILE), "\n").unwrap();
        let err = tb_from_history(d.path()).unwrap_err();
        assert!(matches!(err, ReportError::EmptyHistory { .. }), "{err}");

        std::fs::write(
            d.path().join(HISTORY_FILE),
            "{\"epoch\":1,\"val_loss\":1.0}\n",
        )
        .unwrap();
        tb_from_history(d.path()).unwrap();
        let err = tb_from_history(d.path()).unwrap_err();
        assert!(matches!(err, ReportError::TbExists { .. }), "{err}");
    }
}
