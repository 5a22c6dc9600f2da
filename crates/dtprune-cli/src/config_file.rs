//! A config error names the file it is in: the merged config (file + flags) is checked, and
//! when the file alone has the same error — it is not a flag's doing — the error says which
//! file (`exp.toml: config: lr = -1 is out of range; ...`).

use dtprune_train::{Experiment, ExperimentConfig, TrainError};
use std::path::Path;

/// [`Experiment::resolve`] on `merged`, read from `file` (if any) with flags on top.
pub fn resolve_naming_file(merged: &ExperimentConfig, file: Option<&Path>) -> Result<Experiment, TrainError> {
    let err = match Experiment::resolve(merged) {
        Ok(experiment) => return Ok(experiment),
        Err(err) => err,
    };
    let Some(path) = file else { return Err(err) };
    if matches!(err, TrainError::Config { path: Some(_), .. }) {
        return Err(err);
    }
    let message = err.to_string();
    let file_alone = ExperimentConfig::from_toml_file(path).ok().and_then(|c| Experiment::resolve(&c).err());
    match file_alone {
        Some(e) if e.to_string() == message => {
            let message = message.strip_prefix("config: ").unwrap_or(&message).to_string();
            Err(TrainError::Config { path: Some(path.to_path_buf()), message })
        }
        _ => Err(err),
    }
}
