//! The [`TransformerClassifier`] with units of its groups ([`super::transformer_groups`])
//! physically removed: fewer heads, feed-forward neurons or stream dimensions, the same type.

use super::transformer::EncoderBlock;
use super::TransformerClassifier;
use crate::TrainError;

/// `model` without the units `removed[g]` of each of its groups, in
/// [`super::transformer_groups::groups`] order (heads and ffn of block 0, of block 1, …, then
/// the stream).
pub fn remove_units(model: TransformerClassifier, removed: &[Vec<usize>]) -> Result<TransformerClassifier, TrainError> {
    let groups = super::transformer_groups::groups(&model);
    if removed.len() != groups.len() {
        return Err(TrainError::Config { path: None, message: format!("transformer: {} lists of removed units for its {} groups", removed.len(), groups.len()) });
    }
    let mut model = crate::unit_removal::remove_units(model, &groups, removed)?;
    model.blocks = model.blocks.into_iter().map(|b| EncoderBlock { attention: b.attention.refit_heads(), ..b }).collect();
    Ok(model)
}

/// Per group, the units whose every producer and follower slice is exactly zero: what the
/// masks leave of a unit the structure policy removed, or of one weight pruning emptied along
/// with its biases and norm entries. Such a unit contributes nothing (a head's context is 0, a
/// neuron's GELU(0) = 0, a stream dimension stays 0 and the norms count it), so cutting it out
/// gives the same outputs. Consumer slices need not be zero.
pub fn dead_units(model: &TransformerClassifier) -> Vec<Vec<usize>> {
    crate::unit_removal::dead_units(model, &super::transformer_groups::groups(model))
}

/// The compact form of a masked model: every dead unit ([`dead_units`]) physically removed
/// (never a group's last unit). Returns it with the units removed per group.
pub fn compact(model: TransformerClassifier) -> Result<(TransformerClassifier, Vec<Vec<usize>>), TrainError> {
    let groups = super::transformer_groups::groups(&model);
    let mut dead = dead_units(&model);
    for (units, g) in dead.iter_mut().zip(&groups) {
        if units.len() == g.units {
            units.pop();
        }
    }
    Ok((remove_units(model, &dead)?, dead))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit_removal::test_support::zero_unit;
    use crate::input::text::{TextBatch, TextInfo};
    use crate::model::Model;
    use crate::params::list_params;
    use burn::prelude::*;
    use std::collections::BTreeMap;

    const INFO: TextInfo = TextInfo { max_len: 6, vocab_size: 20, classes: 3 };

    /// Randomly initialised; each test builds one and clones it (Burn's random stream is shared
    /// with tests running beside it).
    fn model(device: &Device) -> TransformerClassifier {
        let given: BTreeMap<String, toml::Value> =
            [("d_model", 8), ("heads", 3), ("head_dim", 4), ("ffn", 5), ("layers", 2)].into_iter().map(|(k, v)| (k.to_string(), toml::Value::Integer(v))).collect();
        let params = crate::model_params::resolve_model_params("transformer", TransformerClassifier::params(), &given).unwrap();
        TransformerClassifier::init(INFO, &params, device)
    }

    /// Two texts of 6 tokens, the second with 2 padding positions.
    fn batch(device: &Device) -> TextBatch {
        TextBatch::from_host(&[3, 7, 1, 19, 4, 4, 2, 9, 11, 5, 0, 0], &[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0], 6, device)
    }

    fn logits(m: &TransformerClassifier, device: &Device) -> Vec<f32> {
        m.forward(batch(device)).into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
    }

    fn removing(groups: usize, g: usize, units: &[usize]) -> Vec<Vec<usize>> {
        (0..groups).map(|i| if i == g { units.to_vec() } else { Vec::new() }).collect()
    }

    fn assert_close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn groups_cover_heads_neurons_and_the_stream() {
        let device = Device::flex();
        let m = model(&device);
        let groups = crate::models::transformer_groups::groups(&m);
        let names: Vec<(&str, usize)> = groups.iter().map(|g| (g.name.as_str(), g.units)).collect();
        assert_eq!(names, [("blocks.0.heads", 3), ("blocks.0.ffn", 5), ("blocks.1.heads", 3), ("blocks.1.ffn", 5), ("stream", 8)]);
        // Every member's axis holds units × span entries (PyTorch layout).
        let params = list_params(&m);
        for g in &groups {
            for mem in &g.members {
                let shape = params.iter().find(|p| p.name == mem.tensor).unwrap_or_else(|| panic!("{}", mem.tensor)).torch_shape();
                assert_eq!(shape[mem.axis], g.units * mem.span, "{} in {}", mem.tensor, g.name);
            }
        }
    }

    #[test]
    fn a_removed_head_neuron_or_stream_dimension_keeps_the_model_runnable() {
        let device = Device::flex();
        let base = model(&device);
        let n = crate::models::transformer_groups::groups(&base).len();
        let small = remove_units(base.clone(), &removing(n, 0, &[0, 2])).unwrap();
        assert_eq!(small.blocks[0].attention.heads(), 1);
        assert_eq!(crate::graph::param_dims(&small.blocks[0].attention_output.weight), [4, 8]);
        assert_eq!(small.forward(batch(&device)).dims(), [2, 3]);
        let small = remove_units(base.clone(), &removing(n, 3, &[1])).unwrap();
        assert_eq!(crate::graph::param_dims(&small.blocks[1].ffn_in.weight), [8, 4]);
        assert_eq!(small.forward(batch(&device)).dims(), [2, 3]);
        let small = remove_units(base.clone(), &removing(n, 4, &[0, 5, 6])).unwrap();
        assert_eq!(small.d_model(), 5);
        assert_eq!(small.forward(batch(&device)).dims(), [2, 3]);
        let e = remove_units(base, &removing(n, 0, &[3])).unwrap_err().to_string();
        assert!(e.contains("group `blocks.0.heads`: unit 3 out of range (the group has 3)"), "{e}");
    }

    /// A unit whose every slice is zero contributes nothing: cutting it out gives the same
    /// logits. Checked for a head, a feed-forward neuron and a residual-stream dimension (the
    /// norms count the missing zero).
    #[test]
    fn a_dead_unit_removed_gives_the_same_outputs() {
        let device = Device::flex();
        let base = model(&device);
        let groups = crate::models::transformer_groups::groups(&base);
        for (g, unit) in [(0, 1), (2, 2), (1, 4), (3, 0), (4, 3)] {
            let dead = zero_unit(base.clone(), &groups[g], unit);
            let before = logits(&dead, &device);
            assert_ne!(before, logits(&base, &device), "zeroing {} unit {unit} changes the model", groups[g].name);
            let small = remove_units(dead.clone(), &removing(groups.len(), g, &[unit])).unwrap();
            assert_close(&logits(&small, &device), &before);
            // The compact form finds exactly that unit dead and gives the same outputs.
            assert_eq!(dead_units(&dead), removing(groups.len(), g, &[unit]));
            let (compact, removed) = compact(dead).unwrap();
            assert_eq!(removed, removing(groups.len(), g, &[unit]));
            assert_close(&logits(&compact, &device), &before);
        }
    }

    /// dtprune-compact's native Transformer (what `dtprune compact` deploys) reads the files
    /// the trainer writes and gives Burn's logits, padding included: the masked model run
    /// densely, and the compact one with a head, a neuron and a stream dimension zeroed and cut
    /// out and every matrix CSR, for both texts at once and one by one.
    #[test]
    fn native_kernels_give_burns_logits() {
        use dtprune_compact::transformer::{compact as native_compact, TransformerModel};
        use dtprune_compact::{CompactOptions, Crossover};
        let device = Device::flex();
        let base = model(&device);
        let groups = crate::models::transformer_groups::groups(&base);
        let dead = zero_unit(zero_unit(zero_unit(base, &groups[0], 1), &groups[3], 2), &groups[4], 5);
        let want = logits(&dead, &device);
        let dir = tempfile::tempdir().unwrap();
        crate::model_graph::check_and_write(dead.graph(INFO), &dead, None, &dir.path().join("graph.json")).unwrap();
        crate::export::save_safetensors(&dir.path().join("model.safetensors"), &crate::export::module_tensors(&dead), &[]).unwrap();
        let masked = TransformerModel::load_run(dir.path()).unwrap();
        let (ids, lengths) = ([3u32, 7, 1, 19, 4, 4, 2, 9, 11, 5, 0, 0], [6usize, 4]);
        assert_close(&masked.dense_network().forward(&ids, &lengths, 2).unwrap(), &want);
        let c = native_compact(&masked, &CompactOptions { crossover: Crossover::Fixed(1.01), remove_structure: true }).unwrap();
        let after: Vec<usize> = c.report.units.iter().map(|u| u.units_after).collect();
        assert_eq!(after, [2, 5, 3, 4, 7], "heads, ffn of each block, then the stream");
        assert!(c.report.matrices.iter().all(|m| m.format == "csr"));
        assert_close(&c.network.forward(&ids, &lengths, 2).unwrap(), &want);
        assert_close(&c.network.forward(&ids[6..], &lengths[1..], 1).unwrap(), &want[3..]);
    }
}
