//! The training loop with pruning hooks (seed steps 2–5): train an epoch with masks enforced by
//! the optimizer, evaluate on validation, let the pruning engine judge the last event and
//! decide the next, record everything, and at the end evaluate once on the test set and write
//! the run directory. [`train`] reads as those steps; each is one method of `Training`.
//!
//! The loop runs over a saved [`LoopState`]: after every epoch end it is checkpointed
//! ([`crate::checkpoint`]), so a run continues exactly where it stopped (`--resume`), a stop
//! request ([`crate::stop`]) checkpoints between two steps, and a non-finite step returns to the
//! last epoch end with a lower learning rate ([`crate::divergence`]).

use crate::checkpoint::{Checkpoint, EpochProgress, LoopState, CHECKPOINT_FILE};
use crate::config::ExperimentConfig;
use crate::divergence::{self, NonFinite};
use crate::evaluate::{evaluate, Evaluation};
use crate::experiment::Experiment;
use crate::export::{module_tensors, NamedTensors};
use crate::input::{InputKind, Prepare, Split, SplitMix64};
use crate::model_graph::check_and_write;
use crate::io::{write_atomic, write_json};
use crate::model::Model;
use crate::monitor::{EpochRecord, StepRecord, TensorRecord};
use crate::optim::{MaskedOptimizer, OptimizerConfig, OptimizerKind};
use crate::parallel;
use crate::params::{list_params, prunable_params, read_params, to_burn_layout, write_params, ParamInfo};
use crate::run_dir::save_model_files;
use crate::task::{Task, TaskOptions};
use crate::test_hook;
use crate::TrainError;
use burn::module::{Module, ParamId};
use burn::prelude::*;
use dtprune_data::{Augment, Dataset, Normalization};
use dtprune_prune::{PrunableSpec, PruneEvent, PruningEngine, RunMetrics};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
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
    /// Images in the training split the run trained on (after `train_limit`); 0 in summaries
    /// written before it was recorded.
    #[serde(default)]
    pub train_images: usize,
}

/// Trains `M` on `data` with pruning and writes the run directory `out`.
pub fn train<M: Model>(experiment: Experiment, data: &Dataset, out: &Path, observer: &mut dyn TrainObserver) -> Result<Summary, TrainError> {
    let mut run = Training::<M>::start(experiment, data, out)?;
    run.resume_or_prune_before_training()?;
    observer.on_start(run.cfg.epochs, run.batches);
    while run.st.epoch < run.cfg.epochs {
        let epoch = run.st.epoch + 1;
        match run.train_epoch(epoch, observer)? {
            Ok(phase) => run.end_epoch(epoch, phase, observer)?,
            Err(what) => run.return_to_last_good(epoch, what)?,
        }
    }
    run.finish(data)
}

/// The state of one training run, step by step of the algorithm.
struct Training<'a, M: Model> {
    cfg: ExperimentConfig,
    policy_params: serde_json::Value,
    out: &'a Path,
    device: Device,
    /// Always `Some` between steps; taken while the optimizer consumes and returns it, so the
    /// update can reuse the parameters' buffers (see [`Training::update_model`]).
    model: Option<M>,
    task: M::Task,
    train: M::Input,
    val: M::Input,
    /// The first validation items, on which layer sensitivity is measured while training (only
    /// for policies that want it, [`crate::signals`]).
    val_probe: Option<M::Input>,
    /// The pixel normalisation (image data).
    norm: Option<Normalization>,
    prunable: Vec<ParamInfo>,
    engine: PruningEngine,
    optim: MaskedOptimizer,
    /// Batches per epoch.
    batches: usize,
    /// Classes of the training set (chance level of the explosion check).
    classes: usize,
    /// The loop's state (data order and augmentation streams, learning rate, step, history…),
    /// what a checkpoint saves.
    st: LoopState,
    /// The state after the last epoch end (or the start): what a checkpoint holds and where a
    /// diverging step returns to.
    last_good: Option<Checkpoint>,
    /// `config.toml` as written, which a checkpoint must belong to.
    config_text: String,
    checkpoint_path: PathBuf,
}

/// What an epoch's training phase measured.
struct EpochPhase {
    seconds: f64,
    loss_sum: f64,
    correct: i64,
    seen: usize,
    step_events: Vec<PruneEvent>,
    step_prune_seconds: f64,
}

/// Seeds the augmentation stream apart from the data order (the order must not change with
/// augmentation on or off).
const AUGMENT_STREAM: u64 = 0xA06_3E47;

impl<'a, M: Model> Training<'a, M> {
    /// Resolves what the run records (shard count, normalisation, lr decay), writes `config.toml` and
    /// `graph.json`, builds the model, checks its graph and sets up the engine and optimizer.
    fn start(experiment: Experiment, data: &Dataset, out: &'a Path) -> Result<Self, TrainError> {
        let Experiment { cfg, model_params, policy, policy_params, .. } = experiment;
        let info = M::Input::info(data)?;
        M::check_input(info.clone(), &model_params).map_err(|message| TrainError::Config { path: None, message })?;
        let norm = crate::experiment::normalization(&cfg, data)?;
        // The run records the shard count, normalisation and per-epoch decay it used, so
        // `config.toml` alone reproduces it.
        let cfg = ExperimentConfig { replicas: Some(cfg.replicas.unwrap_or(M::REPLICAS)), normalize: norm.clone(), lr_decay: Some(cfg.lr_decay_factor()), ..cfg };
        std::fs::create_dir_all(out).map_err(|e| TrainError::Io { path: out.into(), source: e })?;
        write_atomic(&out.join("config.toml"), cfg.to_toml().as_bytes())?;

        let device = Device::flex().autodiff();
        device.seed(cfg.seed);
        let model = M::init(info.clone(), &model_params, &device);
        let (classifier, graph) = check_and_write(model.graph(info.clone()), &model, norm.as_ref(), &out.join("graph.json"))?;

        let prepare = |split, limit, augment| M::Input::prepare(data, split, &Prepare { limit, norm: norm.as_ref(), augment });
        let train = prepare(Split::Train, cfg.train_limit, cfg.augment)?;
        let val = prepare(Split::Val, 0, Augment::default())?;

        // Pruning engine over the prunable tensors, PyTorch layout.
        let mut prunable = prunable_params(&model, &cfg.prune_only);
        if prunable.is_empty() {
            return Err(TrainError::Prune(dtprune_prune::PruneError::NoPrunable(cfg.prune_only.join(", "))));
        }
        let mut specs: Vec<PrunableSpec> = prunable
            .iter()
            .map(|p| PrunableSpec::weight(p.name.clone(), p.torch_shape(), Some(&p.name) != classifier.as_ref()))
            .collect();
        // The graph's coupled structures; their BatchNorm γ/β join the engine as followers.
        // (A node graph's model declares its groups itself, or has none.)
        let structure = match &graph {
            Some(graph) => crate::structure_groups::engine_structure(graph, &list_params(&model), &prunable)?,
            None => crate::structure_groups::declared_structure(&model.structure_groups(), &list_params(&model), &prunable),
        };
        specs.extend(structure.followers.iter().map(|p| PrunableSpec::follower(p.name.clone(), p.torch_shape())));
        prunable.extend(structure.followers);
        let engine = PruningEngine::new(policy, specs, cfg.rollback.into(), cfg.min_keep).with_structure(&structure.groups, &structure.blocks)?;

        let opt_config = OptimizerConfig {
            weight_decay: cfg.weight_decay,
            nesterov: cfg.nesterov,
            ..match cfg.optimizer {
                OptimizerKind::Adam => OptimizerConfig::adam(),
                OptimizerKind::Sgd => OptimizerConfig::sgd(cfg.momentum),
            }
        };
        let mut optim = MaskedOptimizer::new(opt_config, engine.regrowth());
        optim.track_gradients(prunable.iter().map(|p| p.id).collect());
        let wants = engine.wants();
        if wants.gradients {
            optim.track_element_gradients();
        }
        let val_probe = match wants.sensitivity_fractions.is_empty() {
            true => None,
            false => Some(prepare(Split::Val, wants.sensitivity_images, Augment::default())?),
        };
        let task = M::Task::new(&device).with_options(&TaskOptions { label_smoothing: cfg.label_smoothing });
        let st = LoopState {
            epoch: 0,
            rng: SplitMix64(cfg.seed),
            augment_rng: SplitMix64(cfg.seed ^ AUGMENT_STREAM),
            lr: cfg.lr,
            step: 0,
            best_val: 0.0,
            history: Vec::new(),
            step_records: Vec::new(),
            carried_events: Vec::new(),
            train_seconds: 0.0,
            prune_seconds: 0.0,
            divergence_retries: 0,
            initial_val_loss: f64::NAN,
            in_epoch: None,
        };
        Ok(Self {
            batches: train.len().div_ceil(cfg.batch_size),
            classes: M::Input::classes(&info),
            st,
            last_good: None,
            config_text: cfg.to_toml(),
            checkpoint_path: out.join(CHECKPOINT_FILE),
            cfg,
            policy_params,
            out,
            device,
            model: Some(model),
            task,
            train,
            val,
            val_probe,
            norm,
            prunable,
            engine,
            optim,
        })
    }

    /// Exact resume: a checkpoint in `out` (written for this config) is where the run goes on;
    /// without one the run starts with the pruning point before training. Either way the
    /// result is the last good state a diverging step returns to.
    fn resume_or_prune_before_training(&mut self) -> Result<(), TrainError> {
        match Checkpoint::read(self.out, &self.config_text)? {
            Some(ckpt) => {
                self.restore(&ckpt)?;
                tracing::info!("{}: resuming after epoch {}", self.checkpoint_path.display(), ckpt.state.epoch);
                self.last_good = Some(ckpt);
            }
            None => {
                self.prune_before_training();
                self.last_good = Some(self.capture(self.st.clone()));
            }
        }
        Ok(())
    }

    /// Puts a checkpoint into the model, optimizer, engine and loop state.
    fn restore(&mut self, ckpt: &Checkpoint) -> Result<(), TrainError> {
        let model = self.model.take().expect("the model is only taken inside update_model");
        let model = ckpt.restore(&self.checkpoint_path, model, &mut self.optim, &mut self.engine)?;
        self.model = Some(model);
        self.st = ckpt.state.clone();
        Ok(())
    }

    fn capture(&self, state: LoopState) -> Checkpoint {
        Checkpoint::capture(self.model(), &self.optim, &self.engine, state)
    }

    /// A non-finite step: back to the last epoch end with a lower learning rate, a bounded
    /// number of times over the run.
    fn return_to_last_good(&mut self, epoch: usize, what: NonFinite) -> Result<(), TrainError> {
        let st = &self.st;
        if st.divergence_retries >= divergence::MAX_RETRIES {
            return Err(TrainError::Diverged { epoch, step: st.step + 1, what: what.to_string(), retries: st.divergence_retries, lr: st.lr });
        }
        let (lr, retries, at) = (st.lr * divergence::LR_FACTOR, st.divergence_retries + 1, st.step + 1);
        let last_good = self.last_good.take().expect("set before the first epoch");
        self.restore(&last_good)?;
        self.last_good = Some(last_good);
        (self.st.lr, self.st.divergence_retries) = (lr, retries);
        tracing::warn!(
            "epoch {epoch}, step {at}: {what}; back to the state after epoch {} with the learning rate lowered to {lr} (return {retries} of at most {})",
            self.st.epoch,
            divergence::MAX_RETRIES
        );
        Ok(())
    }

    /// A pruning point before training (epoch 0), for policies that prune the initial weights
    /// (`oneshot` with `at_epoch = 0`); its events are reported with epoch 1.
    fn prune_before_training(&mut self) {
        let v = evaluate(self.model(), &self.val, &self.device);
        let metrics = RunMetrics {
            epoch: 0,
            epochs: self.cfg.epochs,
            step: 0,
            steps_per_epoch: self.batches,
            train_loss: f64::NAN,
            val_loss: v.loss,
            val_accuracy: v.accuracy,
            best_val_accuracy: v.accuracy,
        };
        self.provide_signals(true);
        let mut values = host_values(self.model(), &self.prunable, &self.optim);
        let outcome = self.engine.on_epoch_end(metrics, &mut values);
        if outcome.changed {
            self.write_back(&values);
        }
        self.st.carried_events = outcome.events;
        self.st.initial_val_loss = v.loss;
    }

    /// One pass over the training data in a seeded order, masks enforced by the optimizer, with
    /// step-level pruning where the policy asks for it. A checkpoint from inside this epoch (a
    /// stop request) says how far it got; the pass continues there. `Ok(Err(_))`: a step went
    /// non-finite ([`Training::return_to_last_good`]).
    fn train_epoch(&mut self, epoch: usize, observer: &mut dyn TrainObserver) -> Result<Result<EpochPhase, NonFinite>, TrainError> {
        let started = Instant::now();
        let rng_before = self.st.rng;
        let order = self.st.rng.permutation(self.train.len());
        let replicas = self.cfg.replicas.expect("resolved at start");
        let progress = self.st.in_epoch.take();
        let skip = progress.as_ref().map_or(0, |p| p.batches_done);
        let earlier_seconds = progress.as_ref().map_or(0.0, |p| p.seconds);
        let mut phase = progress.map_or(
            EpochPhase { seconds: 0.0, loss_sum: 0.0, correct: 0, seen: 0, step_events: Vec::new(), step_prune_seconds: 0.0 },
            |p| EpochPhase { seconds: 0.0, loss_sum: p.loss_sum, correct: p.correct, seen: p.seen, step_events: p.step_events, step_prune_seconds: p.step_prune_seconds },
        );
        for (b, chunk) in order.chunks(self.cfg.batch_size).enumerate().skip(skip) {
            let shards = split_batch(chunk, replicas).map(|part| self.train.train_batch(part, &self.device, &mut self.st.augment_rng)).collect();
            let out = parallel::step(self.model(), &self.task, shards);
            if !out.loss.is_finite() {
                return Ok(Err(NonFinite::Loss(out.loss)));
            }
            // The epoch's rate (decayed, lowered after a divergence) shaped within the run.
            let lr = self.st.lr * self.cfg.lr_schedule.factor(self.st.step, self.cfg.warmup_epochs * self.batches, self.cfg.epochs * self.batches);
            let batch_stats = out.batch_stats;
            self.update_model(|model, optim, _| crate::layers::update_running_stats(optim.step(lr, model, out.grads), &batch_stats));
            if let Some(id) = self.optim.take_non_finite() {
                let name = list_params(self.model()).into_iter().find(|p| p.id == id).map_or_else(|| "a parameter".into(), |p| p.name);
                return Ok(Err(NonFinite::Weights(name)));
            }
            self.st.step += 1;
            if test_hook::active() {
                test_hook::pause_at(&format!("step:{}", self.st.step));
            }
            phase.loss_sum += out.loss * chunk.len() as f64;
            phase.correct += out.correct;
            phase.seen += chunk.len();
            let (loss, accuracy) = (phase.loss_sum / phase.seen as f64, phase.correct as f64 / phase.seen as f64);
            observer.on_batch(epoch, b + 1, loss, accuracy);
            if self.cfg.monitor_every > 0 && self.st.step % self.cfg.monitor_every == 0 {
                let record = StepRecord { epoch, step: self.st.step, train_loss: loss, train_accuracy: accuracy, lr: self.st.lr, sparsity: self.engine.sparsity() };
                self.st.step_records.push(record);
            }
            if self.engine.step_interval().is_some_and(|n| self.st.step % n == 0) {
                let t = Instant::now();
                self.prune_at_step(epoch, loss, &mut phase.step_events);
                phase.step_prune_seconds += t.elapsed().as_secs_f64();
            }
            let stop = crate::stop::requested();
            let every = self.cfg.checkpoint_every;
            if stop || (every > 0 && self.st.step % every == 0) {
                // The epoch's permutation is drawn again on resume; the augmentation stream
                // goes on from here.
                let mut saved = self.st.clone();
                saved.rng = rng_before;
                saved.in_epoch = Some(EpochProgress {
                    batches_done: b + 1,
                    loss_sum: phase.loss_sum,
                    correct: phase.correct,
                    seen: phase.seen,
                    step_events: phase.step_events.clone(),
                    step_prune_seconds: phase.step_prune_seconds,
                    seconds: earlier_seconds + started.elapsed().as_secs_f64(),
                });
                self.capture(saved).write(self.out, &self.config_text)?;
                if stop {
                    return Err(TrainError::Interrupted { dir: self.out.into(), epoch, step: self.st.step });
                }
            }
        }
        phase.seconds = earlier_seconds + started.elapsed().as_secs_f64();
        Ok(Ok(phase))
    }

    fn prune_at_step(&mut self, epoch: usize, train_loss: f64, events: &mut Vec<PruneEvent>) {
        let metrics = RunMetrics {
            epoch,
            epochs: self.cfg.epochs,
            step: self.st.step,
            steps_per_epoch: self.batches,
            train_loss,
            val_loss: f64::NAN,
            val_accuracy: f64::NAN,
            best_val_accuracy: self.st.best_val,
        };
        self.provide_signals(false);
        let mut values = host_values(self.model(), &self.prunable, &self.optim);
        let outcome = self.engine.on_step(metrics, &mut values);
        if outcome.changed {
            self.write_back(&values);
        }
        events.extend(outcome.events);
    }

    /// Validation, the engine's epoch-end decision (judge the last event, prune the next),
    /// and the epoch's record.
    fn end_epoch(&mut self, epoch: usize, phase: EpochPhase, observer: &mut dyn TrainObserver) -> Result<(), TrainError> {
        let t_eval = Instant::now();
        let v = evaluate(self.model(), &self.val, &self.device);
        let eval_seconds = t_eval.elapsed().as_secs_f64();
        self.st.best_val = self.st.best_val.max(v.accuracy);
        let train_loss = phase.loss_sum / phase.seen.max(1) as f64;
        // A model that exploded is not pruned: say why it failed instead.
        let st = &self.st;
        let reference_loss = st.history.first().map_or(st.initial_val_loss, |first| first.train_loss.min(st.initial_val_loss));
        if let Some(message) = divergence::explosion(train_loss, v.accuracy, reference_loss, self.classes, st.lr, self.cfg.optimizer) {
            return Err(TrainError::Exploded { epoch, message });
        }

        let t_prune = Instant::now();
        let metrics = RunMetrics {
            epoch,
            epochs: self.cfg.epochs,
            step: self.st.step,
            steps_per_epoch: self.batches,
            train_loss,
            val_loss: v.loss,
            val_accuracy: v.accuracy,
            best_val_accuracy: self.st.best_val,
        };
        if epoch < self.cfg.epochs {
            self.provide_signals(true);
        }
        let mut values = host_values(self.model(), &self.prunable, &self.optim);
        // After the last epoch nothing would train or validate a new prune: only judge.
        let outcome = if epoch == self.cfg.epochs { self.engine.on_final_epoch_end(metrics, &mut values) } else { self.engine.on_epoch_end(metrics, &mut values) };
        test_hook::pause_at(&format!("prune:{epoch}"));
        if outcome.changed {
            self.write_back(&values);
        }
        let tensors = self.tensor_records(&values);
        let this_prune = t_prune.elapsed().as_secs_f64() + phase.step_prune_seconds;
        if outcome.changed || !phase.step_events.is_empty() {
            let named: Vec<(&str, &[f32])> = self.prunable.iter().zip(&values).map(|(p, v)| (p.name.as_str(), v.as_slice())).collect();
            observer.on_prune(epoch, &named);
        }
        let mut events = std::mem::take(&mut self.st.carried_events);
        events.extend(phase.step_events);
        events.extend(outcome.events);
        let record = EpochRecord {
            epoch,
            train_loss: metrics.train_loss,
            train_accuracy: phase.correct as f64 / phase.seen.max(1) as f64,
            val_loss: v.loss,
            val_accuracy: v.accuracy,
            lr: self.st.lr,
            seconds: phase.seconds - phase.step_prune_seconds,
            eval_seconds,
            prune_seconds: this_prune,
            sparsity: self.engine.sparsity(),
            tensors,
            events,
        };
        self.st.train_seconds += phase.seconds - phase.step_prune_seconds;
        self.st.prune_seconds += this_prune;
        observer.on_epoch(&record);
        self.st.history.push(record);
        write_history(&self.out.join("history.jsonl"), &self.st.history)?;
        if self.cfg.monitor_every > 0 {
            write_history(&self.out.join("steps.jsonl"), &self.st.step_records)?;
        }
        self.st.lr *= self.cfg.lr_decay_factor();
        self.st.epoch = epoch;
        let last_good = self.capture(self.st.clone());
        last_good.write(self.out, &self.config_text)?;
        self.last_good = Some(last_good);
        Ok(())
    }

    /// What the policy wants measured at this pruning point (layer sensitivity at epoch ends
    /// only, being a few validation passes).
    fn provide_signals(&mut self, epoch_end: bool) {
        crate::signals::provide_gradients(&mut self.engine, &self.prunable, &mut self.optim);
        if epoch_end {
            let model = self.model.as_ref().expect("the model is only taken inside update_model");
            crate::signals::provide_sensitivity(&mut self.engine, model, self.val_probe.as_ref(), &self.prunable, &self.device);
        }
    }

    /// Per-tensor statistics of the epoch (values after the epoch-end decision).
    fn tensor_records(&mut self, values: &[Vec<f32>]) -> BTreeMap<String, TensorRecord> {
        let grad_sq = self.optim.take_grad_sq();
        self.prunable
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let record = TensorRecord::new(
                    p.torch_shape(),
                    &values[i],
                    &self.engine.masks()[i],
                    self.engine.thresholds()[i],
                    grad_sq.get(&p.id).copied().unwrap_or(0.0),
                    self.batches,
                );
                (p.name.clone(), record)
            })
            .collect()
    }

    /// Test accuracy once, at the end; the model, masks and summary files.
    fn finish(self, data: &Dataset) -> Result<Summary, TrainError> {
        let how = Prepare { limit: self.cfg.test_limit, norm: self.norm.as_ref(), augment: Augment::default() };
        let test = evaluate(self.model(), &M::Input::prepare(data, Split::Test, &how)?, &self.device);
        let tensors = module_tensors(self.model());
        save_model_files(self.out, &tensors, &self.prunable, self.engine.masks())?;
        let summary = self.summary(&tensors, test);
        write_json(&self.out.join("summary.json"), &summary)?;
        Ok(summary)
    }

    fn summary(&self, tensors: &NamedTensors, test: Evaluation) -> Summary {
        let (cfg, engine, prunable) = (&self.cfg, &self.engine, &self.prunable);
        let last = self.st.history.last().expect("at least one epoch");
        let params_total: usize = tensors.values().map(|(_, v)| v.len()).sum();
        let params_nonzero: usize = tensors.values().map(|(_, v)| v.iter().filter(|x| **x != 0.0).count()).sum();
        let prunable_total: usize = engine.masks().iter().zip(engine.specs()).filter(|(_, s)| !s.follower).map(|(m, _)| m.len()).sum();
        let weights = || prunable.iter().zip(engine.specs()).filter(|(_, s)| !s.follower).map(|(p, _)| p);
        let prunable_nonzero: usize = weights().map(|p| tensors[&p.name].1.iter().filter(|x| **x != 0.0).count()).sum();
        Summary {
            model: cfg.model.name.clone(),
            dataset: cfg.dataset.clone(),
            epochs: cfg.epochs,
            seed: cfg.seed,
            policy: cfg.policy.name.clone(),
            policy_params: self.policy_params.clone(),
            test_accuracy: test.accuracy,
            test_loss: test.loss,
            val_accuracy: last.val_accuracy,
            best_val_accuracy: self.st.best_val,
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
            train_seconds: self.st.train_seconds,
            seconds_per_epoch: self.st.train_seconds / cfg.epochs as f64,
            prune_overhead: self.st.prune_seconds / self.st.train_seconds.max(1e-9),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            gemm_kernels: crate::platform::gemm_kernels().to_string(),
            train_images: self.train.len(),
        }
    }

    fn model(&self) -> &M {
        self.model.as_ref().expect("the model is only taken inside update_model")
    }

    /// Replaces the model by `f(model)`, handing `f` the model by value: a module whose
    /// tensors are not shared elsewhere is updated in place.
    fn update_model(&mut self, f: impl FnOnce(M, &mut MaskedOptimizer, &PruningEngine) -> M) {
        let model = self.model.take().expect("the model is only taken inside update_model");
        self.model = Some(f(model, &mut self.optim, &self.engine));
    }

    /// Writes the engine's masks (and values) back into the module and the optimizer.
    fn write_back(&mut self, values: &[Vec<f32>]) {
        let prunable = std::mem::take(&mut self.prunable);
        self.update_model(|model, optim, engine| write_back(model, &prunable, engine, optim, values));
        self.prunable = prunable;
    }
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
pub(crate) fn host_values<M: Module>(model: &M, prunable: &[ParamInfo], optim: &MaskedOptimizer) -> Vec<Vec<f32>> {
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
pub(crate) fn write_back<M: Module>(model: M, prunable: &[ParamInfo], engine: &PruningEngine, optim: &mut MaskedOptimizer, values: &[Vec<f32>]) -> M {
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
