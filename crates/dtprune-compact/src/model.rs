//! The masked-dense model as the trainer wrote it: `graph.json` + `model.safetensors`
//! (+ optional `masks.safetensors`), validated tensor by tensor against the graph.

use std::collections::BTreeMap;
use std::path::Path;

use crate::dense::{ConvGeom, DenseMat};
use crate::error::{CompactError, Result};
use crate::graph::{Graph, Layer, Shape};
use crate::network::{ConvOp, ConvWeights, LinearOp, Network, Op, Weights};
use crate::sparse::{Csr, SparseConv};
use crate::tensor_io::{SafetensorsFile, Tensor};

/// Graph plus parameters. Every parameterised layer has `NAME.weight` and `NAME.bias` in
/// `params` (a layer declared `bias: false` gets a zero bias, so compaction can fold into it).
#[derive(Clone, Debug)]
pub struct DenseModel {
    pub graph: Graph,
    pub params: BTreeMap<String, Tensor>,
}

/// Expected PyTorch weight shape of a layer.
pub fn weight_shape(layer: &Layer) -> Option<Vec<usize>> {
    match layer {
        Layer::Conv2d {
            in_channels,
            out_channels,
            kernel,
            ..
        } => Some(vec![*out_channels, *in_channels, kernel[0], kernel[1]]),
        Layer::Linear {
            in_features,
            out_features,
            ..
        } => Some(vec![*out_features, *in_features]),
        _ => None,
    }
}

impl DenseModel {
    /// Loads and validates a model; `masks`, when given, are multiplied into the weights so that
    /// masked weights are exact zeros even if the trainer stored them unmasked.
    pub fn load(model: &Path, graph: &Path, masks: Option<&Path>) -> Result<DenseModel> {
        let graph = Graph::load(graph)?;
        let file = SafetensorsFile::open(model)?;
        let masks = masks.map(SafetensorsFile::open).transpose()?;
        Self::from_file(graph, &file, masks.as_ref())
    }

    pub fn from_file(
        graph: Graph,
        file: &SafetensorsFile,
        masks: Option<&SafetensorsFile>,
    ) -> Result<DenseModel> {
        graph.shapes()?;
        let mut params = BTreeMap::new();
        for layer in &graph.layers {
            let (Some(name), Some(ws)) = (layer.param_name(), weight_shape(layer)) else {
                continue;
            };
            let wname = format!("{name}.weight");
            let mut w = file.f32(&wname, Some(&ws))?;
            if let Some(m) = masks {
                if m.contains(&wname) {
                    let mask = m.f32(&wname, Some(&ws))?;
                    for (v, &k) in w.data.iter_mut().zip(&mask.data) {
                        if k == 0.0 {
                            *v = 0.0;
                        }
                    }
                }
            }
            let has_bias = matches!(
                layer,
                Layer::Conv2d { bias: true, .. } | Layer::Linear { bias: true, .. }
            );
            let b = if has_bias {
                file.f32(&format!("{name}.bias"), Some(&ws[..1]))?
            } else {
                Tensor::zeros(vec![ws[0]])
            };
            params.insert(wname, w);
            params.insert(format!("{name}.bias"), b);
        }
        Ok(DenseModel { graph, params })
    }

    pub fn weight(&self, name: &str) -> &Tensor {
        &self.params[&format!("{name}.weight")]
    }
    pub fn bias(&self, name: &str) -> &Tensor {
        &self.params[&format!("{name}.bias")]
    }

    /// Number of weight entries and of nonzero weight entries (biases excluded).
    pub fn weight_counts(&self) -> (usize, usize) {
        self.params
            .iter()
            .filter(|(k, _)| k.ends_with(".weight"))
            .fold((0, 0), |(n, nz), (_, t)| {
                (
                    n + t.numel(),
                    nz + t.data.iter().filter(|v| **v != 0.0).count(),
                )
            })
    }

    /// Builds a runnable network. `use_csr(layer_name, weight)` picks each layer's storage.
    pub fn to_network(&self, mut use_csr: impl FnMut(&str, &DenseMat) -> bool) -> Result<Network> {
        let shapes = self.graph.shapes()?;
        let mut ops = Vec::with_capacity(self.graph.layers.len());
        for (i, layer) in self.graph.layers.iter().enumerate() {
            let op = match layer {
                Layer::Conv2d {
                    name,
                    in_channels,
                    out_channels,
                    kernel,
                    stride,
                    padding,
                    ..
                } => {
                    let Shape::Image { h, w, .. } = shapes[i] else {
                        unreachable!("validated")
                    };
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
                    let m = DenseMat::new(geom.cout, geom.k(), self.weight(name).data.clone());
                    let weight = if use_csr(name, &m) {
                        ConvWeights::Sparse(SparseConv::new(geom, Csr::from_dense(&m)))
                    } else {
                        ConvWeights::Dense(m)
                    };
                    Op::Conv(ConvOp {
                        name: name.clone(),
                        geom,
                        weight,
                        bias: self.bias(name).data.clone(),
                    })
                }
                Layer::Linear {
                    name,
                    in_features,
                    out_features,
                    ..
                } => {
                    let m =
                        DenseMat::new(*out_features, *in_features, self.weight(name).data.clone());
                    let weight = if use_csr(name, &m) {
                        Weights::Csr(Csr::from_dense(&m))
                    } else {
                        Weights::Dense(m)
                    };
                    Op::Linear(LinearOp {
                        name: name.clone(),
                        weight,
                        bias: self.bias(name).data.clone(),
                    })
                }
                Layer::Maxpool2d { kernel, stride } => Op::MaxPool {
                    kernel: *kernel,
                    stride: stride.unwrap_or(*kernel),
                },
                Layer::Relu => Op::Relu,
                Layer::Flatten => Op::Flatten,
            };
            ops.push(op);
        }
        Ok(Network {
            input: shapes[0],
            preprocess: self.graph.preprocess,
            ops,
        })
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

/// Loads `model.safetensors` + `graph.json` (+ `masks.safetensors` if present) from a run dir.
pub fn load_run(dir: &Path) -> Result<DenseModel> {
    let (model, graph) = (dir.join(MODEL_FILE), dir.join(GRAPH_FILE));
    for f in [&model, &graph] {
        if !f.is_file() {
            return Err(CompactError::NoModel {
                dir: dir.to_owned(),
                expected: format!(
                    "{} and {} (missing {})",
                    MODEL_FILE,
                    GRAPH_FILE,
                    f.display()
                ),
            });
        }
    }
    let masks = dir.join(MASKS_FILE);
    DenseModel::load(&model, &graph, masks.is_file().then_some(masks.as_path()))
}
