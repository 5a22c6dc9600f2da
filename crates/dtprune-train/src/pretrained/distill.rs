//! Dynamic pruning of a pretrained sentence encoder during a short fine-tune that keeps its
//! embeddings close to the dense model's (issue 14, part c): the dense encoder is the teacher,
//! its embeddings of unlabelled texts the targets; the student starts as a copy and minimises
//! `1 − cos(student, teacher)` while a dtprune policy prunes it. Validation "accuracy" for the
//! policy (its budget, rollback) is the mean cosine to the teacher on held-out texts.

use super::bert::Bert;
use super::error::{PretrainedError, Result};
use super::hf_names::{hf_name, load_hf_weights};
use super::sentence::{pool, SentenceEncoder, SentenceModelFiles};
use crate::export::{module_tensors, save_safetensors, NamedTensors};
use crate::optim::{MaskedOptimizer, OptimizerConfig};
use crate::params::prunable_params;
use crate::trainer::{host_values, write_back};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::TensorData;
use dtprune_data::rng::SplitMix64;
use dtprune_prune::{PrunableSpec, PruningEngine, RollbackConfig, RunMetrics};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct DistillOptions {
    /// A dtprune policy name (`dtprune policies`) and its parameters.
    pub policy: String,
    pub policy_params: BTreeMap<String, toml::Value>,
    pub epochs: usize,
    pub batch: usize,
    /// Adam learning rate.
    pub lr: f64,
    pub seed: u64,
    /// Globs over Burn parameter paths; empty = every Linear weight (embeddings stay dense).
    pub prune_only: Vec<String>,
    pub rollback: RollbackConfig,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DistillEpoch {
    pub epoch: usize,
    pub train_loss: f64,
    /// Mean cosine to the teacher's embeddings on the held-out texts.
    pub val_cosine: f64,
    pub sparsity: f64,
    pub seconds: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DistillReport {
    pub policy: String,
    pub policy_params: serde_json::Value,
    pub train_texts: usize,
    pub val_texts: usize,
    pub start_val_cosine: f64,
    pub epochs: Vec<DistillEpoch>,
    pub prune_events: usize,
    pub rollbacks: usize,
}

fn mean_cosine(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    a.iter().zip(b).map(|(x, y)| super::sentence::cosine(x, y)).sum::<f64>() / a.len().max(1) as f64
}

/// Fine-tunes and prunes the encoder of `files` on `train` texts, judged on `val` texts, and
/// writes the pruned encoder to `out` under its Hugging Face names.
pub fn distill(files: &SentenceModelFiles, train: &[&str], val: &[&str], opts: &DistillOptions, out: &Path, on_epoch: &mut dyn FnMut(&DistillEpoch)) -> Result<DistillReport> {
    let config_error = |message: String| PretrainedError::Config { path: files.config.clone(), message };
    if train.is_empty() || val.is_empty() {
        return Err(config_error("distillation needs training and validation texts".into()));
    }
    let teacher = SentenceEncoder::load(files, &Device::flex())?;
    if !teacher.normalizes() {
        return Err(config_error("the model does not normalise its embeddings (no Normalize module); cosine distillation assumes it does".into()));
    }
    let targets = teacher.encode(train, 32)?;
    let val_targets = teacher.encode(val, 32)?;

    let device = Device::flex().autodiff();
    device.seed(opts.seed);
    let bert = load_hf_weights(Bert::init(&teacher.config, &device), &files.weights)?;
    let prunable = prunable_params(&bert, &opts.prune_only);
    if prunable.is_empty() {
        return Err(config_error(format!("no parameter matches {:?}", opts.prune_only)));
    }
    let (policy, policy_params) = dtprune_prune::policy::build(&opts.policy, &opts.policy_params).map_err(|e| config_error(e.to_string()))?;
    let specs = prunable.iter().map(|p| PrunableSpec::weight(hf_name(&p.name), p.torch_shape(), false)).collect();
    let mut engine = PruningEngine::new(policy, specs, opts.rollback, 0.0);
    let mut optim = MaskedOptimizer::new(OptimizerConfig::adam(), engine.regrowth());
    let mut bert = bert;

    let start_val_cosine = mean_cosine(&teacher.encode_with(&bert.valid(), val, 32)?, &val_targets);
    let steps_per_epoch = train.len().div_ceil(opts.batch.max(1));
    let mut rng = SplitMix64(opts.seed);
    let (mut step, mut best) = (0, start_val_cosine);
    let mut epochs = Vec::new();
    for epoch in 1..=opts.epochs {
        let started = Instant::now();
        let order = rng.permutation(train.len());
        let mut loss_sum = 0.0;
        for chunk in order.chunks(opts.batch.max(1)) {
            let texts: Vec<&str> = chunk.iter().map(|&i| train[i]).collect();
            let encoded = teacher.tokenizer().encode(&texts, teacher.max_tokens())?;
            let tokens = encoded.ids.len() / texts.len();
            let hidden = teacher.config.hidden_size;
            let target: Vec<f32> = chunk.iter().flat_map(|&i| targets[i].iter().copied()).collect();
            let target = Tensor::<2>::from_data(TensorData::new(target, [texts.len(), hidden]), &device);
            let embedded = pool(bert.forward(&encoded.ids, &encoded.mask, texts.len(), tokens), &encoded.mask, true);
            // Both sides are unit vectors: their dot product is the cosine.
            let loss = (embedded * target).sum_dim(1).mean().neg().add_scalar(1.0);
            let loss_value = f64::from(loss.clone().into_scalar::<f32>());
            if !loss_value.is_finite() {
                return Err(config_error(format!("the distillation loss became {loss_value} at step {step}; lower the learning rate")));
            }
            loss_sum += loss_value;
            let grads = GradientsParams::from_grads(loss.backward(), &bert);
            bert = optim.step(opts.lr, bert, grads);
            step += 1;
            if engine.step_interval().is_some_and(|k| step % k == 0) {
                let metrics = RunMetrics { epoch, epochs: opts.epochs, step, steps_per_epoch, train_loss: loss_value, val_loss: f64::NAN, val_accuracy: f64::NAN, best_val_accuracy: best };
                let mut values = host_values(&bert, &prunable, &optim);
                if engine.on_step(metrics, &mut values).changed {
                    bert = write_back(bert, &prunable, &engine, &mut optim, &values);
                }
            }
        }
        let val_cosine = mean_cosine(&teacher.encode_with(&bert.valid(), val, 32)?, &val_targets);
        best = best.max(val_cosine);
        let train_loss = loss_sum / steps_per_epoch as f64;
        let metrics = RunMetrics { epoch, epochs: opts.epochs, step, steps_per_epoch, train_loss, val_loss: 1.0 - val_cosine, val_accuracy: val_cosine, best_val_accuracy: best };
        let mut values = host_values(&bert, &prunable, &optim);
        let outcome = if epoch == opts.epochs { engine.on_final_epoch_end(metrics, &mut values) } else { engine.on_epoch_end(metrics, &mut values) };
        if outcome.changed {
            bert = write_back(bert, &prunable, &engine, &mut optim, &values);
        }
        let record = DistillEpoch { epoch, train_loss, val_cosine, sparsity: engine.sparsity(), seconds: started.elapsed().as_secs_f64() };
        on_epoch(&record);
        epochs.push(record);
    }
    save_hf(out, &bert.valid())?;
    Ok(DistillReport {
        policy: opts.policy.clone(),
        policy_params,
        train_texts: train.len(),
        val_texts: val.len(),
        start_val_cosine,
        epochs,
        prune_events: engine.prune_events(),
        rollbacks: engine.rollbacks(),
    })
}

/// The encoder's tensors under their Hugging Face names (f32), readable by [`load_hf_weights`]
/// and by `transformers`' `BertModel` (which initialises the pooler it does not find).
pub fn save_hf(path: &Path, bert: &Bert) -> Result<()> {
    let tensors: NamedTensors = module_tensors(bert).into_iter().map(|(name, t)| (hf_name(&name), t)).collect();
    save_safetensors(path, &tensors, &[("format", "pt".into()), ("producer", format!("dtprune {}", env!("CARGO_PKG_VERSION")))])
        .map_err(|e| PretrainedError::Config { path: path.into(), message: e.to_string() })
}
