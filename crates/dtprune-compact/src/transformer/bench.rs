//! `dtprune bench --run DIR` for a Transformer run: the masked model run densely (zeros and
//! all) against the compact one, both with dtprune's kernels, and — when a Python with
//! onnxruntime is configured — both as ONNX graphs in onnxruntime, the baseline a user of
//! another pruning tool would deploy. Every text has `max_len` real tokens (the longest
//! message the model reads: the case the latency bar names), token ids drawn uniformly
//! from the vocabulary.

use std::path::Path;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::net::{TransformerModel, TransformerNet};
use crate::bench::{BenchNet, BenchOptions, BenchReport};
use crate::error::Result;

impl BenchNet for TransformerNet {
    /// Token ids `[n, max_len]`, every position a real token, and the lengths.
    type Batch = (Vec<u32>, Vec<usize>);

    fn random_batch(&self, n: usize, rng: &mut ChaCha8Rng) -> Self::Batch {
        let ids = (0..n * self.max_len).map(|_| rng.random_range(0..self.vocab as u32)).collect();
        (ids, vec![self.max_len; n])
    }

    fn logits(&self, (ids, lengths): &Self::Batch, n: usize) -> Result<Vec<f32>> {
        self.forward(ids, lengths, n)
    }

    fn classes(&self) -> usize {
        self.num_classes()
    }

    fn stored_bytes(&self) -> usize {
        super::compact::param_bytes(self)
    }

    /// Activations one text holds at a time (4 bytes a value): the stream, its norm, the
    /// stacked projections, one head's scores and the feed-forward hidden layer; texts run in
    /// parallel, one per thread.
    fn activation_bytes(&self, n: usize) -> usize {
        let t = self.max_len;
        let widest = self.blocks.iter().map(|b| 3 * b.heads * b.head_dim * t + 2 * t * t + b.ffn_in.weight.rows() * t).max().unwrap_or(0);
        4 * n.min(rayon::current_num_threads()) * (2 * self.d_model * t + widest)
    }
}

/// The run's masked model (dense) against its exported compact model (`dtprune compact` first),
/// plus the onnxruntime baseline when `opts.onnxruntime_python` is set.
pub fn bench_run_dir(dir: &Path, opts: &BenchOptions) -> Result<BenchReport> {
    let dense = TransformerModel::load_run(dir)?.dense_network();
    let (_, compact) = super::export::load(dir)?;
    let mut r = crate::bench::bench_nets(&dense, &compact, opts)?;
    crate::bench::add_run_files(&mut r, dir, opts)?;
    Ok(r)
}
