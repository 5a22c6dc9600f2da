//! Atomic file output (the shared `dtprune-fs` writer) with this crate's errors.

use crate::TrainError;
use std::path::Path;

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    dtprune_fs::write_atomic(path, bytes).map_err(|e| TrainError::Io { path: path.into(), source: e })
}

pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), TrainError> {
    let mut text = serde_json::to_string_pretty(value).expect("serialisable");
    text.push('\n');
    write_atomic(path, text.as_bytes())
}
