//! `dtprune compact --quantize int8`: the compact model in int8, calibrated on training images,
//! checked against the f32 compact model on the whole test set, written beside it.

use std::path::Path;

use anyhow::{bail, Context, Result};
use dtprune_compact::bench::argmax;
use dtprune_compact::quant::{self, Activations, CalibrationRecord, QuantCheck, QuantNetwork};
use dtprune_compact::Network;

/// The `--quantize` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum QuantizeArg {
    Int8,
}

/// The `--activations` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ActivationsArg {
    /// Per-layer scales fixed from `--calibration` training images.
    Static,
    /// Per-layer scales from each call's input.
    Dynamic,
}

/// The calibration images, checked before anything is written: `count` training images of the
/// run's data set, chosen by a seeded permutation.
pub struct Calibration {
    pixels: Vec<u8>,
    record: CalibrationRecord,
}

pub fn calibration_images(run: &Path, activations: ActivationsArg, count: usize, seed: u64) -> Result<Option<Calibration>> {
    if activations == ActivationsArg::Dynamic {
        return Ok(None);
    }
    let why = "--quantize int8 calibrates on the run's training images, which could not be loaded (--activations dynamic needs none)";
    let files = dtprune_train::run::open_run(run).context(why)?;
    let data = dtprune_train::run::load_data(&files.cfg).context(why)?;
    let splits = data.images().with_context(|| format!("--quantize int8 needs image data ({})", run.display()))?;
    let available = splits.train.len();
    if count == 0 || count > available {
        bail!("--calibration {count} is out of range; valid range is [1, {available}] (the run's training split)");
    }
    let mut indices = dtprune_data::SplitMix64(seed).permutation(available);
    indices.truncate(count);
    let mut pixels = Vec::with_capacity(count * splits.train.pixels_per_image());
    for &i in &indices {
        pixels.extend_from_slice(splits.train.image(i));
    }
    let source = format!("training split of {}", files.cfg.dataset);
    Ok(Some(Calibration { pixels, record: CalibrationRecord { source, count, seed, indices } }))
}

/// Quantises the run's (already written) compact model and writes `compact-int8.safetensors`.
pub fn quantize_run(run: &Path, calibration: Option<Calibration>) -> Result<()> {
    let (mut doc, net) = dtprune_compact::load_compact(run)?;
    let acts = match &calibration {
        Some(c) => {
            let pre = net.preprocess.as_ref().context("the graph has no preprocess for u8 calibration images")?;
            Activations::Static { inputs: pre.apply(&c.pixels, net.input), count: c.record.count }
        }
        None => Activations::Dynamic,
    };
    let q = quant::quantize(&net, &acts)?;
    let check = check_on_test_set(run, &net, &q)?;
    let bytes = quant::export_int8(run, &mut doc, &q, calibration.map(|c| c.record), Some(check.clone()))?;
    let f32_bytes = std::fs::metadata(run.join(dtprune_compact::export::COMPACT_WEIGHTS)).map(|m| m.len()).unwrap_or(0);
    let rec = doc.quantization.as_ref().expect("just written");
    println!("int8 ({} activations): {}", rec.activations, rec.scheme);
    for l in &rec.layers {
        let input = l.input_scale.map(|s| format!("input scale {s:.4e}, zero point {}", l.input_zero_point.unwrap_or(0))).unwrap_or_default();
        let why = l.reason.as_deref().map(|r| format!("kept f32: {r}")).unwrap_or_default();
        println!("  {:<10} {:<6} nnz {:>7}  {input}{why}", l.name, l.storage, l.nnz);
    }
    println!(
        "wrote {} ({bytes} bytes; compact.safetensors {f32_bytes} bytes, {:.2}x smaller)",
        run.join(quant::INT8_WEIGHTS).display(),
        f32_bytes as f64 / bytes.max(1) as f64
    );
    println!(
        "{} {} images: f32 compact accuracy {:.4}, int8 {:.4} ({:+.2} points); argmax agreement {:.4}; max |logit diff| {:.3}",
        check.images,
        check.count,
        check.f32_accuracy,
        check.int8_accuracy,
        100.0 * (check.int8_accuracy - check.f32_accuracy),
        check.argmax_agreement,
        check.max_abs_logit_diff
    );
    Ok(())
}

/// Both models on the run's whole test set, in batches of 1000.
fn check_on_test_set(run: &Path, f32_net: &Network, q: &QuantNetwork) -> Result<QuantCheck> {
    let files = dtprune_train::run::open_run(run)?;
    let data = dtprune_train::run::load_data(&files.cfg).context("loading the run's test set to check the int8 model")?;
    let splits = data.images().context("the int8 check needs image data")?;
    let test = &splits.test;
    let (n, per, k) = (test.len(), test.pixels_per_image(), f32_net.num_outputs());
    let (mut f32_ok, mut q_ok, mut agree, mut diff) = (0usize, 0usize, 0usize, 0f32);
    for start in (0..n).step_by(1000) {
        let m = (n - start).min(1000);
        let pixels = &test.images()[start * per..(start + m) * per];
        let (a, b) = (f32_net.forward_u8(pixels, m)?, q.forward_u8(pixels, m)?);
        for i in 0..m {
            let (ra, rb) = (&a[i * k..(i + 1) * k], &b[i * k..(i + 1) * k]);
            let label = test.label(start + i) as usize;
            let (pa, pb) = (argmax(ra), argmax(rb));
            f32_ok += usize::from(pa == label);
            q_ok += usize::from(pb == label);
            agree += usize::from(pa == pb);
            diff = ra.iter().zip(rb).map(|(x, y)| (x - y).abs()).fold(diff, f32::max);
        }
    }
    let frac = |c: usize| c as f64 / n.max(1) as f64;
    Ok(QuantCheck {
        images: format!("test split of {}", files.cfg.dataset),
        count: n,
        f32_accuracy: frac(f32_ok),
        int8_accuracy: frac(q_ok),
        argmax_agreement: frac(agree),
        max_abs_logit_diff: diff,
    })
}
