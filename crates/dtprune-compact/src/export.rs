//! Export of the compact model: `compact.safetensors` + `compact.json`, readable without dtprune.
//!
//! Tensor layout (all little-endian, C order):
//! * dense layer: `NAME.weight` F32 in PyTorch layout of the *compact* shape
//!   (`[out, in]` or `[out, in, kh, kw]`), `NAME.bias` F32 `[out]`;
//! * CSR layer: `NAME.weight.indptr` I64 `[rows+1]`, `NAME.weight.indices` I32 `[nnz]`,
//!   `NAME.weight.data` F32 `[nnz]` for the weight viewed as `[out, in*kh*kw]` (scipy's CSR
//!   convention), and `NAME.bias`.
//!
//! `compact.json` is the input graph with the new layer sizes, each parameterised layer carrying
//! a `storage` record (format, shapes, nnz, tensor names), plus the compaction report.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::compact::{compact, CompactOptions, CompactReport, Compacted};
use crate::error::{CompactError, Result};
use crate::graph::{Graph, Layer, Preprocess};
use crate::model::{load_run, weight_shape, DenseModel};
use crate::network::{Network, Op, Weights};
use crate::sparse::Csr;
use crate::tensor_io::{write_atomic, write_safetensors, OwnedTensor, SafetensorsFile, Tensor};

pub const COMPACT_WEIGHTS: &str = "compact.safetensors";
pub const COMPACT_JSON: &str = "compact.json";
pub const REFERENCE_FILE: &str = "reference.safetensors";

/// A model family's compact form in `dir` (recurrent, Transformer, tabular): its `compact.json`
/// read as `T` once its `format` and `version` are checked (so another family's file or an
/// older version is named as such, not as a missing field), with the paths of both files.
pub(crate) fn read_family_json<T: serde::de::DeserializeOwned>(dir: &Path, format: &str, version: u32) -> Result<(T, PathBuf, PathBuf)> {
    let (json_path, weights_path) = (dir.join(COMPACT_JSON), dir.join(COMPACT_WEIGHTS));
    if !json_path.is_file() || !weights_path.is_file() {
        return Err(CompactError::NoModel { dir: dir.to_owned(), expected: format!("{COMPACT_JSON} and {COMPACT_WEIGHTS} (run `dtprune compact` first)") });
    }
    let text = std::fs::read_to_string(&json_path).map_err(|e| CompactError::io(&json_path, e))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|source| CompactError::GraphJson { path: json_path.clone(), source })?;
    let (f, v) = (value.get("format").and_then(|f| f.as_str()).unwrap_or("(none)"), value.get("version").and_then(|v| v.as_u64()).unwrap_or(0));
    if f != format || v != u64::from(version) {
        return Err(in_file(&json_path, format!("format {f} version {v} is not {format} version {version}")));
    }
    let doc = serde_json::from_value(value).map_err(|source| CompactError::GraphJson { path: json_path.clone(), source })?;
    Ok((doc, json_path, weights_path))
}

/// Writes a model family's compact form into `dir`, each file atomically: `tensors` as
/// `compact.safetensors` (header metadata `meta`) and `doc` as `compact.json`.
pub(crate) fn write_family_files(dir: &Path, tensors: &[(String, OwnedTensor)], meta: HashMap<String, String>, doc: &impl Serialize) -> Result<ExportedFiles> {
    let weights = dir.join(COMPACT_WEIGHTS);
    let weights_bytes = write_safetensors(&weights, tensors, Some(meta))?;
    let json = dir.join(COMPACT_JSON);
    let text = serde_json::to_string_pretty(doc).map_err(|e| CompactError::Serialize { path: json.clone(), reason: e.to_string() })?;
    write_atomic(&json, text.as_bytes())?;
    Ok(ExportedFiles { weights, json, weights_bytes })
}

/// An error about the contents of the file at `path`.
pub(crate) fn in_file(path: &Path, reason: String) -> CompactError {
    CompactError::InFile { path: path.to_owned(), source: Box::new(CompactError::Input(reason)) }
}

/// Every storage entry of a family's `compact.json` is `dense` or `csr`.
pub(crate) fn check_storage(storage: &std::collections::BTreeMap<String, String>, json_path: &Path) -> Result<()> {
    match storage.iter().find(|(_, s)| *s != "dense" && *s != "csr") {
        Some((name, s)) => Err(in_file(json_path, format!("storage `{s}` of `{name}` is neither dense nor csr"))),
        None => Ok(()),
    }
}
pub const FORMAT_NAME: &str = "dtprune-compact";
pub const FORMAT_VERSION: u32 = 1;

/// Storage of one layer's weight in `compact.safetensors`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Storage {
    /// `"dense"` or `"csr"`.
    pub format: String,
    /// Logical weight shape in PyTorch layout.
    pub weight_shape: Vec<usize>,
    /// The 2-d matrix the CSR arrays describe: `[out, in*kh*kw]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csr_shape: Option<[usize; 2]>,
    pub nnz: usize,
    pub density: f64,
    /// Names of the tensors holding this layer.
    pub tensors: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompactLayer {
    /// The node's id and inputs (files of version 1, all chains, have neither: each layer reads
    /// the one before).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
    #[serde(flatten)]
    pub layer: Layer,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Storage>,
}

/// The `compact.json` document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompactJson {
    pub format: String,
    pub version: u32,
    pub model: String,
    pub input: Vec<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preprocess: Option<Preprocess>,
    /// The layers (nodes) in a topological order, with the compacted widths.
    pub layers: Vec<CompactLayer>,
    /// The logits' node (version 1: the last layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    pub report: CompactReport,
    /// The int8 model written beside this one (`dtprune compact --quantize int8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<crate::quant::QuantRecord>,
}

impl CompactJson {
    /// The compacted graph.
    pub fn graph(&self) -> Result<Graph> {
        let layers = self.layers.iter().map(|l| l.layer.clone());
        let graph = if self.layers.iter().all(|l| l.inputs.is_empty()) {
            Graph::chain(self.model.clone(), self.input.clone(), self.preprocess.clone(), layers.collect())
        } else {
            let nodes = self.layers.iter().map(|l| crate::graph::Node { id: l.id.clone(), inputs: l.inputs.clone(), op: l.layer.clone() }).collect();
            let output = self.output.clone().ok_or_else(|| CompactError::Input("compact.json has nodes with inputs but no `output`".into()))?;
            Graph { model: self.model.clone(), input: self.input.clone(), preprocess: self.preprocess.clone(), nodes, output }
        };
        graph.shapes()?;
        Ok(graph)
    }
}

/// Paths and sizes of a written compact model.
#[derive(Clone, Debug)]
pub struct ExportedFiles {
    pub weights: PathBuf,
    pub json: PathBuf,
    pub weights_bytes: u64,
}

/// Writes `compact.safetensors` and `compact.json` into `dir` (atomically, each file).
pub fn export(c: &Compacted, dir: &Path) -> Result<ExportedFiles> {
    let mut tensors: Vec<(String, OwnedTensor)> = Vec::new();
    let mut layers = Vec::new();
    // `to_network` builds one op per node, in node order.
    for (node, op) in c.model.graph.nodes.iter().zip(&c.network.ops) {
        let layer = &node.op;
        let (id, inputs) = (node.id.clone(), node.inputs.clone());
        let (weights, bias) = match op {
            Op::Conv(cv) => (cv.weights(), &cv.bias),
            Op::Linear(l) => (l.weight.clone(), &l.bias),
            Op::BatchNorm(_) => {
                // An unfolded BatchNorm: its four tensors as they are.
                let names: Vec<String> = layer.param_shapes().into_iter().map(|(t, _)| t).collect();
                for t in &names {
                    let v = &c.model.params[t];
                    tensors.push((t.clone(), OwnedTensor::f32(v.shape.clone(), &v.data)));
                }
                let channels = c.model.params[&names[0]].numel();
                layers.push(CompactLayer {
                    id,
                    inputs,
                    layer: layer.clone(),
                    storage: Some(Storage { format: "dense".into(), weight_shape: vec![channels], csr_shape: None, nnz: channels, density: 1.0, tensors: names }),
                });
                continue;
            }
            _ => {
                layers.push(CompactLayer { id, inputs, layer: layer.clone(), storage: None });
                continue;
            }
        };
        let name = layer.param_name().expect("conv and linear have names");
        let wshape = weight_shape(layer).expect("param layer");
        let numel: usize = wshape.iter().product();
        let (storage_tensors, csr_shape) = match &weights {
            Weights::Dense(d) => {
                tensors.push((
                    format!("{name}.weight"),
                    OwnedTensor::f32(wshape.clone(), &d.data),
                ));
                (vec![format!("{name}.weight")], None)
            }
            Weights::Csr(s) => {
                let indptr: Vec<i64> = s.indptr.iter().map(|&v| v as i64).collect();
                let indices: Vec<i32> = s.indices.iter().map(|&v| v as i32).collect();
                let names = ["indptr", "indices", "data"].map(|k| format!("{name}.weight.{k}"));
                tensors.push((
                    names[0].clone(),
                    OwnedTensor::i64(vec![indptr.len()], &indptr),
                ));
                tensors.push((
                    names[1].clone(),
                    OwnedTensor::i32(vec![indices.len()], &indices),
                ));
                tensors.push((
                    names[2].clone(),
                    OwnedTensor::f32(vec![s.data.len()], &s.data),
                ));
                (names.to_vec(), Some([s.rows, s.cols]))
            }
        };
        tensors.push((
            format!("{name}.bias"),
            OwnedTensor::f32(vec![bias.len()], bias),
        ));
        let mut tnames = storage_tensors;
        tnames.push(format!("{name}.bias"));
        layers.push(CompactLayer {
            id,
            inputs,
            layer: layer.clone(),
            storage: Some(Storage {
                format: weights.format().into(),
                weight_shape: wshape,
                csr_shape,
                nnz: weights.nnz(),
                density: weights.nnz() as f64 / numel.max(1) as f64,
                tensors: tnames,
            }),
        });
    }
    let g = &c.model.graph;
    let doc = CompactJson {
        format: FORMAT_NAME.into(),
        version: FORMAT_VERSION,
        model: g.model.clone(),
        input: g.input.clone(),
        preprocess: g.preprocess.clone(),
        layers,
        output: Some(g.output.clone()),
        report: c.report.clone(),
        quantization: None,
    };
    std::fs::create_dir_all(dir).map_err(|e| CompactError::io(dir, e))?;
    let weights = dir.join(COMPACT_WEIGHTS);
    let json = dir.join(COMPACT_JSON);
    let meta = HashMap::from([
        ("format".to_string(), FORMAT_NAME.to_string()),
        ("graph".to_string(), COMPACT_JSON.to_string()),
    ]);
    let weights_bytes = write_safetensors(&weights, &tensors, Some(meta))?;
    let text = serde_json::to_string_pretty(&doc).map_err(|e| CompactError::Serialize {
        path: json.clone(),
        reason: e.to_string(),
    })?;
    write_atomic(&json, text.as_bytes())?;
    Ok(ExportedFiles {
        weights,
        json,
        weights_bytes,
    })
}

/// `dtprune compact --run DIR`: loads the run's model, compacts it and writes the compact files
/// next to it.
pub fn compact_run_dir(dir: &Path, opts: &CompactOptions) -> Result<(Compacted, ExportedFiles)> {
    let model = load_run(dir)?;
    let c = compact(&model, opts)?;
    let files = export(&c, dir)?;
    Ok((c, files))
}

/// Loads an exported compact model back into a runnable network (no re-compaction, storage as
/// written).
pub fn load_compact(dir: &Path) -> Result<(CompactJson, Network)> {
    let json_path = dir.join(COMPACT_JSON);
    let weights_path = dir.join(COMPACT_WEIGHTS);
    if !json_path.is_file() || !weights_path.is_file() {
        return Err(CompactError::NoModel {
            dir: dir.to_owned(),
            expected: format!("{COMPACT_JSON} and {COMPACT_WEIGHTS} (run `dtprune compact` first)"),
        });
    }
    let text = std::fs::read_to_string(&json_path).map_err(|e| CompactError::io(&json_path, e))?;
    let doc: CompactJson =
        serde_json::from_str(&text).map_err(|source| CompactError::GraphJson {
            path: json_path.clone(),
            source,
        })?;
    doc.graph().map_err(|e| CompactError::InFile { path: json_path.clone(), source: Box::new(e) })?;
    let file = SafetensorsFile::open(&weights_path)?;
    let net = compact_network(&doc, &file)?;
    Ok((doc, net))
}

/// The runnable network of an already parsed `compact.json` and its `compact.safetensors`
/// (what [`load_compact`] does after reading the two files), every tensor checked against the
/// document.
pub fn compact_network(doc: &CompactJson, file: &SafetensorsFile) -> Result<Network> {
    let graph = doc.graph()?;
    // Dense tensors for every layer (CSR densified), then the recorded storage re-applied.
    let mut params = std::collections::BTreeMap::new();
    let mut csr_layers = std::collections::HashSet::new();
    for l in &doc.layers {
        if let Layer::Batchnorm2d { .. } = l.layer {
            for (t, shape) in l.layer.param_shapes() {
                params.insert(t.clone(), file.f32(&t, Some(&shape))?);
            }
            continue;
        }
        let (Some(name), Some(ws)) = (l.layer.param_name(), weight_shape(&l.layer)) else {
            continue;
        };
        let rows = ws[0];
        let cols: usize = ws[1..].iter().product();
        let fmt = l
            .storage
            .as_ref()
            .map(|s| s.format.as_str())
            .unwrap_or("dense");
        let w = match fmt {
            "dense" => file.f32(&format!("{name}.weight"), Some(&ws))?,
            "csr" => {
                let csr = read_csr(file, name, rows, cols)?;
                csr_layers.insert(name.to_string());
                Tensor::new(ws.clone(), csr.to_dense().data)
            }
            other => {
                return Err(CompactError::Input(format!(
                    "layer `{name}`: unknown storage format `{other}`"
                )));
            }
        };
        params.insert(format!("{name}.weight"), w);
        params.insert(
            format!("{name}.bias"),
            file.f32(&format!("{name}.bias"), Some(&[rows]))?,
        );
    }
    let model = DenseModel { graph, params };
    model.to_network(|name, _| csr_layers.contains(name))
}

fn read_csr(file: &SafetensorsFile, name: &str, rows: usize, cols: usize) -> Result<Csr> {
    let path = file.path.clone();
    let get_int = |suffix: &str| -> Result<Vec<i64>> {
        let t = format!("{name}.weight.{suffix}");
        let e = file.entry(&t).ok_or_else(|| CompactError::MissingTensor {
            path: path.clone(),
            name: t.clone(),
        })?;
        use safetensors::Dtype;
        if !matches!(e.dtype, Dtype::I32 | Dtype::I64) {
            return Err(CompactError::WrongDtype {
                path: path.clone(),
                name: t,
                expected: "I32 or I64".into(),
                found: format!("{:?}", e.dtype),
            });
        }
        Ok(file
            .as_f64(&t)
            .expect("integer dtype decodes")
            .into_iter()
            .map(|v| v as i64)
            .collect())
    };
    let indptr = get_int("indptr")?;
    let indices = get_int("indices")?;
    let data_name = format!("{name}.weight.data");
    let data = file.f32(&data_name, Some(&[indices.len()]))?.data;
    let bad = |what: &str| CompactError::WrongShape {
        path: path.clone(),
        name: format!("{name}.weight.{what}"),
        expected: vec![],
        found: vec![],
    };
    if indptr.len() != rows + 1
        || indptr[0] != 0
        || indptr[rows] as usize != indices.len()
        || indptr.windows(2).any(|w| w[0] > w[1])
    {
        return Err(CompactError::Input(format!("tensor `{name}.weight.indptr` is not a valid CSR row pointer for {rows} rows and {} nonzeros", indices.len())));
    }
    if indices.iter().any(|&c| c < 0 || c as usize >= cols) {
        return Err(bad("indices"));
    }
    Ok(Csr {
        rows,
        cols,
        indptr: indptr.iter().map(|&v| v as u32).collect(),
        indices: indices.iter().map(|&v| v as u32).collect(),
        data,
    })
}

/// Writes `reference.safetensors` for cross-checking the export from another runtime:
/// `pixels` U8 `[N, ...input]`, `logits` F32 `[N, outputs]` computed by `net` from the pixels
/// through the graph's preprocessing.
pub fn write_reference(dir: &Path, net: &Network, pixels: &[u8], n: usize) -> Result<PathBuf> {
    write_references(dir, &[("logits", net)], pixels, n)
}

/// [`write_reference`] with the logits of several networks on the same pixels, each under its
/// own tensor name (`dtprune compact --reference` writes the compact model's `logits` and the
/// masked-dense model's `dense_logits`, so either exported ONNX file can be checked).
pub fn write_references(dir: &Path, nets: &[(&str, &Network)], pixels: &[u8], n: usize) -> Result<PathBuf> {
    let Some((_, first)) = nets.first() else {
        return Err(CompactError::Input("no network to write reference logits for".into()));
    };
    let mut pshape = vec![n];
    match first.input {
        crate::graph::Shape::Features(f) => pshape.push(f),
        crate::graph::Shape::Image { c, h, w } => pshape.extend([c, h, w]),
    }
    debug_assert_eq!(pixels.len(), n * first.input.numel());
    let mut tensors = vec![("pixels".to_string(), OwnedTensor::u8(pshape, pixels))];
    for (name, net) in nets {
        let logits = net.forward_u8(pixels, n)?;
        tensors.push((
            name.to_string(),
            OwnedTensor::f32(vec![n, net.num_outputs()], &logits),
        ));
    }
    let path = dir.join(REFERENCE_FILE);
    write_safetensors(&path, &tensors, None)?;
    Ok(path)
}
