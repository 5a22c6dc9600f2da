//! Coupled channel groups and removable residual blocks, derived from the graph alone.
//!
//! Every activation has a *channel space* (its channels, or its features). A conv or linear
//! node starts a new space (its output rows); BatchNorm, relu, max-pool, identity and global
//! average pooling pass their input's space on (the channels are the same channels); flatten
//! passes it on with `span = H·W` features per channel; an `add` *ties* the spaces of its
//! inputs — the channels of every tensor feeding it must be removed together, or the sum would
//! mix different channels. Union-find over the spaces gives the groups: in a ResNet the
//! residual stream of a stage (the stem or transition conv, every block's last conv and BN, the
//! shortcut conv and BN, and every consumer's input slice) is one group.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::error::{CompactError, Result};
use crate::graph::{Graph, Layer, Shape, INPUT};

/// What a member slice does for its unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    /// Computes the unit: a conv's or linear's output rows (`axis` 0 of its weight).
    Producer,
    /// Per-unit parameters that follow the unit: a conv's or linear's bias, BatchNorm's γ, β,
    /// running mean and running variance. Structured removal masks them with the unit;
    /// magnitude (unstructured) pruning leaves them alone.
    Follower,
    /// Reads the unit: the next conv's or linear's input columns (`axis` 1 of its weight).
    Consumer,
}

/// Indices `[u*span, (u+1)*span)` along `axis` of `tensor` belong to unit `u`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GroupMember {
    pub tensor: String,
    pub axis: usize,
    pub span: usize,
    pub role: MemberRole,
}

/// Units that can only be removed together, in every member at once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelGroup {
    /// The node of the first producer (in node order).
    pub name: String,
    pub units: usize,
    /// False for the model input's channels, the classifier's outputs, and channels a grouped
    /// (non-depthwise) convolution reads or writes.
    pub removable: bool,
    pub members: Vec<GroupMember>,
}

/// A residual block whose branch can be removed as a whole: zeroing every tensor of the branch
/// makes the `add` pass its identity shortcut alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResidualBlock {
    /// The common prefix of the branch's parameter names (`layer1.0`), else the add's id.
    pub name: String,
    /// Every parameter tensor of the branch (its convs' and BatchNorms' tensors).
    pub tensors: Vec<String>,
    pub add_node: String,
}

/// One channel space before union: its units and members (tagged with the node index, so the
/// merged group lists them in node order).
struct Space {
    units: usize,
    removable: bool,
    members: Vec<(usize, GroupMember)>,
}

struct Spaces {
    spaces: Vec<Space>,
    parent: Vec<usize>,
}

impl Spaces {
    fn new_space(&mut self, units: usize, removable: bool) -> usize {
        self.spaces.push(Space { units, removable, members: Vec::new() });
        self.parent.push(self.parent.len());
        self.parent.len() - 1
    }
    fn find(&mut self, mut s: usize) -> usize {
        while self.parent[s] != s {
            self.parent[s] = self.parent[self.parent[s]];
            s = self.parent[s];
        }
        s
    }
    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.parent[b.max(a)] = b.min(a);
        }
    }
    fn member(&mut self, space: usize, node: usize, tensor: String, axis: usize, span: usize, role: MemberRole) {
        self.spaces[space].members.push((node, GroupMember { tensor, axis, span, role }));
    }
}

/// The channel group of every removable or fixed channel space of the graph, in order of their
/// first member. Conv/linear outputs never read by anything form groups without consumers.
pub fn channel_groups(graph: &Graph) -> Result<Vec<ChannelGroup>> {
    let shapes = graph.shapes()?;
    let slots = graph.slots();
    let mut sp = Spaces { spaces: Vec::new(), parent: Vec::new() };
    // Per slot: (space, features per unit).
    let mut of_slot: Vec<(usize, usize)> = Vec::with_capacity(shapes.len());
    let input = sp.new_space(shapes[0].units().0, false);
    of_slot.push((input, 1));
    for (i, node) in graph.nodes.iter().enumerate() {
        let ins = graph.input_slots(&slots, i);
        let (in_space, in_span) = of_slot[ins[0]];
        let out = match &node.op {
            Layer::Conv2d { name, in_channels, out_channels, groups, bias, .. } => {
                let depthwise = *groups > 1 && groups == in_channels && groups == out_channels;
                let space = if depthwise { in_space } else { sp.new_space(*out_channels, true) };
                sp.member(space, i, format!("{name}.weight"), 0, 1, MemberRole::Producer);
                if *bias {
                    sp.member(space, i, format!("{name}.bias"), 0, 1, MemberRole::Follower);
                }
                if *groups == 1 {
                    sp.member(in_space, i, format!("{name}.weight"), 1, in_span, MemberRole::Consumer);
                } else if !depthwise {
                    sp.spaces[in_space].removable = false;
                    sp.spaces[space].removable = false;
                }
                (space, 1)
            }
            Layer::Linear { name, out_features, bias, .. } => {
                let space = sp.new_space(*out_features, true);
                sp.member(space, i, format!("{name}.weight"), 0, 1, MemberRole::Producer);
                if *bias {
                    sp.member(space, i, format!("{name}.bias"), 0, 1, MemberRole::Follower);
                }
                sp.member(in_space, i, format!("{name}.weight"), 1, in_span, MemberRole::Consumer);
                (space, 1)
            }
            Layer::Batchnorm2d { .. } => {
                for (tensor, _) in node.op.param_shapes() {
                    sp.member(in_space, i, tensor, 0, 1, MemberRole::Follower);
                }
                (in_space, in_span)
            }
            Layer::Flatten => match shapes[ins[0]] {
                Shape::Image { h, w, .. } => (in_space, h * w),
                Shape::Features(_) => (in_space, in_span),
            },
            Layer::Add => {
                for &s in &ins[1..] {
                    if of_slot[s].1 != in_span {
                        return Err(CompactError::InvalidGraph {
                            index: i,
                            id: node.id.clone(),
                            op: "add".into(),
                            reason: "its inputs tie channels of different spans (a flattened and an unflattened input)".into(),
                        });
                    }
                    sp.union(in_space, of_slot[s].0);
                }
                (in_space, in_span)
            }
            Layer::Relu | Layer::Maxpool2d { .. } | Layer::Identity | Layer::GlobalAvgPool => (in_space, in_span),
        };
        of_slot.push(out);
    }
    let output = of_slot[graph.output_slot()].0;
    sp.spaces[output].removable = false;

    // Merge the spaces into their roots.
    let mut groups: BTreeMap<usize, ChannelGroup> = BTreeMap::new();
    let mut order: HashMap<usize, usize> = HashMap::new(); // root -> first member's node
    let mut all: Vec<(usize, usize, GroupMember)> = Vec::new(); // (root, node, member)
    for s in 0..sp.spaces.len() {
        let root = sp.find(s);
        let (units, removable) = (sp.spaces[s].units, sp.spaces[s].removable);
        let g = groups.entry(root).or_insert(ChannelGroup { name: String::new(), units, removable: true, members: Vec::new() });
        if g.units != units {
            return Err(CompactError::InvalidGraph { index: 0, id: graph.output.clone(), op: "add".into(), reason: format!("an add ties spaces of {} and {units} channels", g.units) });
        }
        g.removable &= removable;
        for (node, m) in std::mem::take(&mut sp.spaces[s].members) {
            all.push((root, node, m));
        }
    }
    all.sort_by_key(|(_, node, m)| (*node, m.role != MemberRole::Producer, m.role == MemberRole::Consumer));
    for (root, node, m) in all {
        let g = groups.get_mut(&root).expect("root");
        if g.name.is_empty() && m.role == MemberRole::Producer {
            g.name = graph.nodes[node].op.param_name().unwrap_or(&graph.nodes[node].id).to_string();
        }
        order.entry(root).or_insert(node);
        g.members.push(m);
    }
    let mut out: Vec<(usize, ChannelGroup)> = groups
        .into_iter()
        .filter(|(_, g)| !g.members.is_empty())
        .map(|(root, mut g)| {
            if g.name.is_empty() {
                g.name = INPUT.to_string();
            }
            (order.get(&root).copied().unwrap_or(0), g)
        })
        .collect();
    out.sort_by_key(|(first, _)| *first);
    Ok(out.into_iter().map(|(_, g)| g).collect())
}

/// The residual blocks with an identity shortcut: an `add` of two inputs where one input (after
/// `identity` nodes) is an ancestor of the other, and every node strictly between them — the
/// branch — feeds only the branch or the add. Blocks with a projection shortcut are not listed:
/// removing their branch would leave a conv, not the identity.
pub fn residual_blocks(graph: &Graph) -> Result<Vec<ResidualBlock>> {
    Ok(residual_block_nodes(graph)?.into_iter().map(|b| b.block).collect())
}

/// A removable block and where it is in the graph.
pub(crate) struct BlockNodes {
    pub block: ResidualBlock,
    /// Indices of the branch's nodes.
    pub branch: Vec<usize>,
    /// The branch's last node (the add's input on the branch side).
    pub branch_end: usize,
    /// The add's other input.
    pub shortcut: String,
}

pub(crate) fn residual_block_nodes(graph: &Graph) -> Result<Vec<BlockNodes>> {
    graph.shapes()?;
    let index: HashMap<&str, usize> = graph.nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
    let mut readers: HashMap<&str, Vec<&str>> = HashMap::new();
    for n in &graph.nodes {
        for input in &n.inputs {
            readers.entry(input.as_str()).or_default().push(n.id.as_str());
        }
    }
    readers.entry(graph.output.as_str()).or_default().push("<output>");
    let mut blocks = Vec::new();
    for add in graph.nodes.iter().filter(|n| matches!(n.op, Layer::Add) && n.inputs.len() == 2) {
        for (branch_end, shortcut) in [(&add.inputs[0], &add.inputs[1]), (&add.inputs[1], &add.inputs[0])] {
            // The shortcut's source, past identity nodes.
            let mut source = shortcut.as_str();
            while let Some(&i) = index.get(source) {
                match &graph.nodes[i].op {
                    Layer::Identity => source = graph.nodes[i].inputs[0].as_str(),
                    _ => break,
                }
            }
            let Some(branch) = branch_between(graph, &index, branch_end, source) else { continue };
            // Every branch node feeds only the branch or the add.
            let inside: HashSet<&str> = branch.iter().map(|&i| graph.nodes[i].id.as_str()).collect();
            let closed = branch.iter().all(|&i| {
                readers.get(graph.nodes[i].id.as_str()).is_some_and(|rs| rs.iter().all(|r| inside.contains(r) || *r == add.id))
            });
            let tensors: Vec<String> = branch.iter().flat_map(|&i| graph.nodes[i].op.param_shapes().into_iter().map(|(t, _)| t)).collect();
            if !closed || tensors.is_empty() {
                continue;
            }
            let names: Vec<&str> = branch.iter().filter_map(|&i| graph.nodes[i].op.param_name()).collect();
            let name = common_prefix(&names).unwrap_or_else(|| add.id.clone());
            blocks.push(BlockNodes {
                block: ResidualBlock { name, tensors, add_node: add.id.clone() },
                branch_end: index[branch_end.as_str()],
                branch,
                shortcut: shortcut.clone(),
            });
            break;
        }
    }
    Ok(blocks)
}

/// Nodes from which `end` is reached and which are reached from `source` (strictly after it),
/// in node order; `None` when `end` does not descend from `source` or some branch node reads a
/// value that does not descend from `source` either.
fn branch_between(graph: &Graph, index: &HashMap<&str, usize>, end: &str, source: &str) -> Option<Vec<usize>> {
    let end_i = *index.get(end)?;
    let mut members = HashSet::new();
    let mut stack = vec![end_i];
    while let Some(i) = stack.pop() {
        if !members.insert(i) {
            continue;
        }
        for input in &graph.nodes[i].inputs {
            if input == source {
                continue;
            }
            match index.get(input.as_str()) {
                Some(&j) => stack.push(j),
                None => return None, // reached the model input without meeting `source`
            }
        }
    }
    // The walk must have met `source` (otherwise the branch is the whole graph above `end`).
    if !members.iter().any(|&i| graph.nodes[i].inputs.iter().any(|x| x == source)) {
        return None;
    }
    if let Some(&s) = index.get(source) {
        if members.iter().any(|&i| i <= s) {
            return None;
        }
    }
    let mut v: Vec<usize> = members.into_iter().collect();
    v.sort_unstable();
    Some(v)
}

/// `layer1.0` for `layer1.0.conv1`, `layer1.0.bn1`, …: the longest shared dotted prefix.
fn common_prefix(names: &[&str]) -> Option<String> {
    let first: Vec<&str> = names.first()?.split('.').collect();
    let mut len = first.len().saturating_sub(1);
    for n in &names[1..] {
        let parts: Vec<&str> = n.split('.').collect();
        len = len.min(first.iter().zip(&parts).take_while(|(a, b)| a == b).count()).min(parts.len().saturating_sub(1));
    }
    (len > 0).then(|| first[..len].join("."))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::synth::resnet_graph;

    fn m(tensor: &str, axis: usize, role: MemberRole) -> GroupMember {
        GroupMember { tensor: tensor.into(), axis, span: 1, role }
    }
    fn bn_members(name: &str) -> Vec<GroupMember> {
        ["weight", "bias", "running_mean", "running_var"].iter().map(|t| m(&format!("{name}.{t}"), 0, MemberRole::Follower)).collect()
    }

    #[test]
    fn resnet_stream_is_one_group_per_stage() {
        use MemberRole::{Consumer as C, Producer as P};
        // Two stages (4, 8 channels) of two blocks.
        let g = resnet_graph(&[4, 8], 2, 8);
        let groups = channel_groups(&g).unwrap();
        let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["input", "conv1", "layer1.0.conv1", "layer1.1.conv1", "layer2.0.conv1", "layer2.0.conv2", "layer2.1.conv1", "fc"]);

        assert_eq!((groups[0].units, groups[0].removable), (3, false));
        assert_eq!(groups[0].members, vec![m("conv1.weight", 1, C)]);

        let mut stage1 = vec![m("conv1.weight", 0, P)];
        stage1.extend(bn_members("bn1"));
        stage1.push(m("layer1.0.conv1.weight", 1, C));
        stage1.push(m("layer1.0.conv2.weight", 0, P));
        stage1.extend(bn_members("layer1.0.bn2"));
        stage1.push(m("layer1.1.conv1.weight", 1, C));
        stage1.push(m("layer1.1.conv2.weight", 0, P));
        stage1.extend(bn_members("layer1.1.bn2"));
        stage1.push(m("layer2.0.conv1.weight", 1, C));
        stage1.push(m("layer2.0.shortcut.0.weight", 1, C));
        assert_eq!((groups[1].units, groups[1].removable), (4, true));
        assert_eq!(groups[1].members, stage1);

        let mut inner = vec![m("layer1.0.conv1.weight", 0, P)];
        inner.extend(bn_members("layer1.0.bn1"));
        inner.push(m("layer1.0.conv2.weight", 1, C));
        assert_eq!((groups[2].units, groups[2].removable), (4, true));
        assert_eq!(groups[2].members, inner);

        let mut stage2 = vec![m("layer2.0.conv2.weight", 0, P)];
        stage2.extend(bn_members("layer2.0.bn2"));
        stage2.push(m("layer2.0.shortcut.0.weight", 0, P));
        stage2.extend(bn_members("layer2.0.shortcut.1"));
        stage2.push(m("layer2.1.conv1.weight", 1, C));
        stage2.push(m("layer2.1.conv2.weight", 0, P));
        stage2.extend(bn_members("layer2.1.bn2"));
        stage2.push(m("fc.weight", 1, C));
        assert_eq!((groups[5].units, groups[5].removable), (8, true));
        assert_eq!(groups[5].members, stage2);

        assert_eq!((groups[7].units, groups[7].removable), (10, false));
        assert_eq!(groups[7].members, vec![m("fc.weight", 0, P), m("fc.bias", 0, MemberRole::Follower)]);
    }

    #[test]
    fn identity_shortcut_blocks_are_removable() {
        let g = resnet_graph(&[4, 8], 2, 8);
        let blocks = residual_blocks(&g).unwrap();
        let names: Vec<&str> = blocks.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["layer1.0", "layer1.1", "layer2.1"], "layer2.0 has a projection shortcut");
        let mut tensors = vec!["layer1.0.conv1.weight".to_string()];
        tensors.extend(["weight", "bias", "running_mean", "running_var"].map(|t| format!("layer1.0.bn1.{t}")));
        tensors.push("layer1.0.conv2.weight".into());
        tensors.extend(["weight", "bias", "running_mean", "running_var"].map(|t| format!("layer1.0.bn2.{t}")));
        assert_eq!(blocks[0].tensors, tensors);
        assert_eq!(blocks[0].add_node, "layer1.0.add");
        // ResNet-20: 9 blocks, two with projection shortcuts.
        assert_eq!(residual_blocks(&resnet_graph(&[16, 32, 64], 3, 32)).unwrap().len(), 7);
    }

    #[test]
    fn chains_and_flatten_spans() {
        // LeNet-5: conv1 -> pool -> conv2 -> pool -> flatten (50 x 4x4) -> fc1 -> relu -> fc2.
        let groups = channel_groups(&crate::synth::lenet5_graph()).unwrap();
        let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["input", "conv1", "conv2", "fc1", "fc2"]);
        let fc1_reads = groups[2].members.iter().find(|m| m.tensor == "fc1.weight").unwrap();
        assert_eq!((fc1_reads.axis, fc1_reads.span, fc1_reads.role), (1, 16, MemberRole::Consumer));
        assert!(groups[2].removable && !groups[4].removable);
        assert!(residual_blocks(&crate::synth::lenet5_graph()).unwrap().is_empty());
    }
}
