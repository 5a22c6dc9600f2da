//! Tabular data: CSV → categorical ids (an "unknown" id for unseen values) and standardised
//! numeric columns, for the built-in UCI Adult and for `csv`.

pub mod adult;
pub mod csv_set;
pub mod options;
pub mod raw;
pub mod schema;
pub mod set;

pub use adult::{load_adult, ADULT_NAME};
pub use csv_set::{load_csv, CSV_NAME};
pub use schema::{CategoricalColumn, NumericColumn, TableSchema, UNKNOWN_ID};
pub use set::{TableSet, TableShape, TableSplits};
