//! The options of the `csv` data set: which column is the label and which are categorical.

use std::collections::BTreeMap;

use crate::options::{DataOptions, OptionError, OptionKind, OptionSpec};

pub const CSV_OPTIONS: &[OptionSpec] = &[
    OptionSpec { name: "label", kind: OptionKind::Text, default: "", help: "the label column (required)" },
    OptionSpec {
        name: "categorical",
        kind: OptionKind::List,
        default: "",
        help: "columns read as categories (embedding ids); values unseen in train.csv map to id 0",
    },
    OptionSpec {
        name: "numeric",
        kind: OptionKind::List,
        default: "",
        help: "columns read as numbers (standardised with train.csv statistics); empty = every other column",
    },
    OptionSpec { name: "ignore", kind: OptionKind::List, default: "", help: "columns to leave out" },
];

/// Validated csv options; `numeric: None` means "every column not named otherwise".
#[derive(Debug, Clone, PartialEq)]
pub struct CsvOptions {
    pub label: String,
    pub categorical: Vec<String>,
    pub numeric: Option<Vec<String>>,
    pub ignore: Vec<String>,
    pub resolved: DataOptions,
}

impl CsvOptions {
    pub fn resolve(
        dataset: &str,
        given: &BTreeMap<String, toml::Value>,
    ) -> Result<Self, OptionError> {
        let o = DataOptions::resolve(dataset, CSV_OPTIONS, given)?;
        let label = o
            .text("label")
            .ok_or_else(|| o.invalid("option `label` is required (-D label=COLUMN)"))?
            .to_string();
        let categorical = o.list("categorical").to_vec();
        let numeric = o.list("numeric").to_vec();
        let ignore = o.list("ignore").to_vec();
        let groups = [
            ("categorical", &categorical),
            ("numeric", &numeric),
            ("ignore", &ignore),
        ];
        for (i, (a, names)) in groups.iter().enumerate() {
            if names.contains(&label) {
                return Err(o.invalid(format!(
                    "the label column `{label}` is also listed in `{a}`"
                )));
            }
            for (b, other) in &groups[i + 1..] {
                if let Some(n) = names.iter().find(|n| other.contains(n)) {
                    return Err(
                        o.invalid(format!("column `{n}` is listed in both `{a}` and `{b}`"))
                    );
                }
            }
        }
        Ok(Self {
            label,
            categorical,
            numeric: (!numeric.is_empty()).then_some(numeric),
            ignore,
            resolved: o,
        })
    }
}
