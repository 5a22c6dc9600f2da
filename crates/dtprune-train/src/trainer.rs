//! The training loop with pruning hooks (seed steps 2–5): train an epoch with masks enforced by
//! the optimizer, evaluate on validation, let the pruning engine judge the last event and
//! decide the next, record everything, and at the end evaluate once on the test set and write
//! the run directory.

use crate::checkpoint::{Checkpoint, EpochProgress, LoopState, CHECKPOINT_FILE};
use crate::config::ExperimentConfig;
use crate::divergence::{self, NonFinite};
use crate::test_hook;
use crate::data::{Prepared, SplitMix64};
use crate::export::{module_tensors, save_safetensors, NamedTensors};
use crate::graph::MNIST_PREPROCESS;
use crate::io::{write_atomic, write_json};
use crate::models::{ImageClassifier, InputInfo};
use crate::monitor::{EpochRecord, StepRecord, TensorRecord};
use crate::optim::{MaskedOptimizer, OptimizerConfig, OptimizerKind};
use crate::parallel;
use crate::params::{glob_match, list_params, read_params, to_burn_layout, write_params, ParamInfo};
use crate::TrainError;
use rayon::prelude::*;
use burn::module::{Module, ParamId};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use dtprune_data::ImageSplits;
use dtprune_prune::{PrunableSpec, PruningEngine, RunMetrics};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

/// Hooks for progress display; the CLI draws bars, a library user may log or ignore.
pub trait TrainObserver {
    fn on_start(&mut self, _epochs: usize, _batches_per_epoch: usize) {}
    fn on_batch(&mut self, _epoch: usize, _batch: usize, _loss: f64, _accuracy: f64) {}
    fn on_epoch(&mut self, _record: &EpochRecord) {}
    /// After an epoch end that pruned, regrew or rolled back: the prunable tensors (PyTorch
    /// layout) as they now are, e.g. for weight histograms.
    fn on_prune(&mut self, _epoch: usize, _tensors: &[(&str, &[f32])]) {}
}

/// Observer that shows nothing.
pub struct Silent;
impl TrainObserver for Silent {}

/// `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub model: String,
    pub dataset: String,
    pub epochs: usize,
    pub seed: u64,
    pub policy: String,
    pub policy_params: serde_json::Value,
    pub test_accuracy: f64,
    pub test_loss: f64,
    pub val_accuracy: f64,
    pub best_val_accuracy: f64,
    pub params_total: usize,
    pub params_nonzero: usize,
    pub prunable_total: usize,
    pub prunable_nonzero: usize,
    pub sparsity: f64,
    pub sparsity_per_layer: BTreeMap<String, f64>,
    pub compression_ratio: f64,
    pub threshold_final: BTreeMap<String, Option<f32>>,
    pub prune_events: usize,
    pub rollbacks: usize,
    pub train_seconds: f64,
    pub seconds_per_epoch: f64,
    /// Epoch-end monitoring + pruning time over training time.
    pub prune_overhead: f64,
    pub threads: usize,
    /// The matrix-product kernels the run used ([`crate::platform::gemm_kernels`]): results are
    /// bit-identical across machines only when this (and `replicas`) agree. Empty in summaries
    /// written before it was recorded.
    #[serde(default)]
    pub gemm_kernels: String,
}

pub struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
}

/// Mean cross-entropy and accuracy of `model` on `data`, in batches of 1000.
pub fn evaluate<M: ImageClassifier>(model: &M, data: &Prepared, device: &Device) -> Evaluation {
    let model = model.valid();
    let device = device.clone().inner();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let indices: Vec<usize> = (0..data.len()).collect();
    // Chunks run two at a time: most of a forward pass's operations use one core each (see
    // `parallel`). Each chunk's loss and count are kept and summed in chunk order, so the result
    // does not depend on which thread ran what.
    let chunks: Vec<&[usize]> = indices.chunks(EVAL_CHUNK).collect();
    let parts: Vec<(f64, i64)> = parallel::pool(EVAL_THREADS).install(|| {
        chunks
            .par_iter()
            .with_max_len(1)
            .map(|chunk| {
                let (x, y) = data.batch(chunk, &device);
                let logits = model.forward(x);
                let loss = f64::from(loss_fn.forward(logits.clone(), y.clone()).into_scalar::<f32>()) * chunk.len() as f64;
                (loss, logits.argmax(1).flatten::<1>(0, 1).equal(y).int().sum().into_scalar::<i64>())
            })
            .collect()
    });
    let (loss_sum, correct) = parts.iter().fold((0f64, 0i64), |(l, c), (pl, pc)| (l + pl, c + pc));
    let n = data.len().max(1) as f64;
    Evaluation { loss: loss_sum / n, accuracy: correct as f64 / n }
}

/// Images per evaluation forward pass, and passes run at once.
const EVAL_CHUNK: usize = 500;
const EVAL_THREADS: usize = 2;

/// The prunable parameters of a model: Linear/Conv weights, optionally filtered by globs.
pub fn prunable_params<M: Module>(model: &M, patterns: &[String]) -> Vec<ParamInfo> {
    list_params(model)
        .into_iter()
        .filter(|p| if patterns.is_empty() { p.prunable_by_default() } else { patterns.iter().any(|g| glob_match(g, &p.name)) })
        .collect()
}

/// Trains `M` on `splits` with pruning and writes the run directory `out`.
pub fn train<M: ImageClassifier>(
    cfg: &ExperimentConfig,
    splits: &ImageSplits,
    out: &Path,
    observer: &mut dyn TrainObserver,
) -> Result<Summary, TrainError> {
    cfg.validate()?;
    // The run records the shard count it used, so `config.toml` alone reproduces it.
    let replicas = cfg.replicas.unwrap_or(M::REPLICAS);
    let cfg = &ExperimentConfig { replicas: Some(replicas), ..cfg.clone() };
    let info = InputInfo { channels: 1, rows: splits.train.rows(), cols: splits.train.cols(), classes: splits.train.num_classes() };
    M::check_input(info).map_err(|message| TrainError::Config { path: None, message })?;
    std::fs::create_dir_all(out).map_err(|e| TrainError::Io { path: out.into(), source: e })?;
    write_atomic(&out.join("config.toml"), cfg.to_toml().as_bytes())?;

    let device = Device::flex().autodiff();
    device.seed(cfg.seed);
    let mut model = M::init(info, &device);
    let graph = model.graph(info);
    write_json(&out.join("graph.json"), &graph)?;

    let train_limit = if cfg.train_limit == 0 { splits.train.len() } else { cfg.train_limit.min(splits.train.len()) };
    let train = Prepared::new(&splits.train.first(train_limit), MNIST_PREPROCESS);
    let val = Prepared::new(&splits.val, MNIST_PREPROCESS);

    // Pruning engine over the prunable tensors, PyTorch layout.
    let prunable = prunable_params(&model, &cfg.prune_only);
    if prunable.is_empty() {
        return Err(TrainError::Prune(dtprune_prune::PruneError::NoPrunable(cfg.prune_only.join(", "))));
    }
    let classifier = crate::graph::classifier(&graph).map(|c| format!("{c}.weight"));
    let specs: Vec<PrunableSpec> = prunable
        .iter()
        .map(|p| PrunableSpec { name: p.name.clone(), shape: p.torch_shape(), structures_removable: Some(&p.name) != classifier.as_ref() })
        .collect();
    let (policy, policy_params) = dtprune_prune::policy::build(&cfg.policy.name, &cfg.policy.params)?;
    let mut engine = PruningEngine::new(policy, specs, cfg.rollback.into(), cfg.min_keep);

    let opt_config = OptimizerConfig {
        weight_decay: cfg.weight_decay,
        ..match cfg.optimizer {
            OptimizerKind::Adam => OptimizerConfig::adam(),
            OptimizerKind::Sgd => OptimizerConfig::sgd(cfg.momentum),
        }
    };
    let mut optim = MaskedOptimizer::new(opt_config, engine.regrowth());
    optim.track_gradients(prunable.iter().map(|p| p.id).collect());
    let loss_fn = CrossEntropyLossConfig::new().init(&device);

    let batches = train.len().div_ceil(cfg.batch_size);
    observer.on_start(cfg.epochs, batches);
    // Exact resume: a checkpoint in `out` (written for this config) is where the run goes on;
    // it is also the last good state a diverging step returns to.
    let config_text = cfg.to_toml();
    let checkpoint_path = out.join(CHECKPOINT_FILE);
    let mut last_good = match Checkpoint::read(out, &config_text)? {
        Some(ckpt) => {
            model = ckpt.restore(&checkpoint_path, model, &mut optim, &mut engine)?;
            tracing::info!("{}: resuming after epoch {}", checkpoint_path.display(), ckpt.state.epoch);
            ckpt
        }
        None => {
            let state;
            (model, state) = initial_pruning_point(model, cfg, batches, &val, &device, &prunable, &mut engine, &mut optim);
            Checkpoint::capture(&model, &optim, &engine, state)
        }
    };
    let mut st = last_good.state.clone();

    while st.epoch < cfg.epochs {
        let epoch = st.epoch + 1;
        let started = Instant::now();
        let rng_before = st.rng;
        let order = st.rng.permutation(train.len());
        // A checkpoint from inside this epoch (a stop request) says how far it got.
        let progress = st.in_epoch.take();
        let skip = progress.as_ref().map_or(0, |p| p.batches_done);
        let earlier_seconds = progress.as_ref().map_or(0.0, |p| p.seconds);
        let (mut loss_sum, mut correct, mut seen, mut step_events, mut step_prune_seconds) =
            progress.map_or((0f64, 0i64, 0usize, Vec::new(), 0f64), |p| (p.loss_sum, p.correct, p.seen, p.step_events, p.step_prune_seconds));
        let mut diverged = None;
        for (b, chunk) in order.chunks(cfg.batch_size).enumerate().skip(skip) {
            let shards = split_batch(chunk, replicas).map(|part| train.batch(part, &device)).collect();
            let stepped = parallel::step(&model, &loss_fn, shards);
            let (loss_value, batch_correct, grads) = (stepped.loss, stepped.correct, stepped.grads);
            if !loss_value.is_finite() {
                diverged = Some(NonFinite::Loss(loss_value));
                break;
            }
            model = optim.step(st.lr, model, grads);
            if let Some(id) = optim.take_non_finite() {
                let name = list_params(&model).into_iter().find(|p| p.id == id).map_or_else(|| "a parameter".into(), |p| p.name);
                diverged = Some(NonFinite::Weights(name));
                break;
            }
            st.step += 1;
            if test_hook::active() {
                test_hook::pause_at(&format!("step:{}", st.step));
            }
            loss_sum += loss_value * chunk.len() as f64;
            correct += batch_correct;
            seen += chunk.len();
            observer.on_batch(epoch, b + 1, loss_sum / seen as f64, correct as f64 / seen as f64);
            if cfg.monitor_every > 0 && st.step % cfg.monitor_every == 0 {
                st.step_records.push(StepRecord {
                    epoch,
                    step: st.step,
                    train_loss: loss_sum / seen as f64,
                    train_accuracy: correct as f64 / seen as f64,
                    lr: st.lr,
                    sparsity: engine.sparsity(),
                });
            }

            if engine.step_interval().is_some_and(|n| st.step % n == 0) {
                let t = Instant::now();
                let metrics = RunMetrics {
                    epoch,
                    epochs: cfg.epochs,
                    step: st.step,
                    steps_per_epoch: batches,
                    train_loss: loss_sum / seen as f64,
                    val_loss: f64::NAN,
                    val_accuracy: f64::NAN,
                    best_val_accuracy: st.best_val,
                };
                let mut values = host_values(&model, &prunable, &optim);
                let outcome = engine.on_step(metrics, &mut values);
                if outcome.changed {
                    model = write_back(model, &prunable, &engine, &mut optim, &values);
                }
                step_events.extend(outcome.events);
                step_prune_seconds += t.elapsed().as_secs_f64();
            }
            if crate::stop::requested() {
                let mut saved = st.clone();
                saved.rng = rng_before;
                saved.in_epoch = Some(EpochProgress {
                    batches_done: b + 1,
                    loss_sum,
                    correct,
                    seen,
                    step_events,
                    step_prune_seconds,
                    seconds: earlier_seconds + started.elapsed().as_secs_f64(),
                });
                Checkpoint::capture(&model, &optim, &engine, saved).write(out, &config_text)?;
                return Err(TrainError::Interrupted { dir: out.into(), epoch, step: st.step });
            }
        }
        if let Some(what) = diverged {
            // Back to the last epoch end with a lower learning rate, a bounded number of times.
            if st.divergence_retries >= divergence::MAX_RETRIES {
                return Err(TrainError::Diverged { epoch, step: st.step + 1, what: what.to_string(), retries: st.divergence_retries, lr: st.lr });
            }
            let (lr, retries, at) = (st.lr * divergence::LR_FACTOR, st.divergence_retries + 1, st.step + 1);
            model = last_good.restore(&checkpoint_path, model, &mut optim, &mut engine)?;
            st = last_good.state.clone();
            (st.lr, st.divergence_retries) = (lr, retries);
            tracing::warn!(
                "epoch {epoch}, step {at}: {what}; back to the state after epoch {} with the learning rate lowered to {lr} (return {retries} of at most {})",
                st.epoch,
                divergence::MAX_RETRIES
            );
            continue;
        }
        let epoch_seconds = earlier_seconds + started.elapsed().as_secs_f64();

        let t_eval = Instant::now();
        let v = evaluate(&model, &val, &device);
        let eval_seconds = t_eval.elapsed().as_secs_f64();
        st.best_val = st.best_val.max(v.accuracy);
        let train_loss = loss_sum / seen.max(1) as f64;
        // A model that exploded is not pruned: say why it failed instead.
        let reference_loss = st.history.first().map_or(st.initial_val_loss, |first| first.train_loss.min(st.initial_val_loss));
        if let Some(message) = divergence::explosion(train_loss, v.accuracy, reference_loss, info.classes, st.lr, cfg.optimizer) {
            return Err(TrainError::Exploded { epoch, message });
        }

        let t_prune = Instant::now();
        let metrics = RunMetrics {
            epoch,
            epochs: cfg.epochs,
            step: st.step,
            steps_per_epoch: batches,
            train_loss,
            val_loss: v.loss,
            val_accuracy: v.accuracy,
            best_val_accuracy: st.best_val,
        };
        let mut values = host_values(&model, &prunable, &optim);
        // After the last epoch nothing would train or validate a new prune: only judge.
        let outcome = if epoch == cfg.epochs { engine.on_final_epoch_end(metrics, &mut values) } else { engine.on_epoch_end(metrics, &mut values) };
        test_hook::pause_at(&format!("prune:{epoch}"));
        if outcome.changed {
            model = write_back(model, &prunable, &engine, &mut optim, &values);
        }
        let grad_sq = optim.take_grad_sq();
        let tensors = prunable
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let record = TensorRecord::new(
                    p.torch_shape(),
                    &values[i],
                    &engine.masks()[i],
                    engine.thresholds()[i],
                    grad_sq.get(&p.id).copied().unwrap_or(0.0),
                    batches,
                );
                (p.name.clone(), record)
            })
            .collect();
        let this_prune = t_prune.elapsed().as_secs_f64() + step_prune_seconds;
        if outcome.changed || !step_events.is_empty() {
            let named: Vec<(&str, &[f32])> = prunable.iter().zip(&values).map(|(p, v)| (p.name.as_str(), v.as_slice())).collect();
            observer.on_prune(epoch, &named);
        }
        let mut events = std::mem::take(&mut st.carried_events);
        events.extend(step_events);
        events.extend(outcome.events);
        let record = EpochRecord {
            epoch,
            train_loss: metrics.train_loss,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            val_loss: v.loss,
            val_accuracy: v.accuracy,
            lr: st.lr,
            seconds: epoch_seconds - step_prune_seconds,
            eval_seconds,
            prune_seconds: this_prune,
            sparsity: engine.sparsity(),
            tensors,
            events,
        };
        st.train_seconds += epoch_seconds - step_prune_seconds;
        st.prune_seconds += this_prune;
        observer.on_epoch(&record);
        st.history.push(record);
        write_history(&out.join("history.jsonl"), &st.history)?;
        if cfg.monitor_every > 0 {
            write_history(&out.join("steps.jsonl"), &st.step_records)?;
        }
        st.lr *= cfg.lr_decay;
        st.epoch = epoch;
        last_good = Checkpoint::capture(&model, &optim, &engine, st.clone());
        last_good.write(out, &config_text)?;
    }
    let LoopState { history, best_val, train_seconds, prune_seconds, .. } = st;


    // Final outputs: test accuracy once, at the end.
    let test_set = if cfg.test_limit == 0 { splits.test.first(splits.test.len()) } else { splits.test.first(cfg.test_limit) };
    let test = evaluate(&model, &Prepared::new(&test_set, MNIST_PREPROCESS), &device);
    let tensors = module_tensors(&model);
    // One metadata key only: the safetensors writer orders keys by hash, and same seed must
    // mean byte-identical files. Model and producer are in config.toml and graph.json.
    let meta = [("format", "pt".to_string())];
    save_safetensors(&out.join("model.safetensors"), &tensors, &meta)?;
    let masks: NamedTensors = prunable.iter().zip(engine.masks()).map(|(p, m)| (p.name.clone(), (p.torch_shape(), m.to_f32()))).collect();
    save_safetensors(&out.join("masks.safetensors"), &masks, &meta)?;

    let last = history.last().expect("at least one epoch");
    let params_total: usize = tensors.values().map(|(_, v)| v.len()).sum();
    let params_nonzero: usize = tensors.values().map(|(_, v)| v.iter().filter(|x| **x != 0.0).count()).sum();
    let prunable_total: usize = engine.masks().iter().map(|m| m.len()).sum();
    let prunable_nonzero: usize = prunable.iter().map(|p| tensors[&p.name].1.iter().filter(|x| **x != 0.0).count()).sum();
    let summary = Summary {
        model: cfg.model.clone(),
        dataset: cfg.dataset.clone(),
        epochs: cfg.epochs,
        seed: cfg.seed,
        policy: cfg.policy.name.clone(),
        policy_params,
        test_accuracy: test.accuracy,
        test_loss: test.loss,
        val_accuracy: last.val_accuracy,
        best_val_accuracy: best_val,
        params_total,
        params_nonzero,
        prunable_total,
        prunable_nonzero,
        sparsity: 1.0 - prunable_nonzero as f64 / prunable_total.max(1) as f64,
        sparsity_per_layer: prunable
            .iter()
            .map(|p| {
                let v = &tensors[&p.name].1;
                (p.name.clone(), v.iter().filter(|x| **x == 0.0).count() as f64 / v.len().max(1) as f64)
            })
            .collect(),
        compression_ratio: prunable_total as f64 / prunable_nonzero.max(1) as f64,
        threshold_final: prunable.iter().zip(engine.thresholds()).map(|(p, t)| (p.name.clone(), *t)).collect(),
        prune_events: engine.prune_events(),
        rollbacks: engine.rollbacks(),
        train_seconds,
        seconds_per_epoch: train_seconds / cfg.epochs as f64,
        prune_overhead: prune_seconds / train_seconds.max(1e-9),
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        gemm_kernels: crate::platform::gemm_kernels().to_string(),
    };
    write_json(&out.join("summary.json"), &summary)?;
    Ok(summary)
}

/// The pruning point before training (epoch 0), for policies that prune the initial weights
/// (`oneshot` with `at_epoch = 0`); its events are reported with epoch 1. Returns the loop's
/// starting state.
#[allow(clippy::too_many_arguments)]
fn initial_pruning_point<M: ImageClassifier>(
    mut model: M,
    cfg: &ExperimentConfig,
    batches: usize,
    val: &Prepared,
    device: &Device,
    prunable: &[ParamInfo],
    engine: &mut PruningEngine,
    optim: &mut MaskedOptimizer,
) -> (M, LoopState) {
    let v = evaluate(&model, val, device);
    let metrics = RunMetrics {
        epoch: 0,
        epochs: cfg.epochs,
        step: 0,
        steps_per_epoch: batches,
        train_loss: f64::NAN,
        val_loss: v.loss,
        val_accuracy: v.accuracy,
        best_val_accuracy: v.accuracy,
    };
    let mut values = host_values(&model, prunable, optim);
    let outcome = engine.on_epoch_end(metrics, &mut values);
    if outcome.changed {
        model = write_back(model, prunable, engine, optim, &values);
    }
    let state = LoopState {
        epoch: 0,
        rng: SplitMix64(cfg.seed),
        lr: cfg.lr,
        step: 0,
        best_val: 0.0,
        history: Vec::new(),
        step_records: Vec::new(),
        carried_events: outcome.events,
        train_seconds: 0.0,
        prune_seconds: 0.0,
        divergence_retries: 0,
        initial_val_loss: v.loss,
        in_epoch: None,
    };
    (model, state)
}

/// `chunk` cut into at most `replicas` contiguous shards whose sizes differ by at most one.
fn split_batch(chunk: &[usize], replicas: usize) -> impl Iterator<Item = &[usize]> {
    let parts = replicas.clamp(1, chunk.len().max(1));
    let (base, extra) = (chunk.len() / parts, chunk.len() % parts);
    let mut start = 0;
    (0..parts).map(move |i| {
        let len = base + usize::from(i < extra);
        let part = &chunk[start..start + len];
        start += len;
        part
    })
}

/// JSON lines, the whole file rewritten atomically (a reader never sees half a line).
fn write_history<T: Serialize>(path: &Path, history: &[T]) -> Result<(), TrainError> {
    let mut text = String::new();
    for r in history {
        text.push_str(&serde_json::to_string(r).expect("record serialises"));
        text.push('\n');
    }
    write_atomic(path, text.as_bytes())
}

/// Host copies (PyTorch layout) of the prunable tensors, in spec order. With regrowth these
/// are the dense shadow weights, which is what a regrowth policy must look at.
fn host_values<M: Module>(model: &M, prunable: &[ParamInfo], optim: &MaskedOptimizer) -> Vec<Vec<f32>> {
    let mut module_values = read_params(model, prunable);
    prunable
        .iter()
        .map(|p| match optim.shadow(&p.id) {
            Some(shadow) => crate::params::to_torch_layout(p, shadow),
            None => module_values.remove(&p.id).unwrap_or_default(),
        })
        .collect()
}

/// Writes the engine's masks (and values) back into the module and the optimizer.
fn write_back<M: Module>(model: M, prunable: &[ParamInfo], engine: &PruningEngine, optim: &mut MaskedOptimizer, values: &[Vec<f32>]) -> M {
    let regrowth = engine.regrowth();
    let mut by_id: HashMap<ParamId, Vec<f32>> = HashMap::new();
    for (i, p) in prunable.iter().enumerate() {
        let mask = to_burn_layout(p, engine.masks()[i].to_f32());
        let shadow = regrowth.then(|| to_burn_layout(p, values[i].clone()));
        optim.set_mask(p.id, mask, shadow);
        if !regrowth {
            by_id.insert(p.id, values[i].clone());
        }
    }
    let model = if regrowth { model } else { write_params(model, prunable, &by_id) };
    optim.apply_pending(model)
}

#[cfg(test)]
mod tests {
    use super::split_batch;

    #[test]
    fn batch_split_into_near_equal_contiguous_shards() {
        let chunk: Vec<usize> = (10..17).collect();
        let shards: Vec<&[usize]> = split_batch(&chunk, 3).collect();
        assert_eq!(shards, vec![&[10, 11, 12][..], &[13, 14][..], &[15, 16][..]]);
        // More shards than images: one image each, no empty shard.
        assert_eq!(split_batch(&chunk[..2], 4).count(), 2);
        // One shard: the whole batch.
        assert_eq!(split_batch(&chunk, 1).collect::<Vec<_>>(), vec![&chunk[..]]);
    }
}
