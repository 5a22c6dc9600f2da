//! SMS Spam Collection v.1 (Almeida & Gómez Hidalgo, 2011): 5,574 `ham|spam<TAB>message`
//! lines (747 spam). It has no official split: a stratified, seeded 80/20 split is made
//! (`test_fraction`, `split_seed`) and recorded in [`TextSplits::split`] (0-based line indices).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::load_error::{LoadError, LoadResult};
use crate::text::build::{build_splits, split_rows, SourceRows};
use crate::text::options::TextOptions;
use crate::text::set::TextSplits;
use crate::text::tsv::read_tsv;

pub const SMS_NAME: &str = "sms-spam";

/// The collection's file in `data_dir` (`SMSSpamCollection` or `.gz`), or `data_dir` itself
/// when it is a file.
pub fn sms_file(data_dir: &Path) -> LoadResult<PathBuf> {
    if data_dir.is_file() {
        return Ok(data_dir.to_path_buf());
    }
    ["SMSSpamCollection", "SMSSpamCollection.gz"]
        .iter()
        .map(|n| data_dir.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| LoadError::Missing {
            what: "SMSSpamCollection[.gz]".into(),
            path: data_dir.to_path_buf(),
        })
}

pub fn load_sms_spam(
    data_dir: &Path,
    given: &BTreeMap<String, toml::Value>,
) -> LoadResult<TextSplits> {
    let options = TextOptions::resolve(SMS_NAME, given, false)?;
    let path = sms_file(data_dir)?;
    let rows = read_tsv(&path)?;
    let (train, test, record) = split_rows(SourceRows { path: &path, rows }, &options)?;
    build_splits(
        SourceRows {
            path: &path,
            rows: train,
        },
        SourceRows {
            path: &path,
            rows: test,
        },
        &options,
        Some(record),
    )
}
