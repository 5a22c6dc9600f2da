//! Tokenisation with the `tokenizers` crate: BERT normalisation (clean-up, lower case, accents
//! stripped) and pre-tokenisation (whitespace and punctuation), then WordPiece — either a
//! vocabulary trained on the training split or a given `vocab.txt` (e.g. MiniLM's).
//!
//! Trained vocabularies get stable ids: `[PAD]` 0, `[UNK]` 1, then the learned tokens in the
//! order [`learn_wordpiece`] made them.

use std::path::Path;

use std::collections::BTreeMap;

use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::{
    NormalizedString, Normalizer, OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer,
    Tokenizer,
};

use crate::load_error::{read_text, LoadError, LoadResult};
use crate::text::vocab_trainer::learn_wordpiece;

pub const PAD: &str = "[PAD]";
pub const UNK: &str = "[UNK]";

/// A ready tokenizer and the ids it pads with.
pub struct TextTokenizer {
    tokenizer: Tokenizer,
    pad_id: u32,
}

/// Token ids of a batch of texts, each truncated or padded to `max_len`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// `[n, max_len]` row-major.
    pub ids: Vec<u32>,
    /// `[n, max_len]`: 1 for a real token, 0 for padding.
    pub mask: Vec<u8>,
    /// Real tokens per text (≤ max_len).
    pub lengths: Vec<u32>,
    /// Texts that had more than `max_len` tokens.
    pub truncated: usize,
}

fn tokenizer_error(what: &str) -> impl FnOnce(tokenizers::Error) -> LoadError + '_ {
    move |e| LoadError::Tokenizer {
        message: format!("{what}: {e}"),
    }
}

fn bert_normalizer() -> BertNormalizer {
    BertNormalizer::new(true, true, None, true)
}

/// The words the tokenizer's normaliser and pre-tokeniser make of `text`.
fn pre_tokenize(text: &str) -> LoadResult<Vec<String>> {
    let mut normalized = NormalizedString::from(text);
    bert_normalizer()
        .normalize(&mut normalized)
        .map_err(tokenizer_error("normalising"))?;
    let mut pre = PreTokenizedString::from(normalized);
    BertPreTokenizer
        .pre_tokenize(&mut pre)
        .map_err(tokenizer_error("pre-tokenising"))?;
    Ok(pre
        .get_splits(OffsetReferential::Normalized, OffsetType::Byte)
        .into_iter()
        .map(|(s, _, _)| s.to_string())
        .collect())
}

fn bert_pipeline(model: WordPiece) -> Tokenizer {
    let mut t = Tokenizer::new(model);
    t.with_normalizer(Some(bert_normalizer()));
    t.with_pre_tokenizer(Some(BertPreTokenizer));
    t
}

/// A WordPiece model over `tokens` (id = position). The vocabulary goes through
/// `WordPiece::read_bytes` so it arrives in the map type the builder wants.
fn wordpiece(tokens: &[String]) -> Result<WordPiece, tokenizers::Error> {
    let vocab = WordPiece::read_bytes(tokens.join("\n").as_bytes())?;
    WordPiece::builder()
        .vocab(vocab)
        .unk_token(UNK.into())
        .continuing_subword_prefix("##".into())
        .build()
}

impl TextTokenizer {
    /// Learns a WordPiece vocabulary of at most `vocab_size` tokens (specials included) from
    /// `texts` (see [`crate::text::vocab_trainer`]); pieces seen fewer than `min_frequency`
    /// times are not merged.
    pub fn train<'a>(
        texts: impl Iterator<Item = &'a str>,
        vocab_size: usize,
        min_frequency: u64,
    ) -> LoadResult<Self> {
        let mut words = BTreeMap::new();
        for text in texts {
            for word in pre_tokenize(text)? {
                *words.entry(word).or_insert(0u64) += 1;
            }
        }
        let learned = learn_wordpiece(&words, vocab_size.saturating_sub(2), min_frequency);
        let vocab = [PAD.to_string(), UNK.to_string()]
            .into_iter()
            .chain(learned);
        Self::from_tokens(vocab.collect(), "trained vocabulary")
    }

    /// Loads a `vocab.txt` (one token per line, id = line index; gzipped or not). It must hold
    /// `[PAD]` and `[UNK]`.
    pub fn from_vocab_file(path: &Path) -> LoadResult<Self> {
        let text = read_text(path)?;
        let tokens: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
        for special in [PAD, UNK] {
            if !tokens.iter().any(|t| t == special) {
                return Err(LoadError::bad_file(
                    path,
                    format!("vocabulary has no {special} token"),
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        if let Some((i, t)) = tokens
            .iter()
            .enumerate()
            .find(|(_, t)| !seen.insert(t.as_str()))
        {
            return Err(LoadError::bad_line(
                path,
                i + 1,
                format!("token `{t}` appears twice"),
            ));
        }
        Self::from_tokens(tokens, &path.display().to_string())
    }

    fn from_tokens(tokens: Vec<String>, what: &str) -> LoadResult<Self> {
        let pad_id = tokens
            .iter()
            .position(|t| t == PAD)
            .expect("callers put [PAD] in") as u32;
        let model = wordpiece(&tokens).map_err(tokenizer_error(what))?;
        Ok(Self {
            tokenizer: bert_pipeline(model),
            pad_id,
        })
    }

    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(false)
    }

    /// The tokens in id order (write it out as a `vocab.txt` to reuse the vocabulary).
    pub fn tokens(&self) -> Vec<String> {
        let mut pairs: Vec<(u32, String)> = self
            .tokenizer
            .get_vocab(false)
            .into_iter()
            .map(|(t, i)| (i, t))
            .collect();
        pairs.sort_unstable();
        pairs.into_iter().map(|(_, t)| t).collect()
    }

    /// Tokenises one text (no special tokens added).
    pub fn tokenize(&self, text: &str) -> LoadResult<Vec<u32>> {
        let e = self
            .tokenizer
            .encode(text, false)
            .map_err(tokenizer_error("tokenising"))?;
        Ok(e.get_ids().to_vec())
    }

    /// Tokenises `texts`, truncating to and padding up to `max_len`.
    pub fn encode(&self, texts: &[&str], max_len: usize) -> LoadResult<Encoded> {
        let mut out = Encoded {
            ids: Vec::with_capacity(texts.len() * max_len),
            mask: Vec::with_capacity(texts.len() * max_len),
            lengths: Vec::with_capacity(texts.len()),
            truncated: 0,
        };
        for text in texts {
            let ids = self.tokenize(text)?;
            let kept = ids.len().min(max_len);
            out.truncated += usize::from(ids.len() > max_len);
            out.ids.extend_from_slice(&ids[..kept]);
            out.ids.resize(out.ids.len() + max_len - kept, self.pad_id);
            out.mask.extend(
                std::iter::repeat_n(1u8, kept).chain(std::iter::repeat_n(0u8, max_len - kept)),
            );
            out.lengths.push(kept as u32);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXTS: [&str; 4] = [
        "Free entry in 2 a wkly comp to win FA Cup",
        "Ok lar... Joking wif u oni...",
        "U dun say so early hor",
        "WINNER!! You have been selected to receive a prize",
    ];

    #[test]
    fn trained_vocabulary_is_stable_and_starts_with_specials() {
        let a = TextTokenizer::train(TEXTS.iter().copied(), 200, 1).unwrap();
        let b = TextTokenizer::train(TEXTS.iter().copied(), 200, 1).unwrap();
        assert_eq!(a.tokens(), b.tokens());
        assert_eq!(&a.tokens()[..2], [PAD, UNK]);
        assert_eq!(a.pad_id(), 0);
        // Lower-cased, punctuation split off: every word of the corpus is known.
        let ids = a.tokenize("ok lar... WINNER!!").unwrap();
        let toks = a.tokens();
        let words: Vec<&str> = ids.iter().map(|&i| toks[i as usize].as_str()).collect();
        assert!(!words.contains(&UNK), "{words:?}");
        assert_eq!(words.concat().replace("##", ""), "oklar...winner!!");
    }

    #[test]
    fn encode_pads_truncates_and_masks() {
        let t = TextTokenizer::train(TEXTS.iter().copied(), 200, 1).unwrap();
        let e = t.encode(&["ok lar", "u dun say so early hor"], 4).unwrap();
        assert_eq!(e.lengths, [2, 4]);
        assert_eq!(e.truncated, 1);
        assert_eq!(e.mask, [1, 1, 0, 0, 1, 1, 1, 1]);
        assert_eq!(&e.ids[2..4], [0, 0]);
    }

    #[test]
    fn vocab_file_needs_specials() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("vocab.txt");
        std::fs::write(&p, "[PAD]\n[UNK]\nhello\n##s\n").unwrap();
        let t = TextTokenizer::from_vocab_file(&p).unwrap();
        assert_eq!(t.tokenize("Hellos hi").unwrap(), [2, 3, 1]);
        std::fs::write(&p, "hello\n[UNK]\n").unwrap();
        let e = TextTokenizer::from_vocab_file(&p).err().unwrap();
        assert!(
            e.to_string()
                .ends_with("vocab.txt: vocabulary has no [PAD] token"),
            "{e}"
        );
    }
}
