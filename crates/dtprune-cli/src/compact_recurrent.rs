//! `dtprune compact` for recurrent runs (`lstm`, `gru`): dead hidden units cut out, each gate
//! matrix dense or CSR, the files written; then the compact model checked against the masked
//! one on the run's whole test split, and (`--reference N`) the first N test sequences with
//! both models' logits written for the outside checks.

use anyhow::{Context, Result};
use dtprune_compact::recurrent::{self, RecurrentCompacted, RecurrentModel, RecurrentNet};
use dtprune_compact::tensor_io::{write_safetensors, OwnedTensor};
use dtprune_compact::{CompactOptions, ExportedFiles};
use dtprune_train::input::speech::SpeechData;
use std::path::{Path, PathBuf};

/// The compact and the masked model on the test split.
pub struct TestCheck {
    pub items: usize,
    pub argmax_agree: usize,
    pub compact_accuracy: f64,
    pub masked_accuracy: f64,
    pub max_abs_logit_diff: f32,
}

pub struct RecurrentSummary {
    pub compacted: RecurrentCompacted,
    pub files: ExportedFiles,
    /// The test-split check, or why it could not run (its data set is not on this machine).
    pub test: std::result::Result<TestCheck, String>,
}

fn test_split(run: &Path) -> Result<SpeechData> {
    let files = dtprune_train::run::open_run(run)?;
    let data = dtprune_train::run::load_data(&files.cfg)?;
    Ok(SpeechData::test_split(&data)?)
}

fn logits(net: &RecurrentNet, data: &SpeechData, range: std::ops::Range<usize>) -> Result<Vec<f32>> {
    let per = data.frames() * data.n_features();
    let mut out = Vec::new();
    for start in range.clone().step_by(256) {
        let end = (start + 256).min(range.end);
        out.extend(net.forward(&data.features()[start * per..end * per], &data.lengths()[start..end], end - start)?);
    }
    Ok(out)
}

fn argmax(v: &[f32]) -> usize {
    dtprune_compact::bench::argmax(v)
}

fn check(compact: &RecurrentNet, masked: &RecurrentNet, data: &SpeechData) -> Result<TestCheck> {
    let n = data.labels().len();
    let (c, m) = (logits(compact, data, 0..n)?, logits(masked, data, 0..n)?);
    Ok(compare(&c, &m, data.labels(), compact.num_classes()))
}

/// The compact model's logits `c` against the masked model's `m` (`k` classes per item).
pub fn compare(c: &[f32], m: &[f32], labels: &[i64], k: usize) -> TestCheck {
    let n = labels.len();
    let (mut agree, mut c_ok, mut m_ok, mut diff) = (0, 0, 0, 0f32);
    for ((a, b), &label) in c.chunks(k).zip(m.chunks(k)).zip(labels) {
        agree += usize::from(argmax(a) == argmax(b));
        c_ok += usize::from(argmax(a) as i64 == label);
        m_ok += usize::from(argmax(b) as i64 == label);
        diff = a.iter().zip(b).map(|(p, q)| (p - q).abs()).fold(diff, f32::max);
    }
    let acc = |ok: usize| ok as f64 / n.max(1) as f64;
    TestCheck { items: n, argmax_agree: agree, compact_accuracy: acc(c_ok), masked_accuracy: acc(m_ok), max_abs_logit_diff: diff }
}

impl TestCheck {
    /// One summary line, `items` naming what was checked (`sequences`, `texts`).
    pub fn line(&self, items: &str) -> String {
        format!(
            "test split: {} {items}, argmax of compact = masked on {}/{}; accuracy compact {:.2}% / masked {:.2}%; max |logit diff| {:.2e}",
            self.items,
            self.argmax_agree,
            self.items,
            100.0 * self.compact_accuracy,
            100.0 * self.masked_accuracy,
            self.max_abs_logit_diff
        )
    }
}

pub fn compact(run: &Path, opts: &CompactOptions) -> Result<RecurrentSummary> {
    let (compacted, files) = recurrent::compact_run_dir(run, opts)?;
    let masked = RecurrentModel::load_run(run)?.dense_network();
    let test = match test_split(run) {
        Ok(data) => Ok(check(&compacted.network, &masked, &data)?),
        // The data errors name their cause in their own message; `{:#}` would repeat it.
        Err(e) => Err(format!("{e}")),
    };
    Ok(RecurrentSummary { compacted, files, test })
}

/// `reference.safetensors`: the first `n` test sequences (`frames` f32 `[n, T, F]`, standardised;
/// `lengths` i64 `[n]`) with the compact model's `logits`, the masked model's `dense_logits`,
/// and both models' logits with every frame taken as valid (`full_logits`, `dense_full_logits`:
/// what the ONNX graphs, which take no lengths, compute).
pub fn write_reference(run: &Path, n: usize) -> Result<PathBuf> {
    let data = test_split(run).context("--reference needs the run's test split")?;
    let available = data.labels().len();
    if n == 0 || n > available {
        anyhow::bail!("--reference {n} is out of range; valid range is [1, {available}] (the run's test set)");
    }
    let (_, compact) = recurrent::export::load(run)?;
    let masked = RecurrentModel::load_run(run)?.dense_network();
    let (t, f) = (data.frames(), data.n_features());
    let frames = &data.features()[..n * t * f];
    let k = compact.num_classes();
    let lengths: Vec<i64> = data.lengths()[..n].iter().map(|&l| l as i64).collect();
    let tensors = vec![
        ("frames".to_string(), OwnedTensor::f32(vec![n, t, f], frames)),
        ("lengths".to_string(), OwnedTensor::i64(vec![n], &lengths)),
        ("logits".to_string(), OwnedTensor::f32(vec![n, k], &logits(&compact, &data, 0..n)?)),
        ("dense_logits".to_string(), OwnedTensor::f32(vec![n, k], &logits(&masked, &data, 0..n)?)),
        ("full_logits".to_string(), OwnedTensor::f32(vec![n, k], &compact.forward_full(frames, n)?)),
        ("dense_full_logits".to_string(), OwnedTensor::f32(vec![n, k], &masked.forward_full(frames, n)?)),
    ];
    let path = run.join(dtprune_compact::export::REFERENCE_FILE);
    write_safetensors(&path, &tensors, None)?;
    Ok(path)
}

impl std::fmt::Display for RecurrentSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = &self.compacted.report;
        writeln!(f, "{:<26} {:<6} {:>12} {:>12} {:>8} {:>7} {:>10}", "matrix", "op", "shape", "compact", "density", "format", "crossover")?;
        for m in &r.matrices {
            writeln!(f, "{:<26} {:<6} {:>12} {:>12} {:>8.4} {:>7} {:>10.3}", m.name, m.op, format!("{:?}", m.original_shape), format!("{:?}", m.compact_shape), m.density, m.format, m.crossover)?;
        }
        let units: Vec<String> = r.units.iter().map(|u| format!("{} {} -> {}", u.layer, u.units_before, u.units_after)).collect();
        writeln!(f, "hidden units: {} ({} removed)", units.join(", "), r.removed_units())?;
        writeln!(f, "parameter bytes: {} -> {} ({:.1}x smaller)", r.original_param_bytes, r.compact_param_bytes, r.original_param_bytes as f64 / r.compact_param_bytes.max(1) as f64)?;
        match &self.test {
            Ok(t) => writeln!(f, "{}", t.line("sequences"))?,
            Err(why) => writeln!(f, "test split: not checked ({why})")?,
        }
        write!(f, "wrote {} ({} bytes, PyTorch nn.{} names) and {}", self.files.weights.display(), self.files.weights_bytes, if self.compacted.model.spec.kind == recurrent::CellKind::Lstm { "LSTM" } else { "GRU" }, self.files.json.display())
    }
}
