//! Sensitivity analysis of a finished run (`dtprune sensitivity`): prune each prunable tensor
//! alone to several levels by magnitude (one shot, no retraining), measure validation accuracy,
//! restore, and suggest per-tensor thresholds from the accuracy drops.
//!
//! A level is a fraction of the tensor's weights: weights that are already zero count as pruned,
//! so the threshold is the level's magnitude quantile ([`magnitude_quantile`]) and a level below
//! the tensor's current sparsity prunes nothing more.

use crate::evaluate::evaluate;
use crate::io::{write_atomic, write_json};
use crate::model::Model;
use crate::params::{prunable_params, read_params, write_params};
use crate::TrainError;
use burn::prelude::*;
use dtprune_prune::stats::magnitude_quantile;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Levels used when none are given.
pub const DEFAULT_LEVELS: [f64; 5] = [0.5, 0.7, 0.9, 0.95, 0.98];
/// Largest accepted drop of validation accuracy (absolute, 0.005 = half a point) by default.
pub const DEFAULT_BUDGET: f64 = 0.005;

/// One measurement: `tensor` pruned alone to `level`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SensitivityRow {
    pub tensor: String,
    pub numel: usize,
    /// Requested fraction of the tensor's weights pruned.
    pub level: f64,
    /// Magnitude threshold τ: weights with |w| < τ were zeroed.
    pub threshold: f32,
    /// Fraction of the tensor that was zero during the measurement (differs from `level` only
    /// through ties and rounding).
    pub sparsity: f64,
    pub val_accuracy: f64,
    /// Baseline validation accuracy minus `val_accuracy` (positive: worse).
    pub drop: f64,
}

/// The suggested level for one tensor: the highest measured level whose drop is within the
/// budget; `None` when even the lowest level costs more (leave the tensor dense or test lower
/// levels).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    pub tensor: String,
    pub numel: usize,
    pub level: Option<f64>,
    pub threshold: Option<f32>,
    pub val_accuracy: Option<f64>,
    pub drop: Option<f64>,
}

/// Everything `sensitivity` measured; also written to `sensitivity.json`.
#[derive(Debug, Clone, Serialize)]
pub struct SensitivityReport {
    pub run: PathBuf,
    pub model: String,
    pub val_images: usize,
    pub baseline_val_accuracy: f64,
    pub budget: f64,
    pub levels: Vec<f64>,
    pub rows: Vec<SensitivityRow>,
    pub suggestions: Vec<Suggestion>,
    /// Files written into the run directory.
    pub files: Vec<PathBuf>,
}

/// Checks the levels (each in the open interval (0, 1)); returns them sorted, duplicates removed.
pub fn check_levels(levels: &[f64]) -> Result<Vec<f64>, TrainError> {
    let bad = |message: String| Err(TrainError::Config { path: None, message });
    if levels.is_empty() {
        return bad("no sensitivity levels given; give fractions in (0, 1), e.g. 0.5,0.9".into());
    }
    if let Some(l) = levels.iter().find(|l| !(**l > 0.0 && **l < 1.0)) {
        return bad(format!("sensitivity level {l} is out of range; valid range is (0, 1), exclusive (a fraction of the weights pruned)"));
    }
    let mut out = levels.to_vec();
    out.sort_by(f64::total_cmp);
    out.dedup();
    Ok(out)
}

/// Checks the accuracy budget: an absolute drop in [0, 1].
pub fn check_budget(budget: f64) -> Result<(), TrainError> {
    if !(0.0..=1.0).contains(&budget) {
        return Err(TrainError::Config {
            path: None,
            message: format!("sensitivity budget {budget} is out of range; valid range is [0, 1] (an absolute drop of validation accuracy)"),
        });
    }
    Ok(())
}

/// The magnitude threshold that prunes `level` of `values` (zeros count as pruned).
pub fn level_threshold(values: &[f32], level: f64) -> f32 {
    magnitude_quantile(values.iter().map(|v| v.abs()).collect(), level)
}

/// `values` with every |w| < `tau` zeroed, and the fraction of the result that is zero.
pub fn prune_below(values: &[f32], tau: f32) -> (Vec<f32>, f64) {
    let pruned: Vec<f32> = values.iter().map(|&v| if v.abs() < tau { 0.0 } else { v }).collect();
    let zeros = pruned.iter().filter(|v| **v == 0.0).count();
    let sparsity = if pruned.is_empty() { 0.0 } else { zeros as f64 / pruned.len() as f64 };
    (pruned, sparsity)
}

/// Per tensor (in order of first appearance in `rows`): the highest level whose drop is at most
/// `budget`.
pub fn suggest(rows: &[SensitivityRow], budget: f64) -> Vec<Suggestion> {
    // Accuracies are ratios of counts; a drop equal to the budget must not fail on rounding.
    const EPS: f64 = 1e-9;
    let mut order: Vec<&str> = Vec::new();
    for r in rows {
        if !order.contains(&r.tensor.as_str()) {
            order.push(&r.tensor);
        }
    }
    order
        .into_iter()
        .map(|name| {
            let mine = rows.iter().filter(|r| r.tensor == name);
            let numel = rows.iter().find(|r| r.tensor == name).map_or(0, |r| r.numel);
            let best = mine.filter(|r| r.drop <= budget + EPS).max_by(|a, b| a.level.total_cmp(&b.level));
            Suggestion {
                tensor: name.to_string(),
                numel,
                level: best.map(|r| r.level),
                threshold: best.map(|r| r.threshold),
                val_accuracy: best.map(|r| r.val_accuracy),
                drop: best.map(|r| r.drop),
            }
        })
        .collect()
}

/// Baseline metric of `model` on `val` and one row per (prunable tensor, level): each tensor
/// matching `prune_only` (default: every Linear/Conv weight) pruned alone, one shot. Works on
/// any [`Model`], a library user's own included; `crate::run::sensitivity` runs it on a run
/// directory and writes the files.
pub fn measure<M: Model>(model: &M, val: &M::Input, prune_only: &[String], levels: &[f64], device: &Device) -> Result<(f64, Vec<SensitivityRow>), TrainError> {
    let levels = check_levels(levels)?;
    let prunable = prunable_params(model, prune_only);
    if prunable.is_empty() {
        return Err(TrainError::Prune(dtprune_prune::PruneError::NoPrunable(prune_only.join(", "))));
    }
    let baseline = evaluate(model, val, device).accuracy;
    let mut originals = read_params(model, &prunable);
    let mut rows = Vec::with_capacity(prunable.len() * levels.len());
    for p in &prunable {
        let values = originals.remove(&p.id).unwrap_or_default();
        for &level in &levels {
            let tau = level_threshold(&values, level);
            let (pruned, sparsity) = prune_below(&values, tau);
            // `model` itself is never changed: each measurement prunes a copy, which restores
            // the tensor for the next one.
            let copy = write_params(model.clone(), std::slice::from_ref(p), &HashMap::from([(p.id, pruned)]));
            let acc = evaluate(&copy, val, device).accuracy;
            tracing::debug!(tensor = %p.name, level, tau, acc, "sensitivity");
            rows.push(SensitivityRow {
                tensor: p.name.clone(),
                numel: p.numel(),
                level,
                threshold: tau,
                sparsity,
                val_accuracy: acc,
                drop: baseline - acc,
            });
        }
    }
    Ok((baseline, rows))
}

/// `sensitivity.csv`: tensor, level, threshold, val_accuracy, drop.
pub fn sensitivity_csv(rows: &[SensitivityRow]) -> String {
    let mut s = String::from("tensor,level,threshold,val_accuracy,drop\n");
    for r in rows {
        let name = if r.tensor.contains([',', '"', '\n']) { format!("\"{}\"", r.tensor.replace('"', "\"\"")) } else { r.tensor.clone() };
        s.push_str(&format!("{name},{},{},{:.6},{:.6}\n", r.level, r.threshold, r.val_accuracy, r.drop));
    }
    s
}

/// Writes `sensitivity.csv`, `.json`, `.png` and `.svg` into the run directory `dir`.
pub fn write_outputs(dir: &Path, report: &SensitivityReport) -> Result<Vec<PathBuf>, TrainError> {
    let csv = dir.join("sensitivity.csv");
    write_atomic(&csv, sensitivity_csv(&report.rows).as_bytes())?;
    let json = dir.join("sensitivity.json");
    write_json(&json, report)?;
    let title = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let title = title.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| report.model.clone());
    let mut curves: Vec<dtprune_report::SensitivityCurve> = Vec::new();
    for r in &report.rows {
        match curves.iter_mut().find(|c| c.tensor == r.tensor) {
            Some(c) => c.points.push((r.level, r.val_accuracy)),
            None => curves.push(dtprune_report::SensitivityCurve { tensor: r.tensor.clone(), points: vec![(r.level, r.val_accuracy)] }),
        }
    }
    let plot = dtprune_report::Sensitivity { title, baseline: report.baseline_val_accuracy, budget: Some(report.budget), curves };
    let mut files = vec![csv, json];
    for ext in ["png", "svg"] {
        let path = dir.join(format!("sensitivity.{ext}"));
        dtprune_report::save_plot(dtprune_report::Plot::Sensitivity(&plot), &path)?;
        files.push(path);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(tensor: &str, level: f64, drop: f64) -> SensitivityRow {
        SensitivityRow { tensor: tensor.into(), numel: 10, level, threshold: level as f32, sparsity: level, val_accuracy: 0.9 - drop, drop }
    }

    #[test]
    fn level_threshold_by_hand() {
        // |w| sorted: 0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9 (n = 10).
        let w = [0.5, -0.1, 0.0, 0.9, -0.3, 0.2, 0.8, -0.4, 0.6, 0.7];
        // level 0.5 → k = 5 → the 6th smallest |w| = 0.5 is the first kept.
        assert_eq!(level_threshold(&w, 0.5), 0.5);
        // level 0.24 → k = round(2.4) = 2 → τ = 0.2; the zero counts as one of the pruned.
        assert_eq!(level_threshold(&w, 0.24), 0.2);
        // level 0.96 → k = round(9.6) = 10 = n → everything pruned.
        assert_eq!(level_threshold(&w, 0.96), f32::INFINITY);
        let (p, s) = prune_below(&w, 0.5);
        assert_eq!(p, vec![0.5, 0.0, 0.0, 0.9, 0.0, 0.0, 0.8, 0.0, 0.6, 0.7]);
        assert_eq!(s, 0.5);
        // A tensor already 70% zero: level 0.5 gives τ = 0 and prunes nothing more.
        let sparse = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.3, -0.2, 0.1];
        assert_eq!(level_threshold(&sparse, 0.5), 0.0);
        assert_eq!(prune_below(&sparse, 0.0), (sparse.to_vec(), 0.7));
        // Level 0.8 → k = 8 → τ = 0.2: only 0.1 goes.
        assert_eq!(level_threshold(&sparse, 0.8), 0.2);
    }

    #[test]
    fn suggestion_is_highest_level_within_budget() {
        let rows = vec![
            row("a", 0.5, 0.0),
            row("a", 0.9, 0.004),
            row("a", 0.95, 0.005), // exactly the budget: accepted
            row("a", 0.98, 0.02),
            row("b", 0.5, 0.001),
            row("b", 0.9, 0.03),
            row("c", 0.5, 0.01),
            row("c", 0.9, 0.2),
        ];
        let s = suggest(&rows, 0.005);
        assert_eq!(s.len(), 3);
        assert_eq!((s[0].tensor.as_str(), s[0].level, s[0].threshold), ("a", Some(0.95), Some(0.95)));
        assert!((s[0].val_accuracy.unwrap() - 0.895).abs() < 1e-12);
        assert_eq!((s[1].tensor.as_str(), s[1].level), ("b", Some(0.5)));
        assert_eq!((s[2].tensor.as_str(), s[2].level, s[2].threshold), ("c", None, None));
        // A looser budget moves every suggestion up.
        let s = suggest(&rows, 0.05);
        assert_eq!(s.iter().map(|x| x.level).collect::<Vec<_>>(), vec![Some(0.98), Some(0.9), Some(0.5)]);
    }

    #[test]
    fn bad_levels_and_budget() {
        assert_eq!(check_levels(&[0.9, 0.5, 0.9]).unwrap(), vec![0.5, 0.9]);
        for bad in [0.0, 1.0, 1.5, -0.1, f64::NAN] {
            let e = check_levels(&[0.5, bad]).unwrap_err().to_string();
            assert!(e.contains("valid range is (0, 1)"), "{e}");
        }
        assert!(check_levels(&[]).is_err());
        assert!(check_budget(0.0).is_ok());
        assert!(check_budget(-0.1).unwrap_err().to_string().contains("[0, 1]"));
        assert!(check_budget(f64::NAN).is_err());
    }

    #[test]
    fn csv_columns() {
        let csv = sensitivity_csv(&[row("fc1.weight", 0.9, 0.0125)]);
        assert_eq!(csv, "tensor,level,threshold,val_accuracy,drop\nfc1.weight,0.9,0.9,0.887500,0.012500\n");
    }
}
