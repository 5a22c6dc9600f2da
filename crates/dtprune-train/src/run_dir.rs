//! The run directory on disk: what the trainer saves at the end (`model.safetensors`,
//! `masks.safetensors`) and what later commands open (`config.toml` + the model). The format is
//! `docs/history-schema.md`.

use crate::config::ExperimentConfig;
use crate::export::{load_into, load_safetensors, save_safetensors, NamedTensors};
use crate::input::InfoOf;
use crate::model::Model;
use crate::model_params::resolve_model_params;
use crate::params::ParamInfo;
use crate::TrainError;
use burn::prelude::*;
use dtprune_prune::Mask;
use std::path::{Path, PathBuf};

/// Writes the masked-dense model and the masks of the prunable tensors (PyTorch names/layouts).
pub fn save_model_files(out: &Path, tensors: &NamedTensors, prunable: &[ParamInfo], masks: &[Mask]) -> Result<(), TrainError> {
    // One metadata key only: the safetensors writer orders keys by hash, and same seed must
    // mean byte-identical files. Model and producer are in config.toml and graph.json.
    let meta = [("format", "pt".to_string())];
    save_safetensors(&out.join("model.safetensors"), tensors, &meta)?;
    let masks: NamedTensors = prunable.iter().zip(masks).map(|(p, m)| (p.name.clone(), (p.torch_shape(), m.to_f32()))).collect();
    save_safetensors(&out.join("masks.safetensors"), &masks, &meta)
}

/// A finished run directory, checked: its config and its saved model's tensors.
pub struct RunFiles {
    pub dir: PathBuf,
    pub cfg: ExperimentConfig,
    pub model_path: PathBuf,
    pub tensors: NamedTensors,
}

/// Opens `DIR/config.toml` and `DIR/model.safetensors`; a missing directory or file is a
/// [`TrainError::NotARun`] naming what is missing.
pub fn open_run(dir: &Path) -> Result<RunFiles, TrainError> {
    let not_run = |message: String| TrainError::NotARun { path: dir.into(), message };
    if !dir.is_dir() {
        return Err(not_run("no such directory".into()));
    }
    let config_path = dir.join("config.toml");
    if !config_path.is_file() {
        return Err(not_run("config.toml is missing".into()));
    }
    let model_path = dir.join("model.safetensors");
    if !model_path.is_file() {
        return Err(not_run("model.safetensors is missing (the run did not finish?)".into()));
    }
    let cfg = ExperimentConfig::from_toml_file(&config_path)?;
    let tensors = load_safetensors(&model_path)?;
    Ok(RunFiles { dir: dir.into(), cfg, model_path, tensors })
}

/// A run's saved weights loaded into a fresh `M` (built from the run's `[model]` parameters)
/// on `device`.
pub fn load_model<M: Model>(info: InfoOf<M::Input>, run: &RunFiles, device: &Device) -> Result<M, TrainError> {
    let params = resolve_model_params(&run.cfg.model.name, M::params(), &run.cfg.model.params)
        .map_err(|e| TrainError::NotARun { path: run.dir.clone(), message: format!("config.toml: {e}") })?;
    load_into(M::init(info, &params, device), &run.model_path, &run.tensors)
}
