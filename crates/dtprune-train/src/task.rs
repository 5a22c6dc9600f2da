//! What a model is trained for: its loss and its metric. Classification (cross-entropy and
//! accuracy) now; a regression or ranking task is another implementation.

use crate::input::Targets;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::prelude::*;

pub trait Task: Send + Sync + Sized + 'static {
    /// The metric's name in messages (`accuracy`).
    const METRIC: &'static str;
    fn new(device: &Device) -> Self;
    /// The training loss's options from the config (label smoothing); a task that has none
    /// ignores them.
    fn with_options(self, _options: &TaskOptions) -> Self {
        self
    }
    /// Mean loss over the batch, a one-element tensor (backpropagated in training).
    fn loss(&self, logits: Tensor<2>, targets: Targets) -> Tensor<1>;
    /// The metric's count for the batch (correct predictions); the metric is the sum over
    /// batches divided by the number of items.
    fn hits(&self, logits: Tensor<2>, targets: Targets) -> i64;
}

/// Options of the training loss, from the config.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TaskOptions {
    /// Targets become (1 − α)·one-hot + α/classes (0: plain cross-entropy).
    pub label_smoothing: f64,
}

/// Cross-entropy loss, accuracy of the arg-max class.
pub struct Classification {
    loss: CrossEntropyLoss,
}

impl Task for Classification {
    const METRIC: &'static str = "accuracy";

    fn new(device: &Device) -> Self {
        Self { loss: CrossEntropyLossConfig::new().init(device) }
    }

    fn with_options(mut self, options: &TaskOptions) -> Self {
        self.loss.smoothing = (options.label_smoothing > 0.0).then_some(options.label_smoothing as f32);
        self
    }

    fn loss(&self, logits: Tensor<2>, targets: Targets) -> Tensor<1> {
        self.loss.forward(logits, targets)
    }

    fn hits(&self, logits: Tensor<2>, targets: Targets) -> i64 {
        logits.argmax(1).flatten::<1>(0, 1).equal(targets).int().sum().into_scalar::<i64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_entropy_and_hits_by_hand() {
        let device = Device::flex();
        let task = Classification::new(&device);
        // Logits [0, ln 3] → softmax [1/4, 3/4]; targets 1 and 0: losses ln(4/3) and ln 4.
        let logits = Tensor::<2>::from_data([[0.0f32, 3f32.ln()], [0.0, 3f32.ln()]], &device);
        let targets = Tensor::<1, Int>::from_data([1i64, 0], &device);
        let loss = task.loss(logits.clone(), targets.clone()).into_scalar::<f32>();
        let expected = ((4.0f32 / 3.0).ln() + 4f32.ln()) / 2.0;
        assert!((loss - expected).abs() < 1e-6, "{loss} vs {expected}");
        assert_eq!(task.hits(logits, targets), 1);
    }

    /// α = 0.2 over 2 classes: targets (0.9, 0.1) for class 1 → loss 0.1·ln 4 + 0.9·ln(4/3).
    #[test]
    fn label_smoothing_by_hand() {
        let device = Device::flex();
        let task = Classification::new(&device).with_options(&TaskOptions { label_smoothing: 0.2 });
        let logits = Tensor::<2>::from_data([[0.0f32, 3f32.ln()]], &device);
        let loss = task.loss(logits, Tensor::<1, Int>::from_data([1i64], &device)).into_scalar::<f32>();
        let expected = 0.1 * 4f32.ln() + 0.9 * (4.0f32 / 3.0).ln();
        assert!((loss - expected).abs() < 1e-6, "{loss} vs {expected}");
    }
}
