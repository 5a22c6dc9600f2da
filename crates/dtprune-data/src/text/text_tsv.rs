//! `text-tsv`: your own texts as `label<TAB>text` lines — `train.tsv` and `test.tsv` (each
//! optionally `.gz`) in the data directory, or one file (`-D file=NAME`) split stratified and
//! seeded. Classes are the sorted distinct labels of the training data; a test label outside
//! them is an error naming its line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::load_error::{LoadError, LoadResult};
use crate::text::build::{build_splits, split_rows, SourceRows};
use crate::text::options::TextOptions;
use crate::text::set::TextSplits;
use crate::text::tsv::read_tsv;

pub const TEXT_TSV_NAME: &str = "text-tsv";

fn find(dir: &Path, stem: &str) -> LoadResult<PathBuf> {
    [dir.join(stem), dir.join(format!("{stem}.gz"))]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| LoadError::Missing {
            what: format!("{stem}[.gz] (or set -D file=NAME to split one file)"),
            path: dir.to_path_buf(),
        })
}

pub fn load_text_tsv(
    data_dir: &Path,
    given: &BTreeMap<String, toml::Value>,
) -> LoadResult<TextSplits> {
    let options = TextOptions::resolve(TEXT_TSV_NAME, given, true)?;
    if let Some(file) = &options.file {
        let path = data_dir.join(file);
        if !path.is_file() {
            return Err(LoadError::Missing {
                what: "text-tsv file".into(),
                path,
            });
        }
        let rows = read_tsv(&path)?;
        let (train, test, record) = split_rows(SourceRows { path: &path, rows }, &options)?;
        return build_splits(
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
        );
    }
    let train_path = find(data_dir, "train.tsv")?;
    let test_path = find(data_dir, "test.tsv")?;
    let train = SourceRows {
        rows: read_tsv(&train_path)?,
        path: &train_path,
    };
    let test = SourceRows {
        rows: read_tsv(&test_path)?,
        path: &test_path,
    };
    build_splits(train, test, &options, None)
}
