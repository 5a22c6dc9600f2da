//! The optimizer's state as plain host values, to save in a checkpoint and put back: per
//! parameter its step count, Adam moments (or the momentum buffer), mask and dense shadow
//! weights, all Burn layout, flattened.

use super::{MaskedOptimizer, ParamState};
use burn::module::ParamId;
use std::collections::HashMap;

/// One parameter's optimizer state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParamSnapshot {
    pub steps: u64,
    pub first: Option<Vec<f32>>,
    pub second: Option<Vec<f32>>,
    pub mask: Option<Vec<f32>>,
    pub shadow: Option<Vec<f32>>,
    /// Sum of squared gradient norms since the monitor last read it (mid-epoch snapshots).
    pub grad_sq: Option<f64>,
}

impl MaskedOptimizer {
    /// Every parameter's state. Masks still waiting for the next step (`set_mask` without
    /// `apply_pending`) are not part of it: take snapshots where none are pending.
    pub fn snapshot(&self) -> HashMap<ParamId, ParamSnapshot> {
        debug_assert!(self.pending.is_empty(), "optimizer snapshot with pending masks");
        self.states
            .iter()
            .map(|(id, s)| {
                let snapshot = ParamSnapshot {
                    steps: s.steps,
                    first: s.first.clone(),
                    second: s.second.clone(),
                    mask: s.mask.clone(),
                    shadow: s.shadow.clone(),
                    grad_sq: self.grad_sq.get(id).copied(),
                };
                (*id, snapshot)
            })
            .collect()
    }

    /// Replaces the whole state with `states`; pending masks and a recorded non-finite
    /// parameter are cleared.
    pub fn restore(&mut self, states: HashMap<ParamId, ParamSnapshot>) {
        self.grad_sq = states.iter().filter_map(|(id, s)| Some((*id, s.grad_sq?))).collect();
        self.states = states
            .into_iter()
            .map(|(id, s)| (id, ParamState { steps: s.steps, first: s.first, second: s.second, mask: s.mask, shadow: s.shadow }))
            .collect();
        self.pending.clear();
        self.non_finite = None;
        // An epoch-end checkpoint comes right after a pruning point read the sums; one from inside
        // an epoch loses its partial sums (the next scores average fewer steps).
        if let Some(sums) = self.element_grad_sq.as_mut() {
            sums.clear();
        }
    }
}
