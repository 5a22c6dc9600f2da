//! `dtprune bench --run DIR` for a tabular run: the masked model run densely (zeros and all)
//! against the compact one, both with dtprune's kernels, and — when a Python with
//! onnxruntime is configured — both as ONNX graphs in onnxruntime, the baseline a user of
//! another pruning tool would deploy. Rows are random: each id uniform over its table's rows,
//! each numeric value uniform in [-2, 2) (the columns are standardised).

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::net::{TabularModel, TabularNet};
use crate::bench::{argmax, time_fn, BenchOptions, BenchReport, BenchRow};
use crate::error::Result;

/// The concatenated rows plus the MLP's largest activation pair.
fn activation_bytes(net: &TabularNet, n: usize) -> usize {
    net.mlp.peak_activation_bytes(n) + 4 * n * net.mlp.input.numel()
}

/// `n` random rows: ids `[n, tables]` and numeric values `[n, numeric]`.
pub fn random_rows(net: &TabularNet, n: usize, rng: &mut impl Rng) -> (Vec<u32>, Vec<f32>) {
    let ids = (0..n).flat_map(|_| net.tables.iter().map(|t| rng.random_range(0..t.rows as u32)).collect::<Vec<_>>()).collect::<Vec<_>>();
    let numeric = (0..n * net.numeric).map(|_| rng.random_range(-2.0f32..2.0)).collect();
    (ids, numeric)
}

/// Times `dense` against `compact` at `opts.batches` on the same random rows.
pub fn bench(dense: &TabularNet, compact: &TabularNet, opts: &BenchOptions) -> Result<BenchReport> {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let (mut rows, mut max_diff, mut agree) = (Vec::new(), 0f32, true);
    for &n in &opts.batches {
        let (ids, numeric) = random_rows(dense, n, &mut rng);
        let (yd, yc) = (dense.forward(&ids, &numeric, n)?, compact.forward(&ids, &numeric, n)?);
        let k = dense.num_classes();
        for (a, b) in yd.chunks(k).zip(yc.chunks(k)) {
            agree &= argmax(a) == argmax(b);
            max_diff = a.iter().zip(b).map(|(p, q)| (p - q).abs()).fold(max_diff, f32::max);
        }
        let d = time_fn(|_, n| dense.forward(&ids, &numeric, n), &[], n, opts)?;
        let c = time_fn(|_, n| compact.forward(&ids, &numeric, n), &[], n, opts)?;
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
    let dense = TabularModel::load_run(dir)?.dense_network()?;
    let (_, compact) = super::export::load(dir)?;
    let mut r = bench(&dense, &compact, opts)?;
    crate::bench::add_run_files(&mut r, dir, opts)?;
    Ok(r)
}
