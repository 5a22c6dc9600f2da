//! `dtprune compact` for Transformer runs: dead heads, feed-forward neurons and stream
//! dimensions cut out, each matrix dense or CSR, the files written; then the compact model
//! checked against the masked one on the run's whole test split, and (`--reference N`) the
//! first N test texts with both models' logits written for the outside checks.

use anyhow::{Context, Result};
use dtprune_compact::tensor_io::{write_safetensors, OwnedTensor};
use dtprune_compact::transformer::{self, TransformerCompacted, TransformerModel, TransformerNet};
use dtprune_compact::{CompactOptions, ExportedFiles};
use dtprune_data::text::set::TokenizedSet;
use dtprune_train::input::text::TextData;
use dtprune_train::input::{InputKind, Prepare, Split};
use std::path::{Path, PathBuf};

use crate::compact_recurrent::TestCheck;

pub struct TransformerSummary {
    pub compacted: TransformerCompacted,
    pub files: ExportedFiles,
    /// The test-split check, or why it could not run (its data set is not on this machine).
    pub test: std::result::Result<TestCheck, String>,
}

fn test_split(run: &Path) -> Result<TokenizedSet> {
    let files = dtprune_train::run::open_run(run)?;
    let data = dtprune_train::run::load_data(&files.cfg)?;
    Ok(TextData::prepare(&data, Split::Test, &Prepare::default())?.tokens().clone())
}

fn lengths(set: &TokenizedSet, n: usize) -> Vec<usize> {
    set.lengths()[..n].iter().map(|&l| l as usize).collect()
}

fn logits(net: &TransformerNet, set: &TokenizedSet, n: usize) -> Result<Vec<f32>> {
    Ok(net.forward(&set.ids()[..n * set.max_len()], &lengths(set, n), n)?)
}

fn check(compact: &TransformerNet, masked: &TransformerNet, set: &TokenizedSet) -> Result<TestCheck> {
    let n = set.len();
    let (c, m) = (logits(compact, set, n)?, logits(masked, set, n)?);
    let labels: Vec<i64> = set.labels().iter().map(|&l| i64::from(l)).collect();
    Ok(crate::compact_recurrent::compare(&c, &m, &labels, compact.num_classes()))
}

pub fn compact(run: &Path, opts: &CompactOptions) -> Result<TransformerSummary> {
    let (compacted, files) = transformer::compact_run_dir(run, opts)?;
    let masked = TransformerModel::load_run(run)?.dense_network();
    let test = match test_split(run) {
        Ok(set) => Ok(check(&compacted.network, &masked, &set)?),
        Err(e) => Err(format!("{e}")),
    };
    Ok(TransformerSummary { compacted, files, test })
}

/// `reference.safetensors`: the first `n` test texts (`ids` i64 `[n, max_len]`, padded;
/// `mask` f32 `[n, max_len]`, 1 on real tokens and on an empty text's first position;
/// `lengths` i64 `[n]`) with the compact model's
/// `logits` and the masked model's `dense_logits`.
pub fn write_reference(run: &Path, n: usize) -> Result<PathBuf> {
    let set = test_split(run).context("--reference needs the run's test split")?;
    if n == 0 || n > set.len() {
        anyhow::bail!("--reference {n} is out of range; valid range is [1, {}] (the run's test set)", set.len());
    }
    let (_, compact) = transformer::export::load(run)?;
    let masked = TransformerModel::load_run(run)?.dense_network();
    let t = set.max_len();
    let ids: Vec<i64> = set.ids()[..n * t].iter().map(|&i| i64::from(i)).collect();
    let mut mask: Vec<f32> = set.mask()[..n * t].iter().map(|&m| f32::from(m)).collect();
    let lens: Vec<i64> = lengths(&set, n).iter().map(|&l| l as i64).collect();
    // An empty text is read as its first position, as the trainer reads it.
    for (i, _) in lens.iter().enumerate().filter(|(_, &l)| l == 0) {
        mask[i * t] = 1.0;
    }
    let k = compact.num_classes();
    let tensors = vec![
        ("ids".to_string(), OwnedTensor::i64(vec![n, t], &ids)),
        ("mask".to_string(), OwnedTensor::f32(vec![n, t], &mask)),
        ("lengths".to_string(), OwnedTensor::i64(vec![n], &lens)),
        ("logits".to_string(), OwnedTensor::f32(vec![n, k], &logits(&compact, &set, n)?)),
        ("dense_logits".to_string(), OwnedTensor::f32(vec![n, k], &logits(&masked, &set, n)?)),
    ];
    let path = run.join(dtprune_compact::export::REFERENCE_FILE);
    write_safetensors(&path, &tensors, None)?;
    Ok(path)
}

impl std::fmt::Display for TransformerSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = &self.compacted.report;
        writeln!(f, "{:<28} {:>12} {:>12} {:>8} {:>7} {:>10}", "matrix", "shape", "compact", "density", "format", "crossover")?;
        for m in &r.matrices {
            writeln!(f, "{:<28} {:>12} {:>12} {:>8.4} {:>7} {:>10.3}", m.name, format!("{:?}", m.original_shape), format!("{:?}", m.compact_shape), m.density, m.format, m.crossover)?;
        }
        let units: Vec<String> = r.units.iter().map(|u| format!("{} {} -> {}", u.group, u.units_before, u.units_after)).collect();
        writeln!(f, "units: {} ({} removed)", units.join(", "), r.removed_units())?;
        writeln!(f, "parameter bytes: {} -> {} ({:.1}x smaller)", r.original_param_bytes, r.compact_param_bytes, r.original_param_bytes as f64 / r.compact_param_bytes.max(1) as f64)?;
        match &self.test {
            Ok(t) => writeln!(f, "{}", t.line("texts"))?,
            Err(why) => writeln!(f, "test split: not checked ({why})")?,
        }
        write!(f, "wrote {} ({} bytes) and {}", self.files.weights.display(), self.files.weights_bytes, self.files.json.display())
    }
}
