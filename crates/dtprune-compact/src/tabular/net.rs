//! A tabular classifier's tensors ([`TabularModel`], the masked model as the trainer wrote it)
//! and its runnable form ([`TabularNet`]).
//!
//! The model is two parts: the embedding tables, which turn each row's ids into the first part
//! of the concatenated feature vector, and an MLP on that vector, which is a plain layer graph
//! (`linear` + `relu` chain) and so uses the crate's generic structure removal, storage choice
//! and kernels ([`crate::structure`], [`crate::compact`], [`crate::network`]).

use std::collections::BTreeMap;
use std::path::Path;

use super::spec::TabularSpec;
use crate::error::{CompactError, Result};
use crate::graph::{Graph, Layer};
use crate::model::DenseModel;
use crate::network::Network;
use crate::tensor_io::{read_masked, SafetensorsFile, Tensor};

/// Spec plus every tensor it lists, masks applied (masked weights are exact zeros).
#[derive(Clone, Debug)]
pub struct TabularModel {
    pub spec: TabularSpec,
    /// `embeddings.T.weight` `[rows, dim]`, one per table.
    pub tables: Vec<Tensor>,
    /// `hidden.L` and `out` as a layer chain reading the concatenation.
    pub mlp: DenseModel,
}

/// The layer chain of the MLP on a concatenation of `spec.concat_width()` features.
pub fn mlp_graph(spec: &TabularSpec) -> Graph {
    let mut layers = Vec::new();
    for (l, (i, o)) in spec.linear_sizes().into_iter().enumerate() {
        if l > 0 {
            layers.push(Layer::Relu);
        }
        layers.push(Layer::Linear { name: spec.linear_name(l), in_features: i, out_features: o, bias: true });
    }
    Graph::chain(spec.model.clone(), vec![spec.concat_width()], None, layers)
}

impl TabularModel {
    pub fn load(model: &Path, graph: &Path, masks: Option<&Path>) -> Result<TabularModel> {
        let spec = TabularSpec::load(graph)?;
        let file = SafetensorsFile::open(model)?;
        let masks = masks.map(SafetensorsFile::open).transpose()?;
        Self::from_file(spec, &file, masks.as_ref())
    }

    pub fn from_file(spec: TabularSpec, file: &SafetensorsFile, masks: Option<&SafetensorsFile>) -> Result<TabularModel> {
        let mut params = read_masked(file, masks, &spec.param_shapes())?;
        Self::from_params(spec, &mut params)
    }

    /// Splits `params` (every tensor of `spec.param_shapes()`) into tables and MLP.
    pub fn from_params(spec: TabularSpec, params: &mut BTreeMap<String, Tensor>) -> Result<TabularModel> {
        let tables = (0..spec.tables.len()).map(|t| params.remove(&format!("embeddings.{t}.weight")).expect("listed by the spec")).collect();
        let graph = mlp_graph(&spec);
        graph.shapes()?;
        Ok(TabularModel { mlp: DenseModel { graph, params: std::mem::take(params) }, spec, tables })
    }

    /// A run directory's `model.safetensors` + `graph.json` (+ `masks.safetensors`).
    pub fn load_run(dir: &Path) -> Result<TabularModel> {
        let (model, graph, masks) = crate::model::run_files(dir)?;
        Self::load(&model, &graph, masks.as_deref())
    }

    /// Every tensor by its trainer name, in `spec.param_shapes()` order.
    pub fn named_tensors(&self) -> Vec<(String, &Tensor)> {
        self.spec.param_shapes().into_iter().map(|(name, _)| {
            let t = match name.strip_prefix("embeddings.").and_then(|r| r.strip_suffix(".weight")).and_then(|t| t.parse::<usize>().ok()) {
                Some(t) => &self.tables[t],
                None => &self.mlp.params[&name],
            };
            (name, t)
        }).collect()
    }

    /// Weights (tables and matrices, not biases) and how many are nonzero.
    pub fn weight_counts(&self) -> (usize, usize) {
        let (n, nz) = self.mlp.weight_counts();
        self.tables.iter().fold((n, nz), |(n, nz), t| (n + t.numel(), nz + t.data.iter().filter(|v| **v != 0.0).count()))
    }

    pub fn num_params(&self) -> usize {
        self.tables.iter().chain(self.mlp.params.values()).map(Tensor::numel).sum()
    }

    /// The runnable network; `use_csr(layer, matrix)` picks each MLP layer's storage.
    pub fn to_network(&self, use_csr: impl FnMut(&str, &crate::dense::DenseMat) -> bool) -> Result<TabularNet> {
        let tables = self.spec.tables.iter().zip(&self.tables).map(|(s, t)| EmbeddingTable { rows: s.rows, dim: s.dim, data: t.data.clone() }).collect();
        Ok(TabularNet { model: self.spec.model.clone(), tables, numeric: self.spec.numeric, mlp: self.mlp.to_network(use_csr)? })
    }

    /// The dense reference: every layer dense, zeros and all.
    pub fn dense_network(&self) -> Result<TabularNet> {
        self.to_network(|_, _| false)
    }
}

/// One categorical column's table, row-major `[rows, dim]`.
#[derive(Clone, Debug)]
pub struct EmbeddingTable {
    pub rows: usize,
    pub dim: usize,
    pub data: Vec<f32>,
}

/// A runnable tabular classifier.
#[derive(Clone, Debug)]
pub struct TabularNet {
    pub model: String,
    pub tables: Vec<EmbeddingTable>,
    pub numeric: usize,
    pub mlp: Network,
}

impl TabularNet {
    pub fn num_classes(&self) -> usize {
        self.mlp.num_outputs()
    }

    /// Bytes of every stored array: tables, and the MLP's weights (CSR as its three arrays)
    /// and biases.
    pub fn param_bytes(&self) -> usize {
        4 * self.tables.iter().map(|t| t.data.len()).sum::<usize>() + self.mlp.param_bytes()
    }

    /// Logits `[n, classes]` of `n` rows: `ids[n, tables]` (row-major, one id per categorical
    /// column, each below its table's rows) and `numeric[n, numeric]` (standardised as the
    /// trainer's loader does). An id outside its table is an error naming row and column.
    pub fn forward(&self, ids: &[u32], numeric: &[f32], n: usize) -> Result<Vec<f32>> {
        let (c, m) = (self.tables.len(), self.numeric);
        if ids.len() != n * c || numeric.len() != n * m {
            return Err(CompactError::Input(format!("{n} rows need {} ids and {} numeric values, got {} and {}", n * c, n * m, ids.len(), numeric.len())));
        }
        // The concatenation built batch-innermost, `[features, n]`, as the MLP's kernels take it.
        let width: usize = self.tables.iter().map(|t| t.dim).sum::<usize>() + m;
        let mut x = vec![0f32; width * n];
        let mut offset = 0;
        for (col, table) in self.tables.iter().enumerate() {
            for r in 0..n {
                let id = ids[r * c + col] as usize;
                if id >= table.rows {
                    return Err(CompactError::Input(format!("row {r}, categorical column {col}: id {id} is outside its table of {} rows", table.rows)));
                }
                for (d, v) in table.data[id * table.dim..(id + 1) * table.dim].iter().enumerate() {
                    x[(offset + d) * n + r] = *v;
                }
            }
            offset += table.dim;
        }
        for r in 0..n {
            for (j, v) in numeric[r * m..(r + 1) * m].iter().enumerate() {
                x[(offset + j) * n + r] = *v;
            }
        }
        self.mlp.forward_batch_innermost(x, n)
    }
}
