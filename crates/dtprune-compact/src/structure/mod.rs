//! Structure dependencies and dead-structure removal.
//!
//! The unit of removal is a unit of a *channel group* ([`groups`]): the channels (or neurons) a
//! set of tensor slices shares — the **producers** that compute unit `u` (weight rows), the
//! **followers** that go with it (biases, BatchNorm γ/β/statistics) and the **consumers** that
//! read it (weight columns) — through parameter-free ops (relu, pooling, flatten, identity) and
//! residual adds, which tie the channels of all their inputs into one group. Removing unit `u`
//! removes its slice from every member at once, which keeps the network well-formed by
//! construction. [`remove`] decides which units are dead (and which residual blocks are all
//! zero) after [`fold`] has folded BatchNorms into their convs.

pub mod fold;
pub mod groups;
pub mod remove;

use serde::{Deserialize, Serialize};

pub use fold::fold_batchnorms;
pub use groups::{channel_groups, residual_blocks, ChannelGroup, GroupMember, MemberRole, ResidualBlock};
pub use remove::remove_dead_structure;

/// Parameter-free ops between producer and consumers; a constant unit stays constant through
/// them (or, for a future op that breaks that, `propagate` returns `None` and nothing folds).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathOp {
    Relu,
    MaxPool,
    Flatten,
}

impl PathOp {
    pub fn propagate(ops: &[PathOp], mut c: f32) -> Option<f32> {
        for op in ops {
            c = match op {
                PathOp::Relu => c.max(0.0),
                PathOp::MaxPool | PathOp::Flatten => c,
            };
        }
        Some(c)
    }
}

/// What happened to one channel space.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SpaceReport {
    pub layer: String,
    pub units_before: usize,
    pub units_after: usize,
    /// Removed because nothing downstream reads them.
    pub removed_dead_output: usize,
    /// Removed because they output a constant, now folded into the consumers' biases.
    pub removed_constant_folded: usize,
    /// Constant units that stay because a consumer cannot absorb them exactly (padded conv).
    pub kept_constant: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StructureReport {
    /// One entry per channel group with a producer (named after it), in node order.
    pub spaces: Vec<SpaceReport>,
    /// BatchNorms folded into the conv before them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folded_batchnorms: Vec<String>,
    /// Residual blocks whose branch was all zero and is gone (the add passes the shortcut).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed_blocks: Vec<String>,
    /// Passes until nothing changed.
    pub passes: usize,
}

impl StructureReport {
    pub fn removed_units(&self) -> usize {
        self.spaces
            .iter()
            .map(|s| s.units_before - s.units_after)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Graph, Layer};
    use crate::model::DenseModel;
    use crate::tensor_io::Tensor;
    use std::collections::BTreeMap;

    fn mlp(ws: &[(usize, usize)]) -> Graph {
        let mut layers = Vec::new();
        for (i, &(inp, out)) in ws.iter().enumerate() {
            if i > 0 {
                layers.push(Layer::Relu);
            }
            layers.push(Layer::Linear {
                name: format!("fc{}", i + 1),
                in_features: inp,
                out_features: out,
                bias: true,
            });
        }
        Graph::chain("t", vec![ws[0].0], None, layers)
    }

    fn t(shape: &[usize], d: &[f32]) -> Tensor {
        Tensor::new(shape.to_vec(), d.to_vec())
    }

    /// 3 -> 4 (relu) -> 2. Hidden unit 0: dead incoming, bias 2 (constant relu(2) = 2).
    /// Hidden unit 1: dead outgoing. Hidden unit 2: dead incoming with bias -1 (relu -> 0).
    /// Hidden unit 3: alive.
    #[test]
    fn hand_built_mlp_counts_and_folds() {
        let mut params = BTreeMap::new();
        params.insert(
            "fc1.weight".into(),
            t(&[4, 3], &[0., 0., 0., 1., 2., 3., 0., 0., 0., 1., -1., 1.]),
        );
        params.insert("fc1.bias".into(), t(&[4], &[2., 5., -1., 0.5]));
        params.insert(
            "fc2.weight".into(),
            t(&[2, 4], &[1., 0., 7., 2., 3., 0., 1., -1.]),
        );
        params.insert("fc2.bias".into(), t(&[2], &[0.1, 0.2]));
        let mut m = DenseModel {
            graph: mlp(&[(3, 4), (4, 2)]),
            params,
        };
        let before = m.dense_network().unwrap();
        let x = [0.3, -0.7, 1.1];
        let y0 = before.forward(&x, 1).unwrap();

        let r = remove_dead_structure(&mut m).unwrap();
        let s = &r.spaces[0];
        assert_eq!((s.units_before, s.units_after), (4, 1));
        assert_eq!(s.removed_dead_output, 1);
        assert_eq!(s.removed_constant_folded, 2);
        assert_eq!(r.spaces[1].units_after, 2, "output units are never removed");
        assert_eq!(m.params["fc1.weight"].data, vec![1., -1., 1.]);
        assert_eq!(m.params["fc2.weight"].data, vec![2., -1.]);
        // fc2.bias += W[:,0] * 2 + W[:,2] * relu(-1) = [0.1 + 2, 0.2 + 6]
        assert_eq!(m.params["fc2.bias"].data, vec![2.1, 6.2]);
        let y1 = m.dense_network().unwrap().forward(&x, 1).unwrap();
        for (a, b) in y0.iter().zip(&y1) {
            assert!((a - b).abs() < 1e-6);
        }
        match &m.graph.nodes[0].op {
            Layer::Linear { out_features, .. } => assert_eq!(*out_features, 1),
            _ => unreachable!(),
        }
    }

    /// Removing a unit downstream can kill one upstream: fc2 unit 0 only reads hidden fc1 unit 0;
    /// once fc3 ignores fc2 unit 0 (dead output), fc1 unit 0 loses its only reader.
    #[test]
    fn removal_cascades_to_fixpoint() {
        let mut params = BTreeMap::new();
        params.insert("fc1.weight".into(), t(&[2, 2], &[1., 1., 1., -1.]));
        params.insert("fc1.bias".into(), t(&[2], &[0., 0.]));
        params.insert("fc2.weight".into(), t(&[2, 2], &[1., 0., 0., 1.]));
        params.insert("fc2.bias".into(), t(&[2], &[0., 0.]));
        params.insert("fc3.weight".into(), t(&[1, 2], &[0., 1.]));
        params.insert("fc3.bias".into(), t(&[1], &[0.]));
        let mut m = DenseModel {
            graph: mlp(&[(2, 2), (2, 2), (2, 1)]),
            params,
        };
        let r = remove_dead_structure(&mut m).unwrap();
        assert_eq!(r.spaces[0].units_after, 1);
        assert_eq!(r.spaces[1].units_after, 1);
        assert!(r.passes >= 2);
    }

    #[test]
    fn never_empties_a_layer() {
        let mut params = BTreeMap::new();
        params.insert("fc1.weight".into(), t(&[2, 2], &[0.; 4]));
        params.insert("fc1.bias".into(), t(&[2], &[1., 2.]));
        params.insert("fc2.weight".into(), t(&[1, 2], &[1., 1.]));
        params.insert("fc2.bias".into(), t(&[1], &[0.]));
        let mut m = DenseModel {
            graph: mlp(&[(2, 2), (2, 1)]),
            params,
        };
        let y0 = m.dense_network().unwrap().forward(&[5., 6.], 1).unwrap();
        let r = remove_dead_structure(&mut m).unwrap();
        assert_eq!(r.spaces[0].units_after, 1);
        let y1 = m.dense_network().unwrap().forward(&[5., 6.], 1).unwrap();
        assert_eq!(y0, y1);
    }
}
