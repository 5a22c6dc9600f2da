//! The graph's coupled structures, handed to the pruning engine. `dtprune-compact` derives the
//! channel spaces from the layer graph; this turns them into `dtprune-prune`'s groups and blocks
//! over the engine's tensors (the two crates do not know each other), in two steps:
//! [`graph_groups`] reads what the graph says, [`for_engine`] fits it to the run's tensors.
//!
//! What each member becomes:
//! - a prunable weight (conv/linear) stays a member as it is;
//! - a BatchNorm γ or β becomes a *follower* tensor of the engine (maskable, never pruned by
//!   magnitude), so a removed channel's BatchNorm output is exactly 0;
//! - a BatchNorm running statistic is dropped: it is not a trained parameter, and with γ = β = 0
//!   the channel is 0 whatever the statistics are;
//! - a producer's bias is dropped from a group: every consumer slice of a removed unit is masked,
//!   so the constant it leaves in the channel reaches no weight (and the LeNets, whose biases
//!   these are, keep their tensors as they were); in a residual block it is a follower, since
//!   the block's output must be 0 for the add to pass the shortcut alone;
//! - a weight the run does not prune (`--prune-only`) makes its group (or block) unremovable:
//!   the unit could not go whole.

use crate::params::ParamInfo;
use crate::TrainError;
use dtprune_compact::structure as graph_structure;
use dtprune_compact::Graph;
use dtprune_prune::{Block, GroupMember, MemberRole, StructureGroup};
use std::collections::HashSet;

/// The engine's view of the graph's structures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngineStructure {
    /// BatchNorm γ/β (and residual-branch biases) the engine tracks besides the prunable
    /// weights, in graph order.
    pub followers: Vec<ParamInfo>,
    pub groups: Vec<StructureGroup>,
    pub blocks: Vec<Block>,
}

/// Groups and blocks of `graph` over the prunable weights `prunable` and the model's other
/// parameters `params` (where followers are found).
pub fn engine_structure(graph: &Graph, params: &[ParamInfo], prunable: &[ParamInfo]) -> Result<EngineStructure, TrainError> {
    let (groups, blocks) = graph_groups(graph, params)?;
    Ok(for_engine(&groups, &blocks, params, prunable))
}

/// The graph's channel groups (union-find over its channel spaces: channels tied by a residual
/// add are one group) and its removable residual blocks (identity shortcut), over every tensor
/// the graph names, from `dtprune_compact::structure`.
pub fn graph_groups(graph: &Graph, _params: &[ParamInfo]) -> Result<(Vec<StructureGroup>, Vec<Block>), TrainError> {
    let bad = |e: dtprune_compact::CompactError| TrainError::Config { path: None, message: format!("model `{}`: coupled structures of its layer graph: {e}", graph.model) };
    let role = |r: graph_structure::MemberRole| match r {
        graph_structure::MemberRole::Producer => MemberRole::Producer,
        graph_structure::MemberRole::Follower => MemberRole::Follower,
        graph_structure::MemberRole::Consumer => MemberRole::Consumer,
    };
    let groups = graph_structure::channel_groups(graph)
        .map_err(bad)?
        .into_iter()
        .map(|g| StructureGroup {
            name: g.name,
            units: g.units,
            removable: g.removable,
            members: g.members.into_iter().map(|m| GroupMember { tensor: m.tensor, axis: m.axis, span: m.span, role: role(m.role), offset: None }).collect(),
        })
        .collect();
    // Only blocks with an identity shortcut are listed: all removable.
    let blocks = graph_structure::residual_blocks(graph).map_err(bad)?.into_iter().map(|b| Block { name: b.name, tensors: b.tensors, add_node: b.add_node, removable: true }).collect();
    Ok((groups, blocks))
}

/// Fits the graph's groups and blocks to the run's tensors (see the module doc).
pub fn for_engine(groups: &[StructureGroup], blocks: &[Block], params: &[ParamInfo], prunable: &[ParamInfo]) -> EngineStructure {
    let mut conv = Conversion { params, prunable: prunable.iter().map(|p| p.name.as_str()).collect(), followers: Vec::new(), declared: false };
    let groups = groups.iter().map(|g| conv.group(g)).collect();
    let blocks = blocks.iter().map(|b| conv.block(b)).collect();
    EngineStructure { followers: conv.followers, groups, blocks }
}

/// The groups a model declares itself ([`crate::model::Model::structure_groups`]: a node-graph
/// model, no blocks) fitted to the run's tensors. Unlike a layer graph's, their roles are meant
/// for the engine as they are: every follower the model lists (a LayerNorm's γ/β, a bias that
/// must be zero with its unit) is a follower tensor; a prunable weight stays; a weight the run
/// does not prune makes its group unremovable.
pub fn declared_structure(groups: &[StructureGroup], params: &[ParamInfo], prunable: &[ParamInfo]) -> EngineStructure {
    let mut conv = Conversion { params, prunable: prunable.iter().map(|p| p.name.as_str()).collect(), followers: Vec::new(), declared: true };
    let groups = groups.iter().map(|g| conv.group(g)).collect();
    EngineStructure { followers: conv.followers, groups, blocks: Vec::new() }
}

struct Conversion<'a> {
    params: &'a [ParamInfo],
    prunable: HashSet<&'a str>,
    followers: Vec<ParamInfo>,
    /// The groups' follower roles are the engine's (declared by the model), not a graph's.
    declared: bool,
}

/// What a graph tensor is to the engine.
enum Kind {
    Weight,
    Follower,
    /// Not a trained parameter, or a group's bias: left out.
    Dropped,
    /// A weight the run does not prune.
    Fixed,
}

impl Conversion<'_> {
    fn kind(&mut self, tensor: &str, follower: bool) -> Kind {
        if self.prunable.contains(tensor) {
            return Kind::Weight;
        }
        if tensor.ends_with(".running_mean") || tensor.ends_with(".running_var") {
            return Kind::Dropped;
        }
        match self.params.iter().find(|p| p.name == tensor) {
            Some(p) if follower => {
                if !self.followers.iter().any(|f| f.name == tensor) {
                    self.followers.push(p.clone());
                }
                Kind::Follower
            }
            Some(_) if tensor.ends_with(".bias") => Kind::Dropped,
            Some(_) => Kind::Fixed,
            None => Kind::Dropped,
        }
    }

    fn group(&mut self, g: &StructureGroup) -> StructureGroup {
        let mut removable = g.removable;
        let mut members = Vec::new();
        for m in &g.members {
            // The graph lists biases as followers too; in a group only BatchNorm's γ/β follow.
            let follower = m.role == MemberRole::Follower && (self.declared || self.is_batchnorm(&m.tensor));
            match self.kind(&m.tensor, follower) {
                Kind::Weight | Kind::Follower => members.push(m.clone()),
                Kind::Dropped => {}
                Kind::Fixed => removable = false,
            }
        }
        StructureGroup { name: g.name.clone(), units: g.units, removable, members }
    }

    fn block(&mut self, b: &Block) -> Block {
        let mut removable = b.removable;
        let mut tensors = Vec::new();
        for t in &b.tensors {
            // Everything trained in the branch but its prunable weights follows the block: BatchNorm
            // γ/β, and biases (a biased conv's constant would otherwise reach the add).
            let follower = !t.ends_with(".weight") || self.is_batchnorm(t);
            match self.kind(t, follower) {
                Kind::Weight | Kind::Follower => tensors.push(t.clone()),
                Kind::Dropped => {}
                Kind::Fixed => removable = false,
            }
        }
        Block { name: b.name.clone(), tensors, add_node: b.add_node.clone(), removable }
    }

    fn is_batchnorm(&self, tensor: &str) -> bool {
        self.params.iter().any(|p| p.name == tensor && p.owner.contains("BatchNorm"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Layout;
    use burn::module::ParamId;

    fn param(name: &str, shape: &[usize], owner: &str) -> ParamInfo {
        ParamInfo { id: ParamId::new(), name: name.into(), burn_shape: shape.to_vec(), layout: Layout::Same, owner: owner.into() }
    }

    fn member(tensor: &str, axis: usize, role: MemberRole) -> GroupMember {
        GroupMember { tensor: tensor.into(), axis, span: 1, role, offset: None }
    }

    /// A residual stage as the graph describes it: conv a + BN, a block b (c1, bn1, c2, bn2)
    /// adding onto it, fc reading the stream.
    fn stage() -> (Vec<ParamInfo>, Vec<StructureGroup>, Vec<Block>) {
        let mut params = vec![param("a.weight", &[4, 3, 3, 3], "Conv2d")];
        for bn in ["bn.", "b.bn1.", "b.bn2."] {
            for t in ["weight", "bias", "running_mean", "running_var"] {
                params.push(param(&format!("{bn}{t}"), &[4], "BatchNorm2d"));
            }
        }
        params.extend([param("b.c1.weight", &[4, 4, 3, 3], "Conv2d"), param("b.c2.weight", &[4, 4, 3, 3], "Conv2d"), param("fc.weight", &[10, 4], "Linear"), param("fc.bias", &[10], "Linear")]);
        let bn = |p: &str| ["weight", "bias", "running_mean", "running_var"].map(|t| member(&format!("{p}{t}"), 0, MemberRole::Follower));
        let mut stream = vec![member("a.weight", 0, MemberRole::Producer), member("b.c2.weight", 0, MemberRole::Producer)];
        stream.extend(bn("bn."));
        stream.extend(bn("b.bn2."));
        stream.extend([member("b.c1.weight", 1, MemberRole::Consumer), member("fc.weight", 1, MemberRole::Consumer)]);
        let mut inner = vec![member("b.c1.weight", 0, MemberRole::Producer), member("b.c2.weight", 1, MemberRole::Consumer)];
        inner.extend(bn("b.bn1."));
        let groups = vec![
            StructureGroup { name: "stream".into(), units: 4, removable: true, members: stream },
            StructureGroup { name: "b.inner".into(), units: 4, removable: true, members: inner },
            StructureGroup { name: "fc".into(), units: 10, removable: false, members: vec![member("fc.weight", 0, MemberRole::Producer), member("fc.bias", 0, MemberRole::Producer)] },
        ];
        let tensors = ["c1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "c2.weight", "bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var"];
        let blocks = vec![Block { name: "b".into(), tensors: tensors.iter().map(|t| format!("b.{t}")).collect(), add_node: "b.add".into(), removable: true }];
        (params, groups, blocks)
    }

    #[test]
    fn batchnorm_gamma_beta_follow_statistics_and_biases_are_dropped() {
        let (params, groups, blocks) = stage();
        let prunable: Vec<ParamInfo> = params.iter().filter(|p| p.prunable_by_default()).cloned().collect();
        let s = for_engine(&groups, &blocks, &params, &prunable);
        let names = |ms: &[GroupMember]| ms.iter().map(|m| m.tensor.as_str()).collect::<Vec<_>>().join(" ");
        assert_eq!(names(&s.groups[0].members), "a.weight b.c2.weight bn.weight bn.bias b.bn2.weight b.bn2.bias b.c1.weight fc.weight");
        assert_eq!(names(&s.groups[1].members), "b.c1.weight b.c2.weight b.bn1.weight b.bn1.bias");
        assert_eq!(names(&s.groups[2].members), "fc.weight", "the classifier's bias is not an engine tensor");
        assert!(s.groups[0].removable && !s.groups[2].removable);
        let followers: Vec<&str> = s.followers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(followers, ["bn.weight", "bn.bias", "b.bn2.weight", "b.bn2.bias", "b.bn1.weight", "b.bn1.bias"]);
        assert_eq!(s.blocks[0].tensors, ["b.c1.weight", "b.bn1.weight", "b.bn1.bias", "b.c2.weight", "b.bn2.weight", "b.bn2.bias"]);
        assert!(s.blocks[0].removable);
    }

    #[test]
    fn a_weight_the_run_does_not_prune_makes_its_structures_unremovable() {
        let (params, groups, blocks) = stage();
        let prunable: Vec<ParamInfo> = params.iter().filter(|p| p.prunable_by_default() && p.name != "b.c2.weight").cloned().collect();
        let s = for_engine(&groups, &blocks, &params, &prunable);
        assert!(!s.groups[0].removable && !s.groups[1].removable, "b.c2 produces the stream and consumes the inner group");
        assert!(!s.blocks[0].removable);
    }
}
