//! Learning a WordPiece vocabulary from the training texts, deterministically.
//!
//! The procedure is the one of Hugging Face's `WordPieceTrainer` (itself BPE on the
//! pre-tokenised words, continuation pieces prefixed with `##`): start from every character
//! (`c` at the start of a word, `##c` inside it) and repeatedly merge the most frequent adjacent
//! pair, word counts weighting, until the vocabulary is full or no pair occurs `min_frequency`
//! times. `tokenizers` 0.22's trainer breaks ties between equally frequent pairs by ids that
//! depend on hash-map order, so two runs on the same data can learn different vocabularies;
//! here ties go to the pair of lower ids, and ids are given in a fixed order (initial symbols
//! sorted, then merges in the order they are made) — the same data always gives the same
//! vocabulary. Tokenisation itself stays with `tokenizers`' WordPiece model.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};

type Pair = (u32, u32);

/// Learns at most `max_tokens` tokens (specials not counted) from `word_counts`.
pub fn learn_wordpiece(
    word_counts: &BTreeMap<String, u64>,
    max_tokens: usize,
    min_frequency: u64,
) -> Vec<String> {
    let mut learner = Learner::new(word_counts);
    while learner.tokens.len() < max_tokens {
        let Some(&(Reverse(count), a, b)) = learner.queue.first() else {
            break;
        };
        if (count as u64) < min_frequency {
            break;
        }
        learner.merge((a, b));
    }
    learner.tokens
}

struct Learner {
    tokens: Vec<String>,
    ids: HashMap<String, u32>,
    words: Vec<Vec<u32>>,
    counts: Vec<i64>,
    pair_counts: HashMap<Pair, i64>,
    /// Words in which each pair occurs (possibly stale: checked when used).
    where_: HashMap<Pair, BTreeSet<usize>>,
    /// Pairs by descending count, then ascending ids.
    queue: BTreeSet<(Reverse<i64>, u32, u32)>,
}

fn symbol(c: char, first: bool) -> String {
    if first {
        c.to_string()
    } else {
        format!("##{c}")
    }
}

impl Learner {
    fn new(word_counts: &BTreeMap<String, u64>) -> Self {
        let initial: BTreeSet<String> = word_counts
            .keys()
            .flat_map(|w| w.chars().enumerate().map(|(i, c)| symbol(c, i == 0)))
            .collect();
        let tokens: Vec<String> = initial.into_iter().collect();
        let ids: HashMap<String, u32> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let words: Vec<Vec<u32>> = word_counts
            .keys()
            .map(|w| {
                w.chars()
                    .enumerate()
                    .map(|(i, c)| ids[&symbol(c, i == 0)])
                    .collect()
            })
            .collect();
        let counts = word_counts.values().map(|&c| c as i64).collect();
        let mut l = Self {
            tokens,
            ids,
            words,
            counts,
            pair_counts: HashMap::new(),
            where_: HashMap::new(),
            queue: BTreeSet::new(),
        };
        for w in 0..l.words.len() {
            l.count_word(w, 1);
        }
        l
    }

    /// Adds (`sign` 1) or removes (`sign` −1) word `w`'s pairs from the counts.
    fn count_word(&mut self, w: usize, sign: i64) {
        let count = self.counts[w] * sign;
        for i in 1..self.words[w].len() {
            let pair = (self.words[w][i - 1], self.words[w][i]);
            let old = self.pair_counts.get(&pair).copied().unwrap_or(0);
            let new = old + count;
            self.queue.remove(&(Reverse(old), pair.0, pair.1));
            if new > 0 {
                self.queue.insert((Reverse(new), pair.0, pair.1));
                self.pair_counts.insert(pair, new);
            } else {
                self.pair_counts.remove(&pair);
            }
            if sign > 0 {
                self.where_.entry(pair).or_default().insert(w);
            }
        }
    }

    fn merge(&mut self, pair: Pair) {
        let (a, b) = (&self.tokens[pair.0 as usize], &self.tokens[pair.1 as usize]);
        let text = format!("{a}{}", b.strip_prefix("##").unwrap_or(b));
        let new_id = match self.ids.get(&text) {
            Some(&id) => id,
            None => {
                self.tokens.push(text.clone());
                self.ids.insert(text, (self.tokens.len() - 1) as u32);
                (self.tokens.len() - 1) as u32
            }
        };
        let affected = self.where_.remove(&pair).unwrap_or_default();
        for w in affected {
            self.count_word(w, -1);
            self.words[w] = merged(&self.words[w], pair, new_id);
            self.count_word(w, 1);
        }
        // The pair may survive in no word now; drop it if the counts left any trace.
        if let Some(c) = self.pair_counts.remove(&pair) {
            self.queue.remove(&(Reverse(c), pair.0, pair.1));
        }
    }
}

/// `word` with every non-overlapping occurrence of `pair` (left to right) replaced by `id`.
fn merged(word: &[u32], pair: Pair, id: u32) -> Vec<u32> {
    let mut out = Vec::with_capacity(word.len());
    let mut i = 0;
    while i < word.len() {
        if i + 1 < word.len() && (word[i], word[i + 1]) == pair {
            out.push(id);
            i += 2;
        } else {
            out.push(word[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(w, c)| (w.to_string(), *c)).collect()
    }

    #[test]
    fn merges_by_hand() {
        // "hug"×10, "pug"×5, "hugs"×5. Initial symbols sorted: h p ##g ##s ##u (ids by byte
        // order: "##g" "##s" "##u" "h" "p"). Pairs: (##u,##g) 20, (h,##u) 15, (p,##u) 5,
        // (##g,##s) 5. First merge ##u+##g → "##ug" (20). Then (h,##ug) 15 → "hug".
        // Then (p,##ug) 5 and (hug,##s) 5 tie: lower ids first, p (4) < hug (6) → "pug".
        let t = learn_wordpiece(&counts(&[("hug", 10), ("pug", 5), ("hugs", 5)]), 100, 1);
        assert_eq!(
            t,
            ["##g", "##s", "##u", "h", "p", "##ug", "hug", "pug", "hugs"]
        );
        // A budget stops early; min_frequency stops at rare pairs.
        assert_eq!(
            learn_wordpiece(&counts(&[("hug", 10), ("pug", 5), ("hugs", 5)]), 6, 1).len(),
            6
        );
        let t = learn_wordpiece(&counts(&[("hug", 10), ("pug", 5), ("hugs", 5)]), 100, 6);
        assert_eq!(&t[5..], ["##ug", "hug"]);
    }

    #[test]
    fn repeated_pairs_in_one_word() {
        // "aaaa": pair (a,##a) 1, (##a,##a) 2. Merge ##a##a → "##aa", word a ##aa ##a.
        let t = learn_wordpiece(&counts(&[("aaaa", 1)]), 100, 1);
        assert_eq!(&t[..3], ["##a", "a", "##aa"]);
        assert_eq!(merged(&[1, 0, 0, 0], (0, 0), 2), [1, 2, 0]);
    }
}
