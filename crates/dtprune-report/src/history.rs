//! Typed reader of a run directory: `history.jsonl` (one record per epoch) and `summary.json`.
//!
//! The format is described in `docs/history-schema.md`. Readers must ignore keys they do not
//! know (the trainer adds fields over time), so every struct here accepts unknown keys and every
//! field but `epoch` is optional: a record written by an older or newer trainer still loads, and
//! a missing figure shows as an empty cell instead of failing the whole report.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{ReportError, Result};

/// File name of the per-epoch history inside a run directory.
pub const HISTORY_FILE: &str = "history.jsonl";
/// File name of the final figures inside a run directory.
pub const SUMMARY_FILE: &str = "summary.json";

/// One line of `history.jsonl`: what the trainer observed at the end of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: u64,
    #[serde(default)]
    pub train_loss: Option<f64>,
    #[serde(default)]
    pub train_accuracy: Option<f64>,
    #[serde(default)]
    pub val_loss: Option<f64>,
    #[serde(default)]
    pub val_accuracy: Option<f64>,
    #[serde(default)]
    pub lr: Option<f64>,
    #[serde(default)]
    pub seconds: Option<f64>,
    /// Fraction of prunable weights that are zero (masked), over all prunable tensors.
    #[serde(default)]
    pub sparsity: Option<f64>,
    /// Per prunable tensor statistics, keyed by tensor name (sorted, so output order is stable).
    #[serde(default)]
    pub tensors: BTreeMap<String, TensorStats>,
    /// What the pruner did during this epoch, in order.
    #[serde(default)]
    pub events: Vec<PruneEvent>,
}

/// Statistics of one prunable tensor at the end of an epoch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TensorStats {
    #[serde(default)]
    pub shape: Vec<u64>,
    #[serde(default)]
    pub numel: Option<u64>,
    #[serde(default)]
    pub nonzero: Option<u64>,
    #[serde(default)]
    pub sparsity: Option<f64>,
    /// τ of this tensor after this epoch's update; `None` when the policy has none.
    #[serde(default)]
    pub threshold: Option<f64>,
    #[serde(default)]
    pub abs_mean: Option<f64>,
    #[serde(default)]
    pub abs_std: Option<f64>,
    #[serde(default)]
    pub near_zero: Option<f64>,
    #[serde(default)]
    pub l1: Option<f64>,
    #[serde(default)]
    pub l2: Option<f64>,
    #[serde(default)]
    pub grad_norm: Option<f64>,
}

/// One entry of `events`. `kind` stays a string so that kinds added later still load; the
/// helpers below cover the kinds the schema knows today.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PruneEvent {
    /// `prune`, `regrow`, `threshold`, `rollback`, `structure` or `restore`.
    pub kind: String,
    #[serde(default)]
    pub tensor: Option<String>,
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub reason: Option<String>,
    /// Old τ of a `threshold` event.
    #[serde(default)]
    pub old: Option<f64>,
    /// New τ of a `threshold` event.
    #[serde(default)]
    pub new: Option<f64>,
    /// Epoch of the event a `rollback` undoes.
    #[serde(default)]
    pub event_epoch: Option<u64>,
}

impl PruneEvent {
    pub fn is_prune(&self) -> bool {
        self.kind == "prune" || self.kind == "structure"
    }
    pub fn is_rollback(&self) -> bool {
        self.kind == "rollback" || self.kind == "restore"
    }
}

impl EpochRecord {
    /// Weights masked by `prune` events of this epoch (structure events count structures, not
    /// weights, so they are left out).
    pub fn prune_count(&self) -> u64 {
        self.events
            .iter()
            .filter(|e| e.kind == "prune")
            .filter_map(|e| e.count)
            .sum()
    }

    /// Number of `rollback` events of this epoch.
    pub fn rollbacks(&self) -> usize {
        self.events.iter().filter(|e| e.kind == "rollback").count()
    }
}

/// `summary.json`: the final figures of a run. All optional, for the same reason as above.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub dataset: Option<String>,
    #[serde(default)]
    pub epochs: Option<u64>,
    #[serde(default)]
    pub seed: Option<u64>,
    /// A policy name, or a structured policy description; shown as compact JSON when not a string.
    #[serde(default)]
    pub policy: Option<serde_json::Value>,
    #[serde(default)]
    pub test_accuracy: Option<f64>,
    #[serde(default)]
    pub val_accuracy: Option<f64>,
    #[serde(default)]
    pub params_total: Option<u64>,
    #[serde(default)]
    pub params_nonzero: Option<u64>,
    #[serde(default)]
    pub sparsity: Option<f64>,
    #[serde(default)]
    pub sparsity_per_layer: BTreeMap<String, f64>,
    #[serde(default)]
    pub compression_ratio: Option<f64>,
    #[serde(default)]
    pub threshold_final: BTreeMap<String, Option<f64>>,
    #[serde(default)]
    pub prune_events: Option<u64>,
    #[serde(default)]
    pub rollbacks: Option<u64>,
    #[serde(default)]
    pub train_seconds: Option<f64>,
    #[serde(default)]
    pub seconds_per_epoch: Option<f64>,
    /// Keys this reader does not know, kept so the report can still show them.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// A loaded run directory.
#[derive(Debug, Clone)]
pub struct Run {
    pub dir: PathBuf,
    /// Short display name (the directory name).
    pub name: String,
    /// Epoch records sorted by epoch; if an epoch appears twice (a resumed run that re-appended)
    /// the later line wins.
    pub history: Vec<EpochRecord>,
    pub summary: Option<Summary>,
    /// What is missing or odd about the run, in words for the report ("summary.json missing").
    pub notes: Vec<String>,
}

impl Run {
    /// Loads a run directory.
    ///
    /// Errors when `dir` is not a directory or has neither `history.jsonl` nor `summary.json`,
    /// when a history line is not valid (the error names file and line) or when `summary.json`
    /// is invalid. A run with only one of the two files, or an empty history, loads and carries
    /// a note saying what is missing, so the report can say so instead of failing.
    pub fn load(dir: impl AsRef<Path>) -> Result<Run> {
        let dir = dir.as_ref();
        if !dir.exists() {
            return Err(ReportError::NotARun {
                path: dir.to_path_buf(),
                reason: "no such directory".into(),
            });
        }
        if !dir.is_dir() {
            return Err(ReportError::NotARun {
                path: dir.to_path_buf(),
                reason: "not a directory".into(),
            });
        }
        let history_path = dir.join(HISTORY_FILE);
        let summary_path = dir.join(SUMMARY_FILE);
        let has_history = history_path.is_file();
        let has_summary = summary_path.is_file();
        if !has_history && !has_summary {
            return Err(ReportError::NotARun {
                path: dir.to_path_buf(),
                reason: format!("it has neither {HISTORY_FILE} nor {SUMMARY_FILE}"),
            });
        }
        let mut notes = Vec::new();
        let history = if has_history {
            read_history(&history_path)?
        } else {
            notes.push(format!("{HISTORY_FILE} is missing: no per-epoch data"));
            Vec::new()
        };
        if has_history && history.is_empty() {
            notes.push(format!("{HISTORY_FILE} has no epochs: no per-epoch data"));
        }
        let summary = if has_summary {
            Some(read_summary(&summary_path)?)
        } else {
            notes.push(format!(
                "{SUMMARY_FILE} is missing: the run may not have finished"
            ));
            None
        };
        Ok(Run {
            dir: dir.to_path_buf(),
            name: display_name(dir),
            history,
            summary,
            notes,
        })
    }

    /// Last epoch record, if any.
    pub fn last(&self) -> Option<&EpochRecord> {
        self.history.last()
    }

    /// Names of all tensors that appear in any epoch, sorted.
    pub fn tensor_names(&self) -> Vec<String> {
        tensor_names(&self.history)
    }
}

/// Names of all tensors that appear in any of `history`, sorted.
pub fn tensor_names(history: &[EpochRecord]) -> Vec<String> {
    let set: BTreeSet<&String> = history.iter().flat_map(|r| r.tensors.keys()).collect();
    set.into_iter().cloned().collect()
}

/// Reads `history.jsonl`. Blank lines are skipped (a trailing newline is normal); any other
/// line that does not parse is an error naming the file and the 1-based line.
pub fn read_history(path: &Path) -> Result<Vec<EpochRecord>> {
    let text = fs::read_to_string(path).map_err(|e| ReportError::io(path, e))?;
    parse_history(&text, path)
}

/// Parses the text of a `history.jsonl`; `path` is only used in error messages.
pub fn parse_history(text: &str, path: &Path) -> Result<Vec<EpochRecord>> {
    let mut records: Vec<EpochRecord> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let rec: EpochRecord =
            serde_json::from_str(line).map_err(|source| ReportError::HistoryLine {
                path: path.to_path_buf(),
                line: i + 1,
                source,
            })?;
        records.push(rec);
    }
    // Stable sort keeps file order among equal epochs; then keep the last of each epoch.
    records.sort_by_key(|r| r.epoch);
    let mut out: Vec<EpochRecord> = Vec::with_capacity(records.len());
    for r in records {
        match out.last_mut() {
            Some(prev) if prev.epoch == r.epoch => *prev = r,
            _ => out.push(r),
        }
    }
    Ok(out)
}

/// Reads `summary.json`.
pub fn read_summary(path: &Path) -> Result<Summary> {
    let text = fs::read_to_string(path).map_err(|e| ReportError::io(path, e))?;
    serde_json::from_str(&text).map_err(|source| ReportError::Summary {
        path: path.to_path_buf(),
        source,
    })
}

fn display_name(dir: &Path) -> String {
    // `canonicalize` so that `.` and `runs/a/` still get a real name.
    let canon = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    canon
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| canon.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"epoch":2,"train_loss":0.5,"val_accuracy":0.9,"sparsity":0.25,"future_key":[1,2],
        "tensors":{"fc1.weight":{"shape":[3,4],"numel":12,"nonzero":9,"sparsity":0.25,"threshold":null,"abs_mean":0.1,"new_stat":7}},
        "events":[{"kind":"prune","tensor":"fc1.weight","count":3,"reason":"r<1"},
                  {"kind":"rollback","tensor":null,"count":2,"reason":"acc fell","event_epoch":1},
                  {"kind":"prune","tensor":"fc2.weight","count":4,"reason":"r<1"},
                  {"kind":"brand_new_kind"}]}"#;

    #[test]
    fn parses_record_and_ignores_unknown_keys() {
        let line = LINE.replace('\n', " ");
        let h = parse_history(&line, Path::new("h.jsonl")).unwrap();
        assert_eq!(h.len(), 1);
        let r = &h[0];
        assert_eq!(r.epoch, 2);
        assert_eq!(r.train_loss, Some(0.5));
        assert_eq!(r.val_loss, None);
        let t = &r.tensors["fc1.weight"];
        assert_eq!(t.shape, vec![3, 4]);
        assert_eq!(t.threshold, None);
        assert_eq!(t.nonzero, Some(9));
        // 3 + 4 from the two prune events; the rollback count is not a prune.
        assert_eq!(r.prune_count(), 7);
        assert_eq!(r.rollbacks(), 1);
        assert_eq!(r.events[3].kind, "brand_new_kind");
    }

    #[test]
    fn broken_line_names_file_and_line() {
        let text = "{\"epoch\":1}\n\n{\"epoch\":2,\n{\"epoch\":3}\n";
        let err = parse_history(text, Path::new("/r/history.jsonl")).unwrap_err();
        match &err {
            ReportError::HistoryLine { line, .. } => assert_eq!(*line, 3),
            other => panic!("wrong error {other:?}"),
        }
        assert!(err
            .to_string()
            .starts_with("/r/history.jsonl:3: invalid history record"));
    }

    #[test]
    fn missing_epoch_is_an_error() {
        let err = parse_history("{\"train_loss\":1.0}", Path::new("h")).unwrap_err();
        assert!(err.to_string().contains("epoch"), "{err}");
    }

    #[test]
    fn sorts_and_keeps_last_duplicate() {
        let text = "{\"epoch\":2,\"lr\":1.0}\n{\"epoch\":1}\n{\"epoch\":2,\"lr\":2.0}\n";
        let h = parse_history(text, Path::new("h")).unwrap();
        assert_eq!(h.iter().map(|r| r.epoch).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(h[1].lr, Some(2.0));
    }

    #[test]
    fn summary_keeps_unknown_keys() {
        let s: Summary = serde_json::from_str(
            r#"{"model":"lenet","test_accuracy":0.98,"threshold_final":{"a":0.1,"b":null},"speedup":1.7}"#,
        )
        .unwrap();
        assert_eq!(s.model.as_deref(), Some("lenet"));
        assert_eq!(s.threshold_final["b"], None);
        assert_eq!(s.extra["speedup"], serde_json::json!(1.7));
    }

    #[test]
    fn load_rejects_non_run_and_notes_missing_parts() {
        let d = tempfile::tempdir().unwrap();
        let err = Run::load(d.path()).unwrap_err();
        assert!(matches!(err, ReportError::NotARun { .. }), "{err}");
        let err = Run::load(d.path().join("nope")).unwrap_err();
        assert!(err.to_string().contains("no such directory"));

        fs::write(d.path().join(HISTORY_FILE), "").unwrap();
        let run = Run::load(d.path()).unwrap();
        assert!(run.history.is_empty());
        assert_eq!(run.notes.len(), 2, "{:?}", run.notes);
    }
}
