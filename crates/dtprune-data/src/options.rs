//! Declared, validated data-set options (`-D key=value` on the command line, a `[data]` table
//! in the TOML).
//!
//! Each loader lists its options as [`OptionSpec`]s — name, kind with valid range, default,
//! help — in the same style as the policy parameters of `dtprune-prune` (`params.rs`). The
//! kinds differ (data options also take words, file paths and column lists), so this is its own
//! small table rather than a dependency of the data crate on the pruning engine. Unknown keys
//! are an error listing the valid ones; a value out of range states the range.

use std::collections::BTreeMap;

/// What values an option accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptionKind {
    /// An integer in `[min, max]`.
    Int {
        min: i64,
        max: i64,
    },
    /// A finite real number in `[min, max]` (`(min, max]` when `open_min`).
    Float {
        min: f64,
        max: f64,
        open_min: bool,
    },
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
    Bool,
    /// Any text (a column name, a file path); empty means "not given".
    Text,
    /// A comma-separated list of names (or a TOML array of strings).
    List,
}

/// One declared option.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptionSpec {
    pub name: &'static str,
    pub kind: OptionKind,
    /// The default as the text a user would type (`""` for an empty text or list).
    pub default: &'static str,
    pub help: &'static str,
}

/// A validated value.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    Int(i64),
    Float(f64),
    Word(String),
    Bool(bool),
    Text(String),
    List(Vec<String>),
}

/// Everything that can be wrong with the options given to one data set.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OptionError {
    #[error("data set `{dataset}`: unknown option `{key}` (valid: {valid})")]
    Unknown {
        dataset: String,
        key: String,
        valid: String,
    },
    #[error("data set `{dataset}`: option `{key}` = {value} is not {expected}")]
    WrongType {
        dataset: String,
        key: String,
        value: String,
        expected: String,
    },
    #[error(
        "data set `{dataset}`: option `{key}` = {value} is out of range; valid range is {range}"
    )]
    OutOfRange {
        dataset: String,
        key: String,
        value: String,
        range: String,
    },
    /// A combination of values that is invalid although each is in range.
    #[error("data set `{dataset}`: {message}")]
    Invalid { dataset: String, message: String },
}

impl OptionKind {
    /// The valid values as text, for errors and for listings.
    pub fn range_text(&self) -> String {
        match self {
            OptionKind::Int { min, max } if *max == i64::MAX => format!("[{min}, inf) (integer)"),
            OptionKind::Int { min, max } => format!("[{min}, {max}] (integer)"),
            OptionKind::Float { min, max, open_min } => {
                format!("{}{min}, {max}]", if *open_min { "(" } else { "[" })
            }
            OptionKind::Choice(words) => words.join(" | "),
            OptionKind::Bool => "true | false".into(),
            OptionKind::Text => "text".into(),
            OptionKind::List => "comma-separated names".into(),
        }
    }
}

/// One data set's options after validation: every declared name has a value.
#[derive(Debug, Clone, PartialEq)]
pub struct DataOptions {
    dataset: String,
    values: BTreeMap<&'static str, OptionValue>,
}

impl DataOptions {
    /// Validates `given` (raw values by name, from TOML or from [`parse_option`]) against
    /// `specs`; names not given take their defaults.
    pub fn resolve(
        dataset: &str,
        specs: &[OptionSpec],
        given: &BTreeMap<String, toml::Value>,
    ) -> Result<Self, OptionError> {
        let mut values = BTreeMap::new();
        for (key, raw) in given {
            let spec =
                specs
                    .iter()
                    .find(|s| s.name == key)
                    .ok_or_else(|| OptionError::Unknown {
                        dataset: dataset.into(),
                        key: key.clone(),
                        valid: if specs.is_empty() {
                            "none".into()
                        } else {
                            specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
                        },
                    })?;
            values.insert(spec.name, check(dataset, spec, raw)?);
        }
        for spec in specs {
            if !values.contains_key(spec.name) {
                let default = default_value(spec);
                let value = check(dataset, spec, &default).unwrap_or_else(|e| {
                    panic!("declared default of `{}` is invalid: {e}", spec.name)
                });
                values.insert(spec.name, value);
            }
        }
        Ok(Self {
            dataset: dataset.into(),
            values,
        })
    }

    pub fn dataset(&self) -> &str {
        &self.dataset
    }

    fn get(&self, name: &str) -> &OptionValue {
        self.values.get(name).unwrap_or_else(|| {
            panic!(
                "option `{name}` is not declared for data set `{}`",
                self.dataset
            )
        })
    }

    /// Panics (a programming error) if `name` is not a declared integer option.
    pub fn int(&self, name: &str) -> i64 {
        match self.get(name) {
            OptionValue::Int(v) => *v,
            other => panic!("option `{name}` is not an integer: {other:?}"),
        }
    }

    /// An integer option as `usize` (declared ranges are non-negative where this is used).
    pub fn usize(&self, name: &str) -> usize {
        usize::try_from(self.int(name)).unwrap_or_else(|_| panic!("option `{name}` is negative"))
    }

    pub fn float(&self, name: &str) -> f64 {
        match self.get(name) {
            OptionValue::Float(v) => *v,
            other => panic!("option `{name}` is not a number: {other:?}"),
        }
    }

    pub fn word(&self, name: &str) -> &str {
        match self.get(name) {
            OptionValue::Word(v) => v,
            other => panic!("option `{name}` is not a choice: {other:?}"),
        }
    }

    pub fn bool(&self, name: &str) -> bool {
        match self.get(name) {
            OptionValue::Bool(v) => *v,
            other => panic!("option `{name}` is not a bool: {other:?}"),
        }
    }

    /// A text option; `None` when empty (not given and no default).
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            OptionValue::Text(v) if v.is_empty() => None,
            OptionValue::Text(v) => Some(v),
            other => panic!("option `{name}` is not a text: {other:?}"),
        }
    }

    pub fn list(&self, name: &str) -> &[String] {
        match self.get(name) {
            OptionValue::List(v) => v,
            other => panic!("option `{name}` is not a list: {other:?}"),
        }
    }

    /// An error about a combination of values (each value is in range already).
    pub fn invalid(&self, message: impl Into<String>) -> OptionError {
        OptionError::Invalid {
            dataset: self.dataset.clone(),
            message: message.into(),
        }
    }

    /// The resolved values, for the run's record (`config.toml`, `summary.json`).
    pub fn to_json(&self) -> serde_json::Value {
        let map = self
            .values
            .iter()
            .map(|(k, v)| {
                let j = match v {
                    OptionValue::Int(x) => serde_json::json!(x),
                    OptionValue::Float(x) => serde_json::json!(x),
                    OptionValue::Word(x) | OptionValue::Text(x) => serde_json::json!(x),
                    OptionValue::Bool(x) => serde_json::json!(x),
                    OptionValue::List(x) => serde_json::json!(x),
                };
                ((*k).to_string(), j)
            })
            .collect();
        serde_json::Value::Object(map)
    }

    /// A stable one-line text of every value, used in cache keys.
    pub fn fingerprint(&self) -> String {
        self.to_json().to_string()
    }
}

fn default_value(spec: &OptionSpec) -> toml::Value {
    match spec.kind {
        OptionKind::Text | OptionKind::List | OptionKind::Choice(_) => {
            toml::Value::String(spec.default.into())
        }
        _ => parse_value(spec.default),
    }
}

fn check(dataset: &str, spec: &OptionSpec, raw: &toml::Value) -> Result<OptionValue, OptionError> {
    let shown = match raw {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let wrong = |expected: &str| OptionError::WrongType {
        dataset: dataset.into(),
        key: spec.name.into(),
        value: shown.clone(),
        expected: expected.into(),
    };
    let out_of_range = || OptionError::OutOfRange {
        dataset: dataset.into(),
        key: spec.name.into(),
        value: shown.clone(),
        range: spec.kind.range_text(),
    };
    match spec.kind {
        OptionKind::Int { min, max } => {
            let toml::Value::Integer(v) = raw else {
                return Err(wrong("an integer"));
            };
            if *v < min || *v > max {
                return Err(out_of_range());
            }
            Ok(OptionValue::Int(*v))
        }
        OptionKind::Float { min, max, open_min } => {
            let v = match raw {
                toml::Value::Float(v) => *v,
                toml::Value::Integer(v) => *v as f64,
                _ => return Err(wrong("a number")),
            };
            let above_min = if open_min { v > min } else { v >= min };
            if !v.is_finite() || !above_min || v > max {
                return Err(out_of_range());
            }
            Ok(OptionValue::Float(v))
        }
        OptionKind::Choice(words) => {
            let toml::Value::String(s) = raw else {
                return Err(wrong("a word"));
            };
            words
                .iter()
                .find(|w| **w == s)
                .map(|w| OptionValue::Word((*w).into()))
                .ok_or_else(out_of_range)
        }
        OptionKind::Bool => match raw {
            toml::Value::Boolean(b) => Ok(OptionValue::Bool(*b)),
            _ => Err(wrong("true or false")),
        },
        // A number typed on the command line (`-D label=1`) is still a valid name.
        OptionKind::Text => match raw {
            toml::Value::String(s) => Ok(OptionValue::Text(s.trim().into())),
            toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {
                Ok(OptionValue::Text(raw.to_string()))
            }
            _ => Err(wrong("a text")),
        },
        OptionKind::List => {
            let names: Vec<String> = match raw {
                toml::Value::String(s) => s.split(',').map(|n| n.trim().to_string()).collect(),
                toml::Value::Array(items) => items
                    .iter()
                    .map(|i| match i {
                        toml::Value::String(s) => Ok(s.trim().to_string()),
                        _ => Err(wrong("a list of names")),
                    })
                    .collect::<Result<_, _>>()?,
                toml::Value::Integer(_) => vec![raw.to_string()],
                _ => return Err(wrong("a list of names")),
            };
            let names: Vec<String> = names.into_iter().filter(|n| !n.is_empty()).collect();
            if let Some(dup) = names
                .iter()
                .enumerate()
                .find(|(i, n)| names[..*i].contains(n))
            {
                return Err(OptionError::Invalid {
                    dataset: dataset.into(),
                    message: format!("option `{}` names `{}` twice", spec.name, dup.1),
                });
            }
            Ok(OptionValue::List(names))
        }
    }
}

/// Parses a command-line value into the TOML value it stands for: integer, real, bool or text.
pub fn parse_value(value: &str) -> toml::Value {
    let value = value.trim();
    if let Ok(i) = value.parse::<i64>() {
        toml::Value::Integer(i)
    } else if let Ok(f) = value.parse::<f64>() {
        toml::Value::Float(f)
    } else if let Ok(b) = value.parse::<bool>() {
        toml::Value::Boolean(b)
    } else {
        toml::Value::String(value.to_string())
    }
}

/// Parses one `-D key=value` argument; `None` when there is no `=`.
pub fn parse_option(text: &str) -> Option<(String, toml::Value)> {
    let (key, value) = text.split_once('=')?;
    Some((key.trim().to_string(), parse_value(value)))
}

/// Builds the raw map from `-D` arguments, for [`DataOptions::resolve`].
pub fn options_from_args<'a>(
    args: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeMap<String, toml::Value>, String> {
    args.into_iter()
        .map(|a| parse_option(a).ok_or_else(|| format!("data option `{a}` is not key=value")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[OptionSpec] = &[
        OptionSpec {
            name: "n_mels",
            kind: OptionKind::Int { min: 1, max: 256 },
            default: "40",
            help: "",
        },
        OptionSpec {
            name: "frac",
            kind: OptionKind::Float {
                min: 0.0,
                max: 1.0,
                open_min: true,
            },
            default: "0.2",
            help: "",
        },
        OptionSpec {
            name: "pad",
            kind: OptionKind::Choice(&["silence", "zero"]),
            default: "silence",
            help: "",
        },
        OptionSpec {
            name: "label",
            kind: OptionKind::Text,
            default: "",
            help: "",
        },
        OptionSpec {
            name: "categorical",
            kind: OptionKind::List,
            default: "",
            help: "",
        },
    ];

    fn resolve(args: &[&str]) -> Result<DataOptions, OptionError> {
        DataOptions::resolve(
            "x",
            SPECS,
            &options_from_args(args.iter().copied()).unwrap(),
        )
    }

    #[test]
    fn defaults_fill_in() {
        let o = resolve(&[]).unwrap();
        assert_eq!(o.int("n_mels"), 40);
        assert_eq!(o.float("frac"), 0.2);
        assert_eq!(o.word("pad"), "silence");
        assert_eq!(o.text("label"), None);
        assert!(o.list("categorical").is_empty());
    }

    #[test]
    fn given_values_are_parsed() {
        let o = resolve(&[
            "n_mels=64",
            "frac=1",
            "label=income",
            "categorical=workclass, education",
        ])
        .unwrap();
        assert_eq!(o.int("n_mels"), 64);
        assert_eq!(o.float("frac"), 1.0);
        assert_eq!(o.text("label"), Some("income"));
        assert_eq!(o.list("categorical"), ["workclass", "education"]);
    }

    #[test]
    fn errors_state_the_range_or_the_valid_keys() {
        let e = resolve(&["n_mels=0"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "data set `x`: option `n_mels` = 0 is out of range; valid range is [1, 256] (integer)"
        );
        let e = resolve(&["frac=0"]).unwrap_err();
        assert!(e.to_string().contains("valid range is (0, 1]"), "{e}");
        let e = resolve(&["pad=reflect"]).unwrap_err();
        assert!(e.to_string().contains("silence | zero"), "{e}");
        let e = resolve(&["n_mels=4.5"]).unwrap_err();
        assert!(e.to_string().contains("is not an integer"), "{e}");
        let e = resolve(&["hop=3"]).unwrap_err();
        assert!(
            e.to_string()
                .contains("unknown option `hop` (valid: n_mels, frac, pad, label, categorical)"),
            "{e}"
        );
        let e = resolve(&["categorical=a,b,a"]).unwrap_err();
        assert!(e.to_string().contains("names `a` twice"), "{e}");
        assert!(options_from_args(["novalue"]).is_err());
    }

    #[test]
    fn toml_arrays_are_lists() {
        let given: BTreeMap<String, toml::Value> =
            toml::from_str("categorical = [\"sex\", \"race\"]\nlabel = 1").unwrap();
        let o = DataOptions::resolve("x", SPECS, &given).unwrap();
        assert_eq!(o.list("categorical"), ["sex", "race"]);
        assert_eq!(o.text("label"), Some("1"));
    }
}
