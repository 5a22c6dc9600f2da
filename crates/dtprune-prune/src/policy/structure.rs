//! Structure-based policy: the L_p norm of each structure (a row of dim 0: a Linear layer's
//! output neuron, a Conv layer's output channel). Structures whose norm is below
//! τ' = k·mean(norms of the tensor's surviving structures) are masked whole. The classifier
//! layer's outputs are never removed, and at most `max_fraction` of a tensor's structures go.

use super::{Decision, Observation, PolicyInfo, TensorDecision, ThresholdPolicy};
use crate::mask::Mask;
use crate::params::{ParamKind, ParamSpec, ParamValue};

pub const INFO: PolicyInfo = PolicyInfo {
    name: "structure",
    family: "structure",
    summary: "mask whole neurons/channels whose L_p norm is below k * mean norm of the layer",
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
            help: "tau' = k * mean norm of the tensor's surviving structures",
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
            help: "most structures of one tensor that may be removed",
        },
    ],
    build: |p| {
        Ok(Box::new(StructurePolicy {
            p: p.float("p"),
            k: p.float("k"),
            begin_epoch: p.int("begin_epoch") as usize,
            max_fraction: p.float("max_fraction"),
        }))
    },
};

pub struct StructurePolicy {
    p: f64,
    k: f64,
    begin_epoch: usize,
    max_fraction: f64,
}

/// ‖row‖_p of every row of dim 0.
pub fn structure_norms(values: &[f32], rows: usize, p: f64) -> Vec<f64> {
    if rows == 0 {
        return Vec::new();
    }
    values.chunks(values.len() / rows).map(|row| row.iter().map(|v| f64::from(v.abs()).powf(p)).sum::<f64>().powf(1.0 / p)).collect()
}

impl ThresholdPolicy for StructurePolicy {
    fn name(&self) -> &str {
        "structure"
    }

    fn decide(&mut self, obs: &Observation) -> Option<Decision> {
        if !obs.epoch_end || obs.epoch < self.begin_epoch {
            return None;
        }
        let tensors = obs
            .tensors
            .iter()
            .map(|t| {
                let rows = t.shape.first().copied().unwrap_or(0);
                if !t.structures_removable || rows < 2 {
                    return TensorDecision { threshold: None, mask: t.mask.clone(), reason: "structures of this tensor are kept".into() };
                }
                let norms = structure_norms(t.values, rows, self.p);
                let alive: Vec<usize> = (0..rows).filter(|&r| norms[r] > 0.0).collect();
                let mean = alive.iter().map(|&r| norms[r]).sum::<f64>() / alive.len().max(1) as f64;
                let tau = self.k * mean;
                let max_removed = ((rows as f64) * self.max_fraction).floor() as usize;
                let already = rows - alive.len();
                let mut candidates: Vec<usize> = alive.iter().copied().filter(|&r| norms[r] < tau).collect();
                candidates.sort_by(|&a, &b| norms[a].total_cmp(&norms[b]));
                candidates.truncate(max_removed.saturating_sub(already).min(alive.len().saturating_sub(1)));
                let mut mask = t.mask.clone();
                let row_len = t.values.len() / rows;
                for &r in &candidates {
                    for j in r * row_len..(r + 1) * row_len {
                        mask.set(j, false);
                    }
                }
                TensorDecision {
                    threshold: Some(tau as f32),
                    mask,
                    reason: format!("{} structures with ||W||_{} < {:.5} (= {} * mean norm) removed", candidates.len(), self.p, tau, self.k),
                }
            })
            .collect();
        Some(Decision { tensors })
    }

    fn on_rollback(&mut self) {
        self.k *= 0.8;
    }

    fn state(&self) -> serde_json::Value {
        serde_json::json!({ "k": self.k })
    }

    fn restore_state(&mut self, state: &serde_json::Value) -> Result<(), String> {
        self.k = super::state_field(state, "k")?;
        Ok(())
    }
}

/// Structures (rows of dim 0) whose every element is masked.
pub fn dead_structures(mask: &Mask, rows: usize) -> usize {
    if rows == 0 {
        return 0;
    }
    mask.as_bytes().chunks(mask.len() / rows).filter(|row| row.iter().all(|&k| k == 0)).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testing::{obs, params, Fixture};

    #[test]
    fn l2_norms_by_hand() {
        // rows [3,4] and [0,1]: norms 5 and 1; L1: 7 and 1
        assert_eq!(structure_norms(&[3.0, -4.0, 0.0, 1.0], 2, 2.0), vec![5.0, 1.0]);
        assert_eq!(structure_norms(&[3.0, -4.0, 0.0, 1.0], 2, 1.0), vec![7.0, 1.0]);
    }

    #[test]
    fn removes_weak_rows_not_classifier() {
        // hidden [3,2]: row norms 5, 1, 5 -> mean 3.667, k 0.5 -> 1.833: row 1 goes.
        let f = Fixture::new(vec![
            ("fc1.weight", vec![3, 2], vec![3.0, 4.0, 0.0, 1.0, 4.0, 3.0]),
            ("fc2.weight", vec![2, 3], vec![0.1, 0.0, 0.0, 5.0, 5.0, 5.0]),
        ]);
        let p = params(&INFO, &[("k", toml::Value::Float(0.5))]);
        let mut pol = (INFO.build)(&p).unwrap();
        let d = pol.decide(&obs(1, 0.9, 0.9, &f.views())).unwrap();
        assert_eq!(d.tensors[0].mask.to_f32(), vec![1.0, 1.0, 0.0, 0.0, 1.0, 1.0]);
        assert_eq!(dead_structures(&d.tensors[0].mask, 3), 1);
        // the last tensor is the classifier: untouched although its first row is weak
        assert_eq!(d.tensors[1].mask.pruned(), 0);
    }
}
