//! `dtprune bench --run DIR` for a recurrent run: the masked model run densely (zeros and all)
//! against the compact one, both with dtprune's kernels, and — when a Python with onnxruntime
//! is configured — both as ONNX `LSTM`/`GRU` graphs in onnxruntime, the baseline a user of
//! another pruning tool would deploy. Every sequence is `frames` long (the ONNX graph takes no
//! lengths), inputs are standard-normal-like features as the trainer feeds them.

use std::path::Path;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::net::{RecurrentModel, RecurrentNet};
use crate::bench::{BenchNet, BenchOptions, BenchReport};
use crate::error::Result;

impl BenchNet for RecurrentNet {
    /// `[n, frames, features]`, every frame valid.
    type Batch = Vec<f32>;

    fn random_batch(&self, n: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
        // Sums of uniforms: roughly N(0, 1), the scale of standardised log-mel features.
        (0..n * self.frames * self.features).map(|_| (0..3).map(|_| rng.random::<f32>() * 2.0 - 1.0).sum::<f32>()).collect()
    }

    fn logits(&self, x: &Vec<f32>, n: usize) -> Result<Vec<f32>> {
        self.forward_full(x, n)
    }

    fn classes(&self) -> usize {
        self.num_classes()
    }

    fn stored_bytes(&self) -> usize {
        self.param_bytes()
    }

    /// The input, every layer's step-major input projections and its output sequence, and the
    /// state (4 bytes a value).
    fn activation_bytes(&self, n: usize) -> usize {
        let t = self.frames;
        let per_layer: usize = self.layers.iter().map(|l| l.kind.num_gates() * l.hidden * (2 * t * n + n) + 2 * l.hidden * (t * n + n)).sum();
        4 * (t * n * self.features + per_layer)
    }
}

/// The run's masked model (dense) against its exported compact model (`dtprune compact` first),
/// plus the onnxruntime baseline when `opts.onnxruntime_python` is set.
pub fn bench_run_dir(dir: &Path, opts: &BenchOptions) -> Result<BenchReport> {
    let dense = RecurrentModel::load_run(dir)?.dense_network();
    let (_, compact) = super::export::load(dir)?;
    let mut r = crate::bench::bench_nets(&dense, &compact, opts)?;
    crate::bench::add_run_files(&mut r, dir, opts)?;
    Ok(r)
}
