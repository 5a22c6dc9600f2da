//! Compaction of a tabular classifier: dead embedding dimensions and neurons cut out, then
//! every MLP layer stored dense or CSR by the measured crossover.
//!
//! * **embedding dimension** d of table T: dead when its column of the table is zero (every id
//!   adds 0 there) or nothing reads it (its column of `hidden.0` is zero). Removing it drops
//!   the table's column and that column of `hidden.0`, found past the tables before T.
//! * **neuron** of a hidden layer: the generic rules of [`crate::structure`] on the MLP, which
//!   is a plain `linear`/`relu` chain: nothing reads it, or its incoming weights are zero and
//!   its constant output relu(b) is folded into the next layer's bias.
//!
//! Each removal can make units of the other kind dead (a neuron gone can leave a `hidden.0`
//! column empty; a column gone can leave a neuron without input), so the two alternate to a
//! fixpoint. A table may lose every dimension — its column is then not read at all — but the
//! concatenation keeps at least one feature.

use serde::{Deserialize, Serialize};

use super::net::{mlp_graph, TabularModel, TabularNet};
use crate::compact::{CompactOptions, LayerReport, UnitReport};
use crate::error::Result;
use crate::graph::Layer;
use crate::structure::remove_dead_structure;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TabularReport {
    /// `embeddings.T.dim` per table, then `hidden.L` per hidden layer.
    pub units: Vec<UnitReport>,
    /// Neurons removed because their output was a constant, now in the next layer's bias.
    pub constant_folded: usize,
    pub passes: usize,
    /// One row per MLP layer (`hidden.L`, `out`).
    pub layers: Vec<LayerReport>,
    pub original_params: usize,
    pub original_nonzero_weights: usize,
    /// Values the compact network stores: tables, biases, weights (nonzeros for CSR).
    pub compact_stored_values: usize,
    pub original_param_bytes: usize,
    pub compact_param_bytes: usize,
}

impl TabularReport {
    pub fn removed_units(&self) -> usize {
        self.units.iter().map(|u| u.units_before - u.units_after).sum()
    }
}

#[derive(Clone, Debug)]
pub struct TabularCompacted {
    /// The unit-reduced model, masked-dense tensors.
    pub model: TabularModel,
    pub network: TabularNet,
    pub report: TabularReport,
}

fn zero_col(t: &crate::tensor_io::Tensor, c: usize) -> bool {
    t.data.chunks_exact(t.shape[1].max(1)).all(|row| row[c] == 0.0)
}

/// The dead dimensions of every table (rules of the module doc).
pub fn dead_dimensions(model: &TabularModel) -> Vec<Vec<usize>> {
    let first = model.mlp.weight("hidden.0");
    model
        .tables
        .iter()
        .enumerate()
        .map(|(t, table)| {
            let offset = model.spec.offset(t);
            (0..model.spec.tables[t].dim).filter(|&d| zero_col(table, d) || zero_col(first, offset + d)).collect()
        })
        .collect()
}

/// `model` without the table dimensions `removed[t]`.
pub fn remove_dimensions(model: &TabularModel, removed: &[Vec<usize>]) -> Result<TabularModel> {
    let mut out = model.clone();
    let mut columns = Vec::new();
    for (t, dims) in removed.iter().enumerate() {
        let offset = model.spec.offset(t);
        columns.extend(dims.iter().map(|d| offset + d));
        out.tables[t] = model.tables[t].keep_cols(dims);
        out.spec.tables[t].dim -= dims.len();
    }
    let first = out.mlp.params["hidden.0.weight"].keep_cols(&columns);
    out.mlp.params.insert("hidden.0.weight".into(), first);
    out.mlp.graph = mlp_graph(&out.spec);
    out.mlp.graph.shapes()?;
    Ok(out)
}

/// The hidden widths of the MLP's graph back into the spec (after neurons were removed).
fn sync_hidden(model: &mut TabularModel) {
    let widths: Vec<usize> = model.mlp.graph.ops().filter_map(|l| match l {
        Layer::Linear { out_features, .. } => Some(*out_features),
        _ => None,
    }).collect();
    let depth = model.spec.hidden.len();
    model.spec.hidden = widths[..depth].to_vec();
}

/// Removes dead units to a fixpoint (when `opts.remove_structure`), then stores each MLP layer
/// dense or CSR by `opts.crossover` (timed at the batch sizes it names).
pub fn compact(original: &TabularModel, opts: &CompactOptions) -> Result<TabularCompacted> {
    let mut model = original.clone();
    let (mut passes, mut constant_folded) = (0, 0);
    if opts.remove_structure {
        loop {
            passes += 1;
            let neurons = remove_dead_structure(&mut model.mlp)?;
            constant_folded += neurons.spaces.iter().map(|s| s.removed_constant_folded).sum::<usize>();
            sync_hidden(&mut model);
            let mut dead = dead_dimensions(&model);
            let left = model.spec.concat_width() - dead.iter().map(Vec::len).sum::<usize>();
            if left == 0 {
                // Keep one feature to read: the last table's last dimension.
                if let Some(d) = dead.iter_mut().rev().find(|d| !d.is_empty()) {
                    d.pop();
                }
            }
            if neurons.removed_units() == 0 && dead.iter().all(Vec::is_empty) {
                break;
            }
            model = remove_dimensions(&model, &dead)?;
        }
    }
    let storage = CompactOptions { remove_structure: false, ..opts.clone() };
    let mlp = crate::compact::compact(&model.mlp, &storage)?;
    let mut layers = mlp.report.layers;
    let original_sizes = original.spec.linear_sizes();
    for (l, (i, o)) in layers.iter_mut().zip(original_sizes) {
        l.original_shape = vec![o, i];
        l.original_bytes = 4 * o * i;
    }
    let network = TabularNet { mlp: mlp.network, ..model.to_network(|_, _| false)? };
    let mut units: Vec<UnitReport> = original.spec.tables.iter().zip(&model.spec.tables).enumerate().map(|(t, (a, b))| UnitReport { group: format!("embeddings.{t}.dim"), units_before: a.dim, units_after: b.dim }).collect();
    units.extend(original.spec.hidden.iter().zip(&model.spec.hidden).enumerate().map(|(l, (a, b))| UnitReport { group: format!("hidden.{l}"), units_before: *a, units_after: *b }));
    let tables: usize = network.tables.iter().map(|t| t.data.len()).sum();
    let report = TabularReport {
        units,
        constant_folded,
        passes,
        layers,
        original_params: original.num_params(),
        original_nonzero_weights: original.weight_counts().1,
        compact_stored_values: tables + mlp.report.compact_stored_values,
        original_param_bytes: 4 * original.num_params(),
        compact_param_bytes: network.param_bytes(),
    };
    Ok(TabularCompacted { model, network, report })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compact::Crossover;
    use crate::tabular::spec::{tests::graph_json, TabularSpec};
    use crate::tensor_io::Tensor;
    use std::collections::BTreeMap;
    use std::path::Path;

    /// The spec of `graph_json` with small deterministic weights, every one nonzero.
    fn model() -> TabularModel {
        let spec = TabularSpec::from_json_str(&graph_json(), Path::new("g.json")).unwrap();
        let mut params = BTreeMap::new();
        for (k, (name, shape)) in spec.param_shapes().into_iter().enumerate() {
            let n: usize = shape.iter().product();
            let data = (0..n).map(|i| ((i * 7 + k * 3) % 11) as f32 / 11.0 - 0.4 + 0.01).collect();
            params.insert(name, Tensor::new(shape, data));
        }
        TabularModel::from_params(spec, &mut params).unwrap()
    }

    fn rows() -> (Vec<u32>, Vec<f32>) {
        (vec![0, 3, 4, 1, 2, 2], vec![0.5, -1.0, 1.5, 0.25, -0.75, 2.0])
    }

    fn logits(net: &TabularNet) -> Vec<f32> {
        let (ids, x) = rows();
        net.forward(&ids, &x, 3).unwrap()
    }

    fn close(a: &[f32], b: &[f32]) {
        let worst = a.iter().zip(b).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
        assert!(a.len() == b.len() && worst < 1e-5, "{a:?} vs {b:?}");
    }

    fn fixed() -> CompactOptions {
        CompactOptions { crossover: Crossover::Fixed(1.01), remove_structure: true }
    }

    #[test]
    fn forward_reads_each_table_at_its_offset() {
        let m = model();
        let net = m.dense_network().unwrap();
        // By hand for row 0: ids (0, 3), numeric (0.5, -1.0).
        let (t0, t1) = (&m.tables[0].data, &m.tables[1].data);
        let mut x: Vec<f32> = t0[0..3].to_vec();
        x.extend_from_slice(&t1[9..12]);
        x.extend_from_slice(&[0.5, -1.0]);
        let lin = |name: &str, x: &[f32], relu: bool| -> Vec<f32> {
            let (w, b) = (m.mlp.weight(name), m.mlp.bias(name));
            (0..w.shape[0]).map(|o| {
                let v = b.data[o] + (0..w.shape[1]).map(|i| w.data[o * w.shape[1] + i] * x[i]).sum::<f32>();
                if relu { v.max(0.0) } else { v }
            }).collect()
        };
        let want = lin("out", &lin("hidden.1", &lin("hidden.0", &x, true), true), false);
        close(&logits(&net)[..2], &want);
        let e = net.forward(&[0, 4, 0, 0, 0, 0], &rows().1, 3).unwrap_err().to_string();
        assert!(e.contains("row 0, categorical column 1: id 4 is outside its table of 4 rows"), "{e}");
    }

    /// A dimension zero in its table, one whose `hidden.0` column is zero, and a neuron with no
    /// incoming weights (constant, folded): all cut out, the same logits.
    #[test]
    fn dead_dimensions_and_neurons_are_cut_out_with_the_same_outputs() {
        let mut m = model();
        let before = logits(&m.dense_network().unwrap());
        for r in 0..5 {
            m.tables[0].data[r * 3 + 1] = 0.0; // table 0, dim 1: adds nothing
        }
        let w0 = m.mlp.params.get_mut("hidden.0.weight").unwrap();
        for o in 0..6 {
            w0.data[o * 8 + 3 + 2] = 0.0; // table 1, dim 2: nobody reads it
        }
        w0.data[4 * 8..5 * 8].iter_mut().for_each(|v| *v = 0.0); // neuron 4: relu(b) constant
        let want = logits(&m.dense_network().unwrap());
        assert_ne!(want, before);
        assert_eq!(dead_dimensions(&m), vec![vec![1], vec![2]]);
        let c = compact(&m, &fixed()).unwrap();
        let after: Vec<(String, usize)> = c.report.units.iter().map(|u| (u.group.clone(), u.units_after)).collect();
        assert_eq!(after, [("embeddings.0.dim".to_string(), 2), ("embeddings.1.dim".into(), 2), ("hidden.0".into(), 5), ("hidden.1".into(), 4)]);
        assert_eq!(c.report.constant_folded, 1);
        assert_eq!(c.network.mlp.ops.len(), 5);
        assert!(c.report.layers.iter().all(|l| l.format == "csr"));
        assert_eq!(c.report.layers[0].original_shape, [6, 8]);
        assert_eq!(c.report.layers[0].compact_shape, [5, 6]);
        close(&logits(&c.network), &want);
    }

    /// A table whose every dimension is dead goes entirely: its column is no longer read.
    #[test]
    fn a_table_can_lose_every_dimension() {
        let mut m = model();
        m.tables[1].data.iter_mut().for_each(|v| *v = 0.0);
        let want = logits(&m.dense_network().unwrap());
        let c = compact(&m, &fixed()).unwrap();
        assert_eq!(c.model.spec.tables[1].dim, 0);
        assert_eq!(c.model.spec.concat_width(), 5);
        close(&logits(&c.network), &want);
    }
}
