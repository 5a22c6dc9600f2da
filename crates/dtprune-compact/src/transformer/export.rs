//! `compact.safetensors` + `compact.json` of a compacted Transformer classifier, and reading
//! them back.
//!
//! The tensors keep the trainer's names and PyTorch layouts (`blocks.0.attention.query.weight`
//! `[heads·head_dim, d_model]`, …) at the reduced shapes, every matrix dense (zeros kept);
//! `compact.json` holds the reduced spec (with the norms' original width) and which matrices
//! dtprune runs with its CSR kernel.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::compact::{TransformerCompacted, TransformerReport};
use super::net::{TransformerModel, TransformerNet};
use super::spec::TransformerSpec;
use crate::error::Result;
use crate::export::{ExportedFiles, COMPACT_JSON};
use crate::tensor_io::{OwnedTensor, SafetensorsFile};

pub const FORMAT_NAME: &str = "dtprune-compact-transformer";
pub const FORMAT_VERSION: u32 = 1;

/// The `compact.json` of a Transformer classifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransformerCompactJson {
    pub format: String,
    pub version: u32,
    pub spec: TransformerSpec,
    /// `"dense"` or `"csr"` per matrix (`blocks.L.attention.qkv`, …, `fc`).
    pub storage: BTreeMap<String, String>,
    pub report: TransformerReport,
}

/// Writes the two files of `c` into `dir`, each atomically.
pub fn export(c: &TransformerCompacted, dir: &Path) -> Result<ExportedFiles> {
    let tensors: Vec<(String, OwnedTensor)> = c.model.spec.param_shapes().into_iter().map(|(name, shape)| {
        let t = OwnedTensor::f32(shape, &c.model.params[&name].data);
        (name, t)
    }).collect();
    let storage = c.report.matrices.iter().map(|m| (m.name.clone(), m.format.clone())).collect();
    let doc = TransformerCompactJson { format: FORMAT_NAME.into(), version: FORMAT_VERSION, spec: c.model.spec.clone(), storage, report: c.report.clone() };
    crate::export::write_family_files(dir, &tensors, HashMap::from([("format".to_string(), FORMAT_NAME.to_string())]), &doc)
}

/// Whether `compact.json` in `dir` is a Transformer's.
pub fn is_transformer_compact(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join(COMPACT_JSON)).ok().and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok()).and_then(|v| v.get("format").and_then(|f| f.as_str()).map(|f| f == FORMAT_NAME)).unwrap_or(false)
}

/// Reads `compact.json` + `compact.safetensors` back into a runnable network with the recorded
/// storage; every tensor's shape is checked against the spec.
pub fn load(dir: &Path) -> Result<(TransformerCompactJson, TransformerNet)> {
    let (doc, json_path, weights_path) = crate::export::read_family_json::<TransformerCompactJson>(dir, FORMAT_NAME, FORMAT_VERSION)?;
    let bad = |reason: String| crate::export::in_file(&json_path, reason);
    crate::export::check_storage(&doc.storage, &json_path)?;
    let s = &doc.spec;
    if s.d_model == 0 || s.norm_width < s.d_model || s.max_len == 0 || s.vocab == 0 || s.classes == 0 || s.blocks.iter().any(|b| b.heads == 0 || b.head_dim == 0 || b.ffn == 0) {
        return Err(bad("the spec has an empty dimension or a stream wider than its norms".into()));
    }
    let file = SafetensorsFile::open(&weights_path)?;
    let model = TransformerModel::from_file(doc.spec.clone(), &file, None)?;
    let net = model.to_network(|name, _| doc.storage.get(name).is_some_and(|s| s == "csr"));
    Ok((doc, net))
}
