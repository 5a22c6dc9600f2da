//! `dtprune bench --run DIR` for a recurrent run: the masked model run densely (zeros and all)
//! against the compact one, both with dtprune's kernels, and — when a Python with onnxruntime
//! is configured — both as ONNX `LSTM`/`GRU` graphs in onnxruntime, the baseline a user of
//! another pruning tool would deploy. Every sequence is `frames` long (the ONNX graph takes no
//! lengths), inputs are standard-normal-like features as the trainer feeds them.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::net::{RecurrentModel, RecurrentNet};
use crate::bench::{argmax, time_fn, BenchOptions, BenchReport, BenchRow};
use crate::error::Result;

/// Activations one forward pass holds at batch n: the input, every layer's step-major input
/// projections and its output sequence, and the state (4 bytes a value).
fn activation_bytes(net: &RecurrentNet, n: usize) -> usize {
    let t = net.frames;
    let per_layer: usize = net.layers.iter().map(|l| l.kind.num_gates() * l.hidden * (2 * t * n + n) + 2 * l.hidden * (t * n + n)).sum();
    4 * (t * n * net.features + per_layer)
}

/// Times `dense` against `compact` at `opts.batches` on the same random sequences.
pub fn bench(dense: &RecurrentNet, compact: &RecurrentNet, opts: &BenchOptions) -> Result<BenchReport> {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let per = dense.frames * dense.features;
    let (mut rows, mut max_diff, mut agree) = (Vec::new(), 0f32, true);
    for &n in &opts.batches {
        // Sums of uniforms: roughly N(0, 1), the scale of standardised log-mel features.
        let x: Vec<f32> = (0..n * per).map(|_| (0..3).map(|_| rng.random::<f32>() * 2.0 - 1.0).sum::<f32>()).collect();
        let (yd, yc) = (dense.forward_full(&x, n)?, compact.forward_full(&x, n)?);
        let k = dense.num_classes();
        for (a, b) in yd.chunks(k).zip(yc.chunks(k)) {
            agree &= argmax(a) == argmax(b);
            max_diff = a.iter().zip(b).map(|(p, q)| (p - q).abs()).fold(max_diff, f32::max);
        }
        let d = time_fn(|x, n| dense.forward_full(x, n), &x, n, opts)?;
        let c = time_fn(|x, n| compact.forward_full(x, n), &x, n, opts)?;
        rows.push(BenchRow { batch: n, speedup: d.median_s / c.median_s, dense: d, compact: c, dense_activation_bytes: activation_bytes(dense, n), compact_activation_bytes: activation_bytes(compact, n) });
    }
    Ok(BenchReport {
        rows,
        dense_param_bytes: dense.param_bytes(),
        compact_param_bytes: compact.param_bytes(),
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
    let dense = RecurrentModel::load_run(dir)?.dense_network();
    let (_, compact) = super::export::load(dir)?;
    let mut r = bench(&dense, &compact, opts)?;
    crate::bench::add_run_files(&mut r, dir, opts)?;
    Ok(r)
}
