//! Multi-head self-attention whose head count and head width are free, not derived from the
//! model width: an encoder with whole heads physically removed is the same module with fewer
//! heads. (Burn's `MultiHeadAttention` reshapes by `d_model / n_heads`, so it cannot hold one.)
//!
//! Layout as in BERT: `query`, `key`, `value` map `d_model → heads·head_dim`, head `h` owning
//! columns `[h·head_dim, (h+1)·head_dim)`; the output projection is the caller's (BERT keeps it
//! with the residual LayerNorm).

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;

/// Added to the attention score of a padding key: `exp` of it underflows to exactly 0.
const MASKED_SCORE: f32 = -1.0e9;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelfAttentionConfig {
    pub d_model: usize,
    pub heads: usize,
    pub head_dim: usize,
}

impl SelfAttentionConfig {
    pub fn init(&self, device: &Device) -> SelfAttention {
        let width = self.heads * self.head_dim;
        SelfAttention {
            query: LinearConfig::new(self.d_model, width).init(device),
            key: LinearConfig::new(self.d_model, width).init(device),
            value: LinearConfig::new(self.d_model, width).init(device),
            heads: self.heads,
            head_dim: self.head_dim,
        }
    }
}

#[derive(Module, Debug)]
pub struct SelfAttention {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    heads: usize,
    head_dim: usize,
}

impl SelfAttention {
    pub fn heads(&self) -> usize {
        self.heads
    }

    pub fn head_dim(&self) -> usize {
        self.head_dim
    }

    /// The same attention after whole heads' columns were cut from its projections: the head
    /// count follows the query width (`heads·head_dim`).
    pub fn refit_heads(mut self) -> Self {
        self.heads = crate::graph::param_dims(&self.query.weight)[1] / self.head_dim;
        self
    }

    /// `x`: `[batch, tokens, d_model]`; `key_mask`: `[batch, tokens]`, 1 for a real token and 0
    /// for padding. Returns the heads' concatenated contexts, `[batch, tokens, heads·head_dim]`.
    pub fn forward(&self, x: Tensor<3>, key_mask: Tensor<2>) -> Tensor<3> {
        let [batch, tokens, _] = x.dims();
        let split = |y: Tensor<3>| y.reshape([batch, tokens, self.heads, self.head_dim]).swap_dims(1, 2);
        let q = split(self.query.forward(x.clone()));
        let k = split(self.key.forward(x.clone()));
        let v = split(self.value.forward(x));
        let scores = q.matmul(k.swap_dims(2, 3)).div_scalar((self.head_dim as f64).sqrt());
        // 0 where a key is a real token, MASKED_SCORE where it is padding.
        let bias = key_mask.neg().add_scalar(1.0).mul_scalar(MASKED_SCORE).reshape([batch, 1, 1, tokens]);
        let weights = softmax(scores + bias, 3);
        weights.matmul(v).swap_dims(1, 2).reshape([batch, tokens, self.heads * self.head_dim])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::tensor::TensorData;

    fn linear(weight_in_out: Vec<f32>, d_in: usize, d_out: usize, device: &Device) -> Linear {
        let mut l = LinearConfig::new(d_in, d_out).with_bias(false).init(device);
        l.weight = Param::from_tensor(Tensor::from_data(TensorData::new(weight_in_out, [d_in, d_out]), device));
        l
    }

    /// Two heads of width 1 over d_model 2, query = key = value = identity: head h attends
    /// over feature h alone. Hand-computed for tokens x0 = (0, 1), x1 = (ln 3, 0), scale 1/√1:
    /// head 0, query 0: scores (0·0, 0·ln3) = (0, 0) → weights (½, ½) → context ½·ln 3;
    /// head 0, query 1: scores (0, (ln 3)²) → weights ∝ (1, e^{(ln 3)²}).
    /// With the second token masked, every query sees only token 0: context = x0.
    #[test]
    fn heads_attend_separately_and_padding_is_ignored() {
        let device = Device::flex();
        let eye = vec![1.0, 0.0, 0.0, 1.0];
        let attention = SelfAttention {
            query: linear(eye.clone(), 2, 2, &device),
            key: linear(eye.clone(), 2, 2, &device),
            value: linear(eye, 2, 2, &device),
            heads: 2,
            head_dim: 1,
        };
        let ln3 = 3f32.ln();
        let x = Tensor::<3>::from_data(TensorData::new(vec![0.0, 1.0, ln3, 0.0], [1, 2, 2]), &device);
        let all = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 1.0], [1, 2]), &device);
        let out: Vec<f32> = attention.forward(x.clone(), all).into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
        let w1 = (ln3 * ln3).exp() / (1.0 + (ln3 * ln3).exp());
        // head 1, query 0: scores (1·1, 1·0) = (1, 0); query 1: scores (0, 0).
        let h1q0 = 1.0f32.exp() / (1.0 + 1.0f32.exp());
        let expected = [0.5 * ln3, h1q0, w1 * ln3, 0.5];
        for (o, e) in out.iter().zip(expected) {
            assert!((o - e).abs() < 1e-5, "{out:?} vs {expected:?}");
        }
        let first_only = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0], [1, 2]), &device);
        let out: Vec<f32> = attention.forward(x, first_only).into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
        for (o, e) in out.iter().zip([0.0, 1.0, 0.0, 1.0]) {
            assert!((o - e).abs() < 1e-6, "{out:?}");
        }
    }
}
