//! Structure-based policy: removes whole coupled structures — units of a channel group
//! ([`crate::group`]: a Linear layer's neuron, a conv channel, or channels tied by residual
//! adds) and, optionally, whole residual blocks.
//!
//! A group's unit is scored as a whole: the L_p norm over its producer and follower slices
//! (conv/linear output rows, BatchNorm γ and β). Units whose score is below
//! τ' = k·mean(scores of the group's surviving units) are removed, at most `max_fraction` of the
//! group's units and never its last one; the engine then masks every member slice (consumers'
//! input slices too). The classifier's outputs are never removed (its group is not removable).
//! Block removal ([`blocks`]) is the seed's "delete layers whose ‖W‖_p < τ'".

mod blocks;

use super::{Decision, Observation, PolicyInfo, Removal, StructureView, TensorDecision, ThresholdPolicy};
use crate::group::{Group, MemberRole};
use crate::params::{ParamKind, ParamSpec, ParamValue};

pub const INFO: PolicyInfo = PolicyInfo {
    name: "structure",
    family: "structure",
    summary: "mask whole neurons/channel groups whose L_p norm is below k * mean norm of the group (and residual blocks below block_tau)",
    params: &[
        ParamSpec {
            name: "p",
            kind: ParamKind::Float { min: 1.0, max: 10.0, open_min: false },
            default: ParamValue::Float(2.0),
            help: "order of the norm ||W_s||_p of a structure",
        },
        ParamSpec {
            name: "k",
            kind: ParamKind::Float { min: 0.0, max: 10.0, open_min: true },
            default: ParamValue::Float(0.8),
            help: "tau' = k * mean norm of the group's surviving units",
        },
        ParamSpec {
            name: "begin_epoch",
            kind: ParamKind::Int { min: 1, max: 100_000 },
            default: ParamValue::Int(1),
            help: "first epoch at whose end to remove structures",
        },
        ParamSpec {
            name: "max_fraction",
            kind: ParamKind::Float { min: 0.0, max: 0.99, open_min: false },
            default: ParamValue::Float(0.5),
            help: "most units of one group that may be removed",
        },
        ParamSpec {
            name: "block_tau",
            kind: ParamKind::Float { min: 0.0, max: 100.0, open_min: false },
            default: ParamValue::Float(0.0),
            help: "remove a removable residual block whose size-normalised weight norm (mean |w|^p)^(1/p) is below this (0: never); one block per stage stays",
        },
    ],
    build: |p| {
        Ok(Box::new(StructurePolicy {
            p: p.float("p"),
            k: p.float("k"),
            begin_epoch: p.int("begin_epoch") as usize,
            max_fraction: p.float("max_fraction"),
            block_tau: p.float("block_tau"),
        }))
    },
};

pub struct StructurePolicy {
    p: f64,
    k: f64,
    begin_epoch: usize,
    max_fraction: f64,
    block_tau: f64,
}

/// What the policy decided for one group.
struct GroupVerdict {
    tau: f64,
    removed: Vec<usize>,
}

/// The score of every unit of `g`: the L_p norm over all its producer and follower slices,
/// `(Σ_members Σ_{j in slice} |w_j|^p)^(1/p)`.
///
/// Modelled on Torch-Pruning's `GroupNormImportance` (DepGraph, Fang et al. 2023), which adds
/// up `|w|^p` of every coupled slice into one importance per channel, so tied channels are
/// judged together rather than per layer. Differences, and why: the p-th root is taken, so a
/// one-producer group scores exactly its row's L_p norm (the seed's ‖W_s‖_p, and this policy's
/// per-layer behaviour before groups); consumers' input slices are left out, as the seed
/// scores a structure by the weights that compute it; BatchNorm γ and β count because a channel
/// with small γ and β contributes little whatever its conv row. Tensors of removed blocks are
/// left out (they are zero and gone).
pub fn unit_scores(g: &Group, view: &StructureView, p: f64) -> Vec<f64> {
    let mut sums = vec![0.0f64; g.units];
    let gone = blocks::removed_tensors(view);
    for m in g.members.iter().filter(|m| m.role != MemberRole::Consumer && !gone.contains(&m.tensor)) {
        let values = view.all[m.tensor].values;
        for (u, sum) in sums.iter_mut().enumerate() {
            *sum += m.indices(u).map(|j| f64::from(values[j].abs()).powf(p)).sum::<f64>();
        }
    }
    sums.into_iter().map(|s| s.powf(1.0 / p)).collect()
}

impl StructurePolicy {
    /// τ' for group `g` and the units to remove, weakest first.
    fn judge_group(&self, g: &Group, removed: &[bool], view: &StructureView) -> GroupVerdict {
        let scores = unit_scores(g, view, self.p);
        // A unit already removed, or emptied by weight pruning, counts against max_fraction.
        let alive: Vec<usize> = (0..g.units).filter(|&u| !removed[u] && scores[u] > 0.0).collect();
        let mean = alive.iter().map(|&u| scores[u]).sum::<f64>() / alive.len().max(1) as f64;
        let tau = self.k * mean;
        let max_removed = ((g.units as f64) * self.max_fraction).floor() as usize;
        let already = g.units - alive.len();
        let mut candidates: Vec<usize> = alive.iter().copied().filter(|&u| scores[u] < tau).collect();
        candidates.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
        candidates.truncate(max_removed.saturating_sub(already).min(alive.len().saturating_sub(1)));
        GroupVerdict { tau, removed: candidates }
    }

    fn reason(&self, g: &Group, v: &GroupVerdict) -> String {
        let what = format!("{} structures with ||W||_{} < {:.5} (= {} * mean norm) removed", v.removed.len(), self.p, v.tau, self.k);
        if g.producers().count() > 1 {
            format!("group `{}`: {what}", g.name)
        } else {
            what
        }
    }
}

impl ThresholdPolicy for StructurePolicy {
    fn name(&self) -> &str {
        "structure"
    }

    fn decide(&mut self, obs: &Observation) -> Option<Decision> {
        if !obs.epoch_end || obs.epoch < self.begin_epoch {
            return None;
        }
        let view = &obs.structure;
        let gone = blocks::removed_tensors(view);
        let mut decisions: Vec<TensorDecision> =
            obs.tensors.iter().map(|t| TensorDecision { threshold: None, mask: t.mask.clone(), reason: "structures of this tensor are kept".into() }).collect();
        // Observation::tensors are the weights of StructureView::all, in order.
        let mut weight_index: Vec<Option<usize>> = vec![None; view.all.len()];
        let mut next = 0;
        for (slot, t) in weight_index.iter_mut().zip(view.all) {
            if !t.follower {
                *slot = Some(next);
                next += 1;
            }
        }
        let mut removals = Vec::new();
        for (gi, g) in view.groups.iter().enumerate() {
            // A group whose producers all belong to removed blocks went with them.
            if !g.removable || g.units < 2 || g.producers().all(|m| gone.contains(&m.tensor)) {
                continue;
            }
            let verdict = self.judge_group(g, &view.removed_units[gi], view);
            let reason = self.reason(g, &verdict);
            for m in g.producers() {
                if let Some(d) = weight_index.get(m.tensor).copied().flatten().and_then(|w| decisions.get_mut(w)) {
                    if d.threshold.is_none() {
                        *d = TensorDecision { threshold: Some(verdict.tau as f32), mask: d.mask.clone(), reason: reason.clone() };
                    }
                }
            }
            removals.extend(verdict.removed.into_iter().map(|unit| Removal::Unit { group: gi, unit }));
        }
        if self.block_tau > 0.0 {
            removals.extend(blocks::weak_blocks(view, self.p, self.block_tau).into_iter().map(Removal::Block));
        }
        Some(Decision { tensors: decisions, removals })
    }

    fn on_rollback(&mut self) {
        self.k *= 0.8;
        self.block_tau *= 0.8;
    }

    fn state(&self) -> serde_json::Value {
        serde_json::json!({ "k": self.k, "block_tau": self.block_tau })
    }

    fn restore_state(&mut self, state: &serde_json::Value) -> Result<(), String> {
        self.k = super::state_field(state, "k")?;
        // Checkpoints written before block removal have no `block_tau`: it stays as configured.
        if state.get("block_tau").is_some() {
            self.block_tau = super::state_field(state, "block_tau")?;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests;
