//! What the run records every epoch (seed step 2): metrics, per-tensor weight and gradient
//! statistics, τ, sparsity and the prune events. One [`EpochRecord`] is one line of
//! `history.jsonl` (schema: `docs/history-schema.md`).

use dtprune_prune::{Mask, PruneEvent, TensorStats};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorRecord {
    pub shape: Vec<usize>,
    #[serde(flatten)]
    pub stats: TensorStats,
    pub threshold: Option<f32>,
    /// sqrt of the mean over the epoch's steps of ‖∂L/∂W‖² (masked gradients count as zero).
    pub grad_norm: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
    pub lr: f64,
    /// Training-phase wall time of the epoch (forward, backward, optimizer, step-level pruning).
    pub seconds: f64,
    pub eval_seconds: f64,
    /// Epoch-end monitoring and pruning time (statistics, policy, write-back).
    pub prune_seconds: f64,
    /// Fraction of all prunable weights masked.
    pub sparsity: f64,
    pub tensors: BTreeMap<String, TensorRecord>,
    pub events: Vec<PruneEvent>,
}

impl TensorRecord {
    pub fn new(shape: Vec<usize>, values: &[f32], mask: &Mask, threshold: Option<f32>, grad_sq_sum: f64, steps: usize) -> Self {
        Self {
            shape,
            stats: TensorStats::compute(values, mask),
            threshold,
            grad_norm: if steps == 0 { 0.0 } else { (grad_sq_sum / steps as f64).sqrt() },
        }
    }
}

/// One line of `steps.jsonl`: the running figures of the epoch so far, every `monitor_every`
/// optimizer steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub epoch: usize,
    pub step: usize,
    /// Mean training loss and accuracy over the epoch's batches so far.
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub lr: f64,
    pub sparsity: f64,
}
