//! Tabular classifiers (`tabular-mlp`: one embedding table per categorical column, the rows
//! concatenated with the numeric columns, an MLP) compacted and run natively: dead embedding
//! dimensions and neurons cut out, every MLP layer stored dense or CSR.

pub mod bench;
pub mod compact;
pub mod export;
pub mod net;
pub mod onnx;
pub mod spec;

pub use compact::{compact, dead_dimensions, remove_dimensions, TabularCompacted, TabularReport};
pub use net::{EmbeddingTable, TabularModel, TabularNet};
pub use spec::{is_tabular_graph, TableSpec, TabularSpec};

use std::path::Path;

use crate::compact::CompactOptions;
use crate::error::Result;
use crate::export::ExportedFiles;

/// `dtprune compact` on a tabular run: loads its masked model, compacts it and writes
/// `compact.safetensors` + `compact.json` into the run.
pub fn compact_run_dir(dir: &Path, opts: &CompactOptions) -> Result<(TabularCompacted, ExportedFiles)> {
    let model = TabularModel::load_run(dir)?;
    let c = compact(&model, opts)?;
    let files = export::export(&c, dir)?;
    Ok((c, files))
}
