//! What a policy may ask the trainer to measure besides the weights: per-weight gradient
//! statistics (for importance scores beyond |w|, [`super::importance`]) and each layer's measured
//! sensitivity (for per-layer sparsity, [`super::allocation`]). The engine is framework-free, so
//! it cannot compute either: a policy declares what it [`Wants`], the trainer measures it at each
//! pruning point and hands it to the engine, and the policy reads it as [`Signals`].

use serde::{Deserialize, Serialize};

/// What a policy needs measured at its pruning points.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Wants {
    /// Per-element mean of g² over the steps since the last pruning point.
    pub gradients: bool,
    /// Measure each weight tensor's sensitivity at epoch ends, by pruning these fractions of its
    /// *surviving* weights alone (one shot, by magnitude); empty: no sensitivity.
    pub sensitivity_fractions: Vec<f64>,
    /// Validation images the sensitivity probe evaluates on (the first ones of the split).
    pub sensitivity_images: usize,
}

impl Wants {
    /// Both policies' wants (composition).
    pub fn union(mut self, other: Wants) -> Wants {
        self.gradients |= other.gradients;
        self.sensitivity_fractions.extend(other.sensitivity_fractions);
        self.sensitivity_fractions.sort_by(f64::total_cmp);
        self.sensitivity_fractions.dedup();
        self.sensitivity_images = self.sensitivity_images.max(other.sensitivity_images);
        self
    }
}

/// One tensor's measured sensitivity: `(q, Δ)` points, `q` the fraction of the surviving weights
/// pruned alone, `Δ` the validation loss increase it caused (loss rather than accuracy: on a
/// probe of a few thousand images small prunes change accuracy by nothing or by one image, the
/// loss moves smoothly).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensitivityCurve {
    pub points: Vec<(f64, f64)>,
}

/// The measurements of this pruning point, aligned with [`super::Observation::tensors`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Signals<'a> {
    /// Per tensor, per element (PyTorch layout): mean g² since the last pruning point.
    pub grad_sq: Option<&'a [Vec<f32>]>,
    /// Per tensor: its sensitivity curve, measured at the last epoch end.
    pub sensitivity: Option<&'a [SensitivityCurve]>,
}

/// The engine's owned copy of the last measurements.
#[derive(Debug, Clone, Default)]
pub struct OwnedSignals {
    pub grad_sq: Option<Vec<Vec<f32>>>,
    pub sensitivity: Option<Vec<SensitivityCurve>>,
}

impl OwnedSignals {
    pub fn view(&self) -> Signals<'_> {
        Signals { grad_sq: self.grad_sq.as_deref(), sensitivity: self.sensitivity.as_deref() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_of_wants() {
        let a = Wants { gradients: false, sensitivity_fractions: vec![0.5, 0.25], sensitivity_images: 1000 };
        let b = Wants { gradients: true, sensitivity_fractions: vec![0.5, 0.75], sensitivity_images: 500 };
        let u = a.union(b);
        assert!(u.gradients);
        assert_eq!(u.sensitivity_fractions, vec![0.25, 0.5, 0.75]);
        assert_eq!(u.sensitivity_images, 1000);
    }
}
