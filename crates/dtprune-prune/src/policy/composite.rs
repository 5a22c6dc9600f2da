//! Composition: a structure policy together with a weight-level policy (`structure+performance`).
//! Masks are intersected — a weight survives only if every member keeps it.

use super::{Decision, Observation, TensorDecision, ThresholdPolicy};

pub struct Composite {
    name: String,
    members: Vec<Box<dyn ThresholdPolicy>>,
}

impl Composite {
    pub fn new(name: String, members: Vec<Box<dyn ThresholdPolicy>>) -> Self {
        Self { name, members }
    }
}

impl ThresholdPolicy for Composite {
    fn name(&self) -> &str {
        &self.name
    }

    fn step_interval(&self) -> Option<usize> {
        self.members.iter().filter_map(|m| m.step_interval()).min()
    }

    fn allows_regrowth(&self) -> bool {
        // A regrowing member would resurrect what a pruning member removed; regrowth only when all agree.
        self.members.iter().all(|m| m.allows_regrowth())
    }

    fn wants(&self) -> super::Wants {
        self.members.iter().fold(super::Wants::default(), |all, m| all.union(m.wants()))
    }

    fn supports_rollback(&self) -> bool {
        self.members.iter().any(|m| m.supports_rollback())
    }

    fn decide(&mut self, obs: &Observation) -> Option<Decision> {
        let decisions: Vec<Decision> = self.members.iter_mut().filter_map(|m| m.decide(obs)).collect();
        if decisions.is_empty() {
            return None;
        }
        let tensors = obs
            .tensors
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut out = TensorDecision { threshold: None, mask: t.mask.clone(), reason: String::new() };
                for d in &decisions {
                    let di = &d.tensors[i];
                    out.mask = out.mask.and(&di.mask);
                    out.threshold = di.threshold.or(out.threshold);
                    if !out.reason.is_empty() {
                        out.reason.push_str("; ");
                    }
                    out.reason.push_str(&di.reason);
                }
                out
            })
            .collect();
        // Whole structures: whatever any member removes goes (the intersection of masks).
        let mut removals: Vec<_> = decisions.iter().flat_map(|d| d.removals.iter().copied()).collect();
        removals.sort();
        removals.dedup();
        Some(Decision { tensors, removals })
    }

    fn on_rollback(&mut self) {
        self.members.iter_mut().for_each(|m| m.on_rollback());
    }

    fn state(&self) -> serde_json::Value {
        serde_json::Value::Array(self.members.iter().map(|m| m.state()).collect())
    }

    fn restore_state(&mut self, state: &serde_json::Value) -> Result<(), String> {
        let parts = state.as_array().filter(|a| a.len() == self.members.len());
        let parts = parts.ok_or_else(|| format!("policy `{}` has {} members, the state is {state}", self.name, self.members.len()))?;
        self.members.iter_mut().zip(parts).try_for_each(|(m, s)| m.restore_state(s))
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::structures::Structures;
    use crate::group::row_groups;
    use crate::policy::testing::{obs, Fixture};
    use crate::policy::{build, Removal};
    use std::collections::BTreeMap;

    #[test]
    fn structure_plus_weight_policy_intersects() {
        let f = Fixture::new(vec![
            ("fc1.weight", vec![3, 2], vec![3.0, 0.5, 0.0, 1.0, 4.0, 3.0]),
            ("fc2.weight", vec![1, 3], vec![1.0, 2.0, 3.0]),
        ]);
        let mut given = BTreeMap::new();
        given.insert("sparsity".to_string(), toml::Value::Float(0.25));
        given.insert("at_epoch".to_string(), toml::Value::Integer(1));
        given.insert("scope".to_string(), toml::Value::String("tensor".into()));
        let (mut pol, record) = build("structure+oneshot", &given).unwrap();
        assert!(record.get("oneshot").is_some());
        let structures = Structures::new(row_groups(&f.specs()), Vec::new());
        let views = f.views();
        let mut o = obs(1, 0.9, 0.9, &views);
        o.structure = structures.view(&views);
        let d = pol.decide(&o).unwrap();
        // structure removes row 1 (norm 1 < 0.5 * mean(3.04, 1, 5)) as a whole unit, which the
        // engine masks; one-shot 25% per tensor: sorted [0, 0.5, 1, 3, 3, 4], tau = index
        // round(1.5) = 2 -> 1.0 prunes 0 and 0.5.
        assert_eq!(d.removals, vec![Removal::Unit { group: 0, unit: 1 }]);
        assert_eq!(d.tensors[0].mask.to_f32(), vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn member_prefixed_params_go_to_one_member() {
        let mut given = BTreeMap::new();
        given.insert("structure.k".to_string(), toml::Value::Float(0.9));
        given.insert("k".to_string(), toml::Value::Float(2.0));
        let (_, record) = build("structure+performance", &given).unwrap();
        assert_eq!(record["structure"]["k"], serde_json::json!(0.9));
        assert_eq!(record["performance"]["k"], serde_json::json!(2.0));
        given.insert("nobody.k".to_string(), toml::Value::Float(0.9));
        assert!(build("structure+performance", &given).is_err());
    }

    #[test]
    fn unknown_param_of_composite() {
        let mut given = BTreeMap::new();
        given.insert("nope".to_string(), toml::Value::Float(0.25));
        let e = build("structure+oneshot", &given).err().unwrap();
        assert!(e.to_string().contains("unknown parameter `nope`"), "{e}");
    }
}
