//! Dynamic Network Surgery (Guo, Yao & Chen 2016): pruning with *splicing*. Every weight keeps a
//! dense shadow value that goes on receiving (straight-through) gradient updates while it is
//! masked, so a weight pruned by mistake can grow back. At each splicing point a band
//! `[a, b] = [(1 − h)·τ, (1 + h)·τ]` around the threshold decides: |w| < a is masked, |w| > b is
//! restored (or stays), and weights inside the band keep their current state, so weights near τ
//! do not flip at every point. Splicing happens every `frequency` steps with a probability that
//! decays over training, `p(t) = (1 + γ·t)^(−power)` (the paper's σ(iter)), so the mask settles
//! and the last epochs fine-tune a fixed network.
//!
//! τ is not a fixed constant as in the paper (whose per-layer `a`, `b` were hand-set): it is
//! recomputed at every splice from the current shadow weights so that the splice leaves exactly
//! the scheduled sparsity `s_t` masked, with `s_t` rising from 0 to `target_sparsity` on Zhu &
//! Gupta's cubic curve until `end_epoch` and constant after it.

use super::importance::{Importance, IMPORTANCE};
use super::signals::Wants;
use super::threshold::{Scope, SCOPE};
use super::{Decision, Observation, PolicyInfo, TensorDecision, ThresholdPolicy};
use crate::mask::Mask;
use crate::params::{ParamKind, ParamSpec, ParamValue};

pub const INFO: PolicyInfo = PolicyInfo {
    name: "surgery",
    family: "distribution",
    summary: "Dynamic Network Surgery: splicing with a hysteresis band around tau, masked weights keep training, splicing probability decays",
    params: &[
        ParamSpec {
            name: "target_sparsity",
            kind: ParamKind::Float { min: 0.0, max: 0.999, open_min: true },
            default: ParamValue::Float(0.9),
            help: "sparsity the splices keep from end_epoch on",
        },
        ParamSpec {
            name: "band",
            kind: ParamKind::Float { min: 0.0, max: 0.9, open_min: false },
            default: ParamValue::Float(0.1),
            help: "hysteresis half-width h: masked below (1-h)*tau, restored above (1+h)*tau, unchanged between",
        },
        ParamSpec {
            name: "end_epoch",
            kind: ParamKind::Int { min: 0, max: 100_000 },
            default: ParamValue::Int(0),
            help: "epoch by whose end the schedule reaches target_sparsity (0: 60% of the epochs)",
        },
        ParamSpec {
            name: "gamma",
            kind: ParamKind::Float { min: 0.0, max: 1.0, open_min: false },
            default: ParamValue::Float(2e-4),
            help: "splicing probability p(t) = (1 + gamma*t)^(-power) at step t",
        },
        ParamSpec {
            name: "power",
            kind: ParamKind::Float { min: 0.0, max: 10.0, open_min: false },
            default: ParamValue::Float(2.0),
            help: "exponent of the splicing probability's decay",
        },
        ParamSpec {
            name: "frequency",
            kind: ParamKind::Int { min: 1, max: i64::MAX },
            default: ParamValue::Int(100),
            help: "a splicing point every this many steps (taken with probability p(t))",
        },
        SCOPE,
        IMPORTANCE,
    ],
    build: |p| {
        Ok(Box::new(Surgery {
            target: p.float("target_sparsity"),
            band: p.float("band"),
            end_epoch: p.int("end_epoch") as usize,
            gamma: p.float("gamma"),
            power: p.float("power"),
            frequency: p.int("frequency") as usize,
            scope: Scope::from_params(p),
            importance: Importance::from_params(p),
        }))
    },
};

pub struct Surgery {
    target: f64,
    band: f64,
    end_epoch: usize,
    gamma: f64,
    power: f64,
    frequency: usize,
    scope: Scope,
    importance: Importance,
}

/// The splicing probability `(1 + γ·t)^(−power)`.
pub fn splice_probability(step: usize, gamma: f64, power: f64) -> f64 {
    (1.0 + gamma * step as f64).powf(-power)
}

/// A uniform draw in [0, 1) that depends only on the step (SplitMix64 of it), so a run is
/// deterministic and resumes exactly without storing a random state.
pub fn step_draw(step: usize) -> f64 {
    let mut z = (step as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Zhu & Gupta's cubic rise from 0 to `target` over `[0, end]`, constant after.
pub fn scheduled_sparsity(step: usize, end: usize, target: f64) -> f64 {
    let progress = (step as f64 / end.max(1) as f64).min(1.0);
    target * (1.0 - (1.0 - progress).powi(3))
}

/// The splice of one weight with band `[a, b]`: below `a` masked, above `b` kept, between as it was.
fn splice(score: f32, kept: bool, a: f32, b: f32) -> bool {
    if score < a {
        false
    } else if score > b {
        true
    } else {
        kept
    }
}

/// Weights a splice with threshold `tau` leaves masked, over several tensors' scores and masks.
#[cfg(test)]
fn masked_after(scores: &[&[f32]], masks: &[&Mask], tau: f32, band: f32) -> usize {
    let (a, b) = ((1.0 - band) * tau, (1.0 + band) * tau);
    scores.iter().zip(masks).map(|(s, m)| s.iter().enumerate().filter(|&(j, &v)| !splice(v, m.keeps(j), a, b)).count()).sum()
}

/// The smallest τ whose splice masks at least `count` of the weights. The masked count,
/// `#{score < a} + #{masked, a ≤ score ≤ b}`, grows with τ (weights only move from "above b"
/// into the band and from the band below a), so a bisection finds it; on sorted copies of all
/// scores and of the masked ones each count is two binary searches.
pub fn tau_for_count(scores: &[&[f32]], masks: &[&Mask], count: usize, band: f32) -> f32 {
    if count == 0 {
        return 0.0;
    }
    let mut all: Vec<f32> = scores.iter().flat_map(|s| s.iter().copied()).collect();
    let mut masked: Vec<f32> = scores.iter().zip(masks).flat_map(|(s, m)| s.iter().enumerate().filter(|&(j, _)| !m.keeps(j)).map(|(_, &v)| v)).collect();
    all.sort_unstable_by(f32::total_cmp);
    masked.sort_unstable_by(f32::total_cmp);
    let below = |v: &[f32], x: f32| v.partition_point(|&s| s < x);
    let at_most = |v: &[f32], x: f32| v.partition_point(|&s| s <= x);
    let masked_at = |tau: f32| {
        let (a, b) = ((1.0 - band) * tau, (1.0 + band) * tau);
        below(&all, a) + at_most(&masked, b).saturating_sub(below(&masked, a))
    };
    let max = all.last().copied().unwrap_or(0.0);
    let (mut lo, mut hi) = (0f32, max / (1.0 - band).max(1e-6) * 1.0001 + f32::MIN_POSITIVE);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if masked_at(mid) >= count {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

impl Surgery {
    fn end_step(&self, obs: &Observation) -> usize {
        let end_epoch = if self.end_epoch == 0 { (obs.epochs * 3 / 5).max(1) } else { self.end_epoch };
        end_epoch * obs.steps_per_epoch
    }

    /// One splice of every tensor at sparsity `s`.
    fn splice_all(&self, obs: &Observation, s: f64, reason: &str) -> Decision {
        let scores: Vec<Vec<f32>> = (0..obs.tensors.len()).map(|i| self.importance.scores(obs, i)).collect();
        let groups: Vec<Vec<usize>> = match self.scope {
            Scope::Global => vec![(0..obs.tensors.len()).collect()],
            Scope::PerTensor => (0..obs.tensors.len()).map(|i| vec![i]).collect(),
        };
        let band = self.band as f32;
        let mut taus = vec![0f32; obs.tensors.len()];
        for g in &groups {
            let s_of: Vec<&[f32]> = g.iter().map(|&i| scores[i].as_slice()).collect();
            let m_of: Vec<&Mask> = g.iter().map(|&i| obs.tensors[i].mask).collect();
            let total: usize = m_of.iter().map(|m| m.len()).sum();
            let count = crate::stream_stats::pruned_count(total, s);
            let tau = tau_for_count(&s_of, &m_of, count, band);
            g.iter().for_each(|&i| taus[i] = tau);
        }
        let tensors = obs
            .tensors
            .iter()
            .zip(&scores)
            .zip(&taus)
            .map(|((t, sc), &tau)| {
                let (a, b) = ((1.0 - band) * tau, (1.0 + band) * tau);
                let keep = sc.iter().enumerate().map(|(j, &v)| splice(v, t.mask.keeps(j), a, b)).collect();
                TensorDecision { threshold: Some(tau), mask: Mask::from_keep(keep), reason: reason.to_string() }
            })
            .collect();
        Decision::new(tensors)
    }
}

impl ThresholdPolicy for Surgery {
    fn name(&self) -> &str {
        "surgery"
    }

    fn step_interval(&self) -> Option<usize> {
        Some(self.frequency)
    }

    fn allows_regrowth(&self) -> bool {
        true
    }

    /// Splicing is its own correction: a weight that mattered grows back through its shadow.
    fn supports_rollback(&self) -> bool {
        false
    }

    fn wants(&self) -> Wants {
        self.importance.wants()
    }

    fn decide(&mut self, obs: &Observation) -> Option<Decision> {
        if obs.epoch_end || obs.step % self.frequency != 0 {
            return None;
        }
        let p = splice_probability(obs.step, self.gamma, self.power);
        let draw = step_draw(obs.step);
        if draw >= p {
            return None;
        }
        let s = scheduled_sparsity(obs.step, self.end_step(obs), self.target);
        let reason = format!(
            "splice at step {} (p = {p:.3}, band ±{:.0}% around tau, {}): {:.2}% masked",
            obs.step,
            self.band * 100.0,
            self.importance.name(),
            s * 100.0
        );
        Some(self.splice_all(obs, s, &reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testing::{obs, params, Fixture};

    #[test]
    fn formulas_by_hand() {
        // p = (1 + 0.001 * 1000)^-2 = 1/4
        assert!((splice_probability(1000, 1e-3, 2.0) - 0.25).abs() < 1e-12);
        assert_eq!(splice_probability(0, 1e-3, 2.0), 1.0);
        // halfway: 0.8 * (1 - 0.5^3) = 0.7
        assert!((scheduled_sparsity(50, 100, 0.8) - 0.7).abs() < 1e-12);
        assert_eq!(scheduled_sparsity(150, 100, 0.8), 0.8);
        let d = step_draw(123);
        assert!((0.0..1.0).contains(&d));
        assert_eq!(d, step_draw(123));
        assert_ne!(d, step_draw(124));
    }

    #[test]
    fn splicing_restores_exactly_the_weights_that_cross_back_over_the_band() {
        // Shadow |w| = 1..10; 1, 2, 3, 6 and 7 masked. tau = 5, band 0.2: [a, b] = [4, 6].
        let mut masks = Mask::ones(10);
        for j in [0, 1, 2, 5, 6] {
            masks.set(j, false);
        }
        let scores: Vec<f32> = (1..=10).map(|v| v as f32).collect();
        let (a, b) = (4.0, 6.0);
        let keep: Vec<bool> = scores.iter().enumerate().map(|(j, &v)| splice(v, masks.keeps(j), a, b)).collect();
        // 1-3 below a: masked; 4 (= a, in the band) kept as it was; 5 kept; 6 (= b) stays
        // masked; 7 > b: restored; 8-10 kept.
        assert_eq!(keep, vec![false, false, false, true, true, false, true, true, true, true]);
        // The smallest τ that masks 4 weights: 1-3 are below a from τ > 3.75 on, but the 4th
        // only comes when b = 1.2 τ reaches the masked 6, at τ = 5 (band [4, 6]).
        let tau = tau_for_count(&[&scores], &[&masks], 4, 0.2);
        assert!((tau - 5.0).abs() < 1e-4, "{tau}");
        assert_eq!(masked_after(&[&scores], &[&masks], tau, 0.2), 4);
        assert!(masked_after(&[&scores], &[&masks], tau * 0.999, 0.2) < 4);
    }

    #[test]
    fn splices_on_schedule_with_shadow_weights() {
        let values: Vec<f32> = (1..=100).map(|v| v as f32).collect();
        let f = Fixture::new(vec![("a", vec![100], values)]);
        // 10 epochs of 100 steps, end at epoch 6 (step 600); probability 1 (gamma 0).
        let p = params(&INFO, &[("target_sparsity", toml::Value::Float(0.8)), ("gamma", toml::Value::Float(0.0)), ("band", toml::Value::Float(0.0))]);
        let mut pol = (INFO.build)(&p).unwrap();
        assert!(pol.allows_regrowth() && !pol.supports_rollback());
        let views = f.views();
        let mut step = obs(4, f64::NAN, 0.9, &views);
        step.epoch_end = false;
        // step 300 of 600: 0.8 * (1 - 0.5^3) = 0.7 -> 70 masked, tau = the 71st magnitude
        let d = pol.decide(&Observation { step: 300, ..step }).unwrap();
        assert_eq!(d.tensors[0].mask.pruned(), 70);
        assert!(d.tensors[0].threshold.unwrap() > 70.0 && d.tensors[0].threshold.unwrap() <= 71.0);
        assert!(pol.decide(&Observation { step: 350, ..step }).is_none(), "not a splicing point");
        assert!(pol.decide(&obs(4, 0.9, 0.9, &views)).is_none(), "epoch ends do not splice");
    }
}
