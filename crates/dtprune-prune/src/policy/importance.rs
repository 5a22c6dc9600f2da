//! What a weight is worth, for the policies that rank weights: its magnitude |w|, or the
//! first-order Taylor estimate of the loss change its removal causes, |w|·√E[g²] (Molchanov et
//! al. 2019: the expected squared change (w·g)², square-rooted so that the score keeps the units
//! of |w|·|g|; E[g²] is the per-element mean of g² over the steps since the last pruning point,
//! measured by the trainer, [`super::signals`]). Magnitude alone ignores that a small weight on
//! a busy input can matter more than a large one on a dead pixel; the gradient sees it.
//!
//! A policy with an `importance` parameter ranks by [`Importance::scores`]; its τ is then in score
//! units.

use super::signals::Wants;
use super::{Observation, TensorView};
use crate::params::{ParamKind, ParamSpec, ParamValue, Params};

pub const IMPORTANCE: ParamSpec = ParamSpec {
    name: "importance",
    kind: ParamKind::Choice(&["magnitude", "taylor"]),
    default: ParamValue::Choice("magnitude"),
    help: "what ranks the weights: |w|, or the first-order Taylor score |w|*sqrt(mean g^2) (tau in score units)",
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Importance {
    Magnitude,
    Taylor,
}

/// The Taylor score of one weight: |w|·√(mean g²).
pub fn taylor_score(w: f32, mean_grad_sq: f32) -> f32 {
    w.abs() * mean_grad_sq.max(0.0).sqrt()
}

impl Importance {
    pub fn from_params(p: &Params) -> Self {
        if p.choice("importance") == "taylor" {
            Importance::Taylor
        } else {
            Importance::Magnitude
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Importance::Magnitude => "|w|",
            Importance::Taylor => "|w|*sqrt(E[g^2])",
        }
    }

    pub fn wants(self) -> Wants {
        Wants { gradients: self == Importance::Taylor, ..Wants::default() }
    }

    /// Scores of tensor `i` (non-negative). Taylor without measured gradients (a library caller
    /// that did not provide them) falls back to |w|.
    pub fn scores(self, obs: &Observation, i: usize) -> Vec<f32> {
        let t = &obs.tensors[i];
        match (self, obs.signals.grad_sq) {
            (Importance::Taylor, Some(g)) => t.values.iter().zip(&g[i]).map(|(&w, &g2)| taylor_score(w, g2)).collect(),
            _ => t.values.iter().map(|w| w.abs()).collect(),
        }
    }

    /// Runs `f` on the tensors with their values replaced by scores (for magnitude, the tensors
    /// themselves: threshold helpers compare |values|, which is the magnitude score).
    pub fn with_scores<R>(self, obs: &Observation, f: impl FnOnce(&[TensorView]) -> R) -> R {
        if self == Importance::Magnitude || obs.signals.grad_sq.is_none() {
            return f(obs.tensors);
        }
        let scores: Vec<Vec<f32>> = (0..obs.tensors.len()).map(|i| self.scores(obs, i)).collect();
        let views: Vec<TensorView> = obs.tensors.iter().zip(&scores).map(|(t, s)| TensorView { values: s, ..*t }).collect();
        f(&views)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::signals::Signals;
    use crate::policy::testing::{obs, Fixture};

    #[test]
    fn taylor_scores_by_hand() {
        // w = -2, 1, 3 with mean g² = 0.25, 4, 0: scores 2 * 0.5 = 1, 1 * 2 = 2, 0.
        let f = Fixture::new(vec![("a", vec![3], vec![-2.0, 1.0, 3.0])]);
        let views = f.views();
        let g = vec![vec![0.25, 4.0, 0.0]];
        let o = Observation { signals: Signals { grad_sq: Some(&g), sensitivity: None }, ..obs(1, 0.9, 0.9, &views) };
        assert_eq!(Importance::Taylor.scores(&o, 0), vec![1.0, 2.0, 0.0]);
        assert_eq!(Importance::Magnitude.scores(&o, 0), vec![2.0, 1.0, 3.0]);
        // The ranking flips: by magnitude 1.0 goes first, by Taylor the 3.0 with no gradient.
        let order = Importance::Taylor.with_scores(&o, |v| v[0].values.to_vec());
        assert_eq!(order, vec![1.0, 2.0, 0.0]);
        // without gradients Taylor falls back to |w|
        assert_eq!(Importance::Taylor.scores(&obs(1, 0.9, 0.9, &views), 0), vec![2.0, 1.0, 3.0]);
        assert!(Importance::Taylor.wants().gradients && !Importance::Magnitude.wants().gradients);
    }
}
