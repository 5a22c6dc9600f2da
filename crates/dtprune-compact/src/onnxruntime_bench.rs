//! onnxruntime as the baseline of `dtprune bench`: the run's two ONNX exports timed in
//! onnxruntime by `bench/onnxruntime_bench.py` (built into the binary, run by an outside
//! Python), with the thread count dtprune uses.
//!
//! Users of TF-MOT or torch.nn.utils.prune deploy the pruned model densely in a runtime like this
//! one, so "compact vs onnxruntime dense" is the speedup that matters to them.

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::bench::{BenchOptions, Timing};
use crate::error::{CompactError, Result};

/// The helper script, as in `bench/` of the repository.
pub const SCRIPT: &str = include_str!("../../../bench/onnxruntime_bench.py");

/// onnxruntime's timings of the dense and the compact ONNX model at one batch size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrtRow {
    pub batch: usize,
    pub dense: Timing,
    pub compact: Timing,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrtBaseline {
    /// onnxruntime's version string.
    pub version: String,
    pub threads: usize,
    pub rows: Vec<OrtRow>,
}

/// What became of the baseline: measured, or skipped with the reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum OrtOutcome {
    Measured(OrtBaseline),
    Skipped(String),
}

/// `python` can import onnxruntime and numpy (the script's only imports).
pub fn python_has_onnxruntime(python: &str) -> bool {
    Command::new(python)
        .args(["-c", "import onnxruntime, numpy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[derive(Deserialize)]
struct ScriptOutput {
    onnxruntime: String,
    threads: usize,
    results: Vec<ScriptResult>,
}

#[derive(Deserialize)]
struct ScriptResult {
    model: String,
    batch: usize,
    median_s: f64,
    min_s: f64,
    max_s: f64,
}

/// Times `dense` and `compact` (ONNX files) in onnxruntime at `opts.batches` with `threads`
/// intra-op threads; skipped (with the reason) when `python` lacks onnxruntime. A script that
/// starts but fails is an error: the baseline was asked for and could not be measured.
pub fn bench_onnxruntime(python: &str, dense: &Path, compact: &Path, opts: &BenchOptions, threads: usize) -> Result<OrtOutcome> {
    if !python_has_onnxruntime(python) {
        return Ok(OrtOutcome::Skipped(format!(
            "`{python}` cannot import onnxruntime and numpy (set DTPRUNE_PYTHON to an interpreter that has them: pip install onnxruntime numpy)"
        )));
    }
    let batches: Vec<String> = opts.batches.iter().map(|b| b.to_string()).collect();
    let out = Command::new(python)
        .arg("-c")
        .arg(SCRIPT)
        .arg("--model")
        .arg(format!("dense={}", dense.display()))
        .arg("--model")
        .arg(format!("compact={}", compact.display()))
        .args(["--batches", &batches.join(",")])
        .args(["--threads", &threads.to_string()])
        .args(["--warmup", &opts.warmup.to_string()])
        .args(["--repeats", &opts.repeats.to_string()])
        .args(["--min-sample-ms", &format!("{}", opts.min_sample.as_secs_f64() * 1e3)])
        .args(["--seed", &opts.seed.to_string()])
        .output()
        .map_err(|e| CompactError::Input(format!("could not run `{python}` for the onnxruntime baseline: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(CompactError::Input(format!(
            "bench/onnxruntime_bench.py failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    parse(&stdout, &opts.batches).map(OrtOutcome::Measured)
}

fn parse(stdout: &str, batches: &[usize]) -> Result<OrtBaseline> {
    let bad = |why: String| CompactError::Input(format!("bench/onnxruntime_bench.py printed {why}: {}", stdout.trim()));
    let o: ScriptOutput = serde_json::from_str(stdout.trim()).map_err(|e| bad(format!("unreadable JSON ({e})")))?;
    let timing = |model: &str, batch: usize| -> Result<Timing> {
        let r = o
            .results
            .iter()
            .find(|r| r.model == model && r.batch == batch)
            .ok_or_else(|| bad(format!("no {model} result at batch {batch}")))?;
        if !(r.median_s > 0.0 && r.min_s > 0.0 && r.max_s >= r.median_s) {
            return Err(bad(format!("an impossible {model} timing at batch {batch}")));
        }
        Ok(Timing { median_s: r.median_s, min_s: r.min_s, max_s: r.max_s, throughput: batch as f64 / r.median_s })
    };
    let rows = batches
        .iter()
        .map(|&batch| Ok(OrtRow { batch, dense: timing("dense", batch)?, compact: timing("compact", batch)? }))
        .collect::<Result<Vec<_>>>()?;
    Ok(OrtBaseline { version: o.onnxruntime, threads: o.threads, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_script_output() {
        let s = r#"{"onnxruntime": "1.32.0", "threads": 2, "results": [
            {"model": "dense", "batch": 4, "median_s": 0.002, "min_s": 0.001, "max_s": 0.003},
            {"model": "compact", "batch": 4, "median_s": 0.001, "min_s": 0.001, "max_s": 0.001}]}"#;
        let b = parse(s, &[4]).unwrap();
        assert_eq!(b.version, "1.32.0");
        assert_eq!(b.rows[0].dense.throughput, 2000.0);
        assert_eq!(b.rows[0].compact.median_s, 0.001);
        let e = parse(s, &[8]).unwrap_err().to_string();
        assert!(e.contains("no dense result at batch 8"), "{e}");
        assert!(parse("Traceback", &[4]).unwrap_err().to_string().contains("unreadable JSON"));
    }

    #[test]
    fn a_python_without_onnxruntime_is_a_skip() {
        let o = bench_onnxruntime("/nonexistent/python", "a".as_ref(), "b".as_ref(), &BenchOptions::default(), 2).unwrap();
        assert!(matches!(&o, OrtOutcome::Skipped(why) if why.contains("cannot import onnxruntime")), "{o:?}");
    }
}
