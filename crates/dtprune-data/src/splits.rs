//! What a loaded data set holds, by family: image splits (train / val / test), or a speech,
//! text or table data set whose validation split is held out of its training split here.
//!
//! The speech, text and table loaders give train and test only (the official split, or a
//! seeded stratified one). Validation is carved from training with [`crate::split`]'s
//! stratified, seeded split, so every class is in it whatever order the files come in.

use crate::error::{DataError, Result};
use crate::set::ImageSplits;
use crate::speech::{SpeechSet, SpeechSplits};
use crate::table::{TableSet, TableSplits};
use crate::text::{TextSplits, TokenizedSet};

/// The validation hold-out's seed: fixed, so a data set's splits do not change with the
/// training seed (runs with different seeds are compared on the same items).
pub const VAL_SEED: u64 = 0x5EED_0FA1;

/// A loaded data set's items. For speech, text and tables, `splits.train` is the training
/// split *without* the held-out `val`.
#[derive(Debug, Clone)]
pub enum Splits {
    Image(ImageSplits),
    Speech { splits: SpeechSplits, val: SpeechSet },
    Text { splits: TextSplits, val: TokenizedSet },
    Table { splits: TableSplits, val: TableSet },
}

impl Splits {
    /// The input kind name models declare (`image`, `speech`, `text`, `table`).
    pub fn input(&self) -> &'static str {
        match self {
            Splits::Image(_) => "image",
            Splits::Speech { .. } => "speech",
            Splits::Text { .. } => "text",
            Splits::Table { .. } => "table",
        }
    }

    /// Items in (train, val, test).
    pub fn sizes(&self) -> (usize, usize, usize) {
        match self {
            Splits::Image(s) => (s.train.len(), s.val.len(), s.test.len()),
            Splits::Speech { splits, val } => (splits.train.len(), val.len(), splits.test.len()),
            Splits::Text { splits, val } => (splits.train.len(), val.len(), splits.test.len()),
            Splits::Table { splits, val } => (splits.train.len(), val.len(), splits.test.len()),
        }
    }

    pub fn speech(splits: SpeechSplits, name: &str, val_size: usize) -> Result<Self> {
        let (train, val) = hold_out(name, splits.train.labels(), splits.class_names.len(), val_size, |i| splits.train.select(i))?;
        Ok(Splits::Speech { splits: SpeechSplits { train, ..splits }, val })
    }

    pub fn text(splits: TextSplits, name: &str, val_size: usize) -> Result<Self> {
        let (train, val) = hold_out(name, splits.train.labels(), splits.class_names.len(), val_size, |i| splits.train.select(i))?;
        Ok(Splits::Text { splits: TextSplits { train, ..splits }, val })
    }

    pub fn table(splits: TableSplits, name: &str, val_size: usize) -> Result<Self> {
        let classes = splits.schema.num_classes();
        let (train, val) = hold_out(name, splits.train.labels(), classes, val_size, |i| splits.train.select(i))?;
        Ok(Splits::Table { splits: TableSplits { train, ..splits }, val })
    }
}

/// `(train without val, val)`: about `val_size` training items, stratified by class.
fn hold_out<S>(name: &str, labels: &[u32], classes: usize, val_size: usize, select: impl Fn(&[usize]) -> S) -> Result<(S, S)> {
    let n = labels.len();
    if val_size == 0 || val_size >= n {
        return Err(DataError::InconsistentSet(format!(
            "data set `{name}`: val_size {val_size} must be at least 1 and below its {n} training items (set val_size in the config)"
        )));
    }
    let record = crate::split::stratified_split(labels, classes, val_size as f64 / n as f64, VAL_SEED);
    Ok((select(&record.train), select(&record.test)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_out_is_stratified_and_checks_its_size() {
        // 8 of class 0, 4 of class 1; val 3 → fraction 1/4: round(2) + round(1).
        let labels: Vec<u32> = (0..12).map(|i| u32::from(i >= 8)).collect();
        let (train, val) = hold_out("t", &labels, 2, 3, |idx| idx.to_vec()).unwrap();
        assert_eq!(val.len(), 3);
        assert_eq!(val.iter().filter(|&&i| labels[i] == 1).count(), 1);
        assert_eq!(train.len() + val.len(), 12);
        assert!(train.iter().all(|i| !val.contains(i)));
        let e = hold_out("t", &labels, 2, 12, |idx| idx.to_vec()).unwrap_err().to_string();
        assert!(e.contains("val_size 12 must be at least 1 and below its 12 training items"), "{e}");
    }
}
