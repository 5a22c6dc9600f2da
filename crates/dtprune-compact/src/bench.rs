//! Dense vs compact inference benchmark, measured in one process with the same kernels.
//!
//! Each configuration gets warm-up calls (page faults, rayon wake-up, caches), then `repeats`
//! timed samples; a sample of a fast call loops it until it lasts at least `min_sample`, so the
//! clock's resolution does not decide the result. We report the median, which a noisy shared
//! machine moves far less than the mean.

use std::path::Path;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::export::{load_compact, COMPACT_WEIGHTS};
use crate::model::{load_run, MODEL_FILE};
use crate::network::Network;
use crate::onnx;
use crate::onnxruntime_bench::{bench_onnxruntime, OrtBaseline, OrtOutcome};

#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub batches: Vec<usize>,
    pub warmup: usize,
    pub repeats: usize,
    pub min_sample: Duration,
    pub seed: u64,
    /// A Python interpreter to time the run's ONNX exports in onnxruntime with (the baseline);
    /// `None`: no baseline. One without onnxruntime gives a skip line, not an error.
    pub onnxruntime_python: Option<String>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            batches: vec![1, 128, 1000],
            warmup: 3,
            repeats: 15,
            min_sample: Duration::from_millis(2),
            seed: 0,
            onnxruntime_python: None,
        }
    }
}

/// Latency of one model at one batch size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Median seconds per forward call.
    pub median_s: f64,
    pub min_s: f64,
    pub max_s: f64,
    /// Samples (images, sequences) per second at the median.
    pub throughput: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchRow {
    pub batch: usize,
    pub dense: Timing,
    pub compact: Timing,
    /// dense median / compact median.
    pub speedup: f64,
    /// Peak activation working set of each model at this batch (bytes, computed).
    pub dense_activation_bytes: usize,
    pub compact_activation_bytes: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub rows: Vec<BenchRow>,
    pub dense_param_bytes: usize,
    pub compact_param_bytes: usize,
    /// Sizes of `model.safetensors` / `compact.safetensors` when benchmarking a run dir.
    pub dense_file_bytes: Option<u64>,
    pub compact_file_bytes: Option<u64>,
    pub threads: usize,
    /// The kernel copies both networks ran ([`crate::simd::level`]).
    pub kernels: &'static str,
    /// Largest |dense - compact| logit difference seen on the benchmark inputs.
    pub max_abs_logit_diff: f32,
    pub argmax_agree: bool,
    /// Where the time goes, at the largest batch: median milliseconds per op.
    pub layers: Vec<LayerTiming>,
    pub layers_batch: usize,
    /// onnxruntime on the same models (`bench_run_dir` with `onnxruntime_python`).
    pub onnxruntime: Option<OrtOutcome>,
    /// The int8 compact model, when the run has one (`dtprune compact --quantize int8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub int8: Option<crate::bench_int8::Int8Bench>,
}

/// Median time of one op in the dense and in the compact network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerTiming {
    pub label: String,
    pub dense_ms: f64,
    pub compact_ms: f64,
}

/// Median wall time of every op (plus the layout changes at both ends, last) over `repeats`
/// forward passes, after `warmup` untimed ones.
fn layer_times(net: &Network, x: &[f32], n: usize, o: &BenchOptions) -> Result<Vec<(String, f64)>> {
    for _ in 0..o.warmup {
        net.forward(x, n)?;
    }
    let slots = net.ops.len() + 1;
    let mut samples = vec![Vec::with_capacity(o.repeats); slots];
    for _ in 0..o.repeats.max(1) {
        net.forward_observed(x, n, |i, d| samples[i].push(d.as_secs_f64()))?;
    }
    let labels = net
        .ops
        .iter()
        .enumerate()
        .map(|(i, op)| if net.fused_into_previous(i, n) { format!("{} (computed with the op before)", op.label()) } else { op.label() })
        .chain(["layout changes (input, output)".to_string()]);
    Ok(labels
        .zip(samples)
        .map(|(label, mut s)| {
            s.sort_by(f64::total_cmp);
            (label, s[s.len() / 2] * 1e3)
        })
        .collect())
}

fn time(net: &Network, x: &[f32], n: usize, o: &BenchOptions) -> Result<Timing> {
    time_fn(|x, n| net.forward(x, n), x, n, o)
}

/// [`time`] of any forward function (the int8 network's, `bench_int8.rs`).
pub fn time_fn(forward: impl Fn(&[f32], usize) -> Result<Vec<f32>>, x: &[f32], n: usize, o: &BenchOptions) -> Result<Timing> {
    for _ in 0..o.warmup {
        forward(x, n)?;
    }
    let t = Instant::now();
    forward(x, n)?;
    let once = t.elapsed().max(Duration::from_nanos(100));
    let reps = (o.min_sample.as_secs_f64() / once.as_secs_f64())
        .ceil()
        .clamp(1.0, 10_000.0) as usize;
    let mut samples = Vec::with_capacity(o.repeats);
    for _ in 0..o.repeats.max(1) {
        let t = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(forward(std::hint::black_box(x), n)?);
        }
        samples.push(t.elapsed().as_secs_f64() / reps as f64);
    }
    samples.sort_by(f64::total_cmp);
    let median = samples[samples.len() / 2];
    Ok(Timing {
        median_s: median,
        min_s: samples[0],
        max_s: *samples.last().expect("non-empty"),
        throughput: n as f64 / median,
    })
}

/// Times dense vs compact forward at each batch size on the same random inputs.
pub fn bench(dense: &Network, compact: &Network, opts: &BenchOptions) -> Result<BenchReport> {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let per = dense.input.numel();
    let mut rows = Vec::new();
    let (mut max_diff, mut agree) = (0f32, true);
    let (mut layers, mut layers_batch) = (Vec::new(), 0);
    for &n in &opts.batches {
        let x: Vec<f32> = (0..n * per)
            .map(|_| rng.random::<f32>() * 2.0 - 0.5)
            .collect();
        let (yd, yc) = (dense.forward(&x, n)?, compact.forward(&x, n)?);
        let k = dense.num_outputs();
        for (a, b) in yd.chunks(k).zip(yc.chunks(k)) {
            agree &= argmax(a) == argmax(b);
            max_diff = a
                .iter()
                .zip(b)
                .map(|(p, q)| (p - q).abs())
                .fold(max_diff, f32::max);
        }
        let d = time(dense, &x, n, opts)?;
        let c = time(compact, &x, n, opts)?;
        if n >= layers_batch {
            // Structure removal changes shapes, never the sequence of ops: the lists pair up.
            // Labels are the compact side's (they name the storage format it chose).
            let (ld, lc) = (layer_times(dense, &x, n, opts)?, layer_times(compact, &x, n, opts)?);
            layers = ld
                .into_iter()
                .zip(lc)
                .map(|((_, dense_ms), (label, compact_ms))| LayerTiming { label, dense_ms, compact_ms })
                .collect();
            layers_batch = n;
        }
        rows.push(BenchRow {
            batch: n,
            speedup: d.median_s / c.median_s,
            dense: d,
            compact: c,
            dense_activation_bytes: dense.peak_activation_bytes(n),
            compact_activation_bytes: compact.peak_activation_bytes(n),
        });
    }
    Ok(BenchReport { layers, layers_batch, ..BenchReport::measured(rows, (dense.param_bytes(), compact.param_bytes()), max_diff, agree) })
}

/// A model family's runnable network as `dtprune bench` times it (the recurrent, Transformer
/// and tabular networks; the layer graph has its own loop with the per-op table).
pub trait BenchNet {
    /// One batch of inputs, whatever the family reads (frames, token ids, table rows).
    type Batch;
    /// `n` random inputs of the right shape and range for this network (the compact network
    /// reads the same).
    fn random_batch(&self, n: usize, rng: &mut ChaCha8Rng) -> Self::Batch;
    /// Logits `[n, classes]`.
    fn logits(&self, batch: &Self::Batch, n: usize) -> Result<Vec<f32>>;
    fn classes(&self) -> usize;
    fn stored_bytes(&self) -> usize;
    /// Working memory of one pass at batch `n`.
    fn activation_bytes(&self, n: usize) -> usize;
}

/// Times `dense` against `compact` at `opts.batches` on the same random inputs, after
/// comparing their logits on them.
pub fn bench_nets<N: BenchNet>(dense: &N, compact: &N, opts: &BenchOptions) -> Result<BenchReport> {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let (mut rows, mut max_diff, mut agree) = (Vec::new(), 0f32, true);
    for &n in &opts.batches {
        let batch = dense.random_batch(n, &mut rng);
        let (yd, yc) = (dense.logits(&batch, n)?, compact.logits(&batch, n)?);
        let k = dense.classes();
        for (a, b) in yd.chunks(k).zip(yc.chunks(k)) {
            agree &= argmax(a) == argmax(b);
            max_diff = a.iter().zip(b).map(|(p, q)| (p - q).abs()).fold(max_diff, f32::max);
        }
        let d = time_fn(|_, n| dense.logits(&batch, n), &[], n, opts)?;
        let c = time_fn(|_, n| compact.logits(&batch, n), &[], n, opts)?;
        rows.push(BenchRow { batch: n, speedup: d.median_s / c.median_s, dense: d, compact: c, dense_activation_bytes: dense.activation_bytes(n), compact_activation_bytes: compact.activation_bytes(n) });
    }
    Ok(BenchReport::measured(rows, (dense.stored_bytes(), compact.stored_bytes()), max_diff, agree))
}

/// `dtprune bench --run DIR`: dense = `model.safetensors`, compact = the exported
/// `compact.safetensors` as written (run `compact_run_dir` first).
pub fn bench_run_dir(dir: &Path, opts: &BenchOptions) -> Result<BenchReport> {
    let dense = load_run(dir)?.dense_network()?;
    let (_, compact) = load_compact(dir)?;
    let mut r = bench(&dense, &compact, opts)?;
    r.int8 = crate::bench_int8::bench_int8(dir, &compact, opts)?;
    add_run_files(&mut r, dir, opts)?;
    Ok(r)
}

/// Completes a run's report, whatever the model family: the sizes of its two weight files and,
/// when `opts.onnxruntime_python` is set, the onnxruntime baseline on the ONNX exports of the
/// same two models (written into the run).
pub fn add_run_files(r: &mut BenchReport, dir: &Path, opts: &BenchOptions) -> Result<()> {
    r.dense_file_bytes = std::fs::metadata(dir.join(MODEL_FILE)).ok().map(|m| m.len());
    r.compact_file_bytes = std::fs::metadata(dir.join(COMPACT_WEIGHTS)).ok().map(|m| m.len());
    if let Some(python) = &opts.onnxruntime_python {
        let d = onnx::export_run(dir, onnx::Variant::Dense, None)?;
        let c = onnx::export_run(dir, onnx::Variant::Compact, None)?;
        r.onnxruntime = Some(bench_onnxruntime(python, &d.path, &c.path, opts, r.threads)?);
    }
    Ok(())
}

pub fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold(0, |best, (i, &x)| if x > v[best] { i } else { best })
}

fn human_bytes(b: f64) -> String {
    if b >= 1e6 {
        format!("{:.2} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{b:.0} B")
    }
}

/// Per-op compact times at or below this (one nanosecond) are ops with no work of their own.
const NO_TIME_OF_ITS_OWN_MS: f64 = 1e-6;

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.onnxruntime {
            Some(OrtOutcome::Measured(o)) => self.fmt_with_onnxruntime(f, o)?,
            other => {
                self.fmt_own_table(f)?;
                if let Some(OrtOutcome::Skipped(why)) = other {
                    writeln!(f, "onnxruntime baseline: skipped: {why}")?;
                }
            }
        }
        if let Some(q) = &self.int8 {
            q.fmt_beside(f, self)?;
        }
        let ratio = self.dense_param_bytes as f64 / self.compact_param_bytes.max(1) as f64;
        writeln!(
            f,
            "parameters: dense {} / compact {} ({ratio:.1}x smaller)",
            human_bytes(self.dense_param_bytes as f64),
            human_bytes(self.compact_param_bytes as f64)
        )?;
        if let (Some(d), Some(c)) = (self.dense_file_bytes, self.compact_file_bytes) {
            writeln!(
                f,
                "files: model.safetensors {} / compact.safetensors {} ({:.1}x smaller)",
                human_bytes(d as f64),
                human_bytes(c as f64),
                d as f64 / c.max(1) as f64
            )?;
        }
        writeln!(
            f,
            "threads: {}; kernels: {}; max |dense-compact| logit diff {:.2e}; argmax agree: {}",
            self.threads, self.kernels, self.max_abs_logit_diff, self.argmax_agree
        )?;
        if self.layers.is_empty() {
            return Ok(());
        }
        write!(f, "per op at batch {} (median ms):", self.layers_batch)?;
        for l in &self.layers {
            // An op computed inside the one before it (a fused ReLU, a flatten that only
            // renames the layout) has no time of its own: no ratio, rather than one over ~0.
            let ratio = if l.compact_ms > NO_TIME_OF_ITS_OWN_MS { format!("{:>7.2}x", l.dense_ms / l.compact_ms) } else { format!("{:>8}", "—") };
            write!(f, "\n  {:<32} {:>9.4} {:>9.4} {ratio}", l.label, l.dense_ms, l.compact_ms)?;
        }
        Ok(())
    }
}

impl BenchReport {
    /// The report of a timing loop on this machine's threads and kernels: its rows, the two
    /// models' parameter bytes and how their logits compared; no per-op table, files,
    /// onnxruntime or int8 figures yet (the callers add what they measure).
    pub fn measured(rows: Vec<BenchRow>, (dense_param_bytes, compact_param_bytes): (usize, usize), max_abs_logit_diff: f32, argmax_agree: bool) -> BenchReport {
        BenchReport {
            rows,
            dense_param_bytes,
            compact_param_bytes,
            dense_file_bytes: None,
            compact_file_bytes: None,
            threads: rayon::current_num_threads(),
            kernels: crate::simd::level().name(),
            max_abs_logit_diff,
            argmax_agree,
            layers: Vec::new(),
            layers_batch: 0,
            onnxruntime: None,
            int8: None,
        }
    }

    /// dtprune dense vs compact only (no onnxruntime baseline).
    fn fmt_own_table(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{:>6} | {:>12} {:>12} | {:>12} {:>12} | {:>8}",
            "batch", "dense ms", "compact ms", "dense item/s", "compact item/s", "speedup"
        )?;
        writeln!(f, "{}", "-".repeat(78))?;
        for r in &self.rows {
            writeln!(
                f,
                "{:>6} | {:>12.4} {:>12.4} | {:>12.0} {:>12.0} | {:>7.2}x",
                r.batch,
                r.dense.median_s * 1e3,
                r.compact.median_s * 1e3,
                r.dense.throughput,
                r.compact.throughput,
                r.speedup
            )?;
        }
        Ok(())
    }

    /// The four models side by side (median ms); the headline speedup is dtprune compact vs
    /// onnxruntime dense, what a user of another pruning tool deploys.
    fn fmt_with_onnxruntime(&self, f: &mut std::fmt::Formatter<'_>, o: &OrtBaseline) -> std::fmt::Result {
        writeln!(
            f,
            "median ms per call (onnxruntime {}, {} intra-op threads; dtprune {} threads)",
            o.version, o.threads, self.threads
        )?;
        writeln!(
            f,
            "{:>6} | {:>10} {:>10} | {:>10} {:>10} | {:>14} {:>14}",
            "batch", "ort dense", "ort compact", "dense", "compact", "speedup vs ort", "vs own dense"
        )?;
        writeln!(f, "{}", "-".repeat(88))?;
        for r in &self.rows {
            let Some(ort) = o.rows.iter().find(|x| x.batch == r.batch) else { continue };
            writeln!(
                f,
                "{:>6} | {:>10.4} {:>11.4} | {:>10.4} {:>10.4} | {:>13.2}x {:>13.2}x",
                r.batch,
                ort.dense.median_s * 1e3,
                ort.compact.median_s * 1e3,
                r.dense.median_s * 1e3,
                r.compact.median_s * 1e3,
                ort.dense.median_s / r.compact.median_s,
                r.speedup
            )?;
        }
        writeln!(f, "ranges (fastest-slowest sample, ms per call):")?;
        for r in &self.rows {
            let Some(ort) = o.rows.iter().find(|x| x.batch == r.batch) else { continue };
            let rg = |t: &Timing| format!("{:.4}-{:.4}", t.min_s * 1e3, t.max_s * 1e3);
            writeln!(
                f,
                "{:>6} | ort dense {} | ort compact {} | dense {} | compact {}",
                r.batch,
                rg(&ort.dense),
                rg(&ort.compact),
                rg(&r.dense),
                rg(&r.compact)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_op_table_gives_fused_ops_no_ratio() {
        let mut report = BenchReport::measured(Vec::new(), (100, 10), 0.0, true);
        report.layers_batch = 8;
        report.layers = vec![
            LayerTiming { label: "fc1 (linear, csr)".into(), dense_ms: 0.5, compact_ms: 0.25 },
            LayerTiming { label: "relu (computed with the op before)".into(), dense_ms: 0.07, compact_ms: 0.0 },
        ];
        let text = report.to_string();
        let line = |name: &str| text.lines().find(|l| l.contains(name)).unwrap_or_else(|| panic!("no {name} line in:\n{text}")).to_string();
        assert!(line("fc1").ends_with("   2.00x"), "{text}");
        assert!(line("relu").ends_with("       —"), "{text}");
    }
}
