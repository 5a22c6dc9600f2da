//! A model's `[model]` parameters (depth, width, …), declared and validated exactly like a
//! policy's (`dtprune_prune::params`): each has a kind with a valid range and a default; an
//! unknown key or an out-of-range value is an error that lists the valid ones.

use crate::TrainError;
use dtprune_prune::params::{ParamSpec, Params};
use dtprune_prune::PruneError;
use std::collections::BTreeMap;

/// A model's parameters after validation: every declared name has a value.
pub type ModelParams = Params;

/// Validates `given` (the `[model]` table without `name`) against the model's `specs`.
pub fn resolve_model_params(model: &str, specs: &[ParamSpec], given: &BTreeMap<String, toml::Value>) -> Result<ModelParams, TrainError> {
    Params::resolve(model, specs, given).map_err(|e| TrainError::Config { path: None, message: describe(model, e) })
}

/// The policy crate's messages say "policy `x`"; the same facts, said of a model.
fn describe(model: &str, e: PruneError) -> String {
    match e {
        PruneError::UnknownParam { param, valid, .. } => format!("[model] `{model}`: unknown parameter `{param}` (valid: {valid})"),
        PruneError::OutOfRange { param, value, range, .. } => {
            format!("[model] `{model}`: parameter `{param}` = {value} is out of range; valid range is {range}")
        }
        PruneError::WrongType { param, expected, got, .. } => {
            format!("[model] `{model}`: parameter `{param}` has the wrong type: {expected} expected, got `{got}`")
        }
        other => format!("[model] `{model}`: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dtprune_prune::params::{ParamKind, ParamValue};

    const SPECS: &[ParamSpec] = &[ParamSpec { name: "width", kind: ParamKind::Int { min: 1, max: 4096 }, default: ParamValue::Int(300), help: "" }];

    fn given(pairs: &[(&str, toml::Value)]) -> BTreeMap<String, toml::Value> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn defaults_ranges_and_unknown_keys() {
        assert_eq!(resolve_model_params("m", SPECS, &given(&[])).unwrap().int("width"), 300);
        assert_eq!(resolve_model_params("m", SPECS, &given(&[("width", toml::Value::Integer(8))])).unwrap().int("width"), 8);
        let e = resolve_model_params("m", SPECS, &given(&[("width", toml::Value::Integer(0))])).unwrap_err().to_string();
        assert_eq!(e, "config: [model] `m`: parameter `width` = 0 is out of range; valid range is [1, 4096] (integer)");
        let e = resolve_model_params("m", SPECS, &given(&[("depth", toml::Value::Integer(3))])).unwrap_err().to_string();
        assert!(e.contains("unknown parameter `depth` (valid: width)"), "{e}");
        let e = resolve_model_params("m", SPECS, &given(&[("width", toml::Value::Float(2.5))])).unwrap_err().to_string();
        assert!(e.contains("wrong type: an integer expected"), "{e}");
        let e = resolve_model_params("m", &[], &given(&[("width", toml::Value::Integer(3))])).unwrap_err().to_string();
        assert!(e.contains("(valid: none)"), "{e}");
    }
}
