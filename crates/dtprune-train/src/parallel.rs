//! Data parallelism inside one process: a batch is split into `replicas` shards, each shard's
//! forward and backward pass runs on its own thread against its own autodiff copy of the model,
//! and the shard gradients are combined into the gradient of the whole batch.
//!
//! Why: Burn/Flex runs most of a small model's operations on one core (only large matrix
//! products fan out), so a single training step leaves the second core idle. Two shards keep
//! both busy.
//!
//! Why a copy per shard: Burn's autodiff keeps one graph per connected set of nodes behind one
//! mutex. Two forward passes over the *same* parameter leaves would be merged into one graph
//! and their backward passes serialised. `model.valid().train()` shares the weights (no copy of
//! the data) but gives each shard fresh leaves, hence its own graph; parameter ids are kept, so
//! the gradients of every shard are keyed like the model's.
//!
//! The result depends on `replicas`, never on the number of cores: the shards and the order in
//! which their gradients are summed are fixed, so a seed gives the same numbers on any machine.

use crate::input::Targets;
use crate::layers::batch_stats::{self, BatchStats};
use crate::model::{BatchOf, Model};
use crate::task::Task;
use burn::module::{ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use rayon::prelude::*;
use std::sync::Mutex;

/// What one step's forward and backward passes produced.
pub struct StepOutput {
    /// Gradient of the mean loss over the whole batch.
    pub grads: GradientsParams,
    /// Mean loss over the batch.
    pub loss: f64,
    /// Correctly classified images in the batch.
    pub correct: i64,
    /// What the BatchNorm layers saw, pooled over the shards: the statistics of the whole
    /// batch, for [`crate::layers::update_running_stats`].
    pub batch_stats: Vec<BatchStats>,
}

/// One shard of a batch for model `M`: its inputs and targets.
pub type Shard<M> = (BatchOf<M>, Targets);

struct ShardOutput {
    grads: GradientsParams,
    loss: f64,
    correct: i64,
    len: usize,
    batch_stats: Vec<BatchStats>,
}

fn forward_backward<M: Model>(model: &M, task: &M::Task, (x, y): Shard<M>) -> ShardOutput {
    let len = y.dims()[0];
    let (logits, batch_stats) = batch_stats::capture(|| model.forward(x));
    let loss = task.loss(logits.clone(), y.clone());
    let loss_value = f64::from(loss.clone().into_scalar::<f32>());
    let correct = task.hits(logits, y);
    let grads = GradientsParams::from_grads(loss.backward(), model);
    ShardOutput { grads, loss: loss_value, correct, len, batch_stats }
}

/// Forward and backward over `shards` (one batch, split), each shard on its own thread.
/// The loss may be non-finite; the caller decides what to do with it.
pub fn step<M: Model>(model: &M, task: &M::Task, mut shards: Vec<Shard<M>>) -> StepOutput {
    assert!(!shards.is_empty(), "a step needs at least one shard");
    if shards.len() == 1 {
        // One shard: the model's own leaves, no copy and no thread.
        let out = forward_backward(model, task, shards.pop().expect("one shard"));
        return StepOutput { grads: out.grads, loss: out.loss, correct: out.correct, batch_stats: out.batch_stats };
    }
    let mut outputs: Vec<ShardOutput> = pool(shards.len()).install(|| {
        shards
            .into_par_iter()
            .with_max_len(1)
            .map(|shard| forward_backward(&model.valid().train(), task, shard))
            .collect()
    });
    let total: usize = outputs.iter().map(|o| o.len).sum();
    let loss = outputs.iter().map(|o| o.loss * o.len as f64).sum::<f64>() / total as f64;
    let correct = outputs.iter().map(|o| o.correct).sum();
    let batch_stats = batch_stats::combine(outputs.iter_mut().map(|o| std::mem::take(&mut o.batch_stats)).collect());
    let weighted: Vec<(GradientsParams, f64)> = outputs.into_iter().map(|o| (o.grads, o.len as f64 / total as f64)).collect();
    StepOutput { grads: combine(model, weighted), loss, correct, batch_stats }
}

/// The thread pool that runs `n` shards (and evaluation chunks, `trainer::evaluate`): `n`
/// threads, created once per count and kept for the life of the process. Spawning threads every step cost more than it seems: each new
/// thread starts with an empty allocator heap whose memory the kernel must zero again (page
/// faults were ~10% of LeNet-5's CPU time). Operations inside a shard that parallelise
/// themselves (large matrix products) run in this pool too, so with two or more shards the
/// number of threads a step uses depends on `n`, not on the machine's core count. (One shard
/// runs on the calling thread and its products on Burn's global pool.)
pub(crate) fn pool(n: usize) -> &'static rayon::ThreadPool {
    static POOLS: Mutex<Vec<(usize, &'static rayon::ThreadPool)>> = Mutex::new(Vec::new());
    let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, pool)) = pools.iter().find(|(k, _)| *k == n) {
        return pool;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("dtprune-shard-{i}"))
        .build()
        .expect("shard thread pool");
    // Leaked on purpose: one small pool per shard count used by the process.
    let pool: &'static rayon::ThreadPool = Box::leak(Box::new(pool));
    pools.push((n, pool));
    pool
}

/// `Σ wᵢ·gᵢ` per parameter, in shard order: each shard's gradient is of its own mean loss, so
/// weighting by the shard's share of the batch gives the gradient of the batch's mean loss.
pub fn combine<M: Module>(model: &M, shards: Vec<(GradientsParams, f64)>) -> GradientsParams {
    let mut combiner = Combiner { shards, out: GradientsParams::new() };
    model.visit(&mut combiner);
    combiner.out
}

struct Combiner {
    shards: Vec<(GradientsParams, f64)>,
    out: GradientsParams,
}

impl ModuleVisitor for Combiner {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let id = param.id;
        let mut sum: Option<Tensor<D>> = None;
        for (grads, weight) in self.shards.iter_mut() {
            if let Some(g) = grads.remove::<D>(id) {
                let g = g * *weight;
                sum = Some(match sum {
                    Some(s) => s + g,
                    None => g,
                });
            }
        }
        if let Some(sum) = sum {
            self.out.register::<D>(id, sum);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::InputInfo;
    use crate::models::Lenet300;
    use crate::task::Classification;

    use crate::host_f32 as values;

    /// Two shards give the gradient of the whole batch (up to float summation order).
    #[test]
    fn sharded_gradient_equals_whole_batch_gradient() {
        let device = Device::flex().autodiff();
        let _rng = crate::seeded_test_lock();
        device.seed(7);
        let info = InputInfo { channels: 1, rows: 28, cols: 28, classes: 10 };
        let model = Lenet300::init(info, &crate::registry::default_params::<Lenet300>(), &device);
        let loss_fn = Classification::new(&device);
        let n = 10;
        let pixels: Vec<f32> = (0..n * 784).map(|i| ((i * 37 % 101) as f32 / 101.0) - 0.5).collect();
        let labels: Vec<i64> = (0..n as i64).map(|i| (i * 3) % 10).collect();
        let x = Tensor::<4>::from_data(TensorData::new(pixels, [n, 1, 28, 28]), &device);
        let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), &device);

        let mut whole = step(&model, &loss_fn, vec![(x.clone(), y.clone())]);
        // Unequal shards (3 + 7) check the weighting by shard size.
        let shards = vec![(x.clone().narrow(0, 0, 3), y.clone().narrow(0, 0, 3)), (x.narrow(0, 3, 7), y.narrow(0, 3, 7))];
        let mut split = step(&model, &loss_fn, shards);

        assert!((whole.loss - split.loss).abs() < 1e-5, "{} vs {}", whole.loss, split.loss);
        assert_eq!(whole.correct, split.correct);
        let params = crate::params::list_params(&model);
        assert_eq!(params.len(), 6);
        for p in &params {
            let take = |g: &mut GradientsParams| match p.burn_shape.len() {
                1 => values(g.remove::<1>(p.id).expect("gradient")),
                _ => values(g.remove::<2>(p.id).expect("gradient")),
            };
            let (a, b) = (take(&mut whole.grads), take(&mut split.grads));
            assert_eq!(a.len(), b.len(), "{}", p.name);
            let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(scale > 0.0, "{}: zero gradient", p.name);
            for (u, v) in a.iter().zip(&b) {
                assert!((u - v).abs() <= 1e-5 * scale.max(1.0), "{}: {u} vs {v}", p.name);
            }
        }
    }
}
