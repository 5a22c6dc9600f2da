//! The int8 column of `dtprune bench`: the run's `compact-int8.safetensors` timed on the same
//! inputs, batch sizes and threads as the f32 compact model, with its file size and how often
//! its argmax agrees with the f32 compact model's.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::bench::{argmax, time_fn, BenchOptions, BenchReport, Timing};
use crate::error::Result;
use crate::network::Network;
use crate::onnxruntime_bench::OrtOutcome;
use crate::quant::{load_int8, INT8_WEIGHTS};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Int8Bench {
    /// `(batch, timing)` for every benchmark batch size.
    pub rows: Vec<(usize, Timing)>,
    pub file_bytes: Option<u64>,
    /// `"static"` or `"dynamic"` activations.
    pub activations: String,
    /// Share of benchmark inputs whose argmax equals the f32 compact model's.
    pub argmax_agreement: f64,
    /// The accuracy check `dtprune compact --quantize int8` recorded, if any.
    pub check: Option<crate::quant::QuantCheck>,
}

/// `None` when the run has no int8 model.
pub fn bench_int8(dir: &Path, compact: &Network, opts: &BenchOptions) -> Result<Option<Int8Bench>> {
    let has = crate::export::load_compact(dir).map(|(doc, _)| doc.quantization.is_some()).unwrap_or(false);
    if !has {
        return Ok(None);
    }
    let (doc, q) = load_int8(dir)?;
    let rec = doc.quantization.expect("checked");
    // The same inputs as `bench` (same seed, same order of draws).
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let per = compact.input.numel();
    let (mut rows, mut agree, mut total) = (Vec::new(), 0usize, 0usize);
    for &n in &opts.batches {
        let x: Vec<f32> = (0..n * per).map(|_| rng.random::<f32>() * 2.0 - 0.5).collect();
        let (a, b) = (compact.forward(&x, n)?, q.forward(&x, n)?);
        let k = compact.num_outputs();
        for (ra, rb) in a.chunks(k).zip(b.chunks(k)) {
            agree += usize::from(argmax(ra) == argmax(rb));
            total += 1;
        }
        rows.push((n, time_fn(|x, n| q.forward(x, n), &x, n, opts)?));
    }
    Ok(Some(Int8Bench {
        rows,
        file_bytes: std::fs::metadata(dir.join(INT8_WEIGHTS)).ok().map(|m| m.len()),
        activations: rec.activations,
        argmax_agreement: agree as f64 / total.max(1) as f64,
        check: rec.check,
    }))
}

impl Int8Bench {
    /// Its table, beside the f32 report's numbers.
    pub(crate) fn fmt_beside(&self, f: &mut std::fmt::Formatter<'_>, r: &BenchReport) -> std::fmt::Result {
        let ort = match &r.onnxruntime {
            Some(OrtOutcome::Measured(o)) => Some(o),
            _ => None,
        };
        writeln!(f, "int8 compact ({} activations), median ms per call:", self.activations)?;
        writeln!(f, "{:>6} | {:>10} {:>10} {:>10} {:>10} | {:>12} {:>12}", "batch", "ort dense", "dense", "compact", "int8", "int8 vs f32", "int8 vs ort")?;
        for (n, t) in &self.rows {
            let Some(row) = r.rows.iter().find(|x| x.batch == *n) else { continue };
            let o = ort.and_then(|o| o.rows.iter().find(|x| x.batch == *n)).map(|x| x.dense.median_s);
            let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.4}", v * 1e3));
            writeln!(
                f,
                "{:>6} | {:>10} {:>10.4} {:>10.4} {:>10.4} | {:>11.2}x {:>12}",
                n,
                fmt(o),
                row.dense.median_s * 1e3,
                row.compact.median_s * 1e3,
                t.median_s * 1e3,
                row.compact.median_s / t.median_s,
                o.map_or("-".to_string(), |o| format!("{:.2}x", o / t.median_s))
            )?;
        }
        write!(f, "int8 ranges (fastest-slowest sample, ms):")?;
        for (n, t) in &self.rows {
            write!(f, " {n}: {:.4}-{:.4}", t.min_s * 1e3, t.max_s * 1e3)?;
        }
        writeln!(f)?;
        if let (Some(q), Some(c)) = (self.file_bytes, r.compact_file_bytes) {
            writeln!(f, "files: compact.safetensors {c} B / compact-int8.safetensors {q} B ({:.2}x smaller)", c as f64 / q.max(1) as f64)?;
        }
        write!(f, "int8 argmax = f32 compact argmax on {:.2}% of the benchmark inputs", 100.0 * self.argmax_agreement)?;
        if let Some(c) = &self.check {
            write!(
                f,
                "; on the {} {} images: f32 {:.4}, int8 {:.4} ({:+.2} points), agreement {:.4}",
                c.count,
                c.images,
                c.f32_accuracy,
                c.int8_accuracy,
                100.0 * (c.int8_accuracy - c.f32_accuracy),
                c.argmax_agreement
            )?;
        }
        writeln!(f)
    }
}
