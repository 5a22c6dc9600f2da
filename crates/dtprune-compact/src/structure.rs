//! Structure dependencies and dead-structure removal.
//!
//! The unit of removal is a *channel space*: a set of units (neurons, conv channels) that flows
//! from its **producers** (tensor slices that compute unit `u`: weight rows, bias entries) through
//! parameter-free **path ops** (relu, maxpool, flatten) into its **consumers** (tensor slices that
//! read unit `u`: weight columns). Removing unit `u` removes its slice from every producer and
//! consumer at once, which keeps the network well-formed by construction.
//!
//! A slice is "indices along one axis of one tensor", described by [`AxisSlice`] with `sections`
//! (equal sections along the axis, each holding one entry per unit: LSTM gates i,f,g,o are 4
//! sections of `W_ih` rows) and `block` (consecutive entries per unit: a conv channel flattened
//! into H*W linear inputs). Later model families are new derivations of spaces, not new removal
//! code: a residual add is one space with several producers and consumers (tied channels), a
//! BatchNorm after a conv adds its gamma/beta/mean/var as per-unit `params` and an affine path
//! op, attention heads set `group` to the head size so only whole heads go.
//!
//! A unit is removed when
//! * all its consumer slices are zero (its output is never used), or
//! * all its producer weight slices are zero, so it outputs the constant `act(bias)`, and every
//!   consumer can absorb that constant exactly into its own bias (linear: always; conv: only
//!   without padding, since padded borders would see zeros instead of the constant).
//!
//! Removing units can create new dead units upstream/downstream, so passes repeat to a fixpoint.
//! Spaces feeding the model output are never touched, and no space is ever emptied.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::graph::{Graph, Layer};
use crate::model::DenseModel;
use crate::tensor_io::Tensor;

/// Indices along `axis` of `tensor` that belong to each unit of a space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AxisSlice {
    pub tensor: String,
    pub axis: usize,
    /// Equal sections along the axis, each holding `block` entries per unit (gates).
    pub sections: usize,
    /// Consecutive entries per unit within a section (flattened spatial positions).
    pub block: usize,
}

impl AxisSlice {
    pub fn new(tensor: impl Into<String>, axis: usize) -> AxisSlice {
        AxisSlice {
            tensor: tensor.into(),
            axis,
            sections: 1,
            block: 1,
        }
    }

    /// Units described by this slice in a tensor whose axis has length `dim`.
    pub fn units(&self, dim: usize) -> usize {
        dim / (self.sections * self.block)
    }

    /// Axis indices of unit `u`.
    pub fn indices(&self, dim: usize, u: usize) -> impl Iterator<Item = usize> + '_ {
        let sec = dim / self.sections;
        (0..self.sections)
            .flat_map(move |s| (0..self.block).map(move |j| s * sec + u * self.block + j))
    }
}

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

/// A slice of a consumer's weight, and whether a constant input unit folds into its bias exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Consumer {
    /// Columns (axis 1) of the consumer's weight that read the unit.
    pub slice: AxisSlice,
    /// The consumer's bias (one entry per weight row, axis 0).
    pub bias: String,
    pub exact_fold: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelSpace {
    /// Usually the producing layer's name.
    pub name: String,
    /// Weight slices computing each unit; all zero ⇒ the unit is the constant `act(Σ bias)`.
    pub producers: Vec<AxisSlice>,
    /// Per-unit parameters removed with the unit (biases; later BatchNorm statistics).
    pub params: Vec<AxisSlice>,
    /// Bias tensors whose entries sum to a dead-input unit's pre-activation constant.
    pub biases: Vec<String>,
    pub path: Vec<PathOp>,
    pub consumers: Vec<Consumer>,
    /// False for spaces the outside world sees (the model output).
    pub removable: bool,
    /// Units are removed only in whole aligned groups of this size (1 = individually).
    pub group: usize,
}

/// Derives the channel spaces of a sequential graph.
pub fn derive_spaces(graph: &Graph) -> Result<Vec<ChannelSpace>> {
    let shapes = graph.shapes()?;
    let mut spaces = Vec::new();
    let mut open: Option<ChannelSpace> = None;
    let mut block = 1;
    for (i, layer) in graph.layers.iter().enumerate() {
        match layer {
            Layer::Conv2d { name, .. } | Layer::Linear { name, .. } => {
                if let Some(mut sp) = open.take() {
                    let exact_fold = match layer {
                        Layer::Conv2d { padding, .. } => padding == &[0, 0],
                        _ => true,
                    };
                    sp.consumers.push(Consumer {
                        slice: AxisSlice {
                            block,
                            ..AxisSlice::new(format!("{name}.weight"), 1)
                        },
                        bias: format!("{name}.bias"),
                        exact_fold,
                    });
                    spaces.push(sp);
                }
                block = 1;
                open = Some(ChannelSpace {
                    name: name.clone(),
                    producers: vec![AxisSlice::new(format!("{name}.weight"), 0)],
                    params: vec![AxisSlice::new(format!("{name}.bias"), 0)],
                    biases: vec![format!("{name}.bias")],
                    path: vec![],
                    consumers: vec![],
                    removable: true,
                    group: 1,
                });
            }
            Layer::Relu => open.iter_mut().for_each(|s| s.path.push(PathOp::Relu)),
            Layer::Maxpool2d { .. } => open.iter_mut().for_each(|s| s.path.push(PathOp::MaxPool)),
            Layer::Flatten => {
                block = shapes[i].units().1;
                open.iter_mut().for_each(|s| s.path.push(PathOp::Flatten));
            }
        }
    }
    if let Some(mut sp) = open {
        sp.removable = false;
        spaces.push(sp);
    }
    Ok(spaces)
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
    pub spaces: Vec<SpaceReport>,
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

/// `[outer, dim, inner]` view of a tensor around `axis`.
fn split(t: &Tensor, axis: usize) -> (usize, usize, usize) {
    let outer = t.shape[..axis].iter().product();
    let inner = t.shape[axis + 1..].iter().product();
    (outer, t.shape[axis], inner)
}

fn slice_is_zero(t: &Tensor, sl: &AxisSlice, u: usize) -> bool {
    let (outer, dim, inner) = split(t, sl.axis);
    (0..outer).all(|o| {
        sl.indices(dim, u).all(|i| {
            t.data[(o * dim + i) * inner..][..inner]
                .iter()
                .all(|&v| v == 0.0)
        })
    })
}

/// Keeps the entries of `axis` where `keep[i]`.
fn retain_axis(t: &Tensor, axis: usize, keep: &[bool]) -> Tensor {
    let (outer, dim, inner) = split(t, axis);
    let kept = keep.iter().filter(|k| **k).count();
    let mut data = Vec::with_capacity(outer * kept * inner);
    for o in 0..outer {
        for i in (0..dim).filter(|&i| keep[i]) {
            data.extend_from_slice(&t.data[(o * dim + i) * inner..][..inner]);
        }
    }
    let mut shape = t.shape.clone();
    shape[axis] = kept;
    Tensor::new(shape, data)
}

fn axis_keep_mask(sl: &AxisSlice, dim: usize, remove_unit: &[bool]) -> Vec<bool> {
    let mut keep = vec![true; dim];
    for (u, _) in remove_unit.iter().enumerate().filter(|(_, r)| **r) {
        for i in sl.indices(dim, u) {
            keep[i] = false;
        }
    }
    keep
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Fate {
    Keep,
    DeadOutput,
    Fold(f32),
    KeptConstant,
}

/// Removes dead structure in place; returns what was removed per space. The graph's layer sizes
/// are updated to the new tensor shapes and every layer gets a bias (folding may need one).
pub fn remove_dead_structure(model: &mut DenseModel) -> Result<StructureReport> {
    let spaces = derive_spaces(&model.graph)?;
    let mut report = StructureReport {
        spaces: spaces
            .iter()
            .map(|s| {
                let p = &s.producers[0];
                let units = p.units(model.params[&p.tensor].shape[p.axis]);
                SpaceReport {
                    layer: s.name.clone(),
                    units_before: units,
                    units_after: units,
                    ..Default::default()
                }
            })
            .collect(),
        passes: 0,
    };
    loop {
        report.passes += 1;
        let mut changed = false;
        for (sp, rep) in spaces.iter().zip(report.spaces.iter_mut()) {
            let fates = decide(model, sp);
            rep.kept_constant = fates.iter().filter(|f| **f == Fate::KeptConstant).count();
            let remove: Vec<bool> = fates
                .iter()
                .map(|f| matches!(f, Fate::DeadOutput | Fate::Fold(_)))
                .collect();
            if !remove.iter().any(|r| *r) {
                continue;
            }
            changed = true;
            rep.removed_dead_output += fates.iter().filter(|f| **f == Fate::DeadOutput).count();
            rep.removed_constant_folded +=
                fates.iter().filter(|f| matches!(f, Fate::Fold(_))).count();
            // Fold constants into consumer biases before their columns disappear.
            for c in &sp.consumers {
                let w = &model.params[&c.slice.tensor];
                let (outer, dim, inner) = split(w, 1);
                let mut delta = vec![0f32; outer];
                for (u, f) in fates.iter().enumerate() {
                    if let Fate::Fold(k) = *f {
                        if k == 0.0 {
                            continue;
                        }
                        for (o, d) in delta.iter_mut().enumerate() {
                            let s: f32 = c
                                .slice
                                .indices(dim, u)
                                .map(|i| {
                                    w.data[(o * dim + i) * inner..][..inner].iter().sum::<f32>()
                                })
                                .sum();
                            *d += k * s;
                        }
                    }
                }
                let b = model.params.get_mut(&c.bias).expect("consumer bias exists");
                b.data.iter_mut().zip(&delta).for_each(|(b, d)| *b += d);
            }
            for sl in sp
                .producers
                .iter()
                .chain(&sp.params)
                .chain(sp.consumers.iter().map(|c| &c.slice))
            {
                let t = &model.params[&sl.tensor];
                let keep = axis_keep_mask(sl, t.shape[sl.axis], &remove);
                let nt = retain_axis(t, sl.axis, &keep);
                model.params.insert(sl.tensor.clone(), nt);
            }
            rep.units_after -= remove.iter().filter(|r| **r).count();
        }
        if !changed {
            break;
        }
    }
    rebuild_graph(model)?;
    Ok(report)
}

/// Decides every unit's fate in the current tensors.
fn decide(model: &DenseModel, sp: &ChannelSpace) -> Vec<Fate> {
    let p0 = &sp.producers[0];
    let units = p0.units(model.params[&p0.tensor].shape[p0.axis]);
    if !sp.removable || sp.consumers.is_empty() {
        return vec![Fate::Keep; units];
    }
    let foldable = sp.consumers.iter().all(|c| c.exact_fold);
    let mut fates: Vec<Fate> = (0..units)
        .map(|u| {
            let zero = |sl: &AxisSlice| slice_is_zero(&model.params[&sl.tensor], sl, u);
            if sp.consumers.iter().all(|c| zero(&c.slice)) {
                Fate::DeadOutput
            } else if sp.producers.iter().all(zero) {
                let pre: f32 = sp.biases.iter().map(|b| model.params[b].data[u]).sum();
                match PathOp::propagate(&sp.path, pre) {
                    Some(c) if foldable => Fate::Fold(c),
                    _ => Fate::KeptConstant,
                }
            } else {
                Fate::Keep
            }
        })
        .collect();
    // Whole groups only.
    let g = sp.group.max(1);
    for grp in fates.chunks_mut(g) {
        if grp
            .iter()
            .any(|f| matches!(f, Fate::Keep | Fate::KeptConstant))
        {
            for f in grp.iter_mut() {
                if matches!(f, Fate::DeadOutput | Fate::Fold(_)) {
                    *f = Fate::Keep;
                }
            }
        }
    }
    // Never empty a layer: keep the first group as it is (its constant, if any, stays in the
    // network instead of being folded; a dead-output unit contributes zero anyway).
    if fates
        .iter()
        .all(|f| matches!(f, Fate::DeadOutput | Fate::Fold(_)))
    {
        for f in fates.iter_mut().take(g) {
            *f = Fate::Keep;
        }
    }
    fates
}

/// Writes the new tensor shapes back into the graph's layer sizes.
fn rebuild_graph(model: &mut DenseModel) -> Result<()> {
    for layer in model.graph.layers.iter_mut() {
        match layer {
            Layer::Conv2d {
                name,
                in_channels,
                out_channels,
                bias,
                ..
            } => {
                let s = &model.params[&format!("{name}.weight")].shape;
                (*out_channels, *in_channels, *bias) = (s[0], s[1], true);
            }
            Layer::Linear {
                name,
                in_features,
                out_features,
                bias,
            } => {
                let s = &model.params[&format!("{name}.weight")].shape;
                (*out_features, *in_features, *bias) = (s[0], s[1], true);
            }
            _ => {}
        }
    }
    model.graph.shapes()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Graph;
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
        Graph {
            model: "t".into(),
            input: vec![ws[0].0],
            preprocess: None,
            layers,
        }
    }

    fn t(shape: &[usize], d: &[f32]) -> Tensor {
        Tensor::new(shape.to_vec(), d.to_vec())
    }

    #[test]
    fn slice_indices_for_gates_and_flatten() {
        // 4 gate sections of H=3 units: unit 1 -> rows 1, 4, 7, 10
        let g = AxisSlice {
            sections: 4,
            ..AxisSlice::new("w", 0)
        };
        assert_eq!(g.indices(12, 1).collect::<Vec<_>>(), vec![1, 4, 7, 10]);
        // channel 2 of a flattened [C, 2x2] -> columns 8..12
        let f = AxisSlice {
            block: 4,
            ..AxisSlice::new("w", 1)
        };
        assert_eq!(f.indices(16, 2).collect::<Vec<_>>(), vec![8, 9, 10, 11]);
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
        match &m.graph.layers[0] {
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
