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
use crate::error::Result;
use crate::export::ExportedFiles;
use crate::tensor_io::{OwnedTensor, SafetensorsFile};

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
    crate::export::write_family_files(dir, &tensors, HashMap::from([("format".to_string(), FORMAT_NAME.to_string())]), &doc)
}

/// Reads `compact.json` + `compact.safetensors` back into a runnable network with the recorded
/// storage; every tensor's shape is checked against the spec.
pub fn load(dir: &Path) -> Result<(TabularCompactJson, TabularNet)> {
    let (doc, json_path, weights_path) = crate::export::read_family_json::<TabularCompactJson>(dir, FORMAT_NAME, FORMAT_VERSION)?;
    let bad = |reason: String| crate::export::in_file(&json_path, reason);
    crate::export::check_storage(&doc.storage, &json_path)?;
    let s = &doc.spec;
    if s.concat_width() == 0 || s.classes == 0 || s.hidden.contains(&0) || s.tables.iter().any(|t| t.rows == 0) || s.tables.iter().enumerate().any(|(i, t)| t.column != i) {
        return Err(bad("the spec has an empty layer, an empty table, no input feature or a table out of column order".into()));
    }
    let file = SafetensorsFile::open(&weights_path)?;
    let model = TabularModel::from_file(doc.spec.clone(), &file, None)?;
    let net = model.to_network(|name, _| doc.storage.get(name).is_some_and(|s| s == "csr"))?;
    Ok((doc, net))
}
