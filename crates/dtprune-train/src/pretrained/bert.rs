//! A BERT encoder in Burn (Devlin et al. 2019; the `BertModel` of Hugging Face `transformers`):
//! token + position + segment embeddings, LayerNorm, then post-norm layers of self-attention and
//! a GELU feed-forward block. Field names follow the Hugging Face tensor names
//! ([`super::hf_names`] maps the two spellings Rust cannot use: `self`, `LayerNorm`).

use super::bert_config::BertConfig;
use crate::layers::{SelfAttention, SelfAttentionConfig};
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::gelu;
use burn::tensor::TensorData;

#[derive(Module, Debug)]
pub struct BertEmbeddings {
    pub word_embeddings: Embedding,
    pub position_embeddings: Embedding,
    pub token_type_embeddings: Embedding,
    pub layer_norm: LayerNorm,
}

/// A projection back onto the residual stream, the residual add and the LayerNorm after it
/// (BERT's `BertSelfOutput` and `BertOutput`).
#[derive(Module, Debug)]
pub struct ResidualOutput {
    pub dense: Linear,
    pub layer_norm: LayerNorm,
}

impl ResidualOutput {
    fn forward(&self, x: Tensor<3>, residual: Tensor<3>) -> Tensor<3> {
        self.layer_norm.forward(self.dense.forward(x) + residual)
    }
}

#[derive(Module, Debug)]
pub struct BertAttention {
    pub self_attention: SelfAttention,
    pub output: ResidualOutput,
}

#[derive(Module, Debug)]
pub struct Intermediate {
    pub dense: Linear,
}

#[derive(Module, Debug)]
pub struct BertLayer {
    pub attention: BertAttention,
    pub intermediate: Intermediate,
    pub output: ResidualOutput,
}

impl BertLayer {
    fn forward(&self, x: Tensor<3>, mask: Tensor<2>) -> Tensor<3> {
        let context = self.attention.self_attention.forward(x.clone(), mask);
        let x = self.attention.output.forward(context, x);
        let hidden = gelu(self.intermediate.dense.forward(x.clone()));
        self.output.forward(hidden, x)
    }
}

#[derive(Module, Debug)]
pub struct BertLayers {
    pub layer: Vec<BertLayer>,
}

#[derive(Module, Debug)]
pub struct Bert {
    pub embeddings: BertEmbeddings,
    pub encoder: BertLayers,
}

fn layer_norm(c: &BertConfig, device: &Device) -> LayerNorm {
    LayerNormConfig::new(c.hidden_size).with_epsilon(c.layer_norm_eps).init(device)
}

impl Bert {
    /// A randomly initialised encoder of `config`'s shape; load weights into it with
    /// [`super::hf_names::load_hf_weights`].
    pub fn init(c: &BertConfig, device: &Device) -> Self {
        let embeddings = BertEmbeddings {
            word_embeddings: EmbeddingConfig::new(c.vocab_size, c.hidden_size).init(device),
            position_embeddings: EmbeddingConfig::new(c.max_position_embeddings, c.hidden_size).init(device),
            token_type_embeddings: EmbeddingConfig::new(c.type_vocab_size, c.hidden_size).init(device),
            layer_norm: layer_norm(c, device),
        };
        let attention = SelfAttentionConfig { d_model: c.hidden_size, heads: c.num_attention_heads, head_dim: c.head_dim() };
        let layer = (0..c.num_hidden_layers)
            .map(|_| BertLayer {
                attention: BertAttention {
                    self_attention: attention.init(device),
                    output: ResidualOutput {
                        dense: LinearConfig::new(attention.heads * attention.head_dim, c.hidden_size).init(device),
                        layer_norm: layer_norm(c, device),
                    },
                },
                intermediate: Intermediate { dense: LinearConfig::new(c.hidden_size, c.intermediate_size).init(device) },
                output: ResidualOutput {
                    dense: LinearConfig::new(c.intermediate_size, c.hidden_size).init(device),
                    layer_norm: layer_norm(c, device),
                },
            })
            .collect();
        Self { embeddings, encoder: BertLayers { layer } }
    }

    /// Token states `[batch, tokens, hidden]` for `ids` `[batch, tokens]` (row-major) with
    /// `mask` 1 for real tokens and 0 for padding; every text is segment 0.
    pub fn forward(&self, ids: &[u32], mask: &[u8], batch: usize, tokens: usize) -> Tensor<3> {
        let device = self.embeddings.layer_norm.gamma.val().device();
        let int = |values: Vec<i64>| Tensor::<2, Int>::from_data(TensorData::new(values, [batch, tokens]), &device);
        let token_ids = int(ids.iter().map(|&i| i64::from(i)).collect());
        let positions = int((0..batch).flat_map(|_| 0..tokens as i64).collect());
        let segments = int(vec![0; batch * tokens]);
        let e = &self.embeddings;
        let x = e.word_embeddings.forward(token_ids) + e.position_embeddings.forward(positions) + e.token_type_embeddings.forward(segments);
        let mut x = e.layer_norm.forward(x);
        let mask = Tensor::<2>::from_data(TensorData::new(mask.iter().map(|&m| f32::from(m)).collect::<Vec<_>>(), [batch, tokens]), &device);
        for layer in &self.encoder.layer {
            x = layer.forward(x, mask.clone());
        }
        x
    }
}
