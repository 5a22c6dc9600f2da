//! UCI Adult (Census Income; Kohavi & Becker 1996): the official `adult.data` (32,561 rows)
//! and `adult.test` (16,281) in the data directory, each optionally `.gz`. The files have no
//! header (the column names below are those of `adult.names`); `adult.test` starts with a
//! `|1x3 Cross validator` line (skipped as a comment) and writes its labels with a trailing `.`
//! (`<=50K.`), which is removed. Missing values (`?`, only in categorical columns) are kept as
//! a category of their own. Read through the same schema code as `csv`; takes no options.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::load_error::{LoadError, LoadResult};
use crate::options::DataOptions;
use crate::table::csv_set::encode_splits;
use crate::table::raw::{read_csv, CsvFormat};
use crate::table::schema::ColumnRoles;
use crate::table::set::TableSplits;

pub const ADULT_NAME: &str = "adult";

pub const ADULT_COLUMNS: [&str; 15] = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
    "income",
];

pub const ADULT_CATEGORICAL: [&str; 8] = [
    "workclass",
    "education",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native-country",
];

fn find(dir: &Path, name: &str) -> LoadResult<PathBuf> {
    [dir.join(name), dir.join(format!("{name}.gz"))]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| LoadError::Missing {
            what: format!("{name}[.gz]"),
            path: dir.to_path_buf(),
        })
}

pub fn load_adult(
    data_dir: &Path,
    given: &BTreeMap<String, toml::Value>,
) -> LoadResult<TableSplits> {
    let options = DataOptions::resolve(ADULT_NAME, &[], given)?;
    let format = CsvFormat {
        header: Some(ADULT_COLUMNS.map(String::from).to_vec()),
        comment: Some(b'|'),
    };
    let train = read_csv(&find(data_dir, "adult.data")?, &format)?;
    let mut test = read_csv(&find(data_dir, "adult.test")?, &format)?;
    let label = ADULT_COLUMNS.len() - 1;
    for row in &mut test.rows {
        if let Some(stripped) = row[label].strip_suffix('.') {
            row[label] = stripped.to_string();
        }
    }
    let roles = ColumnRoles {
        label: "income".into(),
        categorical: ADULT_CATEGORICAL.map(String::from).to_vec(),
        numeric: ADULT_COLUMNS
            .iter()
            .filter(|c| **c != "income" && !ADULT_CATEGORICAL.contains(c))
            .map(|c| c.to_string())
            .collect(),
    };
    encode_splits(&train, &test, &roles, options.to_json())
}
