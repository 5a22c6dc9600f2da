//! Coupled structures: the units the structure policy removes, described by the graph.
//!
//! A [`StructureGroup`] is one channel space of the network — a set of `units` (neurons, conv
//! channels) computed by its **producers** (conv/linear weight rows), carried by its
//! **followers** (BatchNorm γ and β, one entry per unit) and read by its **consumers** (the next
//! layers' weight columns). Channels tied by a residual add are one group: every conv feeding
//! the add, each BatchNorm after them, every consumer's input slice. Unit `u` of a group is the
//! index range `[u*span, (u+1)*span)` along `axis` of every member tensor (`span > 1` for a
//! linear layer reading a flattened conv output). Removing a unit masks all those slices at
//! once, so the pruned network stays well formed and its compaction is exact.
//!
//! A [`Block`] is the branch of a residual block: removing it masks all of its tensors, and the
//! add then passes the shortcut alone (the seed's layer removal).
//!
//! The graph side (`dtprune-compact`) derives these from the layer graph; this crate does not
//! depend on it, so the types are plain data, validated here against the engine's tensors.

use crate::engine::PrunableSpec;
use crate::error::PruneError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberRole {
    /// Computes the unit: conv/linear output rows.
    Producer,
    /// Follows the unit with one entry per unit: BatchNorm γ and β.
    Follower,
    /// Reads the unit: the input slice of the next conv/linear.
    Consumer,
}

/// One tensor's part in a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMember {
    pub tensor: String,
    pub axis: usize,
    /// Consecutive entries along `axis` per unit.
    pub span: usize,
    pub role: MemberRole,
    /// Where unit 0 starts along `axis` when the group covers only a window of it (a consumer
    /// reading a concatenation: one embedding table's columns of the first Linear). `None`:
    /// the units span the whole axis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
}

/// One channel space: its units are removed together from every member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StructureGroup {
    pub name: String,
    pub units: usize,
    /// False for the classifier's outputs and the model input's channels.
    pub removable: bool,
    pub members: Vec<GroupMember>,
}

/// A residual block's branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub name: String,
    /// Every parameter tensor of the branch (its convs and BatchNorms).
    pub tensors: Vec<String>,
    /// The add node the branch feeds.
    pub add_node: String,
    /// Whether the graph allows removing it (an identity shortcut keeps the add well formed).
    pub removable: bool,
}

/// A group member resolved against the engine: `tensor` indexes the engine's tensors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub tensor: usize,
    pub role: MemberRole,
    slicing: Slicing,
}

/// How unit `u` maps to flat indices of a row-major tensor: `outer` runs of the axis, each
/// `dim * inner` long, unit `u` covering `span * inner` entries starting at `u * span * inner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slicing {
    outer: usize,
    dim: usize,
    inner: usize,
    span: usize,
    /// Unit 0's first entry along the axis.
    offset: usize,
}

impl Member {
    /// Flat indices of unit `u` in the member tensor.
    pub fn indices(&self, u: usize) -> impl Iterator<Item = usize> + '_ {
        let Slicing { outer, dim, inner, span, offset } = self.slicing;
        (0..outer).flat_map(move |o| {
            let start = o * dim * inner + (offset + u * span) * inner;
            start..start + span * inner
        })
    }
}

/// A group resolved against the engine's tensors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub units: usize,
    pub removable: bool,
    pub members: Vec<Member>,
}

impl Group {
    pub fn producers(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| m.role == MemberRole::Producer)
    }

    /// The name events use: the producer tensor for a one-producer group (so a chain model's
    /// events name `fc1.weight` as before groups), else the group's name.
    pub fn label(&self, specs: &[PrunableSpec]) -> String {
        let mut producers = self.producers();
        match (producers.next(), producers.next()) {
            (Some(p), None) => specs[p.tensor].name.clone(),
            _ => self.name.clone(),
        }
    }
}

/// A block resolved against the engine's tensors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedBlock {
    pub name: String,
    pub tensors: Vec<usize>,
    pub removable: bool,
    /// Index of the group this block's branch writes into (its stage's residual stream);
    /// at least one block of each stage is kept. `None`: no such group, the block is kept.
    pub stage: Option<usize>,
}

/// Checks `groups` and `blocks` against the engine's tensors and resolves names to indices.
pub fn resolve(specs: &[PrunableSpec], groups: &[StructureGroup], blocks: &[Block]) -> Result<(Vec<Group>, Vec<ResolvedBlock>), PruneError> {
    let index: HashMap<&str, usize> = specs.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
    let find = |context: &str, name: &str| {
        index.get(name).copied().ok_or_else(|| invalid(context, format!("tensor `{name}` is not one of the engine's tensors")))
    };
    let groups = groups
        .iter()
        .map(|g| {
            let members = g.members.iter().map(|m| resolve_member(specs, g, m, find(&group_context(g), &m.tensor)?)).collect::<Result<Vec<_>, _>>()?;
            // The classifier's outputs are the model's outputs: never removable, whatever the
            // graph says.
            let guarded = members.iter().any(|m| m.role == MemberRole::Producer && !specs[m.tensor].structures_removable);
            Ok(Group { name: g.name.clone(), units: g.units, removable: g.removable && !guarded, members })
        })
        .collect::<Result<Vec<_>, PruneError>>()?;
    let blocks = blocks
        .iter()
        .map(|b| {
            let context = format!("block `{}`", b.name);
            if b.tensors.is_empty() {
                return Err(invalid(&context, "has no tensors".into()));
            }
            let tensors = b.tensors.iter().map(|t| find(&context, t)).collect::<Result<Vec<_>, _>>()?;
            let stage = stage_of(&groups, &tensors);
            Ok(ResolvedBlock { name: b.name.clone(), tensors, removable: b.removable, stage })
        })
        .collect::<Result<Vec<_>, PruneError>>()?;
    Ok((groups, blocks))
}

/// The group a block's branch writes into: one with a producer inside the block and some member
/// outside it (the residual stream crosses the block boundary; a group inside the branch —
/// conv1's outputs read by conv2 — does not).
fn stage_of(groups: &[Group], tensors: &[usize]) -> Option<usize> {
    let inside = |t: usize| tensors.contains(&t);
    groups.iter().position(|g| g.producers().any(|m| inside(m.tensor)) && g.members.iter().any(|m| !inside(m.tensor)))
}

fn resolve_member(specs: &[PrunableSpec], g: &StructureGroup, m: &GroupMember, tensor: usize) -> Result<Member, PruneError> {
    let shape = &specs[tensor].shape;
    let context = format!("{} member `{}`", group_context(g), m.tensor);
    if m.axis >= shape.len() {
        return Err(invalid(&context, format!("axis {} out of range for shape {shape:?}", m.axis)));
    }
    if m.span == 0 || g.units == 0 {
        return Err(invalid(&context, format!("span {} and units {} must be positive", m.span, g.units)));
    }
    let dim = shape[m.axis];
    match m.offset {
        None if g.units * m.span != dim => {
            return Err(invalid(&context, format!("{} units of span {} need {} entries along axis {}, the shape {shape:?} has {dim}", g.units, m.span, g.units * m.span, m.axis)));
        }
        Some(o) if o + g.units * m.span > dim => {
            return Err(invalid(&context, format!("{} units of span {} from offset {o} need entries up to {} along axis {}, the shape {shape:?} has {dim}", g.units, m.span, o + g.units * m.span, m.axis)));
        }
        _ => {}
    }
    if specs[tensor].follower && m.role != MemberRole::Follower {
        return Err(invalid(&context, "is a follower tensor (BatchNorm) but not listed as a follower".into()));
    }
    let slicing = Slicing { outer: shape[..m.axis].iter().product(), dim, inner: shape[m.axis + 1..].iter().product(), span: m.span, offset: m.offset.unwrap_or(0) };
    Ok(Member { tensor, role: m.role, slicing })
}

fn group_context(g: &StructureGroup) -> String {
    format!("group `{}`", g.name)
}

fn invalid(context: &str, message: String) -> PruneError {
    PruneError::Tensor { name: context.to_string(), message }
}

/// The groups of a model without a graph: every weight tensor's rows (dim 0) on their own, the
/// structures of the policy before groups. Nothing else is masked when a row goes.
pub fn row_groups(specs: &[PrunableSpec]) -> Vec<Group> {
    specs
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.follower && s.shape.first().is_some_and(|&rows| rows > 1))
        .map(|(i, s)| {
            let dim = s.shape[0];
            let slicing = Slicing { outer: 1, dim, inner: s.numel() / dim, span: 1, offset: 0 };
            Group { name: s.name.clone(), units: dim, removable: s.structures_removable, members: vec![Member { tensor: i, role: MemberRole::Producer, slicing }] }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, shape: &[usize]) -> PrunableSpec {
        PrunableSpec::weight(name, shape.to_vec(), true)
    }

    fn member(tensor: &str, axis: usize, span: usize, role: MemberRole) -> GroupMember {
        GroupMember { tensor: tensor.into(), axis, span, role, offset: None }
    }

    #[test]
    fn slices_along_any_axis_with_span() {
        // conv [2 out, 3 in, 1, 2]: input channel 1 = flat 2,3 and 8,9.
        let specs = vec![spec("c.weight", &[2, 3, 1, 2]), spec("fc.weight", &[2, 6])];
        let g = StructureGroup {
            name: "g".into(),
            units: 3,
            removable: true,
            members: vec![member("c.weight", 1, 1, MemberRole::Consumer), member("fc.weight", 1, 2, MemberRole::Consumer)],
        };
        let (groups, _) = resolve(&specs, &[g], &[]).unwrap();
        assert_eq!(groups[0].members[0].indices(1).collect::<Vec<_>>(), vec![2, 3, 8, 9]);
        // linear [2, 6] read as 3 units of 2: unit 2 = columns 4,5 of both rows.
        assert_eq!(groups[0].members[1].indices(2).collect::<Vec<_>>(), vec![4, 5, 10, 11]);
    }

    #[test]
    fn a_window_of_an_axis_starts_at_its_offset() {
        // fc [2, 5] reads a concatenation of a 2-wide and a 3-wide table: the second table's
        // dims are columns 2..5. Unit 1 of that group = column 3 of both rows.
        let specs = vec![spec("t.weight", &[4, 3]), spec("fc.weight", &[2, 5])];
        let window = GroupMember { offset: Some(2), ..member("fc.weight", 1, 1, MemberRole::Consumer) };
        let g = StructureGroup { name: "t.dim".into(), units: 3, removable: true, members: vec![member("t.weight", 1, 1, MemberRole::Producer), window.clone()] };
        let (groups, _) = resolve(&specs, &[g.clone()], &[]).unwrap();
        assert_eq!(groups[0].members[0].indices(1).collect::<Vec<_>>(), vec![1, 4, 7, 10]);
        assert_eq!(groups[0].members[1].indices(1).collect::<Vec<_>>(), vec![3, 8]);
        // A window past the axis' end is an error naming both.
        let past = StructureGroup { members: vec![GroupMember { offset: Some(3), ..window }], ..g };
        let e = resolve(&specs, &[past], &[]).unwrap_err().to_string();
        assert!(e.contains("group `t.dim`") && e.contains("from offset 3 need entries up to 6 along axis 1, the shape [2, 5] has 5"), "{e}");
    }

    #[test]
    fn bad_groups_name_the_group_and_problem() {
        let specs = vec![spec("a.weight", &[4, 2]), PrunableSpec::follower("bn.weight", vec![4])];
        let g = |m: GroupMember, units| StructureGroup { name: "s1".into(), units, removable: true, members: vec![m] };
        let err = |g: StructureGroup| resolve(&specs, &[g], &[]).unwrap_err().to_string();
        assert!(err(g(member("nope", 0, 1, MemberRole::Producer), 4)).contains("tensor `nope` is not one of the engine's tensors"));
        assert!(err(g(member("a.weight", 2, 1, MemberRole::Producer), 4)).contains("axis 2 out of range"));
        assert!(err(g(member("a.weight", 0, 1, MemberRole::Producer), 3)).contains("3 units of span 1 need 3 entries along axis 0, the shape [4, 2] has 4"));
        assert!(err(g(member("bn.weight", 0, 1, MemberRole::Producer), 4)).contains("not listed as a follower"));
        let e = resolve(&specs, &[], &[Block { name: "b".into(), tensors: vec!["x".into()], add_node: "add".into(), removable: true }]).unwrap_err();
        assert!(e.to_string().contains("block `b`") && e.to_string().contains("`x`"), "{e}");
    }

    #[test]
    fn the_classifier_group_is_never_removable_and_blocks_find_their_stage() {
        let specs = vec![spec("s.weight", &[2, 1]), spec("b.c1.weight", &[2, 2]), spec("b.c2.weight", &[2, 2]), PrunableSpec::weight("fc.weight", vec![3, 2], false)];
        let groups = vec![
            // the stream: s and the block's c2 produce it, c1 and fc read it
            StructureGroup {
                name: "stream".into(),
                units: 2,
                removable: true,
                members: vec![
                    member("s.weight", 0, 1, MemberRole::Producer),
                    member("b.c2.weight", 0, 1, MemberRole::Producer),
                    member("b.c1.weight", 1, 1, MemberRole::Consumer),
                    member("fc.weight", 1, 1, MemberRole::Consumer),
                ],
            },
            // inside the branch
            StructureGroup { name: "inner".into(), units: 2, removable: true, members: vec![member("b.c1.weight", 0, 1, MemberRole::Producer), member("b.c2.weight", 1, 1, MemberRole::Consumer)] },
            StructureGroup { name: "out".into(), units: 3, removable: true, members: vec![member("fc.weight", 0, 1, MemberRole::Producer)] },
        ];
        let blocks = vec![Block { name: "b".into(), tensors: vec!["b.c1.weight".into(), "b.c2.weight".into()], add_node: "b.add".into(), removable: true }];
        let (groups, blocks) = resolve(&specs, &groups, &blocks).unwrap();
        assert!(groups[0].removable && groups[1].removable);
        assert!(!groups[2].removable, "fc.weight is the classifier");
        assert_eq!(blocks[0].stage, Some(0));
        assert_eq!(groups[0].label(&specs), "stream");
        assert_eq!(groups[1].label(&specs), "b.c1.weight");
    }

    #[test]
    fn row_groups_are_the_rows_of_each_weight() {
        let specs = vec![spec("c.weight", &[2, 1, 2, 2]), PrunableSpec::follower("bn.weight", vec![2]), spec("one.weight", &[1, 5])];
        let g = row_groups(&specs);
        assert_eq!(g.len(), 1, "followers and one-row tensors have no row structures");
        assert_eq!(g[0].members[0].indices(1).collect::<Vec<_>>(), vec![4, 5, 6, 7]);
    }
}
