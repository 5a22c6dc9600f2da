//! What `prune-weights` did, per tensor: printed as a table and written as JSON.

use serde::Serialize;
use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize)]
pub struct TensorReport {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    pub numel: usize,
    pub selected: bool,
    /// τ: values with |w| < τ were zeroed (selected tensors only).
    pub threshold: Option<f32>,
    pub reason: Option<String>,
    /// Fraction of exact zeros before and after (float tensors only).
    pub sparsity_before: Option<f64>,
    pub sparsity_after: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    pub input: PathBuf,
    pub output: PathBuf,
    pub policy: String,
    pub params: serde_json::Value,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub tensors: Vec<TensorReport>,
    /// Over the selected tensors.
    pub selected_tensors: usize,
    pub selected_values: usize,
    pub sparsity_before: f64,
    pub sparsity_after: f64,
}

/// What was asked: the files, the policy and the selection.
#[derive(Debug, Clone)]
pub struct Request {
    pub input: PathBuf,
    pub output: PathBuf,
    pub policy: String,
    pub params: serde_json::Value,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

impl PruneReport {
    /// The report with its totals over the selected tensors.
    pub fn new(r: Request, tensors: Vec<TensorReport>) -> Self {
        let selected: Vec<&TensorReport> = tensors.iter().filter(|t| t.selected).collect();
        let values: usize = selected.iter().map(|t| t.numel).sum();
        let weighted = |f: fn(&TensorReport) -> Option<f64>| {
            let zeros: f64 = selected.iter().map(|t| f(t).unwrap_or(0.0) * t.numel as f64).sum();
            if values == 0 {
                0.0
            } else {
                zeros / values as f64
            }
        };
        let (sparsity_before, sparsity_after) = (weighted(|t| t.sparsity_before), weighted(|t| t.sparsity_after));
        let selected_tensors = selected.len();
        Self {
            input: r.input,
            output: r.output,
            policy: r.policy,
            params: r.params,
            include: r.include,
            exclude: r.exclude,
            tensors,
            selected_tensors,
            selected_values: values,
            sparsity_before,
            sparsity_after,
        }
    }
}

impl fmt::Display for PruneReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.tensors.iter().map(|t| t.name.len()).max().unwrap_or(6).max(6);
        writeln!(f, "{:<width$} {:<5} {:<16} {:>12} {:>8} {:>8}", "tensor", "dtype", "shape", "tau", "before", "after")?;
        let pct = |s: Option<f64>| s.map_or_else(|| "-".to_string(), |s| format!("{:.2}%", s * 100.0));
        for t in &self.tensors {
            let tau = match (t.selected, t.threshold) {
                (true, Some(tau)) => format!("{tau:.6}"),
                _ => "copied".into(),
            };
            writeln!(f, "{:<width$} {:<5} {:<16} {:>12} {:>8} {:>8}", t.name, t.dtype, format!("{:?}", t.shape), tau, pct(t.sparsity_before), pct(t.sparsity_after))?;
        }
        write!(
            f,
            "policy {} {}: {} of {} tensors pruned ({} values), sparsity {:.2}% -> {:.2}%; wrote {}",
            self.policy,
            self.params,
            self.selected_tensors,
            self.tensors.len(),
            self.selected_values,
            self.sparsity_before * 100.0,
            self.sparsity_after * 100.0,
            self.output.display()
        )
    }
}
