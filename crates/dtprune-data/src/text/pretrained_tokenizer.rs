//! A pretrained model's own tokenizer, from its Hugging Face `tokenizer.json` (gzipped or not):
//! normaliser, pre-tokeniser, vocabulary and the `[CLS] … [SEP]` template exactly as the model was
//! trained with, so token ids match the Python `tokenizers`/`transformers` packages.

use std::path::Path;

use tokenizers::Tokenizer;

use crate::load_error::{read_maybe_gzip, LoadError, LoadResult};
use crate::text::wordpiece::Encoded;

pub struct PretrainedTokenizer {
    tokenizer: Tokenizer,
    pad_id: u32,
}

impl PretrainedTokenizer {
    /// Loads `tokenizer.json` or `tokenizer.json.gz`. Padding and truncation settings in the file
    /// are ignored: [`encode`](Self::encode) pads and truncates itself.
    pub fn from_file(path: &Path) -> LoadResult<Self> {
        let bytes = read_maybe_gzip(path)?;
        let mut tokenizer = Tokenizer::from_bytes(&bytes)
            .map_err(|e| LoadError::bad_file(path, format!("not a tokenizers JSON file: {e}")))?;
        let pad_id = tokenizer
            .get_padding()
            .map(|p| p.pad_id)
            .or_else(|| tokenizer.token_to_id("[PAD]"))
            .ok_or_else(|| LoadError::bad_file(path, "the tokenizer has no padding token and no [PAD]"))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| LoadError::bad_file(path, e.to_string()))?;
        Ok(Self { tokenizer, pad_id })
    }

    /// Looks for `tokenizer.json` or `tokenizer.json.gz` in a model folder.
    pub fn from_model_dir(dir: &Path) -> LoadResult<Self> {
        for name in ["tokenizer.json", "tokenizer.json.gz"] {
            let path = dir.join(name);
            if path.is_file() {
                return Self::from_file(&path);
            }
        }
        Err(LoadError::Missing { what: "tokenizer.json(.gz)".into(), path: dir.to_path_buf() })
    }

    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// Token ids of one text with the model's special tokens, cut to `max_len` keeping the final
    /// `[SEP]` (what `transformers` does with `truncation=True`).
    pub fn tokenize(&self, text: &str, max_len: usize) -> LoadResult<Vec<u32>> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| LoadError::Tokenizer { message: format!("tokenising: {e}") })?;
        let mut ids = encoding.get_ids().to_vec();
        if ids.len() > max_len && max_len >= 2 {
            let last = *ids.last().expect("longer than max_len");
            let specials_at_end = usize::from(encoding.get_special_tokens_mask().last() == Some(&1));
            ids.truncate(max_len - specials_at_end);
            if specials_at_end == 1 {
                ids.push(last);
            }
        }
        ids.truncate(max_len);
        Ok(ids)
    }

    /// Tokenises `texts` and pads every row to the longest one (at most `max_len`).
    pub fn encode(&self, texts: &[&str], max_len: usize) -> LoadResult<Encoded> {
        let rows: Vec<Vec<u32>> = texts.iter().map(|t| self.tokenize(t, max_len)).collect::<LoadResult<_>>()?;
        let full: Vec<usize> = texts
            .iter()
            .map(|t| self.tokenizer.encode(*t, true).map(|e| e.len()).unwrap_or(0))
            .collect();
        let width = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut out = Encoded {
            ids: Vec::with_capacity(rows.len() * width),
            mask: Vec::with_capacity(rows.len() * width),
            lengths: Vec::with_capacity(rows.len()),
            truncated: full.iter().filter(|&&n| n > max_len).count(),
        };
        for row in &rows {
            out.ids.extend_from_slice(row);
            out.ids.resize(out.ids.len() + width - row.len(), self.pad_id);
            out.mask.extend(std::iter::repeat_n(1u8, row.len()).chain(std::iter::repeat_n(0u8, width - row.len())));
            out.lengths.push(row.len() as u32);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal tokenizers JSON: BERT normaliser and pre-tokeniser, a six-token WordPiece
    /// vocabulary and the `[CLS] $A [SEP]` template.
    const TOKENIZER: &str = r###"{
      "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
      "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
      "pre_tokenizer": {"type": "BertPreTokenizer"},
      "post_processor": {"type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
        "pair": [{"Sequence": {"id": "A", "type_id": 0}}],
        "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]}, "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
      "decoder": null,
      "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100,
        "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "hello": 4, "##s": 5}}
    }"###;

    fn tokenizer() -> PretrainedTokenizer {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        std::fs::write(&path, TOKENIZER).unwrap();
        PretrainedTokenizer::from_model_dir(dir.path()).unwrap()
    }

    #[test]
    fn adds_the_template_and_keeps_sep_when_truncating() {
        let t = tokenizer();
        assert_eq!(t.tokenize("Hellos hi", 16).unwrap(), [2, 4, 5, 1, 3]);
        assert_eq!(t.tokenize("hello hello hello", 4).unwrap(), [2, 4, 4, 3]);
    }

    #[test]
    fn encode_pads_to_the_longest_row() {
        let t = tokenizer();
        let e = t.encode(&["hello", "hellos hello"], 8).unwrap();
        assert_eq!(e.ids, [2, 4, 3, 0, 0, 2, 4, 5, 4, 3]);
        assert_eq!(e.mask, [1, 1, 1, 0, 0, 1, 1, 1, 1, 1]);
        assert_eq!(e.lengths, [3, 5]);
        assert_eq!(e.truncated, 0);
    }

    #[test]
    fn a_file_that_is_not_a_tokenizer_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        std::fs::write(&path, "{\"model\": 3}").unwrap();
        let e = PretrainedTokenizer::from_file(&path).err().unwrap().to_string();
        assert!(e.contains("tokenizer.json") && e.contains("not a tokenizers JSON file"), "{e}");
    }
}
