//! LayerNorm over a residual stream whose width may shrink: the statistics count the stream's
//! original `width`, removed dimensions as the zeros they were when masked. A stream dimension
//! the structure policy removed is exactly 0 in the masked model (every writer's row and bias
//! masked); LayerNorm's mean and variance still include it. With the dimension physically gone
//! the same statistics need the count of the original width and the missing zeros' share of
//! the variance, `(width − kept)·mean²`, so the compact model gives the masked model's outputs.
//!
//! With nothing removed (`kept = width`) this is PyTorch's `LayerNorm` (population variance, ε
//! inside the square root).

use burn::module::Param;
use burn::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamNormConfig {
    pub width: usize,
    pub epsilon: f64,
}

impl StreamNormConfig {
    pub fn new(width: usize) -> Self {
        Self { width, epsilon: 1e-5 }
    }

    /// γ = 1, β = 0.
    pub fn init(&self, device: &Device) -> StreamNorm {
        StreamNorm {
            gamma: Param::from_tensor(Tensor::ones([self.width], device)),
            beta: Param::from_tensor(Tensor::zeros([self.width], device)),
            width: self.width,
            epsilon: self.epsilon,
        }
    }
}

#[derive(Module, Debug)]
pub struct StreamNorm {
    pub gamma: Param<Tensor<1>>,
    pub beta: Param<Tensor<1>>,
    /// The stream's original width: what the statistics divide by.
    width: usize,
    epsilon: f64,
}

impl StreamNorm {
    /// The width the statistics count (the dense stream's).
    pub fn width(&self) -> usize {
        self.width
    }

    /// Normalises the last axis of `x` (`[batch, tokens, kept]`, `kept ≤ width`).
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let kept = x.dims()[2];
        let n = self.width as f64;
        let mean = x.clone().sum_dim(2).div_scalar(n);
        let centred = x - mean.clone();
        let missing = mean.powi_scalar(2).mul_scalar((self.width - kept.min(self.width)) as f64);
        let var = (centred.clone().powi_scalar(2).sum_dim(2) + missing).div_scalar(n);
        let normed = centred / var.add_scalar(self.epsilon).sqrt();
        normed * self.gamma.val().unsqueeze::<3>() + self.beta.val().unsqueeze::<3>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn values(t: Tensor<3>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
    }

    /// x = (1, 3): mean 2, variance 1 → (−1, 1)/√(1 + ε). Then the stream (1, 3, 0) of width 3
    /// with its last dimension removed: mean 4/3, variance ((1 − 4/3)² + (3 − 4/3)² + (4/3)²)/3
    /// = 14/9, so the kept outputs are (−1/3, 5/3)/√(14/9 + ε), exactly what the full-width
    /// norm gives on (1, 3, 0) in those dimensions.
    #[test]
    fn statistics_count_removed_dimensions_as_zeros() {
        let device = Device::flex();
        let x = |v: Vec<f32>, d| Tensor::<3>::from_data(TensorData::new(v, [1, 1, d]), &device);
        let eps = 1e-5f32;
        let full = StreamNormConfig::new(2).init(&device);
        let out = values(full.forward(x(vec![1.0, 3.0], 2)));
        let s = (1.0 + eps).sqrt();
        assert!((out[0] + 1.0 / s).abs() < 1e-6 && (out[1] - 1.0 / s).abs() < 1e-6, "{out:?}");

        let three = StreamNormConfig::new(3).init(&device);
        let reference = values(three.forward(x(vec![1.0, 3.0, 0.0], 3)));
        let mut shrunk = StreamNormConfig::new(3).init(&device);
        shrunk.gamma = Param::from_tensor(Tensor::ones([2], &device));
        shrunk.beta = Param::from_tensor(Tensor::zeros([2], &device));
        let out = values(shrunk.forward(x(vec![1.0, 3.0], 2)));
        let s = (14.0f32 / 9.0 + eps).sqrt();
        let expected = [-1.0 / 3.0 / s, 5.0 / 3.0 / s];
        for i in 0..2 {
            assert!((out[i] - expected[i]).abs() < 1e-6 && (out[i] - reference[i]).abs() < 1e-6, "{out:?} {reference:?}");
        }
    }
}
