//! Divergence: a loss, gradient or weight that stops being finite (caught inside the step), and
//! a loss that explodes while staying finite (caught at the epoch end, where validation says
//! whether the model still learns).
//!
//! A non-finite step sends the run back to its last good state (the last epoch end) with the
//! learning rate lowered, at most [`MAX_RETRIES`] times over the run; an explosion stops the
//! run with the likely cause, before anything is pruned.

use crate::optim::OptimizerKind;

/// Returns to the last good state a run may make, over the whole run.
pub const MAX_RETRIES: usize = 3;
/// Learning-rate factor of each return.
pub const LR_FACTOR: f64 = 0.1;
/// A training loss this many times its reference counts as exploded…
pub const EXPLOSION_FACTOR: f64 = 10.0;
/// …when validation accuracy is also at most this many times chance.
pub const CHANCE_MARGIN: f64 = 1.5;

/// What went non-finite inside a step.
#[derive(Debug, Clone, PartialEq)]
pub enum NonFinite {
    Loss(f64),
    /// A parameter's weights (a NaN/inf gradient lands there too).
    Weights(String),
}

impl std::fmt::Display for NonFinite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NonFinite::Loss(l) => write!(f, "the loss is {l}"),
            NonFinite::Weights(name) => write!(f, "`{name}` has NaN or infinite values after the update"),
        }
    }
}

/// The evidence of a finite explosion, in words, or `None` while the run looks healthy.
/// `reference_loss` is the smaller of the loss at initialisation and the first epoch's
/// training loss; `classes` sets chance level.
pub fn explosion(train_loss: f64, val_accuracy: f64, reference_loss: f64, classes: usize, lr: f64, optimizer: OptimizerKind) -> Option<String> {
    let chance = 1.0 / classes.max(1) as f64;
    let exploded = train_loss > EXPLOSION_FACTOR * reference_loss && val_accuracy <= CHANCE_MARGIN * chance;
    if !exploded {
        return None;
    }
    let (name, default) = match optimizer {
        OptimizerKind::Adam => ("adam", "0.001"),
        OptimizerKind::Sgd => ("sgd", "0.01-0.1"),
    };
    Some(format!(
        "training loss {train_loss:.4} is {:.0}x its reference {reference_loss:.4} and validation accuracy {:.2}% is chance level ({:.2}% for {classes} classes): \
         the model stopped learning. The likely cause is a learning rate too high for {name} (lr {lr}); try {default}",
        train_loss / reference_loss,
        val_accuracy * 100.0,
        chance * 100.0
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lr_5_run_is_an_explosion_and_a_learning_run_is_not() {
        // The numbers of `dtprune train --lr 5` (issue 12): loss 25,165, 11% accuracy.
        let e = explosion(25_165.0, 0.1135, 2.3026, 10, 5.0, OptimizerKind::Adam).expect("exploded");
        assert!(e.contains("10929x") && e.contains("11.35%") && e.contains("10.00% for 10 classes") && e.contains("adam (lr 5)"), "{e}");
        // Learning: low loss, high accuracy.
        assert_eq!(explosion(0.2, 0.95, 2.3, 10, 1e-3, OptimizerKind::Adam), None);
        // Stuck at chance without a loss explosion: not this failure.
        assert_eq!(explosion(2.31, 0.10, 2.30, 10, 1e-3, OptimizerKind::Adam), None);
        // A high loss while validation is well above chance: not (yet) an explosion.
        assert_eq!(explosion(40.0, 0.60, 2.30, 10, 1e-3, OptimizerKind::Adam), None);
        // Boundaries: exactly 10x is not above it; 15% of 10 classes is still chance.
        assert_eq!(explosion(23.0, 0.10, 2.3, 10, 1.0, OptimizerKind::Sgd), None);
        assert!(explosion(23.01, 0.15, 2.3, 10, 1.0, OptimizerKind::Sgd).is_some());
    }
}
