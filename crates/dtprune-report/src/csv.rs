//! `metrics.csv`: one row per epoch with stable column names, for spreadsheets and pandas.
//!
//! Columns: `epoch, train_loss, train_accuracy, val_loss, val_accuracy, lr, seconds, sparsity`,
//! then `sparsity:<tensor>` for every tensor in sorted order, then `threshold:<tensor>` in the
//! same order, then `prune_count, rollbacks`. Missing figures are empty cells. Numbers use
//! Rust's shortest round-trip formatting, so parsing a cell gives back the exact f64.

use std::fmt::Write as _;

use std::path::{Path, PathBuf};

use crate::error::{ReportError, Result};
use crate::history::{read_history, tensor_names, EpochRecord, HISTORY_FILE};

/// File name of the table inside a run directory.
pub const METRICS_FILE: &str = "metrics.csv";

/// The CSV text for `history` (header line included, `\n` line ends).
pub fn metrics_csv(history: &[EpochRecord]) -> String {
    let tensors = tensor_names(history);
    let mut header: Vec<String> = [
        "epoch",
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "lr",
        "seconds",
        "sparsity",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    header.extend(tensors.iter().map(|t| format!("sparsity:{t}")));
    header.extend(tensors.iter().map(|t| format!("threshold:{t}")));
    header.push("prune_count".into());
    header.push("rollbacks".into());

    let mut out = String::new();
    write_row(&mut out, header.iter().map(|h| quote(h)));
    for r in history {
        let mut row: Vec<String> = vec![r.epoch.to_string()];
        for v in [
            r.train_loss,
            r.train_accuracy,
            r.val_loss,
            r.val_accuracy,
            r.lr,
            r.seconds,
            r.sparsity,
        ] {
            row.push(num(v));
        }
        for t in &tensors {
            row.push(num(r.tensors.get(t).and_then(|s| s.sparsity)));
        }
        for t in &tensors {
            row.push(num(r.tensors.get(t).and_then(|s| s.threshold)));
        }
        row.push(r.prune_count().to_string());
        row.push(r.rollbacks().to_string());
        write_row(&mut out, row.into_iter());
    }
    out
}

/// Writes [`metrics_csv`] of `history` to `path` (temp file + rename, so a reader never sees
/// half a table).
pub fn write_metrics_csv(history: &[EpochRecord], path: &Path) -> Result<()> {
    crate::html::write_atomic(path, metrics_csv(history).as_bytes())
}

/// Reads `run_dir/history.jsonl` and writes `run_dir/metrics.csv`; returns its path.
pub fn write_run_metrics_csv(run_dir: &Path) -> Result<PathBuf> {
    let hist_path = run_dir.join(HISTORY_FILE);
    if !hist_path.is_file() {
        return Err(ReportError::NotARun {
            path: run_dir.to_path_buf(),
            reason: format!("{HISTORY_FILE} is missing"),
        });
    }
    let history = read_history(&hist_path)?;
    if history.is_empty() {
        return Err(ReportError::EmptyHistory { path: hist_path });
    }
    let out = run_dir.join(METRICS_FILE);
    write_metrics_csv(&history, &out)?;
    Ok(out)
}

fn num(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

pub(crate) fn write_row(out: &mut String, cells: impl Iterator<Item = String>) {
    let mut first = true;
    for c in cells {
        if !first {
            out.push(',');
        }
        first = false;
        let _ = write!(out, "{c}");
    }
    out.push('\n');
}

/// RFC 4180 quoting, needed only if a tensor name holds a comma, quote or newline.
pub(crate) fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::parse_history;

    #[test]
    fn table_layout() {
        let text = concat!(
            r#"{"epoch":1,"train_loss":0.5,"val_accuracy":0.9,"sparsity":0.0,"tensors":{"b":{"sparsity":0.0,"threshold":0.01},"a":{"sparsity":0.0,"threshold":null}}}"#,
            "\n",
            r#"{"epoch":2,"train_loss":0.25,"sparsity":0.5,"tensors":{"a":{"sparsity":0.5,"threshold":0.02}},"events":[{"kind":"prune","count":7},{"kind":"prune","count":3},{"kind":"rollback","count":10}]}"#,
            "\n"
        );
        let h = parse_history(text, Path::new("h")).unwrap();
        let csv = metrics_csv(&h);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds,sparsity,\
             sparsity:a,sparsity:b,threshold:a,threshold:b,prune_count,rollbacks"
        );
        assert_eq!(lines[1], "1,0.5,,,0.9,,,0,0,0,,0.01,0,0");
        assert_eq!(lines[2], "2,0.25,,,,,,0.5,0.5,,0.02,,10,1");
        assert_eq!(lines.len(), 3);
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("a,b"), "\"a,b\"");
        assert_eq!(quote("x\"y"), "\"x\"\"y\"");
        assert_eq!(quote("fc1.weight"), "fc1.weight");
    }
}
