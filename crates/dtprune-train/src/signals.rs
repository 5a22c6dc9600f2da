//! The trainer's side of a policy's [`Wants`](dtprune_prune::Wants): at a pruning point it
//! measures what the framework-free engine cannot — per-weight gradient statistics (summed by
//! the optimizer over the steps since the last pruning point) and each layer's sensitivity (the
//! validation loss after pruning part of that layer alone, on a small probe of the validation
//! split) — and hands them to the engine.

use crate::evaluate::evaluate;
use crate::model::Model;
use crate::optim::MaskedOptimizer;
use crate::params::{read_params, to_torch_layout, write_params, ParamInfo};
use crate::sensitivity::{level_threshold, prune_below};
use burn::prelude::*;
use dtprune_prune::policy::SensitivityCurve;
use dtprune_prune::PruningEngine;
use std::collections::HashMap;

/// Gives the engine the per-element mean g² since the last pruning point, if its policy wants it.
pub(crate) fn provide_gradients(engine: &mut PruningEngine, prunable: &[ParamInfo], optim: &mut MaskedOptimizer) {
    if !engine.wants().gradients {
        return;
    }
    let mut sums = optim.take_element_grad_sq();
    let per_spec = prunable.iter().map(|p| sums.remove(&p.id).map_or_else(|| vec![0.0; p.numel()], |v| to_torch_layout(p, v))).collect();
    engine.set_gradients(per_spec);
}

/// Measures every weight tensor's sensitivity curve on `probe` and gives the curves to the
/// engine, if its policy wants them now.
pub(crate) fn provide_sensitivity<M: Model>(engine: &mut PruningEngine, model: &M, probe: Option<&M::Input>, prunable: &[ParamInfo], device: &Device) {
    let wants = engine.wants();
    let Some(probe) = probe.filter(|_| !wants.sensitivity_fractions.is_empty()) else { return };
    let weights: Vec<bool> = engine.specs().iter().map(|s| !s.follower).collect();
    let curves = sensitivity_curves(model, probe, prunable, &weights, &wants.sensitivity_fractions, device);
    engine.set_sensitivity(curves);
}

/// Per tensor (an empty curve where `measure[i]` is false): for each fraction `q`, the probe's
/// loss increase when `q` of the tensor's surviving (non-zero) weights, the smallest by
/// magnitude, are zeroed alone. The model itself is not changed.
pub fn sensitivity_curves<M: Model>(model: &M, probe: &M::Input, prunable: &[ParamInfo], measure: &[bool], fractions: &[f64], device: &Device) -> Vec<SensitivityCurve> {
    let base = evaluate(model, probe, device).loss;
    let mut values = read_params(model, prunable);
    prunable
        .iter()
        .zip(measure)
        .map(|(p, &measure)| {
            let current = values.remove(&p.id).unwrap_or_default();
            if !measure || current.is_empty() {
                return SensitivityCurve { points: Vec::new() };
            }
            let n = current.len() as f64;
            let zeros = current.iter().filter(|v| **v == 0.0).count() as f64;
            let points = fractions
                .iter()
                .map(|&q| {
                    let level = (zeros + q * (n - zeros)) / n;
                    let (pruned, _) = prune_below(&current, level_threshold(&current, level));
                    let copy = write_params(model.clone(), std::slice::from_ref(p), &HashMap::from([(p.id, pruned)]));
                    (q, evaluate(&copy, probe, device).loss - base)
                })
                .collect();
            SensitivityCurve { points }
        })
        .collect()
}
