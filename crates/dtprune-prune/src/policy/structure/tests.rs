//! The structure policy's decisions, with norms computed by hand.

use super::*;
use crate::engine::structures::Structures;
use crate::engine::PrunableSpec;
use crate::group::{resolve, row_groups, Block, GroupMember, StructureGroup};
use crate::mask::Mask;
use crate::policy::testing::{obs, params};
use crate::policy::TensorView;

/// Tensors with their specs, for observations with structures.
struct Net {
    specs: Vec<PrunableSpec>,
    values: Vec<Vec<f32>>,
    masks: Vec<Mask>,
}

impl Net {
    fn new(tensors: Vec<(PrunableSpec, Vec<f32>)>) -> Self {
        let masks = tensors.iter().map(|(_, v)| Mask::ones(v.len())).collect();
        let (specs, values) = tensors.into_iter().unzip();
        Self { specs, values, masks }
    }

    fn views(&self) -> Vec<TensorView<'_>> {
        self.specs
            .iter()
            .zip(&self.values)
            .zip(&self.masks)
            .map(|((s, v), m)| TensorView { name: &s.name, shape: &s.shape, values: v, mask: m, structures_removable: s.structures_removable, follower: s.follower })
            .collect()
    }

    /// The policy's decision at the end of epoch 1 over these structures.
    fn decide(&self, s: &Structures, pairs: &[(&str, toml::Value)]) -> Decision {
        let all = self.views();
        let weights: Vec<TensorView> = all.iter().filter(|t| !t.follower).copied().collect();
        let mut o = obs(1, 0.9, 0.9, &weights);
        o.structure = s.view(&all);
        let mut pol = (INFO.build)(&params(&INFO, pairs)).unwrap();
        pol.decide(&o).unwrap()
    }
}

fn member(tensor: &str, axis: usize, role: MemberRole) -> GroupMember {
    GroupMember { tensor: tensor.into(), axis, span: 1, role, offset: None }
}

fn units(d: &Decision) -> Vec<(usize, usize)> {
    d.removals.iter().filter_map(|r| if let Removal::Unit { group, unit } = *r { Some((group, unit)) } else { None }).collect()
}

#[test]
fn rows_of_a_chain_model_as_before_groups() {
    // hidden [3,2]: row norms 5, 1, 5 -> mean 3.667, k 0.5 -> 1.833: row 1 goes.
    let net = Net::new(vec![
        (PrunableSpec::weight("fc1.weight", vec![3, 2], true), vec![3.0, 4.0, 0.0, 1.0, 4.0, 3.0]),
        (PrunableSpec::weight("fc2.weight", vec![2, 3], false), vec![0.1, 0.0, 0.0, 5.0, 5.0, 5.0]),
    ]);
    let s = Structures::new(row_groups(&net.specs), Vec::new());
    let d = net.decide(&s, &[("k", toml::Value::Float(0.5))]);
    assert_eq!(units(&d), vec![(0, 1)]);
    assert!((d.tensors[0].threshold.unwrap() - 0.5 * 11.0 / 3.0).abs() < 1e-6);
    assert_eq!(d.tensors[0].reason, "1 structures with ||W||_2 < 1.83333 (= 0.5 * mean norm) removed");
    // the classifier's rows are its outputs: not a removable group, although its first row is weak
    assert_eq!(d.tensors[1].threshold, None);
    assert_eq!(d.tensors.iter().map(|t| t.mask.pruned()).sum::<usize>(), 0, "the engine masks removed units, not the policy");
}

/// A residual-style group: producers `a` and `d`, BatchNorm γ/β of `a` as followers, `c`
/// reading the channels (the classifier).
pub(crate) fn tied_specs() -> (Vec<(PrunableSpec, Vec<f32>)>, StructureGroup) {
    let tensors = vec![
        (PrunableSpec::weight("a.weight", vec![3, 2], true), vec![3.0, 4.0, 0.0, 1.0, 2.0, 2.0]),
        (PrunableSpec::follower("bn.weight", vec![3]), vec![0.0, 1.0, 1.0]),
        (PrunableSpec::follower("bn.bias", vec![3]), vec![0.0, 0.0, 1.0]),
        (PrunableSpec::weight("d.weight", vec![3, 1], true), vec![0.0, 1.0, 2.0]),
        (PrunableSpec::weight("c.weight", vec![2, 3], false), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
    ];
    let g = StructureGroup {
        name: "stream".into(),
        units: 3,
        removable: true,
        members: vec![
            member("a.weight", 0, MemberRole::Producer),
            member("d.weight", 0, MemberRole::Producer),
            member("bn.weight", 0, MemberRole::Follower),
            member("bn.bias", 0, MemberRole::Follower),
            member("c.weight", 1, MemberRole::Consumer),
        ],
    };
    (tensors, g)
}

fn tied() -> (Net, Structures) {
    let (tensors, g) = tied_specs();
    let net = Net::new(tensors);
    let (groups, blocks) = resolve(&net.specs, &[g], &[]).unwrap();
    (net, Structures::new(groups, blocks))
}

#[test]
fn a_group_is_scored_over_all_its_producer_and_follower_slices() {
    let (net, s) = tied();
    // unit 0: a [3,4], d 0, γ 0, β 0 -> sqrt(25) = 5
    // unit 1: a [0,1], d 1, γ 1, β 0 -> sqrt(3) = 1.7321
    // unit 2: a [2,2], d 2, γ 1, β 1 -> sqrt(8 + 4 + 1 + 1) = sqrt(14) = 3.7417
    // (c's column is a consumer: not in the score)
    let scores = unit_scores(&s.groups[0], &s.view(&net.views()), 2.0);
    let expected = [5.0, 3f64.sqrt(), 14f64.sqrt()];
    assert!(scores.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-12), "{scores:?}");
    // mean 3.4912, k 0.6 -> tau 2.0947: unit 1 only
    let d = net.decide(&s, &[("k", toml::Value::Float(0.6))]);
    assert_eq!(units(&d), vec![(0, 1)]);
    let tau = 0.6 * (5.0 + 3f64.sqrt() + 14f64.sqrt()) / 3.0;
    for w in [0, 1] {
        assert!((f64::from(d.tensors[w].threshold.unwrap()) - tau).abs() < 1e-6, "both producers report the group's tau");
        assert!(d.tensors[w].reason.starts_with("group `stream`: 1 structures"), "{}", d.tensors[w].reason);
    }
    assert_eq!(d.tensors.len(), 3, "followers are not among the policy's tensors");
}

#[test]
fn max_fraction_is_per_group_and_the_weakest_go_first() {
    let (net, s) = tied();
    // k 1.2 -> tau 4.1895: units 1 (1.73) and 2 (3.74) are below, but floor(3 * 0.5) = 1 may go
    let d = net.decide(&s, &[("k", toml::Value::Float(1.2))]);
    assert_eq!(units(&d), vec![(0, 1)]);
    // 0.99 -> floor(2.97) = 2 may go, and 2 leaves one unit alive: both
    let d = net.decide(&s, &[("k", toml::Value::Float(1.2)), ("max_fraction", toml::Value::Float(0.99))]);
    assert_eq!(units(&d), vec![(0, 1), (0, 2)]);
    // a unit already removed counts against the fraction
    let mut s = s;
    s.removed_units[0][1] = true;
    let d = net.decide(&s, &[("k", toml::Value::Float(1.2))]);
    assert!(units(&d).is_empty());
}

/// stem -> block b1 (c1, bn1, c2) -> block b2 (c1, c2) -> fc, one stage.
pub(crate) fn two_blocks() -> (Vec<PrunableSpec>, Vec<Vec<f32>>, Vec<StructureGroup>, Vec<Block>) {
    let w = |n: &str, shape: Vec<usize>| PrunableSpec::weight(n, shape, true);
    let specs = vec![
        w("stem.weight", vec![2, 1]),
        w("b1.c1.weight", vec![2, 2]),
        PrunableSpec::follower("b1.bn1.weight", vec![2]),
        w("b1.c2.weight", vec![2, 2]),
        w("b2.c1.weight", vec![2, 2]),
        w("b2.c2.weight", vec![2, 2]),
        PrunableSpec::weight("fc.weight", vec![3, 2], false),
    ];
    let values = vec![vec![1.0, 2.0], vec![0.1; 4], vec![1.0, 1.0], vec![-0.1; 4], vec![0.2; 4], vec![0.2; 4], vec![1.0; 6]];
    let stream = StructureGroup {
        name: "stream".into(),
        units: 2,
        removable: true,
        members: vec![
            member("stem.weight", 0, MemberRole::Producer),
            member("b1.c2.weight", 0, MemberRole::Producer),
            member("b2.c2.weight", 0, MemberRole::Producer),
            member("b1.c1.weight", 1, MemberRole::Consumer),
            member("b2.c1.weight", 1, MemberRole::Consumer),
            member("fc.weight", 1, MemberRole::Consumer),
        ],
    };
    let inner = |b: &str, bn: bool| {
        let mut members = vec![member(&format!("{b}.c1.weight"), 0, MemberRole::Producer), member(&format!("{b}.c2.weight"), 1, MemberRole::Consumer)];
        if bn {
            members.push(member(&format!("{b}.bn1.weight"), 0, MemberRole::Follower));
        }
        StructureGroup { name: format!("{b}.inner"), units: 2, removable: true, members }
    };
    let block = |b: &str, tensors: &[&str]| Block { name: b.into(), tensors: tensors.iter().map(|t| format!("{b}.{t}")).collect(), add_node: format!("{b}.add"), removable: true };
    let blocks = vec![block("b1", &["c1.weight", "bn1.weight", "c2.weight"]), block("b2", &["c1.weight", "c2.weight"])];
    (specs, values, vec![stream, inner("b1", true), inner("b2", false)], blocks)
}

#[test]
fn block_norms_are_size_normalised_and_one_block_per_stage_stays() {
    let (specs, values, groups, blocks) = two_blocks();
    let net = Net { masks: values.iter().map(|v| Mask::ones(v.len())).collect(), specs, values };
    let (groups, blocks) = resolve(&net.specs, &groups, &blocks).unwrap();
    let s = Structures::new(groups, blocks);
    let all = net.views();
    // b1: eight weights of |0.1| -> (mean 0.01)^(1/2) = 0.1 (γ = 1 left out: with it 0.456)
    // b2: eight of 0.2 -> 0.2
    assert!((blocks::block_norm(&s.view(&all), 0, 2.0) - 0.1).abs() < 1e-7);
    assert!((blocks::block_norm(&s.view(&all), 1, 2.0) - 0.2).abs() < 1e-7);
    // L1: the same means
    assert!((blocks::block_norm(&s.view(&all), 1, 1.0) - 0.2).abs() < 1e-7);
    let k_small = ("k", toml::Value::Float(0.01));
    // tau 0.3: both below, but the stage keeps one: the weaker b1 goes
    let d = net.decide(&s, &[k_small.clone(), ("block_tau", toml::Value::Float(0.3))]);
    assert_eq!(d.removals, vec![Removal::Block(0)]);
    // tau 0.15: only b1 is below
    let d = net.decide(&s, &[k_small.clone(), ("block_tau", toml::Value::Float(0.15))]);
    assert_eq!(d.removals, vec![Removal::Block(0)]);
    // the default 0 removes no block
    assert!(net.decide(&s, std::slice::from_ref(&k_small)).removals.is_empty());
    // a block the graph does not mark removable stays
    let mut s = s;
    s.blocks[0].removable = false;
    let d = net.decide(&s, &[k_small, ("block_tau", toml::Value::Float(0.3))]);
    assert_eq!(d.removals, vec![Removal::Block(1)]);
}
