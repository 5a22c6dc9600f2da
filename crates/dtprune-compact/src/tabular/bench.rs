//! `dtprune bench --run DIR` for a tabular run: the masked model run densely (zeros and all)
//! against the compact one, both with dtprune's kernels, and — when a Python with
//! onnxruntime is configured — both as ONNX graphs in onnxruntime, the baseline a user of
//! another pruning tool would deploy. Rows are random: each id uniform over its table's rows,
//! each numeric value uniform in [-2, 2) (the columns are standardised).

use std::path::Path;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::net::{TabularModel, TabularNet};
use crate::bench::{BenchNet, BenchOptions, BenchReport};
use crate::error::Result;

impl BenchNet for TabularNet {
    /// Ids `[n, tables]` and numeric values `[n, numeric]`.
    type Batch = (Vec<u32>, Vec<f32>);

    fn random_batch(&self, n: usize, rng: &mut ChaCha8Rng) -> Self::Batch {
        let ids = (0..n).flat_map(|_| self.tables.iter().map(|t| rng.random_range(0..t.rows as u32)).collect::<Vec<_>>()).collect();
        let numeric = (0..n * self.numeric).map(|_| rng.random_range(-2.0f32..2.0)).collect();
        (ids, numeric)
    }

    fn logits(&self, (ids, numeric): &Self::Batch, n: usize) -> Result<Vec<f32>> {
        self.forward(ids, numeric, n)
    }

    fn classes(&self) -> usize {
        self.num_classes()
    }

    fn stored_bytes(&self) -> usize {
        self.param_bytes()
    }

    /// The concatenated rows plus the MLP's largest activation pair.
    fn activation_bytes(&self, n: usize) -> usize {
        self.mlp.peak_activation_bytes(n) + 4 * n * self.mlp.input.numel()
    }
}

/// The run's masked model (dense) against its exported compact model (`dtprune compact` first),
/// plus the onnxruntime baseline when `opts.onnxruntime_python` is set.
pub fn bench_run_dir(dir: &Path, opts: &BenchOptions) -> Result<BenchReport> {
    let dense = TabularModel::load_run(dir)?.dense_network()?;
    let (_, compact) = super::export::load(dir)?;
    let mut r = crate::bench::bench_nets(&dense, &compact, opts)?;
    crate::bench::add_run_files(&mut r, dir, opts)?;
    Ok(r)
}
