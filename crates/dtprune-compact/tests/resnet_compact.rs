//! A ResNet-20-shaped network with synthesised weights: one residual-stream channel group
//! partly zeroed (producer rows and BatchNorm γ, β, as the structured engine masks them), one
//! inner channel zeroed, one residual block zeroed. Compaction must remove exactly those, fold
//! every BatchNorm, and give the masked dense forward's logits.

use dtprune_compact::network::Op;
use dtprune_compact::structure::{channel_groups, residual_blocks, MemberRole};
use dtprune_compact::synth::{random_model, random_pixels, resnet_graph, write_run};
use dtprune_compact::{compact, compact_run_dir, load_compact, CompactOptions, Crossover, DenseModel};

/// Zeroes unit `u` of the group named `group` in its producers and followers (not consumers).
fn zero_unit(m: &mut DenseModel, group: &str, units: &[usize]) {
    let g = channel_groups(&m.graph).unwrap().into_iter().find(|g| g.name == group).unwrap();
    for member in g.members.iter().filter(|x| x.role != MemberRole::Consumer) {
        let t = m.params.get_mut(&member.tensor).unwrap();
        let (dim, inner): (usize, usize) = (t.shape[member.axis], t.shape[member.axis + 1..].iter().product());
        assert_eq!(member.axis, 0);
        for &u in units {
            t.data[u * inner..(u + 1) * inner].fill(0.0);
        }
        assert!(units.iter().all(|&u| u < dim));
    }
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn pruned_resnet20() -> DenseModel {
    let graph = resnet_graph(&[16, 32, 64], 3, 16);
    let mut m = random_model(&graph, 7);
    zero_unit(&mut m, "layer2.0.conv2", &[1, 5, 30]); // the stage-2 residual stream
    zero_unit(&mut m, "layer1.1.conv1", &[0, 3]); // inside a block
    let block = residual_blocks(&m.graph).unwrap().into_iter().find(|b| b.name == "layer3.1").unwrap();
    for t in &block.tensors {
        m.params.get_mut(t).unwrap().data.fill(0.0);
    }
    m
}

#[test]
fn resnet20_compacts_to_the_masked_model() {
    let m = pruned_resnet20();
    let n = 3;
    let x: Vec<f32> = (0..n * 3 * 16 * 16).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect();
    let dense = m.dense_network().unwrap();
    assert!(dense.ops.iter().any(|o| matches!(o, Op::BatchNorm(_))));
    let want = dense.forward(&x, n).unwrap();
    for crossover in [0.0, 1.01] {
        let c = compact(&m, &CompactOptions { crossover: Crossover::Fixed(crossover), remove_structure: true }).unwrap();
        let got = c.network.forward(&x, n).unwrap();
        let d = max_diff(&want, &got);
        assert!(d < 1e-4, "crossover {crossover}: logits differ by {d}");
        let s = &c.report.structure;
        assert_eq!(s.removed_blocks, vec!["layer3.1".to_string()]);
        assert_eq!(s.folded_batchnorms.len(), 1 + 9 * 2 + 2, "stem, two per block, two shortcuts");
        assert!(!c.network.ops.iter().any(|o| matches!(o, Op::BatchNorm(_))), "all BatchNorms folded");
        let stream = s.spaces.iter().find(|r| r.layer == "layer2.0.conv2").unwrap();
        assert_eq!((stream.units_before, stream.units_after), (32, 29));
        let inner = s.spaces.iter().find(|r| r.layer == "layer1.1.conv1").unwrap();
        assert_eq!((inner.units_before, inner.units_after), (16, 14));
        // Every member of the stream group shrank together.
        for t in ["layer2.0.conv2.weight", "layer2.0.shortcut.0.weight", "layer2.2.conv2.weight"] {
            assert_eq!(c.model.params[t].shape[0], 29, "{t}");
        }
        for t in ["layer2.1.conv1.weight", "layer2.2.conv1.weight", "layer3.0.conv1.weight", "layer3.0.shortcut.0.weight"] {
            assert_eq!(c.model.params[t].shape[1], 29, "{t}");
        }
        assert_eq!(c.model.params["layer1.1.conv2.weight"].shape[1], 14);
        assert!(!c.model.params.contains_key("layer3.1.conv1.weight"));
        let left: Vec<&str> = c.model.graph.nodes.iter().map(|n| n.id.as_str()).filter(|id| id.starts_with("layer3.1.")).collect();
        assert_eq!(left, ["layer3.1.relu2"], "the branch and the add are gone, the relu after the add stays");
        let (dense_macs, compact_macs) = (dense_weight_count(&m), c.model.weight_counts().0);
        assert!(compact_macs < dense_macs);
    }
}

fn dense_weight_count(m: &DenseModel) -> usize {
    m.weight_counts().0
}

/// The exported compact files reload to the same network, and from u8 pixels.
#[test]
fn resnet_compact_files_reload() {
    let m = pruned_resnet20();
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), &m).unwrap();
    let (c, _) = compact_run_dir(dir.path(), &CompactOptions { crossover: Crossover::Fixed(0.3), remove_structure: true }).unwrap();
    let (doc, net) = load_compact(dir.path()).unwrap();
    assert_eq!(doc.output.as_deref(), Some("fc"));
    let pixels = random_pixels(&m.graph, 2, 3);
    let want = m.dense_network().unwrap().forward_u8(&pixels, 2).unwrap();
    let d = max_diff(&want, &net.forward_u8(&pixels, 2).unwrap());
    assert!(d < 1e-4, "reloaded compact differs by {d}");
    assert_eq!(max_diff(&c.network.forward_u8(&pixels, 2).unwrap(), &net.forward_u8(&pixels, 2).unwrap()), 0.0);
}
