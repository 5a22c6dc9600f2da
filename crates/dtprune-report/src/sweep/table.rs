//! The trial table of a sweep: one row per finished run folder (its swept config values and
//! its final figures), the Pareto front, the best trial, and the files written from them —
//! `trials.csv`, `trials.json`, `front.csv`, `baselines.csv` and `best.toml`.
//!
//! Everything is read from the run folders themselves (`config.toml`, `summary.json`), so the
//! same table comes out whether the trials ran here (`dtprune sweep`) or anywhere else and were
//! copied together (`dtprune sweep collect`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{Result, SweepError};
use super::front::{choose_best, pareto_front};
use crate::csv::{quote, write_row};
use crate::error::ReportError;
use crate::history::{Summary, SUMMARY_FILE};
use crate::html::write_atomic;

/// File names inside a sweep folder.
pub const TRIALS_JSON: &str = "trials.json";
pub const TRIALS_CSV: &str = "trials.csv";
pub const FRONT_CSV: &str = "front.csv";
pub const BASELINES_CSV: &str = "baselines.csv";
pub const BEST_TOML: &str = "best.toml";
/// The config a run folder was trained with (written by `dtprune train`).
pub const CONFIG_FILE: &str = "config.toml";

/// A run folder that finished: its config and final figures.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedRun {
    pub dir: PathBuf,
    /// `config.toml` as written by the trainer (rerunning it reproduces the run).
    pub config_text: String,
    pub config: toml::Table,
    pub metrics: Metrics,
}

/// The final figures of a run, from `summary.json`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Validation accuracy after the last epoch (the model that was saved).
    pub val_accuracy: f64,
    pub test_accuracy: f64,
    /// Fraction of prunable weights that are zero.
    pub sparsity: f64,
    /// Prunable weights over nonzero prunable weights.
    pub compression: f64,
    pub epochs: u64,
    /// Training wall time.
    pub seconds: f64,
}

/// Reads a run folder. `Ok(None)` when it has not finished (no `summary.json`); an error when
/// `summary.json` or `config.toml` is unreadable or lacks a figure the table needs.
pub fn read_finished(dir: &Path) -> Result<Option<FinishedRun>> {
    let summary_path = dir.join(SUMMARY_FILE);
    if !summary_path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&summary_path).map_err(|e| ReportError::io(&summary_path, e))?;
    let s: Summary = serde_json::from_str(&text).map_err(|e| ReportError::Summary { path: summary_path.clone(), source: e })?;
    let need = |v: Option<f64>, what: &str| -> Result<f64> {
        match v {
            Some(x) if x.is_finite() => Ok(x),
            Some(x) => Err(SweepError::BadTrial { path: summary_path.clone(), message: format!("`{what}` is {x}") }),
            None => Err(SweepError::BadTrial { path: summary_path.clone(), message: format!("`{what}` is missing") }),
        }
    };
    let train_seconds = s.train_seconds;
    let metrics = Metrics {
        val_accuracy: need(s.val_accuracy, "val_accuracy")?,
        test_accuracy: need(s.test_accuracy, "test_accuracy")?,
        sparsity: need(s.sparsity, "sparsity")?,
        compression: need(s.compression_ratio, "compression_ratio")?,
        epochs: s.epochs.ok_or_else(|| SweepError::BadTrial { path: summary_path.clone(), message: "`epochs` is missing".into() })?,
        seconds: need(train_seconds, "train_seconds")?,
    };
    let config_path = dir.join(CONFIG_FILE);
    let config_text = std::fs::read_to_string(&config_path).map_err(|e| ReportError::io(&config_path, e))?;
    let config: toml::Table = config_text
        .parse()
        .map_err(|e: toml::de::Error| SweepError::BadTrial { path: config_path.clone(), message: format!("invalid TOML: {}", e.message()) })?;
    Ok(Some(FinishedRun { dir: dir.to_path_buf(), config_text, config, metrics }))
}

/// The value of a swept key in a config: `policy` is the policy name, `a.b` is key `b` of table
/// `a` (`policy.budget`, `rollback.tolerance`), anything else a top-level key.
pub fn config_value<'a>(config: &'a toml::Table, key: &str) -> Option<&'a toml::Value> {
    match key {
        "policy" => config.get("policy")?.get("name"),
        _ => match key.split_once('.') {
            Some((table, rest)) => config.get(table)?.as_table()?.get(rest),
            None => config.get(key),
        },
    }
}

/// Every key of a config in the form [`config_value`] reads.
fn config_keys(config: &toml::Table) -> Vec<String> {
    let mut keys = Vec::new();
    for (k, v) in config {
        match v.as_table() {
            Some(t) => keys.extend(t.keys().map(|sub| if k == "policy" && sub == "name" { "policy".to_string() } else { format!("{k}.{sub}") })),
            None => keys.push(k.clone()),
        }
    }
    keys
}

/// The keys whose values differ between `configs`, after `required` (kept even when they do
/// not differ). `data_dir` is left out: the same data can sit at different paths on the
/// machines that ran the trials.
pub fn varied_keys(configs: &[&toml::Table], required: &[String]) -> Vec<String> {
    let mut keys: Vec<String> = required.to_vec();
    let mut all: Vec<String> = configs.iter().flat_map(|c| config_keys(c)).collect();
    all.sort();
    all.dedup();
    for k in all {
        if k == "data_dir" || keys.contains(&k) {
            continue;
        }
        let first = configs.first().and_then(|c| config_value(c, &k));
        if configs.iter().any(|c| config_value(c, &k) != first) {
            keys.push(k);
        }
    }
    keys
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRow {
    /// `0000`, `0001`, … for trials; `gmp-0.95` etc. for baselines.
    pub id: String,
    pub dir: PathBuf,
    pub policy: String,
    /// The swept keys' values (absent where the config does not set the key).
    pub values: BTreeMap<String, serde_json::Value>,
    #[serde(flatten)]
    pub metrics: Metrics,
    #[serde(default)]
    pub on_front: bool,
}

impl TrialRow {
    pub fn new(id: String, run: &FinishedRun, keys: &[String]) -> Self {
        let values = keys
            .iter()
            .filter_map(|k| Some((k.clone(), serde_json::to_value(config_value(&run.config, k)?).ok()?)))
            .collect();
        let policy = config_value(&run.config, "policy").and_then(|v| v.as_str()).unwrap_or("").to_string();
        TrialRow { id, dir: run.dir.clone(), policy, values, metrics: run.metrics, on_front: false }
    }

    /// The value of `key` as table text (`0.005`, `gmp`), empty when unset.
    pub fn value_text(&self, key: &str) -> String {
        match self.values.get(key) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => String::new(),
        }
    }
}

/// A sweep's results: the trials with their front and best, and the baselines beside them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepTable {
    /// The swept keys, table columns in this order.
    pub keys: Vec<String>,
    /// Margin of the best-trial rule (absolute validation accuracy).
    pub within: f64,
    /// Id of the best trial.
    pub best: Option<String>,
    pub trials: Vec<TrialRow>,
    pub baselines: Vec<TrialRow>,
}

impl SweepTable {
    /// Marks the front (validation accuracy vs compression) and picks the best trial.
    pub fn new(keys: Vec<String>, mut trials: Vec<TrialRow>, baselines: Vec<TrialRow>, within: f64) -> Self {
        let points: Vec<(f64, f64)> = trials.iter().map(|t| (t.metrics.val_accuracy, t.metrics.compression)).collect();
        let front = pareto_front(&points);
        for &i in &front {
            trials[i].on_front = true;
        }
        let best = choose_best(&points, &front, within).map(|i| trials[i].id.clone());
        SweepTable { keys, within, best, trials, baselines }
    }

    /// The front's trials, by compression ascending.
    pub fn front(&self) -> Vec<&TrialRow> {
        let mut f: Vec<&TrialRow> = self.trials.iter().filter(|t| t.on_front).collect();
        f.sort_by(|a, b| a.metrics.compression.total_cmp(&b.metrics.compression).then(a.metrics.val_accuracy.total_cmp(&b.metrics.val_accuracy)));
        f
    }

    pub fn best_trial(&self) -> Option<&TrialRow> {
        let id = self.best.as_ref()?;
        self.trials.iter().find(|t| &t.id == id)
    }

    /// `trials.csv` (and `front.csv`, `baselines.csv`: the same columns).
    pub fn csv(&self, rows: &[&TrialRow]) -> String {
        let mut out = String::new();
        let header = ["id"].into_iter().map(String::from).chain(self.keys.iter().cloned()).chain(
            ["policy", "val_accuracy", "test_accuracy", "sparsity", "compression", "epochs", "seconds", "on_front", "dir"].map(String::from),
        );
        write_row(&mut out, header.map(|h| quote(&h)));
        for r in rows {
            let m = &r.metrics;
            let cells = [r.id.clone()]
                .into_iter()
                .chain(self.keys.iter().map(|k| r.value_text(k)))
                .chain([
                    r.policy.clone(),
                    m.val_accuracy.to_string(),
                    m.test_accuracy.to_string(),
                    m.sparsity.to_string(),
                    m.compression.to_string(),
                    m.epochs.to_string(),
                    m.seconds.to_string(),
                    r.on_front.to_string(),
                    r.dir.display().to_string(),
                ]);
            write_row(&mut out, cells.map(|c| quote(&c)));
        }
        out
    }

    /// Reads `trials.json` back (for `dtprune sweep report`).
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(TRIALS_JSON);
        let text = std::fs::read_to_string(&path).map_err(|e| ReportError::io(&path, e))?;
        serde_json::from_str(&text).map_err(|e| SweepError::BadTrial { path, message: format!("invalid sweep table: {e}") })
    }

    /// Writes every table, and `best.toml` from the best trial's `config.toml` (`best_config`),
    /// into `dir`. Each file is written atomically; returns the paths written.
    pub fn write(&self, dir: &Path, best_config: Option<&str>) -> Result<Vec<PathBuf>> {
        let mut written = Vec::new();
        let mut put = |name: &str, text: &str| -> Result<()> {
            let p = dir.join(name);
            write_atomic(&p, text.as_bytes())?;
            written.push(p);
            Ok(())
        };
        let mut json = serde_json::to_string_pretty(self).expect("the table serialises");
        json.push('\n');
        put(TRIALS_JSON, &json)?;
        put(TRIALS_CSV, &self.csv(&self.trials.iter().collect::<Vec<_>>()))?;
        put(FRONT_CSV, &self.csv(&self.front()))?;
        if !self.baselines.is_empty() {
            put(BASELINES_CSV, &self.csv(&self.baselines.iter().collect::<Vec<_>>()))?;
        }
        if let (Some(best), Some(config)) = (self.best_trial(), best_config) {
            put(BEST_TOML, &self.best_toml(best, config))?;
        }
        Ok(written)
    }

    fn best_toml(&self, best: &TrialRow, config: &str) -> String {
        let m = &best.metrics;
        let mut h = String::new();
        let _ = writeln!(h, "# The best trial of a dtprune sweep: trial {} ({}).", best.id, best.dir.display());
        let _ = writeln!(
            h,
            "# Best = the most compressed trial on the validation-accuracy/compression front whose validation\n\
             # accuracy is within {} of the front's highest (chosen on validation, never on test).",
            self.within
        );
        let _ = writeln!(
            h,
            "# It reached validation {:.4}, test {:.4}, sparsity {:.4} ({:.1}x) in {} epochs.",
            m.val_accuracy, m.test_accuracy, m.sparsity, m.compression, m.epochs
        );
        let _ = writeln!(h, "# Rerun: dtprune train --config best.toml --out DIR\n");
        h + config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dir: &str, config: &str, val: f64, compression: f64) -> FinishedRun {
        FinishedRun {
            dir: dir.into(),
            config_text: config.into(),
            config: config.parse().unwrap(),
            metrics: Metrics { val_accuracy: val, test_accuracy: val / 2.0, sparsity: 1.0 - 1.0 / compression, compression, epochs: 2, seconds: 1.5 },
        }
    }

    const A: &str = "lr = 0.001\nseed = 1\ndata_dir = \"/a\"\n[policy]\nname = \"performance\"\nbudget = 0.005\n";
    const B: &str = "lr = 0.001\nseed = 1\ndata_dir = \"/b\"\n[policy]\nname = \"performance\"\nbudget = 0.01\n";
    const C: &str = "lr = 0.002\nseed = 1\n[policy]\nname = \"gmp\"\n";

    #[test]
    fn varied_keys_are_the_differing_ones() {
        let (a, b, c) = (run("a", A, 0.9, 10.0), run("b", B, 0.9, 10.0), run("c", C, 0.9, 10.0));
        assert_eq!(varied_keys(&[&a.config, &b.config], &[]), ["policy.budget"], "data_dir is never a swept key");
        assert_eq!(varied_keys(&[&a.config, &b.config, &c.config], &["seed".into()]), ["seed", "lr", "policy", "policy.budget"]);
        assert_eq!(config_value(&a.config, "policy").unwrap().as_str(), Some("performance"));
    }

    #[test]
    fn table_marks_front_and_best_and_writes_csv() {
        let runs = [run("t/0000", A, 0.980, 10.0), run("t/0001", B, 0.978, 20.0), run("t/0002", C, 0.970, 15.0)];
        let keys = vec!["policy.budget".to_string()];
        let rows = runs.iter().enumerate().map(|(i, r)| TrialRow::new(format!("{i:04}"), r, &keys)).collect();
        let t = SweepTable::new(keys, rows, vec![], 0.005);
        assert_eq!(t.front().iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["0000", "0001"]);
        assert_eq!(t.best.as_deref(), Some("0001"), "97.8% is within 0.5 pt of 98.0% and twice as compressed");
        let csv = t.csv(&t.trials.iter().collect::<Vec<_>>());
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "id,policy.budget,policy,val_accuracy,test_accuracy,sparsity,compression,epochs,seconds,on_front,dir");
        assert_eq!(lines[2], "0001,0.01,performance,0.978,0.489,0.95,20,2,1.5,true,t/0001");
        assert_eq!(lines[3], "0002,,gmp,0.97,0.485,0.9333333333333333,15,2,1.5,false,t/0002", "an unset key is an empty cell");

        let dir = tempfile::tempdir().unwrap();
        t.write(dir.path(), Some(&runs[1].config_text)).unwrap();
        let back = SweepTable::load(dir.path()).unwrap();
        // serde_json's default float parser may be one ulp off (its exact one, `float_roundtrip`,
        // would rebuild Burn's dependency tree); the file itself holds the shortest exact text.
        assert_eq!(back.best, t.best);
        for (a, b) in back.trials.iter().zip(&t.trials) {
            assert_eq!((&a.id, &a.values, a.on_front), (&b.id, &b.values, b.on_front));
            assert!((a.metrics.sparsity - b.metrics.sparsity).abs() <= 2.0 * f64::EPSILON, "{a:?} vs {b:?}");
        }
        assert!(std::fs::read_to_string(dir.path().join(TRIALS_JSON)).unwrap().contains("\"sparsity\": 0.9333333333333333"));
        let best = std::fs::read_to_string(dir.path().join(BEST_TOML)).unwrap();
        assert!(best.starts_with("# The best trial of a dtprune sweep: trial 0001"));
        let config: toml::Table = best.parse().unwrap();
        assert_eq!(config, runs[1].config, "best.toml is the trial's config (comments aside)");
        assert_eq!(std::fs::read_to_string(dir.path().join(FRONT_CSV)).unwrap().lines().count(), 3);
    }
}
