//! Shared threshold arithmetic: τ0 from the weights, and τ for a target sparsity.

use super::{Decision, TensorDecision, TensorView};
use crate::mask::Mask;
use crate::params::{ParamKind, ParamSpec, ParamValue, Params};
use crate::stats::{magnitude_quantile, mean_std, pooled_abs_mean_std};

/// `init`, `k` and `scope`: the parameters of seed step 1, shared by the policies that start
/// from an initial threshold.
pub const INIT_PARAMS: [ParamSpec; 3] = [
    ParamSpec {
        name: "init",
        kind: ParamKind::Choice(&["mean", "std"]),
        default: ParamValue::Choice("mean"),
        help: "statistic of |w| that sets the initial threshold tau0",
    },
    ParamSpec {
        name: "k",
        kind: ParamKind::Float { min: 0.0, max: 10.0, open_min: true },
        default: ParamValue::Float(1.0),
        help: "tau0 = k * init(|w|)",
    },
    SCOPE,
];

pub const SCOPE: ParamSpec = ParamSpec {
    name: "scope",
    kind: ParamKind::Choice(&["global", "tensor"]),
    default: ParamValue::Choice("global"),
    help: "one threshold for all prunable tensors, or one per tensor",
};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scope {
    Global,
    PerTensor,
}

impl Scope {
    pub fn from_params(p: &Params) -> Self {
        if p.choice("scope") == "global" {
            Scope::Global
        } else {
            Scope::PerTensor
        }
    }
}

/// Seed step 1: τ0 = k·mean(|w|) or k·std(|w|), over all prunable weights or per tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThresholdInit {
    pub use_std: bool,
    pub k: f64,
    pub scope: Scope,
}

impl ThresholdInit {
    pub fn from_params(p: &Params) -> Self {
        Self { use_std: p.choice("init") == "std", k: p.float("k"), scope: Scope::from_params(p) }
    }

    /// One τ0 per tensor (identical across tensors for the global scope).
    pub fn compute(&self, tensors: &[TensorView]) -> Vec<f32> {
        let pick = |(mean, std): (f64, f64)| (self.k * if self.use_std { std } else { mean }) as f32;
        match self.scope {
            Scope::Global => {
                let tau = pick(pooled_abs_mean_std(tensors.iter().map(|t| (t.values, t.mask))));
                vec![tau; tensors.len()]
            }
            Scope::PerTensor => tensors.iter().map(|t| pick(abs_mean_std_kept(t))).collect(),
        }
    }
}

pub fn abs_mean_std_kept(t: &TensorView) -> (f64, f64) {
    let (mut n, mut s, mut s2) = (0usize, 0f64, 0f64);
    for (i, &v) in t.values.iter().enumerate() {
        if t.mask.keeps(i) {
            let a = f64::from(v.abs());
            n += 1;
            s += a;
            s2 += a * a;
        }
    }
    mean_std(n, s, s2)
}

/// Thresholds that bring each tensor (or all together) to `sparsity`, counting weights that are
/// already masked as pruned (they are zero, so they sort first).
pub fn thresholds_for_sparsity(tensors: &[TensorView], sparsity: f64, scope: Scope) -> Vec<f32> {
    let magnitudes = |t: &TensorView| t.values.iter().map(|v| v.abs()).collect::<Vec<f32>>();
    match scope {
        Scope::Global => {
            let all: Vec<f32> = tensors.iter().flat_map(magnitudes).collect();
            vec![magnitude_quantile(all, sparsity); tensors.len()]
        }
        Scope::PerTensor => tensors.iter().map(|t| magnitude_quantile(magnitudes(t), sparsity)).collect(),
    }
}

/// The decision "prune every tensor below its τ" (no regrowth), with one reason for all.
pub fn prune_all_below(tensors: &[TensorView], taus: &[f32], reason: &str) -> Decision {
    Decision::new(
        tensors
            .iter()
            .zip(taus)
            .map(|(t, &tau)| TensorDecision {
                threshold: Some(tau),
                mask: super::prune_below(t, tau),
                reason: reason.to_string(),
            })
            .collect(),
    )
}

/// Masks unchanged: used when a policy reports τ but prunes nothing.
pub fn keep_masks(tensors: &[TensorView], taus: &[Option<f32>], reason: &str) -> Decision {
    Decision::new(
        tensors
            .iter()
            .zip(taus)
            .map(|(t, &threshold)| TensorDecision { threshold, mask: Mask::clone(t.mask), reason: reason.to_string() })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testing::Fixture;

    #[test]
    fn tau0_global_and_per_tensor() {
        let f = Fixture::new(vec![("a", vec![2], vec![1.0, -3.0]), ("b", vec![2], vec![2.0, 2.0])]);
        let v = f.views();
        // global mean |w| = (1+3+2+2)/4 = 2; k = 0.5 -> 1
        let g = ThresholdInit { use_std: false, k: 0.5, scope: Scope::Global }.compute(&v);
        assert_eq!(g, vec![1.0, 1.0]);
        // per tensor std: a: |w| = {1,3} -> std 1; b: std 0
        let t = ThresholdInit { use_std: true, k: 2.0, scope: Scope::PerTensor }.compute(&v);
        assert_eq!(t, vec![2.0, 0.0]);
    }

    #[test]
    fn sparsity_thresholds() {
        let f = Fixture::new(vec![("a", vec![4], vec![0.1, 0.2, 0.3, 0.4]), ("b", vec![2], vec![0.05, 0.5])]);
        let v = f.views();
        // global: 6 magnitudes, 50% -> 3 pruned, tau = 3rd index of sorted [0.05,0.1,0.2,0.3,0.4,0.5] = 0.3
        assert_eq!(thresholds_for_sparsity(&v, 0.5, Scope::Global), vec![0.3, 0.3]);
        // per tensor: a -> 2 pruned, tau 0.3; b -> 1 pruned, tau 0.5
        assert_eq!(thresholds_for_sparsity(&v, 0.5, Scope::PerTensor), vec![0.3, 0.5]);
    }
}
