//! The structured units of `tabular-mlp`:
//!
//! - an **embedding dimension** d of table t (group `embeddings.t.dim`): column d of
//!   `embeddings.t.weight` (producer: the value every id of the column contributes there) and
//!   the column of `hidden.0.weight` that reads it — d plus the widths of the tables before t,
//!   since the first layer reads the tables concatenated in column order (consumer, a window
//!   of that axis);
//! - a **neuron** u of hidden layer l (group `hidden.l`): row u of `hidden.l.weight`
//!   (producer), entry u of its bias (follower), column u of the next layer's weight
//!   (consumer).
//!
//! A dimension whose column is all zero adds 0 to the concatenation, and a neuron whose row and
//! bias are zero outputs relu(0) = 0: cutting either out
//! ([`crate::unit_removal::remove_units`]) changes no output.

use dtprune_prune::{GroupMember, MemberRole, StructureGroup};

/// The groups of a model whose table t has `dims[t]` dimensions and hidden layer l `widths[l]`
/// neurons; the classifier is `out`.
pub fn groups(dims: &[usize], widths: &[usize]) -> Vec<StructureGroup> {
    use MemberRole::{Consumer, Follower, Producer};
    let member = |tensor: String, axis: usize, role: MemberRole, offset: Option<usize>| GroupMember { tensor, axis, span: 1, role, offset };
    let mut groups = Vec::new();
    let mut offset = 0;
    for (t, &d) in dims.iter().enumerate() {
        let members = vec![member(format!("embeddings.{t}.weight"), 1, Producer, None), member("hidden.0.weight".into(), 1, Consumer, Some(offset))];
        groups.push(StructureGroup { name: format!("embeddings.{t}.dim"), units: d, removable: true, members });
        offset += d;
    }
    for (l, &w) in widths.iter().enumerate() {
        let reader = if l + 1 < widths.len() { format!("hidden.{}.weight", l + 1) } else { "out.weight".into() };
        let members = vec![
            member(format!("hidden.{l}.weight"), 0, Producer, None),
            member(format!("hidden.{l}.bias"), 0, Follower, None),
            member(reader, 1, Consumer, None),
        ];
        groups.push(StructureGroup { name: format!("hidden.{l}"), units: w, removable: true, members });
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::table::{TableBatch, TableInfo};
    use crate::model::Model;
    use crate::models::TabularMlp;
    use crate::params::list_params;
    use crate::unit_removal::{dead_units, remove_units, test_support::zero_unit};
    use burn::prelude::*;
    use burn::tensor::TensorData;
    use std::collections::BTreeMap;

    fn roles(g: &StructureGroup) -> Vec<String> {
        g.members.iter().map(|m| format!("{}@{}{}:{:?}", m.tensor, m.axis, m.offset.map_or(String::new(), |o| format!("+{o}")), m.role)).collect()
    }

    #[test]
    fn dimensions_are_windows_of_the_first_layer_and_neurons_rows_and_columns() {
        let g = groups(&[2, 3], &[4, 5]);
        let names: Vec<&str> = g.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["embeddings.0.dim", "embeddings.1.dim", "hidden.0", "hidden.1"]);
        assert_eq!(g.iter().map(|g| g.units).collect::<Vec<_>>(), [2, 3, 4, 5]);
        assert_eq!(roles(&g[1]), ["embeddings.1.weight@1:Producer", "hidden.0.weight@1+2:Consumer"]);
        assert_eq!(roles(&g[3]), ["hidden.1.weight@0:Producer", "hidden.1.bias@0:Follower", "out.weight@1:Consumer"]);
    }

    fn model(device: &Device) -> (TabularMlp, TableBatch) {
        let info = TableInfo { cardinalities: vec![5, 4], numeric: 2, classes: 2 };
        let given: BTreeMap<String, toml::Value> = [("embedding_dim", 3), ("width", 6), ("depth", 2)].into_iter().map(|(k, v)| (k.to_string(), toml::Value::Integer(v))).collect();
        let params = crate::model_params::resolve_model_params("tabular-mlp", TabularMlp::params(), &given).unwrap();
        let m = TabularMlp::init(info, &params, device);
        let ids: Vec<i64> = (0..14).map(|i| (i * 7 % 4) as i64).collect();
        let numeric: Vec<f32> = (0..14).map(|i| (i as f32 * 0.37).sin()).collect();
        let batch = TableBatch {
            categorical: Some(Tensor::<2, Int>::from_data(TensorData::new(ids, [7, 2]), device)),
            numeric: Some(Tensor::<2>::from_data(TensorData::new(numeric, [7, 2]), device)),
        };
        (m, batch)
    }

    fn logits(m: &TabularMlp, b: &TableBatch) -> Vec<f32> {
        let b = TableBatch { categorical: b.categorical.clone(), numeric: b.numeric.clone() };
        m.forward(b).into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
    }

    /// Every group matches the model's tensors, and a zeroed dimension of the second table (a
    /// window past the first) or neuron cut out gives the same logits from a narrower model.
    #[test]
    fn a_dead_dimension_or_neuron_removed_gives_the_same_outputs() {
        let device = Device::flex();
        let (base, batch) = model(&device);
        let g = base.structure_groups();
        assert_eq!(g.len(), 4);
        let before = logits(&base, &batch);
        for group in 0..g.len() {
            // A unit that matters on this batch (a neuron negative on all 7 rows already
            // outputs 0): the last such, so that table 1's case is a window past table 0's.
            let unit = (0..g[group].units).rev().find(|&u| logits(&zero_unit(base.clone(), &g[group], u), &batch) != before).expect("some unit matters");
            let dead = zero_unit(base.clone(), &g[group], unit);
            let want = logits(&dead, &batch);
            let found = dead_units(&dead, &g);
            assert_eq!(found[group], vec![unit], "{}", g[group].name);
            let removed: Vec<Vec<usize>> = (0..g.len()).map(|i| if i == group { vec![unit] } else { vec![] }).collect();
            let small = remove_units(dead, &g, &removed).unwrap();
            let got = logits(&small, &batch);
            let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(worst < 1e-5, "{} unit {unit}: {worst}", g[group].name);
            let shapes: BTreeMap<String, Vec<usize>> = list_params(&small).into_iter().map(|p| (p.name.clone(), p.torch_shape())).collect();
            // hidden.0 reads 2 tables × 3 dims + 2 numeric columns with 6 neurons.
            let first = match group {
                0 | 1 => vec![6, 7],
                2 => vec![5, 8],
                _ => vec![6, 8],
            };
            assert_eq!(shapes["hidden.0.weight"], first, "{}", g[group].name);
        }
        // Dimensions of both tables at once: the two windows of hidden.0 are cut together.
        let two = zero_unit(zero_unit(base.clone(), &g[0], 1), &g[1], 0);
        let want = logits(&two, &batch);
        let small = remove_units(two, &g, &[vec![1], vec![0], vec![], vec![]]).unwrap();
        let worst = logits(&small, &batch).iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-5, "{worst}");
    }

    /// dtprune-compact's native tabular model (what `dtprune compact` deploys) reads the files
    /// the trainer writes and gives Burn's logits: the masked model run densely, and the compact
    /// one with a dimension of each table and a neuron of each hidden layer zeroed and cut out
    /// and every layer CSR.
    #[test]
    fn native_kernels_give_burns_logits() {
        use dtprune_compact::tabular::{compact as native_compact, TabularModel};
        use dtprune_compact::{CompactOptions, Crossover};
        let device = Device::flex();
        let (base, batch) = model(&device);
        let g = base.structure_groups();
        let dead = zero_unit(zero_unit(zero_unit(zero_unit(base, &g[0], 2), &g[1], 0), &g[2], 3), &g[3], 1);
        let want = logits(&dead, &batch);
        let info = TableInfo { cardinalities: vec![5, 4], numeric: 2, classes: 2 };
        let dir = tempfile::tempdir().unwrap();
        crate::model_graph::check_and_write(dead.graph(info), &dead, None, &dir.path().join("graph.json")).unwrap();
        crate::export::save_safetensors(&dir.path().join("model.safetensors"), &crate::export::module_tensors(&dead), &[]).unwrap();
        let masked = TabularModel::load_run(dir.path()).unwrap();
        let ids: Vec<u32> = batch.categorical.clone().unwrap().into_data().convert::<i64>().try_into_vec::<i64>().unwrap().iter().map(|&v| v as u32).collect();
        let numeric: Vec<f32> = batch.numeric.clone().unwrap().into_data().try_into_vec::<f32>().unwrap();
        let close = |got: &[f32], want: &[f32]| {
            let worst = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(got.len() == want.len() && worst < 1e-5, "{got:?} vs {want:?}");
        };
        close(&masked.dense_network().unwrap().forward(&ids, &numeric, 7).unwrap(), &want);
        let c = native_compact(&masked, &CompactOptions { crossover: Crossover::Fixed(1.01), remove_structure: true }).unwrap();
        let after: Vec<usize> = c.report.units.iter().map(|u| u.units_after).collect();
        assert_eq!(after, [2, 2, 5, 5], "dims of each table, then each hidden layer's neurons");
        assert!(c.report.layers.iter().all(|l| l.format == "csr"));
        close(&c.network.forward(&ids, &numeric, 7).unwrap(), &want);
        close(&c.network.forward(&ids[2..4], &numeric[2..4], 1).unwrap(), &want[2..4]);
    }
}
