//! Baseline: gradual magnitude pruning with the cubic schedule of Zhu & Gupta (2017),
//! `s_t = s_f + (s_i − s_f)(1 − (t − t0)/(n·Δt))^3`, with the meaning of TF-MOT's
//! `PolynomialDecay(initial_sparsity, final_sparsity, begin_step, end_step, power, frequency)`.

use super::threshold::{prune_all_below, thresholds_for_sparsity, Scope, SCOPE};
use super::{Decision, Observation, PolicyInfo, ThresholdPolicy};
use crate::params::{ParamKind, ParamSpec, ParamValue};

pub const INFO: PolicyInfo = PolicyInfo {
    name: "gmp",
    family: "baseline",
    summary: "gradual magnitude pruning, Zhu & Gupta cubic schedule (TF-MOT PolynomialDecay)",
    params: &[
        ParamSpec {
            name: "initial_sparsity",
            kind: ParamKind::Float { min: 0.0, max: 0.999, open_min: false },
            default: ParamValue::Float(0.0),
            help: "s_i, sparsity at begin_step",
        },
        ParamSpec {
            name: "final_sparsity",
            kind: ParamKind::Float { min: 0.0, max: 0.999, open_min: false },
            default: ParamValue::Float(0.9),
            help: "s_f, sparsity from end_step on",
        },
        ParamSpec {
            name: "begin_step",
            kind: ParamKind::Int { min: 0, max: i64::MAX },
            default: ParamValue::Int(0),
            help: "t0, first step of the schedule",
        },
        ParamSpec {
            name: "end_step",
            kind: ParamKind::Int { min: -1, max: i64::MAX },
            default: ParamValue::Int(-1),
            help: "last step of the schedule (-1: 60% of all training steps)",
        },
        ParamSpec {
            name: "power",
            kind: ParamKind::Float { min: 0.0, max: 10.0, open_min: true },
            default: ParamValue::Float(3.0),
            help: "exponent of the decay (3 in Zhu & Gupta)",
        },
        ParamSpec {
            name: "frequency",
            kind: ParamKind::Int { min: 1, max: i64::MAX },
            default: ParamValue::Int(100),
            help: "Δt, prune every this many steps",
        },
        SCOPE,
    ],
    build: |p| {
        let s = Gmp {
            initial: p.float("initial_sparsity"),
            final_: p.float("final_sparsity"),
            begin_step: p.int("begin_step") as usize,
            end_step: (p.int("end_step") >= 0).then(|| p.int("end_step") as usize),
            power: p.float("power"),
            frequency: p.int("frequency") as usize,
            scope: Scope::from_params(p),
        };
        if s.initial > s.final_ {
            return Err(p.invalid(format!(
                "initial_sparsity {} is above final_sparsity {}; the schedule only increases sparsity",
                s.initial, s.final_
            )));
        }
        if let Some(end) = s.end_step {
            if end <= s.begin_step {
                return Err(p.invalid(format!("end_step {end} must be after begin_step {}", s.begin_step)));
            }
        }
        Ok(Box::new(s))
    },
};

pub struct Gmp {
    initial: f64,
    final_: f64,
    begin_step: usize,
    end_step: Option<usize>,
    power: f64,
    frequency: usize,
    scope: Scope,
}

impl Gmp {
    /// s_t of the schedule at `step`, with the end step resolved.
    pub fn sparsity_at(&self, step: usize, end_step: usize) -> f64 {
        if step <= self.begin_step {
            return self.initial;
        }
        if step >= end_step {
            return self.final_;
        }
        let progress = (step - self.begin_step) as f64 / (end_step - self.begin_step) as f64;
        self.final_ + (self.initial - self.final_) * (1.0 - progress).powf(self.power)
    }
}

impl ThresholdPolicy for Gmp {
    fn supports_rollback(&self) -> bool {
        false
    }

    fn name(&self) -> &str {
        "gmp"
    }

    fn step_interval(&self) -> Option<usize> {
        Some(self.frequency)
    }

    fn decide(&mut self, obs: &Observation) -> Option<Decision> {
        let end = self.end_step.unwrap_or(obs.total_steps() * 3 / 5).max(self.begin_step + 1);
        // The trainer asks only at multiples of `frequency`, so an end step between two of them
        // is never seen: the first epoch end past it brings the schedule to its final sparsity.
        let overdue = obs.epoch_end && obs.step >= end && obs.sparsity() < self.final_;
        let on_schedule = !obs.epoch_end && obs.step >= self.begin_step && (obs.step - self.begin_step) % self.frequency == 0 && obs.step <= end;
        if !(on_schedule || overdue) {
            return None;
        }
        let s = self.sparsity_at(obs.step, end);
        let taus = thresholds_for_sparsity(obs.tensors, s, self.scope);
        Some(prune_all_below(obs.tensors, &taus, &format!("gmp schedule: s_t = {:.2}% at step {}", s * 100.0, obs.step)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cubic_schedule_by_hand() {
        let g = Gmp {
            initial: 0.0,
            final_: 0.8,
            begin_step: 100,
            end_step: Some(300),
            power: 3.0,
            frequency: 10,
            scope: Scope::Global,
        };
        assert_eq!(g.sparsity_at(50, 300), 0.0);
        // halfway: 0.8 + (0 - 0.8) * 0.5^3 = 0.8 - 0.1 = 0.7
        assert!((g.sparsity_at(200, 300) - 0.7).abs() < 1e-12);
        // a quarter: 0.8 - 0.8 * 0.75^3 = 0.8 - 0.3375 = 0.4625
        assert!((g.sparsity_at(150, 300) - 0.4625).abs() < 1e-12);
        assert_eq!(g.sparsity_at(400, 300), 0.8);
    }

    #[test]
    fn reaches_the_final_sparsity_at_the_epoch_end_past_an_unaligned_end_step() {
        use crate::policy::testing::{obs, Fixture};
        let values: Vec<f32> = (1..=100).map(|v| v as f32).collect();
        let mut f = Fixture::new(vec![("a", vec![100], values)]);
        // end step 250 is not a multiple of the frequency (100): never seen as a step event
        let mut g = Gmp { initial: 0.0, final_: 0.8, begin_step: 0, end_step: Some(250), power: 3.0, frequency: 100, scope: Scope::Global };
        let mut at_200 = obs(2, 0.9, 0.9, &[]);
        at_200.epoch_end = false;
        // 0.8 - 0.8 * (1 - 200/250)^3 = 0.7936 -> 79 of 100 pruned
        let views = f.views();
        let d = g.decide(&Observation { tensors: &views, ..at_200 }).unwrap();
        assert_eq!(d.tensors[0].mask.pruned(), 79);
        f.apply(&d);
        // the epoch end at step 200, before the end step: nothing
        assert!(g.decide(&obs(2, 0.9, 0.9, &f.views())).is_none());
        // the first epoch end past it (step 300): s_f, 80 pruned
        let d = g.decide(&obs(3, 0.9, 0.9, &f.views())).unwrap();
        assert_eq!(d.tensors[0].mask.pruned(), 80);
        f.apply(&d);
        assert!(g.decide(&obs(4, 0.9, 0.9, &f.views())).is_none(), "at s_f: done");
    }

    #[test]
    fn rejects_decreasing_schedule() {
        let p = crate::policy::testing::params(
            &INFO,
            &[("initial_sparsity", toml::Value::Float(0.5)), ("final_sparsity", toml::Value::Float(0.2))],
        );
        let e = (INFO.build)(&p).err().unwrap();
        assert!(e.to_string().contains("initial_sparsity 0.5 is above final_sparsity 0.2"), "{e}");
    }
}
