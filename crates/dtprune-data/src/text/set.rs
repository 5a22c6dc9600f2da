//! Tokenised text sets: fixed-length token ids with padding masks.

use serde::{Deserialize, Serialize};

use crate::split::SplitRecord;

/// A labelled set of texts as token ids. Item `i` is `ids()[i·max_len .. (i+1)·max_len]`;
/// its first `lengths()[i]` ids are tokens and the rest are the pad id, with `mask` 1 and 0
/// respectively (the attention/padding mask a Transformer batch needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenizedSet {
    pub(crate) ids: Vec<u32>,
    pub(crate) mask: Vec<u8>,
    pub(crate) lengths: Vec<u32>,
    pub(crate) labels: Vec<u32>,
    /// 1-based line of each item in its source file.
    pub(crate) lines: Vec<usize>,
    pub(crate) max_len: usize,
}

impl TokenizedSet {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// All ids, `[len, max_len]` row-major.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// All padding masks, `[len, max_len]` row-major (1 = token).
    pub fn mask(&self) -> &[u8] {
        &self.mask
    }

    /// Ids of item `i`. Panics if `i >= len()`.
    pub fn item(&self, i: usize) -> &[u32] {
        &self.ids[i * self.max_len..(i + 1) * self.max_len]
    }

    pub fn lengths(&self) -> &[u32] {
        &self.lengths
    }

    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    pub fn lines(&self) -> &[usize] {
        &self.lines
    }

    /// Copy of the items at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Self {
        let l = self.max_len;
        Self {
            ids: indices
                .iter()
                .flat_map(|&i| self.ids[i * l..(i + 1) * l].iter().copied())
                .collect(),
            mask: indices
                .iter()
                .flat_map(|&i| self.mask[i * l..(i + 1) * l].iter().copied())
                .collect(),
            lengths: indices.iter().map(|&i| self.lengths[i]).collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            lines: indices.iter().map(|&i| self.lines[i]).collect(),
            max_len: l,
        }
    }
}

/// What a model needs to know about text input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextShape {
    pub max_len: usize,
    pub vocab_size: usize,
    pub pad_id: u32,
    pub num_classes: usize,
}

/// Both splits of a text data set, with everything needed to reproduce them.
#[derive(Debug, Clone, PartialEq)]
pub struct TextSplits {
    pub train: TokenizedSet,
    pub test: TokenizedSet,
    /// Sorted distinct labels of the training file; class `k` is `class_names[k]`.
    pub class_names: Vec<String>,
    /// The vocabulary in id order (save it as `vocab.txt` with the run).
    pub vocab: Vec<String>,
    pub pad_id: u32,
    /// The seeded split, when the data set has none of its own.
    pub split: Option<SplitRecord>,
    /// Texts longer than `max_len` tokens, per split `(train, test)`.
    pub truncated: (usize, usize),
    pub options: serde_json::Value,
}

impl TextSplits {
    pub fn shape(&self) -> TextShape {
        TextShape {
            max_len: self.train.max_len,
            vocab_size: self.vocab.len(),
            pad_id: self.pad_id,
            num_classes: self.class_names.len(),
        }
    }
}
