//! From parsed rows to [`TextSplits`]: class ids, the tokenizer (trained on the training split
//! only, or loaded), ids and masks. Shared by every text data set.

use std::path::Path;

use crate::load_error::{LoadError, LoadResult};
use crate::split::{stratified_split, SplitRecord};
use crate::text::options::TextOptions;
use crate::text::set::{TextSplits, TokenizedSet};
use crate::text::tsv::TextRow;
use crate::text::wordpiece::TextTokenizer;

/// Rows of one split and the file they came from (for errors).
pub struct SourceRows<'a> {
    pub path: &'a Path,
    pub rows: Vec<TextRow>,
}

/// Sorted distinct labels of `rows`.
pub fn class_names(rows: &[TextRow]) -> Vec<String> {
    let mut names: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// Class ids of `rows`; a label not in `classes` is an error at its line.
pub fn class_ids(source: &SourceRows<'_>, classes: &[String]) -> LoadResult<Vec<u32>> {
    source
        .rows
        .iter()
        .map(|r| {
            classes
                .iter()
                .position(|c| *c == r.label)
                .map(|i| i as u32)
                .ok_or_else(|| {
                    LoadError::bad_line(
                        source.path,
                        r.line,
                        format!(
                            "label `{}` does not occur in the training data (classes: {})",
                            r.label,
                            classes.join(", ")
                        ),
                    )
                })
        })
        .collect()
}

/// One file split stratified and seeded into `(train rows, test rows, record)`.
pub fn split_rows(
    source: SourceRows<'_>,
    options: &TextOptions,
) -> LoadResult<(Vec<TextRow>, Vec<TextRow>, SplitRecord)> {
    let classes = class_names(&source.rows);
    let labels = class_ids(&source, &classes)?;
    let record = stratified_split(
        &labels,
        classes.len(),
        options.test_fraction,
        options.split_seed,
    );
    let pick = |idx: &[usize]| {
        idx.iter()
            .map(|&i| source.rows[i].clone())
            .collect::<Vec<_>>()
    };
    let (train, test) = (pick(&record.train), pick(&record.test));
    if train.is_empty() || test.is_empty() {
        return Err(LoadError::bad_file(
            source.path,
            format!(
                "{} lines are too few to split with test_fraction = {}",
                source.rows.len(),
                options.test_fraction
            ),
        ));
    }
    Ok((train, test, record))
}

/// Tokenises both splits; classes come from the training rows.
pub fn build_splits(
    train: SourceRows<'_>,
    test: SourceRows<'_>,
    options: &TextOptions,
    split: Option<SplitRecord>,
) -> LoadResult<TextSplits> {
    let classes = class_names(&train.rows);
    let train_labels = class_ids(&train, &classes)?;
    let test_labels = class_ids(&test, &classes)?;
    let tokenizer = match &options.vocab {
        Some(path) => TextTokenizer::from_vocab_file(path)?,
        None => TextTokenizer::train(
            train.rows.iter().map(|r| r.text.as_str()),
            options.vocab_size,
            options.min_frequency,
        )?,
    };
    let encode = |source: &SourceRows<'_>, labels: Vec<u32>| -> LoadResult<(TokenizedSet, usize)> {
        let texts: Vec<&str> = source.rows.iter().map(|r| r.text.as_str()).collect();
        let e = tokenizer.encode(&texts, options.max_len)?;
        let set = TokenizedSet {
            ids: e.ids,
            mask: e.mask,
            lengths: e.lengths,
            labels,
            lines: source.rows.iter().map(|r| r.line).collect(),
            max_len: options.max_len,
        };
        Ok((set, e.truncated))
    };
    let (train_set, train_cut) = encode(&train, train_labels)?;
    let (test_set, test_cut) = encode(&test, test_labels)?;
    Ok(TextSplits {
        train: train_set,
        test: test_set,
        class_names: classes,
        vocab: tokenizer.tokens(),
        pad_id: tokenizer.pad_id(),
        split,
        truncated: (train_cut, test_cut),
        options: options.resolved.to_json(),
    })
}
