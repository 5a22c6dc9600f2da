//! Declared, validated policy parameters.
//!
//! Every policy lists its parameters as [`ParamSpec`]s (name, kind with valid range, default,
//! help). User values — from the TOML `[policy]` table or `--policy-param key=value` flags — are
//! checked against that list before the policy is built, so an out-of-range value is an error
//! that states the valid range, and an unknown key is an error that lists the valid ones
//! (compare TF-MOT's `PolynomialDecay`, which validates in its constructor).

use crate::error::PruneError;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamKind {
    /// A real number in `[min, max]` (bounds inclusive unless `open_min`).
    Float { min: f64, max: f64, open_min: bool },
    /// An integer in `[min, max]`.
    Int { min: i64, max: i64 },
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
    Bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: ParamKind,
    pub default: ParamValue,
    pub help: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamValue {
    Float(f64),
    Int(i64),
    Choice(&'static str),
    Bool(bool),
}

impl std::fmt::Display for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamValue::Float(v) => write!(f, "{v}"),
            ParamValue::Int(v) => write!(f, "{v}"),
            ParamValue::Choice(v) => write!(f, "{v}"),
            ParamValue::Bool(v) => write!(f, "{v}"),
        }
    }
}

impl ParamKind {
    pub fn range_text(&self) -> String {
        match self {
            ParamKind::Float { min, max, open_min } => {
                let lo = if *open_min { "(" } else { "[" };
                format!("{lo}{min}, {max}]")
            }
            ParamKind::Int { min, max } if *max == i64::MAX => format!("[{min}, inf) (integer)"),
            ParamKind::Int { min, max } => format!("[{min}, {max}] (integer)"),
            ParamKind::Choice(words) => words.join(" | "),
            ParamKind::Bool => "true | false".into(),
        }
    }
}

/// A policy's parameters after validation: every declared name has a value.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    policy: String,
    values: BTreeMap<&'static str, ParamValue>,
}

impl Params {
    /// Validates `given` (raw TOML values by name) against `specs`; missing names take defaults.
    pub fn resolve(
        policy: &str,
        specs: &[ParamSpec],
        given: &BTreeMap<String, toml::Value>,
    ) -> Result<Self, PruneError> {
        let mut values = BTreeMap::new();
        for (key, raw) in given {
            let spec = specs.iter().find(|s| s.name == key).ok_or_else(|| PruneError::UnknownParam {
                policy: policy.into(),
                param: key.clone(),
                valid: if specs.is_empty() {
                    "none".into()
                } else {
                    specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
                },
            })?;
            values.insert(spec.name, check(policy, spec, raw)?);
        }
        for spec in specs {
            values.entry(spec.name).or_insert(spec.default);
        }
        Ok(Self { policy: policy.into(), values })
    }

    pub fn policy(&self) -> &str {
        &self.policy
    }

    pub fn float(&self, name: &str) -> f64 {
        match self.values.get(name) {
            Some(ParamValue::Float(v)) => *v,
            Some(ParamValue::Int(v)) => *v as f64,
            other => panic!("parameter `{name}` is not a declared float: {other:?}"),
        }
    }

    pub fn int(&self, name: &str) -> i64 {
        match self.values.get(name) {
            Some(ParamValue::Int(v)) => *v,
            other => panic!("parameter `{name}` is not a declared integer: {other:?}"),
        }
    }

    pub fn choice(&self, name: &str) -> &'static str {
        match self.values.get(name) {
            Some(ParamValue::Choice(v)) => v,
            other => panic!("parameter `{name}` is not a declared choice: {other:?}"),
        }
    }

    pub fn bool(&self, name: &str) -> bool {
        match self.values.get(name) {
            Some(ParamValue::Bool(v)) => *v,
            other => panic!("parameter `{name}` is not a declared bool: {other:?}"),
        }
    }

    /// The resolved values, for the run's record.
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for (k, v) in &self.values {
            let j = match v {
                ParamValue::Float(x) => serde_json::json!(x),
                ParamValue::Int(x) => serde_json::json!(x),
                ParamValue::Choice(x) => serde_json::json!(x),
                ParamValue::Bool(x) => serde_json::json!(x),
            };
            map.insert((*k).to_string(), j);
        }
        serde_json::Value::Object(map)
    }

    /// An error about a combination of values (ranges are checked already).
    pub fn invalid(&self, message: impl Into<String>) -> PruneError {
        PruneError::Invalid { policy: self.policy.clone(), message: message.into() }
    }
}

fn check(policy: &str, spec: &ParamSpec, raw: &toml::Value) -> Result<ParamValue, PruneError> {
    let wrong = |expected: &str| PruneError::WrongType {
        policy: policy.into(),
        param: spec.name.into(),
        expected: expected.into(),
        got: raw.to_string(),
    };
    let out_of_range = |value: String| PruneError::OutOfRange {
        policy: policy.into(),
        param: spec.name.into(),
        value,
        range: spec.kind.range_text(),
    };
    match spec.kind {
        ParamKind::Float { min, max, open_min } => {
            let v = match raw {
                toml::Value::Float(v) => *v,
                toml::Value::Integer(v) => *v as f64,
                _ => return Err(wrong("a number")),
            };
            let above_min = if open_min { v > min } else { v >= min };
            if !v.is_finite() || !above_min || v > max {
                return Err(out_of_range(v.to_string()));
            }
            Ok(ParamValue::Float(v))
        }
        ParamKind::Int { min, max } => {
            let toml::Value::Integer(v) = raw else { return Err(wrong("an integer")) };
            if *v < min || *v > max {
                return Err(out_of_range(v.to_string()));
            }
            Ok(ParamValue::Int(*v))
        }
        ParamKind::Choice(words) => {
            let toml::Value::String(s) = raw else { return Err(wrong("a word")) };
            words
                .iter()
                .find(|w| **w == s)
                .map(|w| ParamValue::Choice(w))
                .ok_or_else(|| out_of_range(s.clone()))
        }
        ParamKind::Bool => match raw {
            toml::Value::Boolean(b) => Ok(ParamValue::Bool(*b)),
            _ => Err(wrong("true or false")),
        },
    }
}

/// Parses one `key=value` command-line override into a TOML value (number, bool or word).
pub fn parse_override(text: &str) -> Option<(String, toml::Value)> {
    let (key, value) = text.split_once('=')?;
    let key = key.trim().to_string();
    let value = value.trim();
    let parsed = if let Ok(i) = value.parse::<i64>() {
        toml::Value::Integer(i)
    } else if let Ok(f) = value.parse::<f64>() {
        toml::Value::Float(f)
    } else if let Ok(b) = value.parse::<bool>() {
        toml::Value::Boolean(b)
    } else {
        toml::Value::String(value.to_string())
    };
    Some((key, parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[ParamSpec] = &[
        ParamSpec {
            name: "alpha",
            kind: ParamKind::Float { min: 0.0, max: 1.0, open_min: false },
            default: ParamValue::Float(0.5),
            help: "",
        },
        ParamSpec {
            name: "init",
            kind: ParamKind::Choice(&["mean", "std"]),
            default: ParamValue::Choice("mean"),
            help: "",
        },
    ];

    fn given(pairs: &[(&str, toml::Value)]) -> BTreeMap<String, toml::Value> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn defaults_fill_in() {
        let p = Params::resolve("x", SPECS, &given(&[])).unwrap();
        assert_eq!(p.float("alpha"), 0.5);
        assert_eq!(p.choice("init"), "mean");
    }

    #[test]
    fn out_of_range_states_range() {
        let e = Params::resolve("x", SPECS, &given(&[("alpha", toml::Value::Float(1.5))])).unwrap_err();
        assert_eq!(e.to_string(), "policy `x`: parameter `alpha` = 1.5 is out of range; valid range is [0, 1]");
        let e = Params::resolve("x", SPECS, &given(&[("init", toml::Value::String("max".into()))])).unwrap_err();
        assert!(e.to_string().contains("mean | std"), "{e}");
    }

    #[test]
    fn unknown_key_lists_valid() {
        let e = Params::resolve("x", SPECS, &given(&[("beta", toml::Value::Float(0.1))])).unwrap_err();
        assert!(e.to_string().contains("unknown parameter `beta` (valid: alpha, init)"), "{e}");
    }

    #[test]
    fn overrides_parse() {
        assert_eq!(parse_override("a=1"), Some(("a".into(), toml::Value::Integer(1))));
        assert_eq!(parse_override("a=0.5"), Some(("a".into(), toml::Value::Float(0.5))));
        assert_eq!(parse_override("a=std"), Some(("a".into(), toml::Value::String("std".into()))));
        assert_eq!(parse_override("nokey"), None);
    }
}
