//! A Hugging Face BERT `config.json`, checked before any tensor is read.

use super::error::{PretrainedError, Result};
use serde::Deserialize;
use std::path::Path;

/// The fields of a `BertModel` config that shape the encoder. Unknown keys (dropout rates,
/// `transformers_version`, …) do not matter for inference and are ignored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "two")]
    pub type_vocab_size: usize,
    #[serde(default = "bert_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "gelu")]
    pub hidden_act: String,
    #[serde(default = "absolute")]
    pub position_embedding_type: String,
    /// Width of one head; BERT derives it (`hidden_size / num_attention_heads`), an encoder
    /// whose heads were removed states it.
    #[serde(default)]
    pub attention_head_size: Option<usize>,
}

fn two() -> usize {
    2
}
fn bert_eps() -> f64 {
    1e-12
}
fn gelu() -> String {
    "gelu".into()
}
fn absolute() -> String {
    "absolute".into()
}

impl BertConfig {
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| PretrainedError::Io { path: path.into(), source })?;
        let config: Self = serde_json::from_str(&text).map_err(|e| PretrainedError::Config { path: path.into(), message: e.to_string() })?;
        config.validate().map_err(|message| PretrainedError::Config { path: path.into(), message })?;
        Ok(config)
    }

    pub fn head_dim(&self) -> usize {
        self.attention_head_size.unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    pub fn validate(&self) -> std::result::Result<(), String> {
        for (name, value) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ] {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        if self.attention_head_size.is_none() && self.hidden_size % self.num_attention_heads != 0 {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {} (give attention_head_size)",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.attention_head_size == Some(0) {
            return Err("attention_head_size must be at least 1".into());
        }
        if !(self.layer_norm_eps > 0.0 && self.layer_norm_eps.is_finite()) {
            return Err(format!("layer_norm_eps must be a positive number, not {}", self.layer_norm_eps));
        }
        if self.hidden_act != "gelu" {
            return Err(format!("hidden_act `{}` is not supported (only `gelu`)", self.hidden_act));
        }
        if self.position_embedding_type != "absolute" {
            return Err(format!("position_embedding_type `{}` is not supported (only `absolute`)", self.position_embedding_type));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINILM: &str = r#"{"architectures": ["BertModel"], "hidden_act": "gelu", "hidden_size": 384,
        "intermediate_size": 1536, "layer_norm_eps": 1e-12, "max_position_embeddings": 512,
        "model_type": "bert", "num_attention_heads": 12, "num_hidden_layers": 6,
        "type_vocab_size": 2, "vocab_size": 30522}"#;

    #[test]
    fn reads_minilm_and_derives_the_head_width() {
        let c: BertConfig = serde_json::from_str(MINILM).unwrap();
        c.validate().unwrap();
        assert_eq!(c.head_dim(), 32);
    }

    #[test]
    fn rejects_what_the_encoder_cannot_run() {
        let mut c: BertConfig = serde_json::from_str(MINILM).unwrap();
        c.num_attention_heads = 7;
        assert!(c.validate().unwrap_err().contains("not a multiple"));
        c.attention_head_size = Some(32);
        c.validate().unwrap();
        c.hidden_act = "relu".into();
        assert!(c.validate().unwrap_err().contains("hidden_act `relu`"));
    }
}
