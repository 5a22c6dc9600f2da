//! `dtprune bench --run DIR` for a Transformer run: the masked model run densely (zeros and
//! all) against the compact one, both with dtprune's kernels, and — when a Python with
//! onnxruntime is configured — both as ONNX graphs in onnxruntime, the baseline a user of
//! another pruning tool would deploy. Every text has `max_len` real tokens (the longest
//! message the model reads: the case the latency bar names), token ids drawn uniformly
//! from the vocabulary.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::net::{TransformerModel, TransformerNet};
use crate::bench::{argmax, time_fn, BenchOptions, BenchReport, BenchRow};
use crate::error::Result;

/// Activations one text holds at a time (4 bytes a value): the stream, its norm, the stacked
/// projections, one head's scores and the feed-forward hidden layer; texts run in parallel,
/// one per thread.
fn activation_bytes(net: &TransformerNet, n: usize) -> usize {
    let t = net.max_len;
    let widest = net.blocks.iter().map(|b| 3 * b.heads * b.head_dim * t + 2 * t * t + b.ffn_in.weight.rows() * t).max().unwrap_or(0);
    4 * n.min(rayon::current_num_threads()) * (2 * net.d_model * t + widest)
}

/// Times `dense` against `compact` at `opts.batches` on the same random texts.
pub fn bench(dense: &TransformerNet, compact: &TransformerNet, opts: &BenchOptions) -> Result<BenchReport> {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let t = dense.max_len;
    let (mut rows, mut max_diff, mut agree) = (Vec::new(), 0f32, true);
    for &n in &opts.batches {
        let ids: Vec<u32> = (0..n * t).map(|_| rng.random_range(0..dense.vocab as u32)).collect();
        let lengths = vec![t; n];
        let (yd, yc) = (dense.forward(&ids, &lengths, n)?, compact.forward(&ids, &lengths, n)?);
        let k = dense.num_classes();
        for (a, b) in yd.chunks(k).zip(yc.chunks(k)) {
            agree &= argmax(a) == argmax(b);
            max_diff = a.iter().zip(b).map(|(p, q)| (p - q).abs()).fold(max_diff, f32::max);
        }
        let d = time_fn(|_, n| dense.forward(&ids, &lengths, n), &[], n, opts)?;
        let c = time_fn(|_, n| compact.forward(&ids, &lengths, n), &[], n, opts)?;
        rows.push(BenchRow { batch: n, speedup: d.median_s / c.median_s, dense: d, compact: c, dense_activation_bytes: activation_bytes(dense, n), compact_activation_bytes: activation_bytes(compact, n) });
    }
    Ok(BenchReport {
        rows,
        dense_param_bytes: super::compact::param_bytes(dense),
        compact_param_bytes: super::compact::param_bytes(compact),
        dense_file_bytes: None,
        compact_file_bytes: None,
        threads: rayon::current_num_threads(),
        kernels: crate::simd::level().name(),
        max_abs_logit_diff: max_diff,
        argmax_agree: agree,
        layers: Vec::new(),
        layers_batch: 0,
        onnxruntime: None,
        int8: None,
    })
}

/// The run's masked model (dense) against its exported compact model (`dtprune compact` first),
/// plus the onnxruntime baseline when `opts.onnxruntime_python` is set.
pub fn bench_run_dir(dir: &Path, opts: &BenchOptions) -> Result<BenchReport> {
    let dense = TransformerModel::load_run(dir)?.dense_network();
    let (_, compact) = super::export::load(dir)?;
    let mut r = bench(&dense, &compact, opts)?;
    crate::bench::add_run_files(&mut r, dir, opts)?;
    Ok(r)
}
