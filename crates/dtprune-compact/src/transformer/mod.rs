//! Transformer encoder classifiers (`transformer`: token + position embeddings, pre-norm
//! blocks of multi-head self-attention and a GELU feed-forward, a final norm, the mean over
//! real tokens, a linear classifier) compacted and run natively: dead heads, feed-forward
//! neurons and stream dimensions cut out, every matrix stored dense or CSR.

pub mod attention;
pub mod bench;
pub mod compact;
pub mod export;
pub mod gelu;
pub mod net;
pub mod onnx;
pub mod spec;
pub mod stream_norm;

pub use compact::{compact, dead_units, remove_units, TransformerCompacted, TransformerReport};
pub use net::{TransformerModel, TransformerNet};
pub use spec::{is_transformer_graph, BlockSpec, TransformerSpec};

use std::path::Path;

use crate::compact::CompactOptions;
use crate::error::Result;
use crate::export::ExportedFiles;

/// `dtprune compact` on a Transformer run: loads its masked model, compacts it and writes
/// `compact.safetensors` + `compact.json` into the run.
pub fn compact_run_dir(dir: &Path, opts: &CompactOptions) -> Result<(TransformerCompacted, ExportedFiles)> {
    let model = TransformerModel::load_run(dir)?;
    let c = compact(&model, opts)?;
    let files = export::export(&c, dir)?;
    Ok((c, files))
}
