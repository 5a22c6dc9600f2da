//! Pruning a finished checkpoint: the weight policies applied once, after training, with no
//! model and no run — only tensors, each possibly too large to copy into memory.
//!
//! A policy that reacts to training (validation accuracy, loss, a schedule over steps) has
//! nothing to react to here, so only the policies whose threshold is a function of the weights
//! themselves take part: `oneshot` (τ at a target sparsity), `distribution`
//! (τ = mean|w| + c·std|w|, capped at `target_sparsity`) and `none`. Their parameters keep the
//! names, defaults and ranges of `dtprune policies`; the parameters that only schedule pruning
//! during training (`at_epoch`, `begin_epoch`, `regrowth`, `band`) are refused rather than
//! ignored. One difference from training: `scope` defaults to `tensor` (one threshold per tensor),
//! because a checkpoint's tensors (embeddings, attention, feed-forward) differ in scale.
//!
//! Every statistic is computed from streaming passes ([`crate::stream_stats`]), so memory does
//! not grow with the tensor. As the training engine's guard, no tensor is emptied: τ never
//! exceeds the tensor's largest |w|.

use crate::error::PruneError;
use crate::params::Params;
use crate::policy::distribution::distribution_tau;
use crate::policy::threshold::Scope;
use crate::policy::{self};
use crate::stream_stats::{streamed_magnitude_quantile, AbsMoments};
use std::collections::BTreeMap;

/// A tensor that can be read from start to end as often as needed.
pub trait TensorStream {
    fn name(&self) -> &str;
    /// Calls `sink` with consecutive runs of the tensor's values (as f32), covering each once.
    fn pass(&self, sink: &mut dyn FnMut(&[f32]));
}

/// The policies that run on a checkpoint, with the parameters that matter there.
pub const SUPPORTED: &[(&str, &[&str])] = &[("oneshot", &["sparsity", "scope"]), ("distribution", &["c", "target_sparsity"]), ("none", &[])];

/// τ for one tensor: prune every weight with |w| < τ.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointThreshold {
    pub tau: f32,
    /// How τ was chosen, in words.
    pub reason: String,
    /// The tensor's statistics before pruning.
    pub before: AbsMoments,
}

#[derive(Debug, Clone, PartialEq)]
enum Rule {
    Keep,
    Sparsity { sparsity: f64, scope: Scope },
    Distribution { c: f64, target: f64 },
}

/// A weight policy read for a checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointPolicy {
    name: &'static str,
    rule: Rule,
    params: serde_json::Value,
}

impl CheckpointPolicy {
    /// Builds `name` with raw parameter values (validated as for training).
    pub fn build(name: &str, given: &BTreeMap<String, toml::Value>) -> Result<Self, PruneError> {
        let info = policy::info(name)?;
        let Some(&(_, applies)) = SUPPORTED.iter().find(|(n, _)| *n == name) else {
            let names: Vec<&str> = SUPPORTED.iter().map(|(n, _)| *n).collect();
            return Err(PruneError::Invalid {
                policy: name.into(),
                message: format!("needs a training run to react to ({}); a checkpoint can be pruned with {}", info.summary, names.join(", ")),
            });
        };
        let mut given = given.clone();
        if info.params.iter().any(|s| s.name == "scope") {
            given.entry("scope".into()).or_insert_with(|| toml::Value::String("tensor".into()));
        }
        let params = Params::resolve(info.name, info.params, &given)?;
        if let Some(key) = given.keys().find(|k| !applies.contains(&k.as_str())) {
            let takes = if applies.is_empty() { "no parameters".to_string() } else { applies.join(", ") };
            return Err(params.invalid(format!("parameter `{key}` only matters during training; on a checkpoint it takes {takes}")));
        }
        let rule = match info.name {
            "oneshot" => Rule::Sparsity { sparsity: params.float("sparsity"), scope: Scope::from_params(&params) },
            "distribution" => Rule::Distribution { c: params.float("c"), target: params.float("target_sparsity") },
            _ => Rule::Keep,
        };
        let all = params.to_json();
        let record = applies.iter().filter_map(|k| all.get(*k).map(|v| ((*k).to_string(), v.clone()))).collect();
        Ok(Self { name: info.name, rule, params: serde_json::Value::Object(record) })
    }

    pub fn name(&self) -> &str {
        self.name
    }

    /// The resolved parameters that apply to a checkpoint, for the report.
    pub fn params(&self) -> &serde_json::Value {
        &self.params
    }

    /// The name of the policy's target-sparsity parameter (what `--sparsity` sets), if any.
    pub fn sparsity_param(policy: &str) -> Option<&'static str> {
        match policy {
            "oneshot" => Some("sparsity"),
            "distribution" => Some("target_sparsity"),
            _ => None,
        }
    }

    /// One τ per tensor, in order. Fails on a tensor with NaN or infinite values.
    pub fn thresholds(&self, tensors: &[&dyn TensorStream]) -> Result<Vec<CheckpointThreshold>, PruneError> {
        let before = tensors.iter().map(|t| finite_moments(*t)).collect::<Result<Vec<_>, _>>()?;
        let raw: Vec<(f32, String)> = match self.rule {
            Rule::Keep => tensors.iter().map(|_| (0.0, "policy `none`: nothing pruned".to_string())).collect(),
            Rule::Sparsity { sparsity, scope: Scope::PerTensor } => {
                let reason = format!("one-shot magnitude pruning to {:.1}% (per tensor)", sparsity * 100.0);
                tensors.iter().map(|t| (quantile(&[*t], sparsity), reason.clone())).collect()
            }
            Rule::Sparsity { sparsity, scope: Scope::Global } => {
                let tau = quantile(tensors, sparsity);
                let reason = format!("one-shot magnitude pruning to {:.1}% (one threshold for all selected tensors)", sparsity * 100.0);
                tensors.iter().map(|_| (tau, reason.clone())).collect()
            }
            Rule::Distribution { c, target } => tensors.iter().zip(&before).map(|(t, m)| distribution(*t, m, c, target)).collect(),
        };
        Ok(raw.into_iter().zip(before).map(|((tau, reason), before)| guard(tau, reason, before)).collect())
    }
}

fn finite_moments(t: &dyn TensorStream) -> Result<AbsMoments, PruneError> {
    let m = AbsMoments::of(&mut |sink| t.pass(sink));
    if m.non_finite > 0 {
        return Err(PruneError::Tensor {
            name: t.name().into(),
            message: format!("{} of its {} values are NaN or infinite; a magnitude threshold needs finite weights", m.non_finite, m.n + m.non_finite),
        });
    }
    Ok(m)
}

/// The magnitude quantile over the values of all `tensors` taken together.
fn quantile(tensors: &[&dyn TensorStream], fraction: f64) -> f32 {
    streamed_magnitude_quantile(&mut |sink| tensors.iter().for_each(|t| t.pass(sink)), fraction)
}

/// The distribution policy's τ on a fresh tensor (every weight kept so far), capped at the
/// τ of `target` sparsity as during training.
fn distribution(t: &dyn TensorStream, m: &AbsMoments, c: f64, target: f64) -> (f32, String) {
    let (mean, std) = m.mean_std();
    let raw = distribution_tau(mean, std, c);
    let cap = if target > 0.0 { quantile(&[t], target) } else { f32::INFINITY };
    let capped = if cap < raw { " (capped at target sparsity)" } else { "" };
    (raw.min(cap), format!("tau = mean|w| + {c} * std|w| = {raw:.5}{capped}"))
}

/// No tensor is emptied: τ is at most the largest |w|, which `|w| >= τ` then keeps.
fn guard(tau: f32, reason: String, before: AbsMoments) -> CheckpointThreshold {
    if tau > before.max_abs {
        let reason = format!("{reason}; lowered to max|w| = {} so the tensor keeps its largest weights", before.max_abs);
        CheckpointThreshold { tau: before.max_abs, reason, before }
    } else {
        CheckpointThreshold { tau, reason, before }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Values(&'static str, Vec<f32>);

    impl TensorStream for Values {
        fn name(&self) -> &str {
            self.0
        }
        fn pass(&self, sink: &mut dyn FnMut(&[f32])) {
            self.1.chunks(3).for_each(sink);
        }
    }

    fn given(pairs: &[(&str, toml::Value)]) -> BTreeMap<String, toml::Value> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    fn taus(policy: &str, pairs: &[(&str, toml::Value)], tensors: &[Values]) -> Vec<f32> {
        let p = CheckpointPolicy::build(policy, &given(pairs)).unwrap();
        let views: Vec<&dyn TensorStream> = tensors.iter().map(|t| t as &dyn TensorStream).collect();
        p.thresholds(&views).unwrap().iter().map(|t| t.tau).collect()
    }

    fn two() -> Vec<Values> {
        vec![Values("a", vec![0.1, -0.2, 0.3, 0.4]), Values("b", vec![0.05, -0.5])]
    }

    #[test]
    fn oneshot_per_tensor_by_default() {
        // a: prune 2 of 4 -> 3rd smallest 0.3; b: prune 1 of 2 -> 0.5
        assert_eq!(taus("oneshot", &[("sparsity", toml::Value::Float(0.5))], &two()), vec![0.3, 0.5]);
    }

    #[test]
    fn oneshot_global_scope() {
        // all six: sorted 0.05 0.1 0.2 0.3 0.4 0.5, prune 3 -> 0.3 for both
        let t = taus("oneshot", &[("sparsity", toml::Value::Float(0.5)), ("scope", toml::Value::String("global".into()))], &two());
        assert_eq!(t, vec![0.3, 0.3]);
    }

    #[test]
    fn distribution_mean_plus_c_std_and_cap() {
        // |w| = 1,2,3,4: mean 2.5, std sqrt(1.25); c = -1 -> 1.382 (prunes 1 of 4)
        let t = vec![Values("a", vec![1.0, -2.0, 3.0, 4.0])];
        let tau = taus("distribution", &[("c", toml::Value::Float(-1.0)), ("target_sparsity", toml::Value::Float(0.0))], &t)[0];
        assert!((tau - (2.5 - 1.25f32.sqrt())).abs() < 1e-6);
        // c = 1 -> 3.618, capped by target 0.5 -> the 3rd smallest |w| = 3
        let tau = taus("distribution", &[("c", toml::Value::Float(1.0)), ("target_sparsity", toml::Value::Float(0.5))], &t)[0];
        assert_eq!(tau, 3.0);
    }

    #[test]
    fn never_empties_a_tensor() {
        // 0.999 of 2 rounds to 2 of 2: tau would be inf, lowered to max|w| = 0.5 (keeps it)
        let t = taus("oneshot", &[("sparsity", toml::Value::Float(0.999))], &[Values("b", vec![0.05, -0.5])]);
        assert_eq!(t, vec![0.5]);
        assert_eq!(taus("none", &[], &two()), vec![0.0, 0.0]);
    }

    #[test]
    fn refuses_training_only_things() {
        let e = CheckpointPolicy::build("oneshot", &given(&[("at_epoch", toml::Value::Integer(2))])).unwrap_err();
        assert!(e.to_string().contains("`at_epoch` only matters during training"), "{e}");
        let e = CheckpointPolicy::build("performance", &BTreeMap::new()).unwrap_err();
        assert!(e.to_string().contains("needs a training run") && e.to_string().contains("oneshot, distribution, none"), "{e}");
        let e = CheckpointPolicy::build("oneshot", &given(&[("sparsity", toml::Value::Float(1.5))])).unwrap_err();
        assert!(e.to_string().contains("valid range is [0, 0.999]"), "{e}");
        assert!(CheckpointPolicy::build("nosuch", &BTreeMap::new()).is_err());
    }

    #[test]
    fn nan_is_an_error_naming_the_tensor() {
        let p = CheckpointPolicy::build("oneshot", &BTreeMap::new()).unwrap();
        let t = Values("enc.w", vec![1.0, f32::NAN]);
        let e = p.thresholds(&[&t]).unwrap_err();
        assert!(e.to_string().contains("tensor `enc.w`: 1 of its 2 values are NaN"), "{e}");
    }

    #[test]
    fn records_only_applicable_params() {
        let p = CheckpointPolicy::build("oneshot", &BTreeMap::new()).unwrap();
        assert_eq!(p.params(), &serde_json::json!({ "sparsity": 0.9, "scope": "tensor" }));
    }
}
