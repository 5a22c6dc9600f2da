//! The masked-dense model as the trainer wrote it: `graph.json` + `model.safetensors`
//! (+ optional `masks.safetensors`), validated tensor by tensor against the graph.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::dense::{ConvGeom, DenseMat};
use crate::error::{CompactError, Result};
use crate::graph::{Graph, Layer, Shape};
use crate::network::{ConvOp, ConvWeights, LinearOp, Network, Op, Weights};
use crate::ops::batchnorm::BatchNormOp;
use crate::sparse::{Csr, SparseConv};
use crate::tensor_io::{SafetensorsFile, Tensor};

/// Graph plus parameters: every tensor of every parameterised node (BatchNorm's four included);
/// every conv and linear has `NAME.bias` (a layer declared `bias: false` gets a zero bias, so
/// compaction can fold into it).
#[derive(Clone, Debug)]
pub struct DenseModel {
    pub graph: Graph,
    pub params: BTreeMap<String, Tensor>,
}

/// Expected PyTorch weight shape of a conv or linear layer (`[out, in/groups, kh, kw]`).
pub fn weight_shape(layer: &Layer) -> Option<Vec<usize>> {
    if !layer.has_weight_matrix() {
        return None;
    }
    layer.param_shapes().into_iter().next().map(|(_, s)| s)
}

impl DenseModel {
    /// Loads and validates a model; `masks`, when given, are multiplied into the tensors they
    /// name so that masked weights (and BatchNorm γ, β) are exact zeros even if the trainer
    /// stored them unmasked.
    pub fn load(model: &Path, graph: &Path, masks: Option<&Path>) -> Result<DenseModel> {
        let graph = Graph::load(graph)?;
        let file = SafetensorsFile::open(model)?;
        let masks = masks.map(SafetensorsFile::open).transpose()?;
        Self::from_file(graph, &file, masks.as_ref())
    }

    pub fn from_file(graph: Graph, file: &SafetensorsFile, masks: Option<&SafetensorsFile>) -> Result<DenseModel> {
        graph.shapes()?;
        let mut params = BTreeMap::new();
        for layer in graph.ops() {
            for (tname, shape) in layer.param_shapes() {
                let mut t = file.f32(&tname, Some(&shape))?;
                if let Some(m) = masks.filter(|m| m.contains(&tname)) {
                    let mask = m.f32(&tname, Some(&shape))?;
                    for (v, &k) in t.data.iter_mut().zip(&mask.data) {
                        if k == 0.0 {
                            *v = 0.0;
                        }
                    }
                }
                params.insert(tname, t);
            }
            // Conv and linear always get a bias tensor (zero if the layer has none), so
            // compaction can fold constants and BatchNorms into it.
            if let (Some(name), Some(ws)) = (layer.param_name(), weight_shape(layer)) {
                params.entry(format!("{name}.bias")).or_insert_with(|| Tensor::zeros(vec![ws[0]]));
            }
        }
        Ok(DenseModel { graph, params })
    }

    pub fn weight(&self, name: &str) -> &Tensor {
        &self.params[&format!("{name}.weight")]
    }
    pub fn bias(&self, name: &str) -> &Tensor {
        &self.params[&format!("{name}.bias")]
    }

    /// Number of weight entries and of nonzero weight entries of the conv and linear layers.
    pub fn weight_counts(&self) -> (usize, usize) {
        self.graph
            .ops()
            .filter(|l| l.has_weight_matrix())
            .filter_map(|l| l.param_name())
            .map(|name| self.weight(name))
            .fold((0, 0), |(n, nz), t| (n + t.numel(), nz + t.data.iter().filter(|v| **v != 0.0).count()))
    }

    /// Builds a runnable network. `use_csr(layer_name, weight)` picks each layer's storage.
    pub fn to_network(&self, mut use_csr: impl FnMut(&str, &DenseMat) -> bool) -> Result<Network> {
        let shapes = self.graph.shapes()?;
        let slots = self.graph.slots();
        let mut ops = Vec::with_capacity(self.graph.nodes.len());
        let mut inputs = Vec::with_capacity(self.graph.nodes.len());
        for (i, layer) in self.graph.ops().enumerate() {
            let ins = self.graph.input_slots(&slots, i);
            let op = match layer {
                Layer::Conv2d { name, in_channels, out_channels, kernel, stride, padding, groups, .. } => {
                    let Shape::Image { h, w, .. } = shapes[ins[0]] else { unreachable!("validated") };
                    let geom = ConvGeom {
                        cin: *in_channels,
                        cout: *out_channels,
                        h,
                        w,
                        kh: kernel[0],
                        kw: kernel[1],
                        sh: stride[0],
                        sw: stride[1],
                        ph: padding[0],
                        pw: padding[1],
                    };
                    let k = geom.k() / groups;
                    let data = &self.weight(name).data;
                    let weight = if *groups > 1 {
                        let rows = out_channels / groups;
                        ConvWeights::Grouped(data.chunks(rows * k).map(|c| DenseMat::new(rows, k, c.to_vec())).collect())
                    } else {
                        let m = DenseMat::new(geom.cout, k, data.clone());
                        if use_csr(name, &m) {
                            ConvWeights::Sparse(SparseConv::new(geom, Csr::from_dense(&m)))
                        } else {
                            ConvWeights::Dense(m)
                        }
                    };
                    Op::Conv(ConvOp { name: name.clone(), geom, groups: *groups, weight, bias: self.bias(name).data.clone() })
                }
                Layer::Linear { name, in_features, out_features, .. } => {
                    let m = DenseMat::new(*out_features, *in_features, self.weight(name).data.clone());
                    let weight = if use_csr(name, &m) { Weights::Csr(Csr::from_dense(&m)) } else { Weights::Dense(m) };
                    Op::Linear(LinearOp { name: name.clone(), weight, bias: self.bias(name).data.clone() })
                }
                Layer::Batchnorm2d { name, eps, .. } => {
                    let t = |k: &str| &self.params[&format!("{name}.{k}")].data;
                    Op::BatchNorm(BatchNormOp::new(name, t("weight"), t("bias"), t("running_mean"), t("running_var"), *eps))
                }
                Layer::Maxpool2d { kernel, stride } => Op::MaxPool { kernel: *kernel, stride: stride.unwrap_or(*kernel) },
                Layer::Relu => Op::Relu,
                Layer::Flatten => Op::Flatten,
                Layer::Add => Op::Add,
                Layer::GlobalAvgPool => Op::GlobalAvgPool,
                Layer::Identity => Op::Identity,
            };
            ops.push(op);
            inputs.push(ins);
        }
        Ok(Network { input: shapes[0], preprocess: self.graph.preprocess.clone(), ops, inputs, output: self.graph.output_slot() })
    }

    /// The dense reference: every layer dense, zeros and all, as a framework runs a masked model.
    pub fn dense_network(&self) -> Result<Network> {
        self.to_network(|_, _| false)
    }
}

/// Files of a run directory.
pub const MODEL_FILE: &str = "model.safetensors";
pub const GRAPH_FILE: &str = "graph.json";
pub const MASKS_FILE: &str = "masks.safetensors";

/// The model files of a run dir: `model.safetensors`, `graph.json` (both required) and
/// `masks.safetensors` if present. Every model family's loader starts here.
pub fn run_files(dir: &Path) -> Result<(PathBuf, PathBuf, Option<PathBuf>)> {
    let (model, graph) = (dir.join(MODEL_FILE), dir.join(GRAPH_FILE));
    for f in [&model, &graph] {
        if !f.is_file() {
            return Err(CompactError::NoModel { dir: dir.to_owned(), expected: format!("{MODEL_FILE} and {GRAPH_FILE} (missing {})", f.display()) });
        }
    }
    let masks = dir.join(MASKS_FILE);
    Ok((model, graph, masks.is_file().then_some(masks)))
}

/// Loads `model.safetensors` + `graph.json` (+ `masks.safetensors` if present) from a run dir.
pub fn load_run(dir: &Path) -> Result<DenseModel> {
    let (model, graph, masks) = run_files(dir)?;
    DenseModel::load(&model, &graph, masks.as_deref())
}
