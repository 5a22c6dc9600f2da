//! A sentence-transformers model (`all-MiniLM-L6-v2` and its kind): tokenizer, BERT encoder,
//! mean pooling over the real tokens and L2 normalisation — the pipeline its `modules.json`
//! names (`Transformer` → `Pooling` with `pooling_mode_mean_tokens` → `Normalize`).

use super::bert::Bert;
use super::bert_config::BertConfig;
use super::error::{PretrainedError, Result};
use super::hf_names::load_hf_weights;
use burn::prelude::*;
use burn::tensor::TensorData;
use dtprune_data::text::PretrainedTokenizer;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The files of a sentence-transformers model folder.
#[derive(Debug, Clone)]
pub struct SentenceModelFiles {
    pub config: PathBuf,
    pub weights: PathBuf,
    pub dir: PathBuf,
}

impl SentenceModelFiles {
    /// `dir` holds `config.json`, the tokenizer and (unless `weights` is given) `model.safetensors`.
    pub fn new(dir: &Path, weights: Option<&Path>) -> Self {
        Self {
            config: dir.join("config.json"),
            weights: weights.map(Path::to_path_buf).unwrap_or_else(|| dir.join("model.safetensors")),
            dir: dir.to_path_buf(),
        }
    }
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: usize,
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
}

pub struct SentenceEncoder {
    pub bert: Bert,
    pub config: BertConfig,
    tokenizer: PretrainedTokenizer,
    max_tokens: usize,
    normalize: bool,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| PretrainedError::Io { path: path.into(), source })?;
    serde_json::from_str(&text).map_err(|e| PretrainedError::Config { path: path.into(), message: e.to_string() })
}

impl SentenceEncoder {
    pub fn load(files: &SentenceModelFiles, device: &Device) -> Result<Self> {
        let config = BertConfig::from_file(&files.config)?;
        let tokenizer = PretrainedTokenizer::from_model_dir(&files.dir)?;
        if tokenizer.vocab_size() > config.vocab_size {
            return Err(PretrainedError::Config {
                path: files.config.clone(),
                message: format!("vocab_size {} is smaller than the tokenizer's {} tokens", config.vocab_size, tokenizer.vocab_size()),
            });
        }
        let st_config = files.dir.join("sentence_bert_config.json");
        let max_tokens = if st_config.is_file() { read_json::<SentenceBertConfig>(&st_config)?.max_seq_length } else { config.max_position_embeddings };
        let max_tokens = max_tokens.min(config.max_position_embeddings);
        let pooling = files.dir.join("1_Pooling/config.json");
        if pooling.is_file() {
            let p: PoolingConfig = read_json(&pooling)?;
            if !p.pooling_mode_mean_tokens || p.pooling_mode_cls_token || p.pooling_mode_max_tokens {
                return Err(PretrainedError::Config { path: pooling, message: "only mean pooling (pooling_mode_mean_tokens alone) is supported".into() });
            }
        }
        let normalize = std::fs::read_to_string(files.dir.join("modules.json")).map(|m| m.contains("models.Normalize")).unwrap_or(false);
        let bert = load_hf_weights(Bert::init(&config, device), &files.weights)?;
        Ok(Self { bert, config, tokenizer, max_tokens, normalize })
    }

    /// [`load`](Self::load) on the CPU device dtprune trains on.
    pub fn load_on_cpu(files: &SentenceModelFiles) -> Result<Self> {
        Self::load(files, &Device::flex())
    }

    pub fn tokenizer(&self) -> &PretrainedTokenizer {
        &self.tokenizer
    }

    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// One embedding per text, `[texts.len()][hidden]`, in batches of `batch` texts.
    pub fn encode(&self, texts: &[&str], batch: usize) -> Result<Vec<Vec<f32>>> {
        self.encode_with(&self.bert, texts, batch)
    }

    /// [`encode`](Self::encode) with another encoder of this model's shape (e.g. a student
    /// being fine-tuned), this model's tokenizer and pooling.
    pub fn encode_with(&self, bert: &Bert, texts: &[&str], batch: usize) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(batch.max(1)) {
            let encoded = self.tokenizer.encode(chunk, self.max_tokens)?;
            let tokens = encoded.ids.len() / chunk.len();
            out.extend(self.encode_ids_with(bert, &encoded.ids, &encoded.mask, chunk.len(), tokens));
        }
        Ok(out)
    }

    /// Embeddings of already tokenised, padded rows.
    pub fn encode_ids(&self, ids: &[u32], mask: &[u8], batch: usize, tokens: usize) -> Vec<Vec<f32>> {
        self.encode_ids_with(&self.bert, ids, mask, batch, tokens)
    }

    fn encode_ids_with(&self, bert: &Bert, ids: &[u32], mask: &[u8], batch: usize, tokens: usize) -> Vec<Vec<f32>> {
        let states = bert.forward(ids, mask, batch, tokens);
        let pooled = pool(states, mask, self.normalize);
        let flat: Vec<f32> = pooled.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 embeddings");
        flat.chunks(self.config.hidden_size).map(<[f32]>::to_vec).collect()
    }

    pub fn normalizes(&self) -> bool {
        self.normalize
    }
}

/// Mean of the real tokens' states (`mask` 1), then L2 normalisation if `normalize`:
/// `[batch, tokens, hidden]` → `[batch, hidden]`. Differentiable, so distillation uses it too.
pub fn pool(states: Tensor<3>, mask: &[u8], normalize: bool) -> Tensor<2> {
    let [batch, tokens, hidden] = states.dims();
    let device = states.device();
    let m = Tensor::<3>::from_data(TensorData::new(mask.iter().map(|&v| f32::from(v)).collect::<Vec<_>>(), [batch, tokens, 1]), &device);
    let summed: Tensor<2> = (states * m.clone()).sum_dim(1).reshape([batch, hidden]);
    let counts: Tensor<2> = m.sum_dim(1).reshape([batch, 1]).clamp_min(1e-9);
    let pooled = summed / counts;
    if !normalize {
        return pooled;
    }
    let norms = pooled.clone().powf_scalar(2.0).sum_dim(1).sqrt().clamp_min(1e-12);
    pooled / norms
}

/// Cosine similarity of two vectors (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

#[cfg(test)]
mod tests {
    use super::cosine;

    #[test]
    fn cosine_by_hand() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 1.0]) - 0.5f64.sqrt()).abs() < 1e-12);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
        assert!((cosine(&[3.0, 4.0], &[-3.0, -4.0]) + 1.0).abs() < 1e-12);
    }
}
