//! Recurrent classifiers (`lstm`, `gru`: stacked layers read at each sequence's last valid
//! frame by a linear classifier) compacted and run natively: dead hidden units cut out of every
//! gate, the stacked gate matrices stored dense or CSR, one step kernel per cell.

pub mod activation;
pub mod bench;
pub mod cell;
pub mod compact;
pub mod export;
pub mod layer;
pub mod net;
pub mod onnx;
pub mod spec;

pub use cell::CellKind;
pub use compact::{compact, dead_units, remove_units, RecurrentCompacted, RecurrentReport, UnitReport};
pub use layer::RecurrentLayer;
pub use net::{RecurrentModel, RecurrentNet, Transform};
pub use spec::{is_recurrent_graph, LayerSpec, RecurrentSpec};

use std::path::Path;

use crate::compact::CompactOptions;
use crate::error::Result;
use crate::export::ExportedFiles;

/// `dtprune compact` on a recurrent run: loads its masked model, compacts it and writes
/// `compact.safetensors` + `compact.json` into the run.
pub fn compact_run_dir(dir: &Path, opts: &CompactOptions) -> Result<(RecurrentCompacted, ExportedFiles)> {
    let model = RecurrentModel::load_run(dir)?;
    let c = compact(&model, opts)?;
    let files = export::export(&c, dir)?;
    Ok((c, files))
}
