//! What a model is trained for: its loss and its metric. Classification (cross-entropy and
//! accuracy) now; a regression or ranking task is another implementation.

use crate::input::Targets;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::prelude::*;

pub trait Task: Send + Sync + Sized + 'static {
    /// The metric's name in messages (`accuracy`).
    const METRIC: &'static str;
    fn new(device: &Device) -> Self;
    /// Mean loss over the batch, a one-element tensor (backpropagated in training).
    fn loss(&self, logits: Tensor<2>, targets: Targets) -> Tensor<1>;
    /// The metric's count for the batch (correct predictions); the metric is the sum over
    /// batches divided by the number of items.
    fn hits(&self, logits: Tensor<2>, targets: Targets) -> i64;
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
}
