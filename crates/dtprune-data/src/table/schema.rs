//! What is learnt from the training split of a table — class names, categorical
//! vocabularies, numeric standardisation — and how a split is encoded with it.
//!
//! - classes: the sorted distinct labels of the training file; a test label outside them is
//!   an error at its line;
//! - categorical column: id 0 is "unknown" (a value absent from the training split, met in
//!   another split), ids 1.. are the training split's distinct values in sorted order. A missing
//!   value (`?` in UCI files) is just another value;
//! - numeric column: `(x − mean) / std` with the training split's mean and population standard
//!   deviation (a constant column gets std 1 so it encodes as 0); a field that is not a finite
//!   number is an error naming file, line and column.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::load_error::{LoadError, LoadResult};
use crate::table::raw::RawTable;
use crate::table::set::TableSet;

/// Id of values not seen in the training split.
pub const UNKNOWN_ID: u32 = 0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoricalColumn {
    pub name: String,
    /// Value of id `k + 1` is `values[k]`; id 0 is unknown.
    pub values: Vec<String>,
}

impl CategoricalColumn {
    /// Embedding table size: the values plus the unknown id.
    pub fn cardinality(&self) -> usize {
        self.values.len() + 1
    }

    pub fn id(&self, value: &str) -> u32 {
        self.values
            .binary_search_by(|v| v.as_str().cmp(value))
            .map_or(UNKNOWN_ID, |i| i as u32 + 1)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericColumn {
    pub name: String,
    pub mean: f64,
    pub std: f64,
}

/// The fitted schema, recorded with the run so the same encoding can be applied elsewhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableSchema {
    pub label: String,
    pub class_names: Vec<String>,
    pub categorical: Vec<CategoricalColumn>,
    pub numeric: Vec<NumericColumn>,
}

/// Which columns play which role (names as in the header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnRoles {
    pub label: String,
    pub categorical: Vec<String>,
    pub numeric: Vec<String>,
}

impl TableSchema {
    /// Learns the schema from the training table.
    pub fn fit(train: &RawTable, roles: &ColumnRoles) -> LoadResult<Self> {
        let label = train.column(&roles.label)?;
        let class_names: Vec<String> = train
            .rows
            .iter()
            .map(|r| r[label].clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let categorical = roles
            .categorical
            .iter()
            .map(|name| {
                let c = train.column(name)?;
                let values = train
                    .rows
                    .iter()
                    .map(|r| r[c].clone())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                Ok(CategoricalColumn {
                    name: name.clone(),
                    values,
                })
            })
            .collect::<LoadResult<_>>()?;
        let numeric = roles
            .numeric
            .iter()
            .map(|name| {
                let values = numeric_values(train, train.column(name)?, name)?;
                let n = values.len() as f64;
                let mean = values.iter().sum::<f64>() / n;
                let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
                let std = if var > 0.0 { var.sqrt() } else { 1.0 };
                Ok(NumericColumn {
                    name: name.clone(),
                    mean,
                    std,
                })
            })
            .collect::<LoadResult<_>>()?;
        Ok(Self {
            label: roles.label.clone(),
            class_names,
            categorical,
            numeric,
        })
    }

    /// Encodes a table (the training one or another split) with this schema.
    pub fn encode(&self, table: &RawTable) -> LoadResult<TableSet> {
        let label = table.column(&self.label)?;
        let labels = table
            .rows
            .iter()
            .zip(&table.lines)
            .map(|(r, &line)| {
                self.class_names
                    .binary_search(&r[label])
                    .map(|i| i as u32)
                    .map_err(|_| {
                        LoadError::bad_line(
                            &table.path,
                            line,
                            format!(
                                "label `{}` does not occur in the training data (classes: {})",
                                r[label],
                                self.class_names.join(", ")
                            ),
                        )
                    })
            })
            .collect::<LoadResult<Vec<u32>>>()?;
        let cat_idx = self
            .categorical
            .iter()
            .map(|c| table.column(&c.name))
            .collect::<LoadResult<Vec<_>>>()?;
        let num_cols = self
            .numeric
            .iter()
            .map(|c| numeric_values(table, table.column(&c.name)?, &c.name))
            .collect::<LoadResult<Vec<_>>>()?;
        let n = table.rows.len();
        let mut categorical = Vec::with_capacity(n * cat_idx.len());
        let mut numeric = Vec::with_capacity(n * num_cols.len());
        for (i, row) in table.rows.iter().enumerate() {
            categorical.extend(
                self.categorical
                    .iter()
                    .zip(&cat_idx)
                    .map(|(c, &j)| c.id(&row[j])),
            );
            numeric.extend(
                self.numeric
                    .iter()
                    .zip(&num_cols)
                    .map(|(c, v)| ((v[i] - c.mean) / c.std) as f32),
            );
        }
        Ok(TableSet::new(
            categorical,
            numeric,
            labels,
            table.lines.clone(),
            self.categorical.len(),
            self.numeric.len(),
        ))
    }

    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }
}

fn numeric_values(table: &RawTable, column: usize, name: &str) -> LoadResult<Vec<f64>> {
    table
        .rows
        .iter()
        .zip(&table.lines)
        .map(|(r, &line)| {
            r[column]
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    LoadError::bad_line(
                        &table.path,
                        line,
                        format!(
                        "column `{name}`: `{}` is not a number (list the column in -D categorical or -D ignore if it is not numeric)",
                        r[column]
                    ),
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn table(name: &str, rows: &[[&str; 3]]) -> RawTable {
        RawTable {
            path: PathBuf::from(name),
            columns: vec!["x".into(), "color".into(), "y".into()],
            rows: rows
                .iter()
                .map(|r| r.iter().map(|s| s.to_string()).collect())
                .collect(),
            lines: (2..2 + rows.len()).collect(),
        }
    }

    fn roles() -> ColumnRoles {
        ColumnRoles {
            label: "y".into(),
            categorical: vec!["color".into()],
            numeric: vec!["x".into()],
        }
    }

    #[test]
    fn fit_and_encode_by_hand() {
        // x = 1, 2, 3, 6: mean 3, population variance (4 + 1 + 0 + 9)/4 = 3.5.
        let train = table(
            "train.csv",
            &[
                ["1", "red", "b"],
                ["2", "blue", "a"],
                ["3", "red", "a"],
                ["6", "?", "b"],
            ],
        );
        let s = TableSchema::fit(&train, &roles()).unwrap();
        assert_eq!(s.class_names, ["a", "b"]);
        assert_eq!(s.categorical[0].values, ["?", "blue", "red"]);
        assert_eq!((s.numeric[0].mean, s.numeric[0].std), (3.0, 3.5f64.sqrt()));
        let test = table("test.csv", &[["4", "green", "a"], ["3", "blue", "b"]]);
        let e = s.encode(&test).unwrap();
        assert_eq!(e.categorical(), [UNKNOWN_ID, 2]);
        assert_eq!(e.labels(), [0, 1]);
        assert!((e.numeric()[0] - (1.0 / 3.5f64.sqrt()) as f32).abs() < 1e-7);
        assert_eq!(e.numeric()[1], 0.0);
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let train = table("train.csv", &[["1", "red", "a"], ["x1", "red", "b"]]);
        let e = TableSchema::fit(&train, &roles()).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "train.csv:3: column `x`: `x1` is not a number (list the column in -D categorical"
            ),
            "{e}"
        );
        let train = table("train.csv", &[["1", "red", "a"], ["2", "red", "b"]]);
        let s = TableSchema::fit(&train, &roles()).unwrap();
        let e = s
            .encode(&table("test.csv", &[["1", "red", "c"]]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "test.csv:2: label `c` does not occur in the training data (classes: a, b)"
        );
        let e = s
            .encode(&table("test.csv", &[["NaN", "red", "a"]]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`NaN` is not a number"), "{e}");
        // A constant column gets std 1.
        let s =
            TableSchema::fit(&table("t", &[["5", "r", "a"], ["5", "r", "a"]]), &roles()).unwrap();
        assert_eq!(s.numeric[0].std, 1.0);
    }
}
