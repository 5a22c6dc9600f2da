//! What the fuzz targets that need the trainer (and so Burn) do with one input; see
//! `checks.rs` for how they are used.

#![allow(dead_code)]

use std::path::Path;

/// The experiment config (`--config exp.toml`): parsed, range-checked and resolved (model,
/// data set, policy and their parameters) as `dtprune train` does; an accepted config must
/// read back from what the run folder records.
pub fn config_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(cfg) = dtprune_train::ExperimentConfig::from_toml_str(text) else { return };
    if dtprune_train::Experiment::resolve(&cfg).is_ok() {
        let recorded = cfg.to_toml();
        let again = dtprune_train::ExperimentConfig::from_toml_str(&recorded).expect("the recorded config parses");
        assert_eq!(again.to_toml(), recorded);
    }
}

/// The trainer's checkpoint reader (`train --resume`): a safetensors file whose metadata holds
/// the loop state, engine snapshot and optimizer step counts, and the config it belongs to,
/// from `[config length: u16 LE] config.toml [checkpoint.safetensors]` (so the fuzzer can get
/// past the check that the checkpoint was written for this config).
pub fn checkpoint(data: &[u8]) {
    let Some(n) = data.get(..2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize) else { return };
    let Some((config, bytes)) = data.get(2..2 + n).zip(data.get(2 + n..)) else { return };
    let Ok(config) = std::str::from_utf8(config) else { return };
    let _ = dtprune_train::checkpoint::Checkpoint::from_bytes(bytes, Path::new("checkpoint.safetensors"), config);
}
