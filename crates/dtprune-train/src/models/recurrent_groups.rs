//! The structured units of the recurrent classifiers (`lstm`, `gru`): a **hidden unit** `u` of
//! layer `l` is one group (`rnn.l.hidden`), with, in PyTorch layout (`[out, in]` for a Linear
//! weight), for every gate `g` of the layer:
//!
//! - row `u` of `rnn.l.g.input_transform.weight` and of `rnn.l.g.hidden_transform.weight`
//!   (producers: they compute the unit's gate pre-activations) and entry `u` of both biases
//!   (followers: masked with the unit, never pruned by magnitude);
//! - column `u` of `rnn.l.g.hidden_transform.weight` (consumer: every unit's gates read the
//!   unit's previous state; the same tensor is a producer along the other axis);
//!
//! and column `u` of every gate's `input_transform` of layer `l + 1` or, for the last layer, of
//! the classifier `fc` (consumers: the layer's output is their input).
//!
//! Why masking every slice makes a removed unit exactly zero: with its rows and biases zero,
//! each of its gate pre-activations is 0 at every step, so an LSTM unit has i = f = o = σ(0) = ½
//! and candidate g = tanh(0) = 0: its cell c_t = ½·c_{t-1} + ½·0 stays 0 from c_0 = 0 and its
//! output h_t = ½·tanh(0) = 0; a GRU unit has z = r = ½ and n = tanh(0 + ½·0) = 0, so
//! h_t = ½·n + ½·h_{t-1} stays 0 from h_0 = 0. A zero state adds nothing to any reader, so the
//! unit cut out ([`super::recurrent_shrink`]) gives the same outputs; the consumer columns are
//! masked as well so that no weight is spent on a unit that is gone.

use super::recurrent::RecurrentClassifier;
use dtprune_prune::{GroupMember, MemberRole, StructureGroup};

/// One group per layer, `rnn.0.hidden`, `rnn.1.hidden`, …
pub fn groups<M: RecurrentClassifier>(model: &M) -> Vec<StructureGroup> {
    hidden_unit_groups(&model.gates(), &model.hidden_sizes())
}

/// The hidden-unit groups of a stack whose layer `l` has `hidden[l]` units and the gates
/// `gates` (field names), read by `fc`.
pub fn hidden_unit_groups(gates: &[&str], hidden: &[usize]) -> Vec<StructureGroup> {
    use MemberRole::{Consumer, Follower, Producer};
    let member = |tensor: String, axis: usize, role: MemberRole| GroupMember { tensor, axis, span: 1, role, offset: None };
    (0..hidden.len())
        .map(|l| {
            let mut members = Vec::new();
            for g in gates {
                let t = |s: &str| format!("rnn.{l}.{g}.{s}");
                members.push(member(t("input_transform.weight"), 0, Producer));
                members.push(member(t("input_transform.bias"), 0, Follower));
                members.push(member(t("hidden_transform.weight"), 0, Producer));
                members.push(member(t("hidden_transform.bias"), 0, Follower));
                members.push(member(t("hidden_transform.weight"), 1, Consumer));
            }
            if l + 1 < hidden.len() {
                members.extend(gates.iter().map(|g| member(format!("rnn.{}.{g}.input_transform.weight", l + 1), 1, Consumer)));
            } else {
                members.push(member("fc.weight".into(), 1, Consumer));
            }
            StructureGroup { name: format!("rnn.{l}.hidden"), units: hidden[l], removable: true, members }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::speech::SequenceInfo;
    use crate::model::Model;
    use crate::models::{GruClassifier, LstmClassifier};
    use crate::params::list_params;
    use burn::prelude::*;
    use std::collections::BTreeMap;

    fn roles(g: &StructureGroup) -> Vec<String> {
        g.members.iter().map(|m| format!("{}@{}:{:?}", m.tensor, m.axis, m.role)).collect()
    }

    /// Two layers of 3 and 2 units with one gate `a`: every slice written out by hand.
    #[test]
    fn a_hidden_unit_is_its_rows_biases_recurrent_column_and_its_readers_columns() {
        let groups = hidden_unit_groups(&["a"], &[3, 2]);
        assert_eq!(groups.len(), 2);
        assert_eq!((groups[0].name.as_str(), groups[0].units, groups[0].removable), ("rnn.0.hidden", 3, true));
        assert_eq!(
            roles(&groups[0]),
            [
                "rnn.0.a.input_transform.weight@0:Producer",
                "rnn.0.a.input_transform.bias@0:Follower",
                "rnn.0.a.hidden_transform.weight@0:Producer",
                "rnn.0.a.hidden_transform.bias@0:Follower",
                "rnn.0.a.hidden_transform.weight@1:Consumer",
                "rnn.1.a.input_transform.weight@1:Consumer",
            ]
        );
        assert_eq!((groups[1].name.as_str(), groups[1].units), ("rnn.1.hidden", 2));
        assert_eq!(roles(&groups[1]).last().map(String::as_str), Some("fc.weight@1:Consumer"));
        assert_eq!(groups[1].members.len(), 6);
    }

    fn model_params(name: &str, specs: &[dtprune_prune::params::ParamSpec]) -> crate::model_params::ModelParams {
        let given: BTreeMap<String, toml::Value> = [("hidden", 5), ("layers", 2)].into_iter().map(|(k, v)| (k.to_string(), toml::Value::Integer(v))).collect();
        crate::model_params::resolve_model_params(name, specs, &given).unwrap()
    }

    /// Every member names a real tensor whose axis holds one entry per unit (PyTorch layout):
    /// LSTM 4 gates × 5 slices + 4 readers per lower layer, GRU 3 gates.
    #[test]
    fn lstm_and_gru_groups_fit_their_tensors() {
        let device = Device::flex();
        let info = SequenceInfo { frames: 4, features: 3, classes: 10 };
        let lstm = LstmClassifier::init(info, &model_params("lstm", LstmClassifier::params()), &device);
        let gru = GruClassifier::init(info, &model_params("gru", GruClassifier::params()), &device);
        for (groups, params, per_layer) in [(lstm.structure_groups(), list_params(&lstm), [24, 21]), (gru.structure_groups(), list_params(&gru), [18, 16])] {
            assert_eq!(groups.iter().map(|g| (g.name.as_str(), g.units)).collect::<Vec<_>>(), [("rnn.0.hidden", 5), ("rnn.1.hidden", 5)]);
            assert_eq!(groups.iter().map(|g| g.members.len()).collect::<Vec<_>>(), per_layer);
            for g in &groups {
                for m in &g.members {
                    let p = params.iter().find(|p| p.name == m.tensor).unwrap_or_else(|| panic!("no tensor {}", m.tensor));
                    assert_eq!(p.torch_shape()[m.axis], g.units, "{} axis {}", m.tensor, m.axis);
                }
            }
        }
        assert!(lstm.structure_groups()[0].members.iter().any(|m| m.tensor == "rnn.0.forget_gate.hidden_transform.bias"));
    }
}
