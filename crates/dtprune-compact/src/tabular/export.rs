//! `compact.safetensors` + `compact.json` of a compacted tabular classifier, and reading them
//! back.
//!
//! The tensors keep the trainer's names and PyTorch layouts (`embeddings.T.weight`
//! `[rows, dim]`, `hidden.L.weight` `[out, in]`, …) at the reduced shapes, every matrix dense
//! (zeros kept); `compact.json` holds the reduced spec and which layers dtprune runs with its
//! CSR kernel.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::compact::{TabularCompacted, TabularReport};
use super::net::{TabularModel, TabularNet};
use super::spec::TabularSpec;
use crate::error::{CompactError, Result};
use crate::export::{ExportedFiles, COMPACT_JSON, COMPACT_WEIGHTS};
use crate::tensor_io::{write_atomic, write_safetensors, OwnedTensor, SafetensorsFile};

pub const FORMAT_NAME: &str = "dtprune-compact-tabular";
pub const FORMAT_VERSION: u32 = 1;

/// The `compact.json` of a tabular classifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TabularCompactJson {
    pub format: String,
    pub version: u32,
    pub spec: TabularSpec,
    /// `"dense"` or `"csr"` per layer (`hidden.L`, `out`).
    pub storage: BTreeMap<String, String>,
    pub report: TabularReport,
}

/// Writes the two files of `c` into `dir`, each atomically.
pub fn export(c: &TabularCompacted, dir: &Path) -> Result<ExportedFiles> {
    let tensors: Vec<(String, OwnedTensor)> = c.model.named_tensors().into_iter().map(|(name, t)| (name, OwnedTensor::f32(t.shape.clone(), &t.data))).collect();
    let storage = c.report.layers.iter().map(|l| (l.name.clone(), l.format.clone())).collect();
    let doc = TabularCompactJson { format: FORMAT_NAME.into(), version: FORMAT_VERSION, spec: c.model.spec.clone(), storage, report: c.report.clone() };
    let weights = dir.join(COMPACT_WEIGHTS);
    let meta: HashMap<String, String> = [("format".to_string(), FORMAT_NAME.to_string())].into();
    let weights_bytes = write_safetensors(&weights, &tensors, Some(meta))?;
    let json = dir.join(COMPACT_JSON);
    let text = serde_json::to_string_pretty(&doc).map_err(|e| CompactError::Serialize { path: json.clone(), reason: e.to_string() })?;
    write_atomic(&json, text.as_bytes())?;
    Ok(ExportedFiles { weights, json, weights_bytes })
}

/// Reads `compact.json` + `compact.safetensors` back into a runnable network with the recorded
/// storage; every tensor's shape is checked against the spec.
pub fn load(dir: &Path) -> Result<(TabularCompactJson, TabularNet)> {
    let (json_path, weights_path) = (dir.join(COMPACT_JSON), dir.join(COMPACT_WEIGHTS));
    if !json_path.is_file() || !weights_path.is_file() {
        return Err(CompactError::NoModel { dir: dir.to_owned(), expected: format!("{COMPACT_JSON} and {COMPACT_WEIGHTS} (run `dtprune compact` first)") });
    }
    let text = std::fs::read_to_string(&json_path).map_err(|e| CompactError::io(&json_path, e))?;
    let doc: TabularCompactJson = serde_json::from_str(&text).map_err(|source| CompactError::GraphJson { path: json_path.clone(), source })?;
    let bad = |reason: String| CompactError::InFile { path: json_path.clone(), source: Box::new(CompactError::Input(reason)) };
    if doc.format != FORMAT_NAME || doc.version != FORMAT_VERSION {
        return Err(bad(format!("format {} version {} is not {FORMAT_NAME} version {FORMAT_VERSION}", doc.format, doc.version)));
    }
    if let Some((name, s)) = doc.storage.iter().find(|(_, s)| *s != "dense" && *s != "csr") {
        return Err(bad(format!("storage `{s}` of `{name}` is neither dense nor csr")));
    }
    let s = &doc.spec;
    if s.concat_width() == 0 || s.classes == 0 || s.hidden.contains(&0) || s.tables.iter().any(|t| t.rows == 0) || s.tables.iter().enumerate().any(|(i, t)| t.column != i) {
        return Err(bad("the spec has an empty layer, an empty table, no input feature or a table out of column order".into()));
    }
    let file = SafetensorsFile::open(&weights_path)?;
    let model = TabularModel::from_file(doc.spec.clone(), &file, None)?;
    let net = model.to_network(|name, _| doc.storage.get(name).is_some_and(|s| s == "csr"))?;
    Ok((doc, net))
}
