//! `compact.safetensors` + `compact.json` of a compacted recurrent classifier, and reading
//! them back.
//!
//! The tensors carry **PyTorch's names and layouts**, one single-layer `nn.LSTM` / `nn.GRU`
//! per layer (a `ModuleList` at `rnn`, since layers may keep different widths):
//! `rnn.0.weight_ih_l0` `[G·H, in]`, `rnn.0.weight_hh_l0` `[G·H, H]`, `rnn.0.bias_ih_l0`,
//! `rnn.0.bias_hh_l0`, gates stacked in PyTorch's order (LSTM i, f, g, o; GRU r, z, n), then
//! `fc.weight`, `fc.bias`. So `load_state_dict` takes them as they are. Every matrix is
//! written dense (zeros kept, the reduced shape); `compact.json` records which ones dtprune
//! runs with its CSR kernel.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::compact::{RecurrentCompacted, RecurrentReport};
use super::net::RecurrentNet;
use crate::dense::DenseMat;
use crate::error::Result;
use crate::export::{ExportedFiles, COMPACT_JSON};
use crate::network::{LinearOp, Weights};
use crate::recurrent::cell::CellKind;
use crate::recurrent::layer::RecurrentLayer;
use crate::sparse::Csr;
use crate::tensor_io::{OwnedTensor, SafetensorsFile};

pub const FORMAT_NAME: &str = "dtprune-compact-recurrent";
pub const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerJson {
    pub name: String,
    pub input_size: usize,
    pub hidden_size: usize,
    /// `"dense"` or `"csr"`: the kernel of `weight_ih` and of `weight_hh`.
    pub input_storage: String,
    pub hidden_storage: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifierJson {
    pub name: String,
    pub in_features: usize,
    pub out_features: usize,
    pub storage: String,
}

/// The `compact.json` of a recurrent model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecurrentCompactJson {
    pub format: String,
    pub version: u32,
    pub model: String,
    /// `lstm` or `gru`.
    pub cell: String,
    /// `[frames, features]` of one padded sequence.
    pub input: Vec<usize>,
    /// Gate order of the stacked rows (PyTorch's).
    pub gate_order: Vec<String>,
    pub layers: Vec<LayerJson>,
    pub classifier: ClassifierJson,
    pub report: RecurrentReport,
}

fn gate_letters(kind: CellKind) -> Vec<String> {
    match kind {
        CellKind::Lstm => ["i", "f", "g", "o"],
        CellKind::Gru => ["r", "z", "n", ""],
    }
    .into_iter()
    .filter(|s| !s.is_empty())
    .map(String::from)
    .collect()
}

/// PyTorch's tensor names of layer `name`: `(weight_ih, weight_hh, bias_ih, bias_hh)`.
pub fn torch_names(name: &str) -> [String; 4] {
    ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"].map(|t| format!("{name}.{t}"))
}

/// Writes the two files of `c` into `dir`, each atomically.
pub fn export(c: &RecurrentCompacted, dir: &Path) -> Result<ExportedFiles> {
    let net = &c.network;
    let kind = c.model.spec.kind;
    let mut tensors = Vec::new();
    let mut layers = Vec::new();
    for l in &net.layers {
        let [wi, wh, bi, bh] = torch_names(&l.name);
        let (mi, mh) = (l.input_weights.to_dense(), l.hidden_weights.to_dense());
        tensors.push((wi, OwnedTensor::f32(vec![mi.rows, mi.cols], &mi.data)));
        tensors.push((wh, OwnedTensor::f32(vec![mh.rows, mh.cols], &mh.data)));
        tensors.push((bi, OwnedTensor::f32(vec![l.input_bias.len()], &l.input_bias)));
        tensors.push((bh, OwnedTensor::f32(vec![l.hidden_bias.len()], &l.hidden_bias)));
        layers.push(LayerJson { name: l.name.clone(), input_size: mi.cols, hidden_size: l.hidden, input_storage: l.input_weights.format().into(), hidden_storage: l.hidden_weights.format().into() });
    }
    let fc = net.classifier.weight.to_dense();
    let name = &net.classifier.name;
    tensors.push((format!("{name}.weight"), OwnedTensor::f32(vec![fc.rows, fc.cols], &fc.data)));
    tensors.push((format!("{name}.bias"), OwnedTensor::f32(vec![fc.rows], &net.classifier.bias)));
    let doc = RecurrentCompactJson {
        format: FORMAT_NAME.into(),
        version: FORMAT_VERSION,
        model: net.model.clone(),
        cell: kind.op().into(),
        input: vec![net.frames, net.features],
        gate_order: gate_letters(kind),
        layers,
        classifier: ClassifierJson { name: name.clone(), in_features: fc.cols, out_features: fc.rows, storage: net.classifier.weight.format().into() },
        report: c.report.clone(),
    };
    crate::export::write_family_files(dir, &tensors, HashMap::from([("format".to_string(), FORMAT_NAME.to_string()), ("dtprune.cell".to_string(), kind.op().to_string())]), &doc)
}

/// Whether `compact.json` in `dir` is a recurrent model's.
pub fn is_recurrent_compact(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join(COMPACT_JSON)).ok().and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok()).and_then(|v| v.get("format").and_then(|f| f.as_str()).map(|f| f == FORMAT_NAME)).unwrap_or(false)
}

/// Reads `compact.json` + `compact.safetensors` back into a runnable network with the recorded
/// storage; every tensor is checked against the document.
pub fn load(dir: &Path) -> Result<(RecurrentCompactJson, RecurrentNet)> {
    let (doc, json_path, weights_path) = crate::export::read_family_json::<RecurrentCompactJson>(dir, FORMAT_NAME, FORMAT_VERSION)?;
    let bad = |reason: String| crate::export::in_file(&json_path, reason);
    let kind = CellKind::from_op(&doc.cell).ok_or_else(|| bad(format!("cell `{}` is neither lstm nor gru", doc.cell)))?;
    let &[frames, features] = doc.input.as_slice() else { return Err(bad(format!("input {:?} is not [frames, features]", doc.input))) };
    let file = SafetensorsFile::open(&weights_path)?;
    let store = |m: DenseMat, storage: &str| -> Result<Weights> {
        match storage {
            "dense" => Ok(Weights::Dense(m)),
            "csr" => Ok(Weights::Csr(Csr::from_dense(&m))),
            other => Err(bad(format!("storage `{other}` is neither dense nor csr"))),
        }
    };
    let matrix = |name: &str, rows: usize, cols: usize| -> Result<DenseMat> { Ok(DenseMat::new(rows, cols, file.f32(name, Some(&[rows, cols]))?.data)) };
    let g = kind.num_gates();
    let mut layers = Vec::new();
    let mut width = features;
    for l in &doc.layers {
        if l.input_size != width || l.hidden_size == 0 {
            return Err(bad(format!("layer `{}`: input_size {} but its input has {width} features (hidden_size {})", l.name, l.input_size, l.hidden_size)));
        }
        let [wi, wh, bi, bh] = torch_names(&l.name);
        let h = l.hidden_size;
        layers.push(RecurrentLayer::new(
            l.name.clone(),
            kind,
            h,
            store(matrix(&wi, g * h, l.input_size)?, &l.input_storage)?,
            store(matrix(&wh, g * h, h)?, &l.hidden_storage)?,
            file.f32(&bi, Some(&[g * h]))?.data,
            file.f32(&bh, Some(&[g * h]))?.data,
        ));
        width = h;
    }
    let c = &doc.classifier;
    if c.in_features != width || layers.is_empty() {
        return Err(bad(format!("classifier reads {} features but the last layer has {width} units", c.in_features)));
    }
    let weight = store(matrix(&format!("{}.weight", c.name), c.out_features, c.in_features)?, &c.storage)?;
    let bias = file.f32(&format!("{}.bias", c.name), Some(&[c.out_features]))?.data;
    let net = RecurrentNet { model: doc.model.clone(), frames, features, layers, classifier: LinearOp { name: c.name.clone(), weight, bias } };
    Ok((doc, net))
}
