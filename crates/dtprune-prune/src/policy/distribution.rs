//! Distribution-based policy: τ follows each tensor's current weight distribution,
//! τ = mean|w| + c·std|w|, recomputed at every epoch end. With `regrowth`, the trainer keeps a
//! dense shadow of the weights (Dynamic Network Surgery) and a hysteresis band lets masked
//! weights come back: a weight is pruned when |w| < τ and regrown when |w| > τ·(1 + band);
//! in between it keeps its state, so weights near τ do not flip every epoch.

use super::threshold::{abs_mean_std_kept, thresholds_for_sparsity, Scope};
use super::{prune_below, Decision, Observation, PolicyInfo, TensorDecision, ThresholdPolicy};
use crate::mask::Mask;
use crate::params::{ParamKind, ParamSpec, ParamValue};
use crate::stats::mean_std;

pub const INFO: PolicyInfo = PolicyInfo {
    name: "distribution",
    family: "distribution",
    summary: "tau = mean|w| + c*std|w| per tensor, each epoch; optional regrowth with a hysteresis band",
    params: &[
        ParamSpec {
            name: "c",
            kind: ParamKind::Float { min: -3.0, max: 10.0, open_min: false },
            default: ParamValue::Float(-0.5),
            help: "tau = mean|w| + c * std|w| of the tensor's weights",
        },
        ParamSpec {
            name: "begin_epoch",
            kind: ParamKind::Int { min: 1, max: 100_000 },
            default: ParamValue::Int(1),
            help: "first epoch at whose end to prune",
        },
        ParamSpec {
            name: "target_sparsity",
            kind: ParamKind::Float { min: 0.0, max: 0.999, open_min: false },
            default: ParamValue::Float(0.9),
            help: "stop raising tau once the overall sparsity reaches this (0: no target)",
        },
        ParamSpec {
            name: "regrowth",
            kind: ParamKind::Bool,
            default: ParamValue::Bool(false),
            help: "let masked weights come back (dense shadow weights keep training)",
        },
        ParamSpec {
            name: "band",
            kind: ParamKind::Float { min: 0.0, max: 1.0, open_min: false },
            default: ParamValue::Float(0.1),
            help: "hysteresis: regrow when |w| > tau * (1 + band) (with regrowth)",
        },
    ],
    build: |p| {
        Ok(Box::new(DistributionPolicy {
            c: p.float("c"),
            begin_epoch: p.int("begin_epoch") as usize,
            target: p.float("target_sparsity"),
            regrowth: p.bool("regrowth"),
            band: p.float("band"),
        }))
    },
};

pub struct DistributionPolicy {
    c: f64,
    begin_epoch: usize,
    target: f64,
    regrowth: bool,
    band: f64,
}

impl DistributionPolicy {
    /// With regrowth the whole shadow tensor is the population (masked weights still train);
    /// without it, only the surviving weights.
    fn tau(&self, t: &super::TensorView) -> f32 {
        let (mean, std) = if self.regrowth {
            let (n, s, s2) = t.values.iter().fold((0usize, 0f64, 0f64), |(n, s, s2), &v| {
                let a = f64::from(v.abs());
                (n + 1, s + a, s2 + a * a)
            });
            mean_std(n, s, s2)
        } else {
            abs_mean_std_kept(t)
        };
        distribution_tau(mean, std, self.c)
    }
}

/// τ = mean|w| + c·std|w|, never negative.
pub(crate) fn distribution_tau(mean: f64, std: f64, c: f64) -> f32 {
    (mean + c * std).max(0.0) as f32
}

impl ThresholdPolicy for DistributionPolicy {
    fn name(&self) -> &str {
        "distribution"
    }

    fn allows_regrowth(&self) -> bool {
        self.regrowth
    }

    fn decide(&mut self, obs: &Observation) -> Option<Decision> {
        if !obs.epoch_end || obs.epoch < self.begin_epoch {
            return None;
        }
        let at_target = self.target > 0.0 && obs.sparsity() >= self.target;
        if at_target && !self.regrowth {
            return None;
        }
        let caps = (self.target > 0.0).then(|| thresholds_for_sparsity(obs.tensors, self.target, Scope::PerTensor));
        let tensors = obs
            .tensors
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let raw = self.tau(t);
                let tau = caps.as_ref().map_or(raw, |c| raw.min(c[i]));
                let reason = format!("tau = mean|w| + {} * std|w| = {raw:.5}{}", self.c, if tau < raw { " (capped at target sparsity)" } else { "" });
                let mask = if self.regrowth {
                    let hi = tau * (1.0 + self.band as f32);
                    let keep = t
                        .values
                        .iter()
                        .enumerate()
                        .map(|(j, &v)| if v.abs() < tau { false } else if v.abs() > hi { true } else { t.mask.keeps(j) })
                        .collect();
                    Mask::from_keep(keep)
                } else {
                    prune_below(t, tau)
                };
                TensorDecision { threshold: Some(tau), mask, reason }
            })
            .collect();
        Some(Decision::new(tensors))
    }

    fn on_rollback(&mut self) {
        self.c -= 0.5;
    }

    fn state(&self) -> serde_json::Value {
        serde_json::json!({ "c": self.c })
    }

    fn restore_state(&mut self, state: &serde_json::Value) -> Result<(), String> {
        self.c = super::state_field(state, "c")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testing::{obs, params, Fixture};

    #[test]
    fn mean_plus_c_std() {
        // |w| = 1,2,3,4: mean 2.5, std sqrt(1.25) = 1.118; c = -1 -> tau = 1.382: prunes 1
        let f = Fixture::new(vec![("a", vec![4], vec![1.0, -2.0, 3.0, 4.0])]);
        let p = params(&INFO, &[("c", toml::Value::Float(-1.0)), ("target_sparsity", toml::Value::Float(0.0))]);
        let mut pol = (INFO.build)(&p).unwrap();
        let d = pol.decide(&obs(1, 0.9, 0.9, &f.views())).unwrap();
        let tau = d.tensors[0].threshold.unwrap();
        assert!((tau - (2.5 - 1.25f32.sqrt())).abs() < 1e-6);
        assert_eq!(d.tensors[0].mask.to_f32(), vec![0.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn hysteresis_regrows_only_above_band() {
        // shadow values 1, 2, 3, 4 with the 2nd and 4th masked; c = 0: tau = 2.5, band 0.5 -> 3.75
        let mut f = Fixture::new(vec![("a", vec![4], vec![1.0, 2.0, 3.0, 4.0])]);
        f.masks[0] = Mask::from_f32(&[1.0, 0.0, 1.0, 0.0]);
        let p = params(
            &INFO,
            &[("c", toml::Value::Float(0.0)), ("regrowth", toml::Value::Boolean(true)), ("band", toml::Value::Float(0.5)), ("target_sparsity", toml::Value::Float(0.0))],
        );
        let mut pol = (INFO.build)(&p).unwrap();
        assert!(pol.allows_regrowth());
        let d = pol.decide(&obs(1, 0.9, 0.9, &f.views())).unwrap();
        // 1 < tau: pruned; 2 < tau: stays pruned; 3 in band: keeps its state (kept); 4 > 3.75: regrown
        assert_eq!(d.tensors[0].mask.to_f32(), vec![0.0, 0.0, 1.0, 1.0]);
    }
}
