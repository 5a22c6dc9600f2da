//! Dead-structure removal over the DAG, group by group (see `structure_groups`):
//!
//! 1. BatchNorms fold into their convs (`structure_fold`);
//! 2. a residual block whose branch ends in an all-zero conv (weights and bias) outputs exactly
//!    zero: the branch goes and the add passes the identity shortcut alone;
//! 3. a unit of a removable channel group goes from every member when
//!    * all its consumer slices are zero (nothing reads it), or
//!    * all its producer slices are zero, so it is a constant, and every consumer absorbs that
//!      constant exactly into its bias: a zero constant always (the removed unit's BatchNorm γ
//!      and β are zero), a non-zero one only in a group with one producer whose consumers are
//!      linear or unpadded convs (a padded conv would see zeros at the border instead);
//!
//! repeated to a fixpoint, since each removal can make other units dead. No group is emptied.

use std::collections::HashMap;

use crate::error::Result;
use crate::graph::Layer;
use crate::model::DenseModel;
use super::{PathOp, SpaceReport, StructureReport};
use super::fold::{fold_batchnorms, remove_node};
use super::groups::{channel_groups, residual_block_nodes, ChannelGroup, GroupMember, MemberRole};
use crate::tensor_io::Tensor;

#[derive(Clone, PartialEq, Debug)]
enum Fate {
    Keep,
    DeadOutput,
    /// The constant each consumer (in member order) sees.
    Fold(Vec<f32>),
    KeptConstant,
}

/// Removes dead structure in place; returns what was removed. The graph's sizes follow the new
/// tensor shapes, and every conv/linear gets a bias (folding may need one).
pub fn remove_dead_structure(model: &mut DenseModel) -> Result<StructureReport> {
    let mut report = StructureReport { folded_batchnorms: fold_batchnorms(model)?, ..Default::default() };
    let mut index: HashMap<String, usize> = HashMap::new();
    loop {
        report.passes += 1;
        let mut changed = remove_zero_blocks(model, &mut report)?;
        for group in channel_groups(&model.graph)? {
            let Some(p) = group.members.iter().find(|m| m.role == MemberRole::Producer) else { continue };
            let units = model.params[&p.tensor].shape[p.axis] / p.span;
            let slot = *index.entry(group.name.clone()).or_insert_with(|| {
                report.spaces.push(SpaceReport { layer: group.name.clone(), units_before: units, units_after: units, ..Default::default() });
                report.spaces.len() - 1
            });
            let fates = decide(model, &group, units);
            let rep = &mut report.spaces[slot];
            rep.kept_constant = fates.iter().filter(|f| **f == Fate::KeptConstant).count();
            let remove: Vec<bool> = fates.iter().map(|f| matches!(f, Fate::DeadOutput | Fate::Fold(_))).collect();
            if !remove.iter().any(|r| *r) {
                continue;
            }
            changed = true;
            rep.removed_dead_output += fates.iter().filter(|f| **f == Fate::DeadOutput).count();
            rep.removed_constant_folded += fates.iter().filter(|f| matches!(f, Fate::Fold(_))).count();
            rep.units_after -= remove.iter().filter(|r| **r).count();
            fold_constants(model, &group, &fates);
            for m in &group.members {
                if let Some(t) = model.params.get(&m.tensor) {
                    let keep = keep_mask(m, t.shape[m.axis], &remove);
                    let nt = retain_axis(t, m.axis, &keep);
                    model.params.insert(m.tensor.clone(), nt);
                }
            }
        }
        rebuild_graph(model)?;
        if !changed {
            break;
        }
    }
    Ok(report)
}

/// Step 2: residual blocks (identity shortcut) whose branch output is exactly zero.
fn remove_zero_blocks(model: &mut DenseModel, report: &mut StructureReport) -> Result<bool> {
    let mut changed = false;
    loop {
        let blocks = residual_block_nodes(&model.graph)?;
        let zero = blocks.into_iter().find(|b| {
            let end = &model.graph.nodes[b.branch_end].op;
            end.has_weight_matrix() && end.param_shapes().iter().all(|(t, _)| model.params.get(t).is_none_or(|t| t.data.iter().all(|v| *v == 0.0)))
                && model.params.get(&format!("{}.bias", end.param_name().unwrap_or_default())).is_none_or(|b| b.data.iter().all(|v| *v == 0.0))
        });
        let Some(b) = zero else { return Ok(changed) };
        changed = true;
        for t in &b.block.tensors {
            model.params.remove(t);
        }
        for n in &b.branch {
            if let Some(name) = model.graph.nodes[*n].op.param_name() {
                model.params.remove(&format!("{name}.bias"));
            }
        }
        let ids: Vec<String> = b.branch.iter().map(|&i| model.graph.nodes[i].id.clone()).collect();
        let add = model.graph.nodes.iter().position(|n| n.id == b.block.add_node).expect("block's add");
        remove_node(&mut model.graph, add, &b.shortcut);
        model.graph.nodes.retain(|n| !ids.contains(&n.id));
        report.removed_blocks.push(b.block.name);
    }
}

/// Every unit's fate in the current tensors.
fn decide(model: &DenseModel, g: &ChannelGroup, units: usize) -> Vec<Fate> {
    let consumers: Vec<&GroupMember> = g.members.iter().filter(|m| m.role == MemberRole::Consumer).collect();
    if !g.removable || consumers.is_empty() {
        return vec![Fate::Keep; units];
    }
    let producers: Vec<&GroupMember> = g.members.iter().filter(|m| m.role == MemberRole::Producer).collect();
    let biases: Vec<&Tensor> = producers.iter().filter_map(|p| model.params.get(&bias_of(&p.tensor))).collect();
    // An unfolded BatchNorm in the group maps a zero producer to its shift: no folding then.
    let unfolded_bn = g.members.iter().any(|m| m.role == MemberRole::Follower && m.tensor.ends_with(".running_var"));
    let paths: Option<Vec<(Vec<PathOp>, bool)>> =
        if producers.len() == 1 { consumers.iter().map(|c| consumer_path(model, &producers[0].tensor, &c.tensor)).collect() } else { None };
    let zero = |m: &GroupMember, u: usize| slice_is_zero(&model.params[&m.tensor], m, u);
    let mut fates: Vec<Fate> = (0..units)
        .map(|u| {
            if consumers.iter().all(|c| zero(c, u)) {
                return Fate::DeadOutput;
            }
            if !producers.iter().all(|p| zero(p, u)) {
                return Fate::Keep;
            }
            if unfolded_bn {
                return Fate::KeptConstant;
            }
            let pre: Vec<f32> = biases.iter().map(|b| b.data[u]).collect();
            if pre.iter().all(|b| *b == 0.0) {
                // Zero everywhere, through relu, pooling and adds of zeros alike.
                return Fate::Fold(vec![0.0; consumers.len()]);
            }
            match &paths {
                Some(paths) => {
                    let cs: Vec<Option<f32>> = paths
                        .iter()
                        .map(|(path, exact)| PathOp::propagate(path, pre[0]).filter(|c| *c == 0.0 || *exact))
                        .collect();
                    match cs.into_iter().collect::<Option<Vec<f32>>>() {
                        Some(cs) => Fate::Fold(cs),
                        None => Fate::KeptConstant,
                    }
                }
                None => Fate::KeptConstant,
            }
        })
        .collect();
    // Never empty a group: keep the first unit as it is.
    if fates.iter().all(|f| matches!(f, Fate::DeadOutput | Fate::Fold(_))) {
        fates[0] = Fate::Keep;
    }
    fates
}

fn bias_of(weight: &str) -> String {
    format!("{}.bias", weight.strip_suffix(".weight").unwrap_or(weight))
}

/// The parameter-free ops from the producer (weight `producer`) to the consumer (weight
/// `consumer`) and whether the consumer absorbs a constant input exactly (a linear, or a conv
/// without padding); `None` when the path is not a plain chain of such ops.
fn consumer_path(model: &DenseModel, producer: &str, consumer: &str) -> Option<(Vec<PathOp>, bool)> {
    let g = &model.graph;
    let by_name = |w: &str| g.nodes.iter().position(|n| n.op.param_name().is_some_and(|p| format!("{p}.weight") == w));
    let (p, c) = (by_name(producer)?, by_name(consumer)?);
    let exact = match &g.nodes[c].op {
        Layer::Conv2d { padding, .. } => padding == &[0, 0],
        Layer::Linear { .. } => true,
        _ => false,
    };
    let mut path = Vec::new();
    let mut at = g.nodes[c].inputs[0].as_str();
    loop {
        let i = g.nodes.iter().position(|n| n.id == at)?;
        if i == p {
            break;
        }
        let n = &g.nodes[i];
        path.push(match n.op {
            Layer::Relu => PathOp::Relu,
            Layer::Maxpool2d { .. } => PathOp::MaxPool,
            Layer::Flatten => PathOp::Flatten,
            Layer::Identity | Layer::GlobalAvgPool => PathOp::Flatten,
            _ => return None,
        });
        at = n.inputs[0].as_str();
    }
    path.reverse();
    Some((path, exact))
}

/// Adds each folded unit's constant, times its consumer columns, to the consumer's bias.
fn fold_constants(model: &mut DenseModel, g: &ChannelGroup, fates: &[Fate]) {
    let consumers: Vec<&GroupMember> = g.members.iter().filter(|m| m.role == MemberRole::Consumer).collect();
    for (k, c) in consumers.iter().enumerate() {
        let w = &model.params[&c.tensor];
        let (outer, dim, inner) = split(w, c.axis);
        let mut delta = vec![0f32; outer];
        for (u, f) in fates.iter().enumerate() {
            let Fate::Fold(cs) = f else { continue };
            if cs[k] == 0.0 {
                continue;
            }
            for (o, d) in delta.iter_mut().enumerate() {
                let s: f32 = (u * c.span..(u + 1) * c.span).map(|i| w.data[(o * dim + i) * inner..][..inner].iter().sum::<f32>()).sum();
                *d += cs[k] * s;
            }
        }
        if delta.iter().any(|d| *d != 0.0) {
            let b = model.params.get_mut(&bias_of(&c.tensor)).expect("consumer bias exists");
            b.data.iter_mut().zip(&delta).for_each(|(b, d)| *b += d);
        }
    }
}

/// `[outer, dim, inner]` view of a tensor around `axis`.
fn split(t: &Tensor, axis: usize) -> (usize, usize, usize) {
    (t.shape[..axis].iter().product(), t.shape[axis], t.shape[axis + 1..].iter().product())
}

fn slice_is_zero(t: &Tensor, m: &GroupMember, u: usize) -> bool {
    let (outer, dim, inner) = split(t, m.axis);
    (0..outer).all(|o| (u * m.span..(u + 1) * m.span).all(|i| t.data[(o * dim + i) * inner..][..inner].iter().all(|&v| v == 0.0)))
}

fn keep_mask(m: &GroupMember, dim: usize, remove: &[bool]) -> Vec<bool> {
    let mut keep = vec![true; dim];
    for (u, _) in remove.iter().enumerate().filter(|(_, r)| **r) {
        keep[u * m.span..(u + 1) * m.span].iter_mut().for_each(|k| *k = false);
    }
    keep
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

/// Writes the tensor shapes back into the graph's sizes.
fn rebuild_graph(model: &mut DenseModel) -> Result<()> {
    for node in model.graph.nodes.iter_mut() {
        match &mut node.op {
            Layer::Conv2d { name, in_channels, out_channels, groups, bias, .. } => {
                let s = &model.params[&format!("{name}.weight")].shape;
                (*out_channels, *in_channels, *bias) = (s[0], s[1] * *groups, true);
            }
            Layer::Linear { name, in_features, out_features, bias } => {
                let s = &model.params[&format!("{name}.weight")].shape;
                (*out_features, *in_features, *bias) = (s[0], s[1], true);
            }
            Layer::Batchnorm2d { name, channels, .. } => *channels = model.params[&format!("{name}.weight")].numel(),
            _ => {}
        }
    }
    model.graph.shapes()?;
    Ok(())
}
