//! Checkpoints: everything a run needs to continue exactly where it was at an epoch end, in one
//! file, `DIR/checkpoint.safetensors`.
//!
//! - tensors `model/NAME` — the weights, PyTorch layout (as in `model.safetensors`);
//! - tensors `optim/NAME/{first,second,mask,shadow}` — Adam moments or the momentum buffer, the
//!   optimizer's mask and the dense shadow weights of regrowth, Burn layout, flattened;
//! - metadata `dtprune_checkpoint` — JSON (floats as exact bits, [`exact_json`]): format, dtprune version, matrix-kernel set, the
//!   config it belongs to, the loop state (data-order RNG, learning rate, step, history so far),
//!   the pruning engine (masks, τ, the pending event's rollback snapshot, the policy's state)
//!   and each parameter's optimizer step count.
//!
//! The file is written with [`dtprune_fs::write_atomic`] (temporary file, fsync, rename, fsync of
//! the folder), so the previous checkpoint stays in place until the new one is complete. Burn's
//! global random stream only initialises the weights (no model here uses dropout), so the data
//! order and the augmentation stream — two [`SplitMix64`] — are the only random state to keep.

mod exact_json;

use crate::input::SplitMix64;
use crate::export::{load_into, module_tensors, NamedTensors};
use crate::monitor::{EpochRecord, StepRecord};
use crate::optim::{MaskedOptimizer, ParamSnapshot};
use crate::params::list_params;
use crate::TrainError;
use burn::module::Module;
use dtprune_prune::{EngineSnapshot, PruneEvent, PruningEngine};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
const META_KEY: &str = "dtprune_checkpoint";
const FORMAT: u32 = 1;

/// The training loop's own state at an epoch end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    /// Epochs completed (0: before the first).
    pub epoch: usize,
    /// The data-order generator, before drawing the next epoch's permutation.
    pub rng: SplitMix64,
    /// The augmentation generator (a stream apart from the data order), where the next step
    /// draws from — also inside an epoch (a stop request).
    pub augment_rng: SplitMix64,
    /// The learning rate of the next epoch.
    pub lr: f64,
    pub step: usize,
    pub best_val: f64,
    pub history: Vec<EpochRecord>,
    pub step_records: Vec<StepRecord>,
    /// Events of the pruning point before training, reported with epoch 1.
    pub carried_events: Vec<PruneEvent>,
    pub train_seconds: f64,
    pub prune_seconds: f64,
    /// Returns to the last good state made so far ([`crate::divergence`]).
    pub divergence_retries: usize,
    /// Validation loss of the initial weights, the explosion check's first reference.
    pub initial_val_loss: f64,
    /// Set when the checkpoint was taken inside epoch `epoch + 1` (a stop request); `rng` is
    /// then the generator before that epoch's permutation.
    pub in_epoch: Option<EpochProgress>,
}

/// How far an epoch got, for a checkpoint taken between two of its steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochProgress {
    pub batches_done: usize,
    pub loss_sum: f64,
    pub correct: i64,
    pub seen: usize,
    pub step_events: Vec<PruneEvent>,
    pub step_prune_seconds: f64,
    pub seconds: f64,
}

/// A complete snapshot of a run at an epoch end.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub state: LoopState,
    pub engine: EngineSnapshot,
    /// PyTorch layout, by parameter name.
    pub model: NamedTensors,
    /// By parameter name.
    pub optimizer: BTreeMap<String, ParamSnapshot>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: u32,
    dtprune_version: String,
    gemm_kernels: String,
    /// `config.toml` of the run, as written.
    config: String,
    state: LoopState,
    engine: EngineSnapshot,
    optimizer_steps: BTreeMap<String, u64>,
    optimizer_grad_sq: BTreeMap<String, f64>,
}

const SLOTS: [&str; 4] = ["first", "second", "mask", "shadow"];

impl Checkpoint {
    /// Snapshot of a run at an epoch end (no masks pending in the optimizer).
    pub fn capture<M: Module>(model: &M, optim: &MaskedOptimizer, engine: &PruningEngine, state: LoopState) -> Checkpoint {
        let names: HashMap<_, _> = list_params(model).into_iter().map(|p| (p.id, p.name)).collect();
        let optimizer = optim.snapshot().into_iter().filter_map(|(id, s)| Some((names.get(&id)?.clone(), s))).collect();
        Checkpoint { state, engine: engine.snapshot(), model: module_tensors(model), optimizer }
    }

    /// Puts the snapshot into `model` (keeping its parameter ids), `optim` and `engine`.
    /// `path` names the checkpoint in errors.
    pub fn restore<M: Module>(&self, path: &Path, model: M, optim: &mut MaskedOptimizer, engine: &mut PruningEngine) -> Result<M, TrainError> {
        let model = load_into(model, path, &self.model)?;
        let ids: HashMap<String, _> = list_params(&model).into_iter().map(|p| (p.name, p.id)).collect();
        let mut states = HashMap::new();
        for (name, s) in &self.optimizer {
            let id = ids.get(name).ok_or_else(|| tensor_error(path, &format!("optim/{name}"), "no such parameter in the model"))?;
            states.insert(*id, s.clone());
        }
        engine.restore(self.engine.clone()).map_err(|e| corrupt(path, format!("pruning engine: {e}")))?;
        optim.restore(states);
        Ok(model)
    }

    /// The file's bytes; `config` is the run's `config.toml`.
    pub fn to_bytes(&self, config: &str) -> Vec<u8> {
        let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for (name, (shape, values)) in &self.model {
            tensors.push((format!("model/{name}"), shape.clone(), f32_bytes(values)));
        }
        for (name, s) in &self.optimizer {
            for (slot, values) in SLOTS.iter().zip([&s.first, &s.second, &s.mask, &s.shadow]) {
                if let Some(v) = values {
                    tensors.push((format!("optim/{name}/{slot}"), vec![v.len()], f32_bytes(v)));
                }
            }
        }
        let header = Header {
            format: FORMAT,
            dtprune_version: env!("CARGO_PKG_VERSION").to_string(),
            gemm_kernels: crate::platform::gemm_kernels().to_string(),
            config: config.to_string(),
            state: self.state.clone(),
            engine: self.engine.clone(),
            optimizer_steps: self.optimizer.iter().map(|(n, s)| (n.clone(), s.steps)).collect(),
            optimizer_grad_sq: self.optimizer.iter().filter_map(|(n, s)| Some((n.clone(), s.grad_sq?))).collect(),
        };
        let views: Vec<(String, TensorView)> =
            tensors.iter().map(|(n, shape, data)| (n.clone(), TensorView::new(Dtype::F32, shape.clone(), data).expect("shape matches data"))).collect();
        let meta = HashMap::from([(META_KEY.to_string(), exact_json::to_string(&header))]);
        safetensors::serialize(views, Some(meta)).expect("in-memory safetensors serialisation")
    }

    /// Reads a checkpoint written for `config` by this dtprune with this kernel set; anything
    /// else — corrupt bytes, another config, version or kernel set — is an error naming `path`.
    pub fn from_bytes(bytes: &[u8], path: &Path, config: &str) -> Result<Checkpoint, TrainError> {
        let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| corrupt(path, e.to_string()))?;
        let st = SafeTensors::deserialize(bytes).map_err(|e| corrupt(path, e.to_string()))?;
        let text = meta.metadata().as_ref().and_then(|m| m.get(META_KEY)).ok_or_else(|| corrupt(path, format!("no `{META_KEY}` metadata")))?;
        let header: Header = exact_json::from_str(text).map_err(|e| corrupt(path, format!("metadata: {e}")))?;
        check_compatible(&header, path, config)?;
        let mut model = NamedTensors::new();
        let mut slots: BTreeMap<String, [Option<Vec<f32>>; 4]> = BTreeMap::new();
        for (name, view) in st.tensors() {
            if view.dtype() != Dtype::F32 {
                return Err(tensor_error(path, &name, &format!("dtype {:?}, expected F32", view.dtype())));
            }
            let values: Vec<f32> = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            if let Some(param) = name.strip_prefix("model/") {
                model.insert(param.to_string(), (view.shape().to_vec(), values));
            } else if let Some((param, slot)) = name.strip_prefix("optim/").and_then(|r| r.rsplit_once('/')) {
                let i = SLOTS.iter().position(|s| *s == slot).ok_or_else(|| tensor_error(path, &name, "unknown optimizer slot"))?;
                slots.entry(param.to_string()).or_default()[i] = Some(values);
            } else {
                return Err(tensor_error(path, &name, "not a model or optimizer tensor"));
            }
        }
        let mut optimizer = BTreeMap::new();
        for (name, steps) in &header.optimizer_steps {
            let [first, second, mask, shadow] = slots.remove(name).unwrap_or_default();
            let grad_sq = header.optimizer_grad_sq.get(name).copied();
            optimizer.insert(name.clone(), ParamSnapshot { steps: *steps, first, second, mask, shadow, grad_sq });
        }
        if let Some(name) = slots.keys().next() {
            return Err(tensor_error(path, &format!("optim/{name}"), "optimizer tensors without a step count"));
        }
        Ok(Checkpoint { state: header.state, engine: header.engine, model, optimizer })
    }

    /// Writes `DIR/checkpoint.safetensors` atomically.
    pub fn write(&self, dir: &Path, config: &str) -> Result<(), TrainError> {
        let path = dir.join(CHECKPOINT_FILE);
        let bytes = self.to_bytes(config);
        let point = match &self.state.in_epoch {
            None => format!("checkpoint:{}", self.state.epoch),
            Some(_) if crate::stop::requested() => "checkpoint:stop".to_string(),
            Some(_) => format!("checkpoint:step:{}", self.state.step),
        };
        if crate::test_hook::is_armed(&point) {
            // Killed mid-write: half a file under the temporary name write_atomic uses.
            let tmp = dir.join(format!(".{CHECKPOINT_FILE}.{}.tmp", std::process::id()));
            std::fs::write(&tmp, &bytes[..bytes.len() / 2]).map_err(|e| TrainError::Io { path: tmp, source: e })?;
            crate::test_hook::pause(&point);
            let _ = std::fs::remove_file(dir.join(format!(".{CHECKPOINT_FILE}.{}.tmp", std::process::id())));
        }
        crate::io::write_atomic(&path, &bytes)
    }

    /// `DIR/checkpoint.safetensors` if there is one.
    pub fn read(dir: &Path, config: &str) -> Result<Option<Checkpoint>, TrainError> {
        let path = dir.join(CHECKPOINT_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Checkpoint::from_bytes(&bytes, &path, config).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(TrainError::Io { path, source: e }),
        }
    }
}

fn check_compatible(h: &Header, path: &Path, config: &str) -> Result<(), TrainError> {
    if h.format != FORMAT {
        return Err(corrupt(path, format!("checkpoint format {} (this dtprune reads {FORMAT})", h.format)));
    }
    let version = env!("CARGO_PKG_VERSION");
    if h.dtprune_version != version {
        return Err(incompatible(path, format!("written by dtprune {}, this is {version}: a resume would not be bit-identical", h.dtprune_version)));
    }
    let kernels = crate::platform::gemm_kernels();
    if h.gemm_kernels != kernels {
        return Err(incompatible(path, format!("written with matrix kernels `{}`, this machine uses `{kernels}`: a resume would not be bit-identical", h.gemm_kernels)));
    }
    if h.config != config {
        return Err(incompatible(path, "written for a different config than the run's config.toml".into()));
    }
    Ok(())
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn corrupt(path: &Path, message: String) -> TrainError {
    TrainError::Safetensors { path: path.into(), message: format!("corrupt checkpoint: {message}") }
}

fn incompatible(path: &Path, message: String) -> TrainError {
    TrainError::Checkpoint { path: PathBuf::from(path), message: format!("cannot resume from this checkpoint: {message}") }
}

fn tensor_error(path: &Path, tensor: &str, message: &str) -> TrainError {
    TrainError::Tensor { path: path.into(), tensor: tensor.to_string(), message: message.to_string() }
}
