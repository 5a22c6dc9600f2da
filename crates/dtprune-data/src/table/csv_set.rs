//! `csv`: your own table as `train.csv` and `test.csv` (each optionally `.gz`) with a header
//! row; `-D label=COL` names the label, `-D categorical=A,B` the categorical columns, and every
//! other column is numeric unless `-D numeric=...` / `-D ignore=...` say otherwise. Labels may
//! be words or numbers: the classes are the sorted distinct labels of `train.csv`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::load_error::{LoadError, LoadResult};
use crate::table::options::CsvOptions;
use crate::table::raw::{read_csv, CsvFormat, RawTable};
use crate::table::schema::{ColumnRoles, TableSchema};
use crate::table::set::TableSplits;

pub const CSV_NAME: &str = "csv";

fn find(dir: &Path, stem: &str) -> LoadResult<PathBuf> {
    [dir.join(stem), dir.join(format!("{stem}.gz"))]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| LoadError::Missing {
            what: format!("{stem}[.gz]"),
            path: dir.to_path_buf(),
        })
}

pub fn load_csv(data_dir: &Path, given: &BTreeMap<String, toml::Value>) -> LoadResult<TableSplits> {
    let options = CsvOptions::resolve(CSV_NAME, given)?;
    let train = read_csv(&find(data_dir, "train.csv")?, &CsvFormat::default())?;
    let test = read_csv(&find(data_dir, "test.csv")?, &CsvFormat::default())?;
    let roles = roles(&train, &options)?;
    encode_splits(&train, &test, &roles, options.resolved.to_json())
}

/// The column roles, every named column checked against the training header.
fn roles(train: &RawTable, options: &CsvOptions) -> LoadResult<ColumnRoles> {
    for name in std::iter::once(&options.label)
        .chain(&options.categorical)
        .chain(options.numeric.iter().flatten())
        .chain(&options.ignore)
    {
        train.column(name)?;
    }
    let numeric = match &options.numeric {
        Some(n) => n.clone(),
        None => train
            .columns
            .iter()
            .filter(|c| {
                **c != options.label
                    && !options.categorical.contains(c)
                    && !options.ignore.contains(c)
            })
            .cloned()
            .collect(),
    };
    Ok(ColumnRoles {
        label: options.label.clone(),
        categorical: options.categorical.clone(),
        numeric,
    })
}

/// Fits the schema on `train` and encodes both splits.
pub fn encode_splits(
    train: &RawTable,
    test: &RawTable,
    roles: &ColumnRoles,
    options: serde_json::Value,
) -> LoadResult<TableSplits> {
    let schema = TableSchema::fit(train, roles)?;
    Ok(TableSplits {
        train: schema.encode(train)?,
        test: schema.encode(test)?,
        schema,
        options,
    })
}
