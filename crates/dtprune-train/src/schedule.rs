//! Learning-rate schedules within a run, as a factor on the epoch's rate per optimizer step.
//!
//! `exponential` is the original behaviour (a constant factor 1 within the run; the trainer
//! multiplies the rate by `lr_decay` after every epoch). `cosine` is SGDR without restarts
//! (Loshchilov & Hutter 2017), what current CIFAR recipes use: `½(1 + cos(π·t/T))` over the steps
//! after the warm-up, and nothing else: with `cosine` the per-epoch `lr_decay` is 1 (unset means
//! 1, any other value is refused by `ExperimentConfig::validate`), so a step's rate is `lr` times
//! this factor. The warm-up is linear, `(step + 1) / warmup_steps`, for either.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    #[default]
    Exponential,
    Cosine,
}

impl LrSchedule {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// The factor on the rate for the step after `step` steps (0-based), with `warmup` warm-up
    /// steps out of `total`.
    pub fn factor(self, step: usize, warmup: usize, total: usize) -> f64 {
        if step < warmup {
            return (step + 1) as f64 / warmup as f64;
        }
        match self {
            Self::Exponential => 1.0,
            Self::Cosine => {
                let span = total.saturating_sub(warmup).max(1) as f64;
                let t = (step - warmup) as f64;
                0.5 * (1.0 + (std::f64::consts::PI * t / span).cos())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine_by_hand() {
        let s = LrSchedule::Cosine;
        // 2 warm-up steps of 10: 1/2, 1; then cos over 8 steps: 1 at t=0, 1/2 at t=4, (1+cos(7π/8))/2 at t=7.
        assert_eq!(s.factor(0, 2, 10), 0.5);
        assert_eq!(s.factor(1, 2, 10), 1.0);
        assert_eq!(s.factor(2, 2, 10), 1.0);
        assert!((s.factor(6, 2, 10) - 0.5).abs() < 1e-12);
        assert!((s.factor(9, 2, 10) - 0.5 * (1.0 + (7.0 * std::f64::consts::PI / 8.0).cos())).abs() < 1e-12);
        assert_eq!(LrSchedule::Exponential.factor(5, 0, 10), 1.0);
        assert_eq!(LrSchedule::Exponential.factor(0, 4, 10), 0.25);
    }
}
