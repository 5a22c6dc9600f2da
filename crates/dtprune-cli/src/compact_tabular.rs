//! `dtprune compact` for tabular runs (`tabular-mlp`): dead embedding dimensions and neurons
//! cut out, each MLP layer dense or CSR, the files written; then the compact model checked
//! against the masked one on the run's whole test split, and (`--reference N`) the first N
//! test rows with both models' logits written for the outside checks.

use anyhow::{Context, Result};
use dtprune_compact::tabular::{self, TabularCompacted, TabularModel, TabularNet};
use dtprune_compact::tensor_io::{write_safetensors, OwnedTensor};
use dtprune_compact::{CompactOptions, ExportedFiles};
use dtprune_data::table::TableSet;
use dtprune_train::input::table::TableData;
use dtprune_train::input::{InputKind, Prepare, Split};
use std::path::{Path, PathBuf};

use crate::compact_recurrent::TestCheck;

pub struct TabularSummary {
    pub compacted: TabularCompacted,
    pub files: ExportedFiles,
    /// The test-split check, or why it could not run (its data set is not on this machine).
    pub test: std::result::Result<TestCheck, String>,
}

fn test_split(run: &Path) -> Result<TableSet> {
    let files = dtprune_train::run::open_run(run)?;
    let data = dtprune_train::run::load_data(&files.cfg)?;
    Ok(TableData::prepare(&data, Split::Test, &Prepare::default())?.rows().clone())
}

fn logits(net: &TabularNet, set: &TableSet, n: usize) -> Result<Vec<f32>> {
    let (c, m) = (set.num_categorical(), set.num_numeric());
    Ok(net.forward(&set.categorical()[..n * c], &set.numeric()[..n * m], n)?)
}

fn check(compact: &TabularNet, masked: &TabularNet, set: &TableSet) -> Result<TestCheck> {
    let n = set.len();
    let (c, m) = (logits(compact, set, n)?, logits(masked, set, n)?);
    let labels: Vec<i64> = set.labels().iter().map(|&l| i64::from(l)).collect();
    Ok(crate::compact_recurrent::compare(&c, &m, &labels, compact.num_classes()))
}

pub fn compact(run: &Path, opts: &CompactOptions) -> Result<TabularSummary> {
    let (compacted, files) = tabular::compact_run_dir(run, opts)?;
    let masked = TabularModel::load_run(run)?.dense_network()?;
    let test = match test_split(run) {
        Ok(set) => Ok(check(&compacted.network, &masked, &set)?),
        Err(e) => Err(format!("{e}")),
    };
    Ok(TabularSummary { compacted, files, test })
}

/// `reference.safetensors`: the first `n` test rows (`ids` i64 `[n, tables]`, `numeric` f32
/// `[n, numeric]`, standardised as the model reads them) with the compact model's `logits` and
/// the masked model's `dense_logits`.
pub fn write_reference(run: &Path, n: usize) -> Result<PathBuf> {
    let set = test_split(run).context("--reference needs the run's test split")?;
    if n == 0 || n > set.len() {
        anyhow::bail!("--reference {n} is out of range; valid range is [1, {}] (the run's test set)", set.len());
    }
    let (_, compact) = tabular::export::load(run)?;
    let masked = TabularModel::load_run(run)?.dense_network()?;
    let (c, m, k) = (set.num_categorical(), set.num_numeric(), compact.num_classes());
    let ids: Vec<i64> = set.categorical()[..n * c].iter().map(|&i| i64::from(i)).collect();
    let tensors = vec![
        ("ids".to_string(), OwnedTensor::i64(vec![n, c], &ids)),
        ("numeric".to_string(), OwnedTensor::f32(vec![n, m], &set.numeric()[..n * m])),
        ("logits".to_string(), OwnedTensor::f32(vec![n, k], &logits(&compact, &set, n)?)),
        ("dense_logits".to_string(), OwnedTensor::f32(vec![n, k], &logits(&masked, &set, n)?)),
    ];
    let path = run.join(dtprune_compact::export::REFERENCE_FILE);
    write_safetensors(&path, &tensors, None)?;
    Ok(path)
}

impl std::fmt::Display for TabularSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = &self.compacted.report;
        writeln!(f, "{:<10} {:>12} {:>12} {:>8} {:>7} {:>10}", "layer", "shape", "compact", "density", "format", "crossover")?;
        for l in &r.layers {
            writeln!(f, "{:<10} {:>12} {:>12} {:>8.4} {:>7} {:>10.3}", l.name, format!("{:?}", l.original_shape), format!("{:?}", l.compact_shape), l.density, l.format, l.crossover)?;
        }
        let units: Vec<String> = r.units.iter().map(|u| format!("{} {} -> {}", u.group, u.units_before, u.units_after)).collect();
        writeln!(f, "units: {} ({} removed, {} constant neurons folded)", units.join(", "), r.removed_units(), r.constant_folded)?;
        writeln!(f, "parameter bytes: {} -> {} ({:.1}x smaller)", r.original_param_bytes, r.compact_param_bytes, r.original_param_bytes as f64 / r.compact_param_bytes.max(1) as f64)?;
        match &self.test {
            Ok(t) => writeln!(f, "{}", t.line("rows"))?,
            Err(why) => writeln!(f, "test split: not checked ({why})")?,
        }
        write!(f, "wrote {} ({} bytes) and {}", self.files.weights.display(), self.files.weights_bytes, self.files.json.display())
    }
}
