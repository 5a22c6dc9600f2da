//! Token-id sequences with padding masks (text): each item is `max_len` WordPiece ids whose
//! first `length` are the text and the rest the pad id (mask 0). The tokenizer, the vocabulary
//! and the split come from the data set (`dtprune_data::text`), so every split and every later
//! `eval` of the run sees the same ids.

use super::{wrong_kind, InputKind, Prepare, Split, Targets};
use crate::TrainError;
use burn::prelude::*;
use burn::tensor::TensorData;
use dtprune_data::text::{TextSplits, TokenizedSet};
use dtprune_data::{Dataset, Splits};

/// What a text model is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextInfo {
    /// Tokens per item (the padded length).
    pub max_len: usize,
    /// Rows of the token embedding table.
    pub vocab_size: usize,
    pub classes: usize,
}

/// A batch of texts: `ids` `[batch, tokens]`, `mask` `[batch, tokens]` (1 = token, 0 = padding)
/// and each item's number of tokens (≥ 1: an empty text keeps one masked-in pad, so mean pooling
/// never divides by zero).
pub struct TextBatch {
    pub ids: Tensor<2, Int>,
    pub mask: Tensor<2>,
    pub lengths: Vec<usize>,
}

impl TextBatch {
    /// Builds a batch from row-major ids and masks (`[batch, tokens]`).
    pub fn from_host(ids: &[u32], mask: &[u8], tokens: usize, device: &Device) -> Self {
        let batch = ids.len() / tokens.max(1);
        let mut mask: Vec<f32> = mask.iter().map(|&m| f32::from(m.min(1))).collect();
        let mut lengths = Vec::with_capacity(batch);
        for row in mask.chunks_mut(tokens) {
            let n = row.iter().filter(|&&m| m > 0.0).count();
            if n == 0 {
                row[0] = 1.0;
            }
            lengths.push(n.max(1));
        }
        let ids = ids.iter().map(|&i| i64::from(i)).collect::<Vec<_>>();
        Self {
            ids: Tensor::<2, Int>::from_data(TensorData::new(ids, [batch, tokens]), device),
            mask: Tensor::<2>::from_data(TensorData::new(mask, [batch, tokens]), device),
            lengths,
        }
    }

    /// The mean of each item's token states over its real tokens: `states` `[batch, T, D]` →
    /// `[batch, D]`.
    pub fn mean_pool(&self, states: Tensor<3>) -> Tensor<2> {
        let [b, t, _] = states.dims();
        let device = states.device();
        let weights: Vec<f32> = self.lengths.iter().map(|&n| 1.0 / n as f32).collect();
        let weights = Tensor::<2>::from_data(TensorData::new(weights, [b, 1]), &device);
        let masked = states * self.mask.clone().reshape([b, t, 1]);
        masked.sum_dim(1).squeeze_dim::<2>(1) * weights
    }
}

/// A text split.
pub struct TextData {
    set: TokenizedSet,
}

fn text(data: &Dataset) -> Result<(&TextSplits, &TokenizedSet), TrainError> {
    match &data.splits {
        Splits::Text { splits, val } => Ok((splits, val)),
        _ => Err(wrong_kind(TextData::NAME, data)),
    }
}

impl TextData {
    pub fn new(set: TokenizedSet) -> Self {
        Self { set }
    }

    /// The token ids, lengths and labels of the split.
    pub fn tokens(&self) -> &TokenizedSet {
        &self.set
    }
}

impl InputKind for TextData {
    const NAME: &'static str = "text";
    type Info = TextInfo;
    type Batch = TextBatch;

    fn info(data: &Dataset) -> Result<TextInfo, TrainError> {
        let shape = text(data)?.0.shape();
        Ok(TextInfo { max_len: shape.max_len, vocab_size: shape.vocab_size, classes: shape.num_classes })
    }

    fn classes(info: &TextInfo) -> usize {
        info.classes
    }

    fn prepare(data: &Dataset, split: Split, how: &Prepare) -> Result<Self, TrainError> {
        let (splits, val) = text(data)?;
        let set = match split {
            Split::Train => &splits.train,
            Split::Val => val,
            Split::Test => &splits.test,
        };
        let first: Vec<usize> = (0..how.take(set.len())).collect();
        Ok(Self::new(set.select(&first)))
    }

    fn len(&self) -> usize {
        self.set.len()
    }

    fn batch(&self, indices: &[usize], device: &Device) -> (TextBatch, Targets) {
        let l = self.set.max_len();
        let ids: Vec<u32> = indices.iter().flat_map(|&i| self.set.item(i).iter().copied()).collect();
        let mask: Vec<u8> = indices.iter().flat_map(|&i| self.set.mask()[i * l..(i + 1) * l].iter().copied()).collect();
        let labels: Vec<i64> = indices.iter().map(|&i| i64::from(self.set.labels()[i])).collect();
        let n = indices.len();
        (TextBatch::from_host(&ids, &mask, l, device), Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), device))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_pool_averages_real_tokens_only_and_an_empty_text_keeps_one() {
        let device = Device::flex();
        // Two items of 3 tokens: item 0 has 2 tokens, item 1 none (all padding).
        let batch = TextBatch::from_host(&[5, 6, 0, 0, 0, 0], &[1, 1, 0, 0, 0, 0], 3, &device);
        assert_eq!(batch.lengths, vec![2, 1]);
        // States [2, 3, 1] = 1, 3, 100 | 7, 50, 60: item 0 → (1 + 3) / 2 = 2; item 1 → its first
        // position alone, 7.
        let states = Tensor::<3>::from_data(TensorData::new(vec![1.0f32, 3.0, 100.0, 7.0, 50.0, 60.0], [2, 3, 1]), &device);
        let pooled = batch.mean_pool(states).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(pooled, vec![2.0, 7.0]);
        assert_eq!(batch.ids.into_data().convert::<i64>().try_to_vec::<i64>().unwrap(), vec![5, 6, 0, 0, 0, 0]);
    }
}
