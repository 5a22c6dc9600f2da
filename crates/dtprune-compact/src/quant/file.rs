//! The int8 model on disk: `compact-int8.safetensors` (int8 codes with their scales beside
//! them) described by a `quantization` record in `compact.json`. Readable without dtprune:
//! `tests/numpy_forward_int8.py` reproduces the int8 logits with safetensors + numpy.
//!
//! Per quantised layer `NAME` (weights viewed as `[out, in·kh·kw]`):
//! * `NAME.weight.scale` F32 `[out]` (per output channel; 0 for an all-zero row), `NAME.bias` F32;
//! * dense: `NAME.weight` I8 in PyTorch layout; or CSR with one-byte column gaps:
//!   `NAME.weight.indptr` U16 (I32 when over 65535 entries) `[out+1]`, `NAME.weight.delta` U8, `NAME.weight.data` I8, where an
//!   entry's column is the previous entry's + 1 + delta (a row starts after column −1), and a
//!   gap over 255 is bridged by filler entries (delta 255, code 0): 2 bytes per nonzero instead
//!   of f32 CSR's 8. Whichever of the two is smaller is written.
//! * static activations: `NAME.input.scale` F32 `[1]`, `NAME.input.zero_point` U8 `[1]`.
//! Layers that stay f32 (and BatchNorms) are copied from `compact.safetensors` as they are.

use std::collections::HashMap;
use std::path::Path;

use safetensors::Dtype;
use serde::{Deserialize, Serialize};

use super::layer::{QKind, QLayer, QMatrix};
use super::network::{kept_f32, QuantNetwork};
use super::scheme::ActQuant;
use crate::error::{CompactError, Result};
use crate::export::{load_compact, CompactJson, COMPACT_JSON, COMPACT_WEIGHTS};
use crate::network::Op;
use crate::tensor_io::{write_atomic, write_safetensors, OwnedTensor, SafetensorsFile};

pub const INT8_WEIGHTS: &str = "compact-int8.safetensors";
pub const SCHEME: &str = "weights: symmetric int8 per output channel; activations: asymmetric unsigned 7-bit per tensor (x = s·(q − z), q in 0..=127)";

/// The `quantization` record of `compact.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuantRecord {
    pub format: String,
    pub file: String,
    /// `"static"` (calibrated) or `"dynamic"` (per call).
    pub activations: String,
    pub scheme: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<CalibrationRecord>,
    pub layers: Vec<QuantLayerRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<QuantCheck>,
}

/// Which images set the static scales.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CalibrationRecord {
    /// E.g. `"training split of mnist"`.
    pub source: String,
    pub count: usize,
    pub seed: u64,
    /// Indices into that split.
    pub indices: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuantLayerRecord {
    pub name: String,
    /// `"dense"`, `"csr"` (int8) or `"f32"` (not quantised, see `reason`).
    pub storage: String,
    pub nnz: usize,
    pub tensors: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_scale: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_zero_point: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The int8 model against the f32 compact one on a labelled set (written by the CLI).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuantCheck {
    pub images: String,
    pub count: usize,
    pub f32_accuracy: f64,
    pub int8_accuracy: f64,
    /// Share of images where the two argmaxes agree.
    pub argmax_agreement: f64,
    pub max_abs_logit_diff: f32,
}

fn i8_tensor(shape: Vec<usize>, v: &[i8]) -> OwnedTensor {
    OwnedTensor { dtype: Dtype::I8, shape, bytes: v.iter().map(|&b| b as u8).collect() }
}

/// Gap-coded CSR of a matrix: `(indptr, delta, data)`.
pub fn gap_encode(m: &QMatrix) -> (Vec<i32>, Vec<u8>, Vec<i8>) {
    let (mut indptr, mut delta, mut data) = (vec![0i32], Vec::new(), Vec::new());
    for r in 0..m.rows {
        let mut prev: i64 = -1;
        let (idx, q) = m.row(r);
        for (&c, &v) in idx.iter().zip(q) {
            let mut gap = c as i64 - prev - 1;
            while gap > 255 {
                delta.push(255);
                data.push(0);
                gap -= 256;
            }
            delta.push(gap as u8);
            data.push(v);
            prev = c as i64;
        }
        indptr.push(data.len() as i32);
    }
    (indptr, delta, data)
}

/// Writes `compact-int8.safetensors` and records it in `compact.json` (both atomically, the
/// weights first). Returns the weight file's size.
pub fn export_int8(dir: &Path, doc: &mut CompactJson, q: &QuantNetwork, calibration: Option<CalibrationRecord>, check: Option<QuantCheck>) -> Result<u64> {
    let f32_file = SafetensorsFile::open(&dir.join(COMPACT_WEIGHTS))?;
    let mut tensors: Vec<(String, OwnedTensor)> = Vec::new();
    let mut records = Vec::new();
    let copy = |tensors: &mut Vec<(String, OwnedTensor)>, t: &str| -> Result<()> {
        let e = f32_file.entry(t).ok_or_else(|| CompactError::MissingTensor { path: f32_file.path.clone(), name: t.to_string() })?;
        tensors.push((t.to_string(), OwnedTensor { dtype: e.dtype, shape: e.shape.clone(), bytes: f32_file.raw(t).expect("entry").to_vec() }));
        Ok(())
    };
    let static_acts = q.layers.iter().flatten().any(|l| l.input.is_some());
    for (op, layer) in q.net.ops.iter().zip(&q.layers) {
        let name = match op {
            Op::Conv(c) => c.name.clone(),
            Op::Linear(l) => l.name.clone(),
            Op::BatchNorm(b) => {
                for k in ["weight", "bias", "running_mean", "running_var"] {
                    copy(&mut tensors, &format!("{}.{k}", b.name))?;
                }
                continue;
            }
            _ => continue,
        };
        let Some(l) = layer else {
            let names = doc.layers.iter().find(|d| d.layer.param_name() == Some(&name)).and_then(|d| d.storage.as_ref()).map(|s| s.tensors.clone()).unwrap_or_default();
            for t in &names {
                copy(&mut tensors, t)?;
            }
            records.push(QuantLayerRecord { name, storage: "f32".into(), nnz: 0, tensors: names, input_scale: None, input_zero_point: None, reason: kept_f32(op).map(String::from) });
            continue;
        };
        let m = &l.matrix;
        let (indptr, delta, data) = gap_encode(m);
        let mut names = Vec::new();
        let mut push = |t: String, v: OwnedTensor| {
            names.push(t.clone());
            tensors.push((t, v));
        };
        let ptr_bytes = if data.len() <= u16::MAX as usize { 2 } else { 4 };
        let storage = if m.rows * m.cols <= ptr_bytes * indptr.len() + 2 * data.len() {
            let shape = match &l.kind {
                QKind::Linear => vec![m.rows, m.cols],
                QKind::Conv(g) => vec![g.cout, g.cin, g.kh, g.kw],
            };
            push(format!("{name}.weight"), i8_tensor(shape, &m.dense_codes()));
            "dense"
        } else {
            // U16 row pointers when they fit (a small layer's rows cost 2 bytes, not 4).
            let ip = if data.len() <= u16::MAX as usize {
                OwnedTensor { dtype: Dtype::U16, shape: vec![indptr.len()], bytes: indptr.iter().flat_map(|&v| (v as u16).to_le_bytes()).collect() }
            } else {
                OwnedTensor::i32(vec![indptr.len()], &indptr)
            };
            push(format!("{name}.weight.indptr"), ip);
            push(format!("{name}.weight.delta"), OwnedTensor::u8(vec![delta.len()], &delta));
            push(format!("{name}.weight.data"), i8_tensor(vec![data.len()], &data));
            "csr"
        };
        push(format!("{name}.weight.scale"), OwnedTensor::f32(vec![m.rows], &m.scale));
        push(format!("{name}.bias"), OwnedTensor::f32(vec![m.rows], &l.bias));
        if let Some(a) = l.input {
            push(format!("{name}.input.scale"), OwnedTensor::f32(vec![1], &[a.scale]));
            push(format!("{name}.input.zero_point"), OwnedTensor::u8(vec![1], &[a.zero_point]));
        }
        records.push(QuantLayerRecord {
            name,
            storage: storage.into(),
            nnz: m.nnz(),
            tensors: names,
            input_scale: l.input.map(|a| a.scale),
            input_zero_point: l.input.map(|a| a.zero_point),
            reason: None,
        });
    }
    let path = dir.join(INT8_WEIGHTS);
    let meta = HashMap::from([("format".to_string(), "dtprune-compact-int8".to_string()), ("graph".to_string(), COMPACT_JSON.to_string())]);
    let bytes = write_safetensors(&path, &tensors, Some(meta))?;
    doc.quantization = Some(QuantRecord {
        format: "int8".into(),
        file: INT8_WEIGHTS.into(),
        activations: if static_acts { "static" } else { "dynamic" }.into(),
        scheme: SCHEME.into(),
        calibration,
        layers: records,
        check,
    });
    let json = dir.join(COMPACT_JSON);
    let text = serde_json::to_string_pretty(doc).map_err(|e| CompactError::Serialize { path: json.clone(), reason: e.to_string() })?;
    write_atomic(&json, text.as_bytes())?;
    Ok(bytes)
}

/// Loads the int8 model of a run directory (`dtprune compact --quantize int8` wrote it).
pub fn load_int8(dir: &Path) -> Result<(CompactJson, QuantNetwork)> {
    let (doc, net) = load_compact(dir)?;
    let Some(rec) = doc.quantization.clone() else {
        return Err(CompactError::NoModel { dir: dir.to_owned(), expected: format!("an int8 model in {COMPACT_JSON} (run `dtprune compact --quantize int8`)") });
    };
    let path = dir.join(&rec.file);
    if !path.is_file() {
        return Err(CompactError::NoModel { dir: dir.to_owned(), expected: format!("{} (named by {COMPACT_JSON}; run `dtprune compact --quantize int8`)", rec.file) });
    }
    let file = SafetensorsFile::open(&path)?;
    let mut layers = Vec::with_capacity(net.ops.len());
    for op in &net.ops {
        let (name, kind, rows, cols) = match op {
            Op::Linear(l) => (l.name.as_str(), QKind::Linear, l.weight.rows(), weight_cols(&l.weight)),
            Op::Conv(c) => (c.name.as_str(), QKind::Conv(c.geom), c.geom.cout, c.geom.k() / c.groups),
            _ => {
                layers.push(None);
                continue;
            }
        };
        let r = rec.layers.iter().find(|r| r.name == name).ok_or_else(|| CompactError::Input(format!("{}: layer `{name}` has no quantization record", dir.join(COMPACT_JSON).display())))?;
        if r.storage == "f32" {
            layers.push(None);
            continue;
        }
        layers.push(Some(read_layer(&file, name, kind, rows, cols, r)?));
    }
    Ok((doc, QuantNetwork { net, layers }))
}

fn weight_cols(w: &crate::network::Weights) -> usize {
    match w {
        crate::network::Weights::Dense(d) => d.cols,
        crate::network::Weights::Csr(c) => c.cols,
    }
}

fn read_layer(file: &SafetensorsFile, name: &str, kind: QKind, rows: usize, cols: usize, r: &QuantLayerRecord) -> Result<QLayer> {
    let bad = |why: String| CompactError::Input(format!("{}: layer `{name}`: {why}", file.path.display()));
    let scale = file.f32(&format!("{name}.weight.scale"), Some(&[rows]))?.data;
    let bias = file.f32(&format!("{name}.bias"), Some(&[rows]))?.data;
    let bytes = |t: &str, dtype: Dtype| -> Result<&[u8]> {
        let e = file.entry(t).ok_or_else(|| CompactError::MissingTensor { path: file.path.clone(), name: t.to_string() })?;
        if e.dtype != dtype {
            return Err(CompactError::WrongDtype { path: file.path.clone(), name: t.to_string(), expected: format!("{dtype:?}"), found: format!("{:?}", e.dtype) });
        }
        Ok(file.raw(t).expect("entry"))
    };
    let codes: Vec<i8> = match r.storage.as_str() {
        "dense" => {
            let t = format!("{name}.weight");
            let d: Vec<i8> = bytes(&t, Dtype::I8)?.iter().map(|&b| b as i8).collect();
            if d.len() != rows * cols {
                return Err(bad(format!("`{t}` has {} codes, expected {rows} x {cols}", d.len())));
            }
            d
        }
        "csr" => {
            let t = format!("{name}.weight.indptr");
            let indptr: Vec<i32> = match file.entry(&t).map(|e| e.dtype) {
                Some(Dtype::U16) => file.raw(&t).expect("entry").chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]) as i32).collect(),
                _ => bytes(&t, Dtype::I32)?.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().expect("4"))).collect(),
            };
            let delta = bytes(&format!("{name}.weight.delta"), Dtype::U8)?;
            let data: Vec<i8> = bytes(&format!("{name}.weight.data"), Dtype::I8)?.iter().map(|&b| b as i8).collect();
            if indptr.len() != rows + 1 || indptr[0] != 0 || indptr[rows] as usize != data.len() || delta.len() != data.len() || indptr.windows(2).any(|w| w[0] > w[1]) {
                return Err(bad("indptr/delta/data do not form a CSR of this layer".into()));
            }
            let mut d = vec![0i8; rows * cols];
            for row in 0..rows {
                let mut col: i64 = -1;
                for p in indptr[row] as usize..indptr[row + 1] as usize {
                    col += 1 + delta[p] as i64;
                    if col as usize >= cols {
                        return Err(bad(format!("row {row} reaches column {col}, the layer has {cols}")));
                    }
                    d[row * cols + col as usize] = data[p];
                }
            }
            d
        }
        other => return Err(bad(format!("unknown int8 storage `{other}`"))),
    };
    if codes.contains(&-128) {
        return Err(bad("code -128 is outside the symmetric range -127..=127".into()));
    }
    if let Some(i) = scale.iter().position(|s| !(s.is_finite() && *s >= 0.0)) {
        return Err(bad(format!("weight scale of row {i} is {} (must be finite and >= 0)", scale[i])));
    }
    let m = QMatrix::from_codes(rows, cols, scale, &codes);
    let input = if file.contains(&format!("{name}.input.scale")) {
        let s = file.f32(&format!("{name}.input.scale"), Some(&[1]))?.data[0];
        let z = bytes(&format!("{name}.input.zero_point"), Dtype::U8)?;
        if !(s > 0.0) || z.len() != 1 || z[0] > 127 {
            return Err(bad("input scale must be finite and > 0, its zero point one value in 0..=127".into()));
        }
        Some(ActQuant { scale: s, zero_point: z[0] })
    } else if r.input_scale.is_some() {
        return Err(bad("compact.json records an input scale but the file has none".into()));
    } else {
        None
    };
    QLayer::new(name, kind, m, bias, input)
}
