//! `dtprune bench train`: training speed, dense (`none`) at each shard count, then with a
//! pruning policy, in the same process — the last ratio is the pruning overhead.
//!
//! By default it trains on built-in MNIST; `--config` takes the model, data set and recipe of an
//! experiment file (e.g. `configs/resnet20-cifar10-dense.toml`), `--dataset`/`--data-dir` name
//! another data set, and `--steps N` limits each epoch to N batches, so a large model is timed in
//! a few dozen steps. With two or more epochs the first (index building, allocator warm-up) is
//! left out of the per-step figure.

use crate::progress;
use anyhow::{Context, Result};
use clap::Args;
use dtprune_train::config::{ExperimentConfig, PolicyConfig};
use std::path::{Path, PathBuf};

#[derive(Args, Debug, Default)]
pub struct Setup {
    /// Experiment file whose model, data set, augmentation and recipe are timed (epochs,
    /// batch size, replicas and policy come from this command's flags).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data set by name (default: the config's, else mnist).
    #[arg(long)]
    dataset: Option<String>,
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Batches per epoch (default: the whole training split).
    #[arg(long)]
    steps: Option<usize>,
}

struct Row {
    policy: String,
    replicas: usize,
    seconds_per_epoch: f64,
    seconds_per_step: f64,
    images_per_second: f64,
    overhead: f64,
    accuracy: f64,
    sparsity: f64,
    cores: f64,
}

pub fn run(model: Option<&str>, epochs: usize, batch_size: usize, policy: &str, replicas: &[usize], setup: &Setup) -> Result<()> {
    let base = match &setup.config {
        Some(path) => ExperimentConfig::from_toml_file(path)?,
        None => ExperimentConfig::default(),
    };
    let mut base = ExperimentConfig { epochs, batch_size, ..base };
    if let Some(m) = model {
        base.model = m.into();
    }
    if let Some(d) = &setup.dataset {
        base.dataset = d.clone();
    }
    if let Some(d) = &setup.data_dir {
        base.data_dir = Some(d.clone());
    }
    if let Some(steps) = setup.steps {
        anyhow::ensure!((1..=100_000).contains(&steps), "--steps {steps} is out of range; valid range is [1, 100000]");
        // A timing run: a small validation and test split keep the epoch ends short.
        base.train_limit = steps * batch_size;
        base.val_size = 500;
        base.test_limit = 1000;
    }
    let tmp = std::env::temp_dir().join(format!("dtprune-bench-{}", std::process::id()));
    let last = *replicas.last().expect("at least one replica count");
    let runs = replicas.iter().map(|&r| ("none", r)).chain([(policy, last)]);
    let mut rows = Vec::new();
    for (pol, r) in runs {
        let cfg = ExperimentConfig { replicas: Some(r), policy: PolicyConfig { name: pol.into(), params: Default::default() }, ..base.clone() };
        let out = tmp.join(format!("{}-{r}", pol.replace('+', "_")));
        let mut quiet = progress::Progress::new(progress::Mode::Quiet, &out)?;
        let (cpu, wall) = (process_cpu_seconds(), std::time::Instant::now());
        let s = dtprune_train::run::train_config(&cfg, &out, &mut quiet)?;
        let cores = (process_cpu_seconds() - cpu) / wall.elapsed().as_secs_f64().max(1e-9);
        let seconds = epoch_seconds(&out)?;
        // Leave the first epoch out when there are others: it builds the gather indices and warms the allocator.
        let timed = if seconds.len() > 1 { &seconds[1..] } else { &seconds[..] };
        let mean = timed.iter().sum::<f64>() / timed.len() as f64;
        let images = s.train_images as f64;
        let steps = s.train_images.div_ceil(batch_size) as f64;
        // Training time plus epoch-end monitoring and pruning, per epoch.
        let per_epoch = mean * (1.0 + s.prune_overhead);
        rows.push(Row {
            policy: pol.to_string(),
            replicas: r,
            seconds_per_epoch: per_epoch,
            seconds_per_step: mean / steps,
            images_per_second: images / per_epoch,
            overhead: s.prune_overhead,
            accuracy: s.test_accuracy,
            sparsity: s.sparsity,
            cores,
        });
    }
    let _ = std::fs::remove_dir_all(&tmp);
    print_rows(&base, &rows, replicas, policy);
    Ok(())
}

/// Training seconds of every epoch, from the run's `history.jsonl`.
fn epoch_seconds(out: &Path) -> Result<Vec<f64>> {
    let path = out.join("history.jsonl");
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
    text.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).with_context(|| format!("{}: not JSON lines", path.display()))?;
            v["seconds"].as_f64().with_context(|| format!("{}: an epoch without `seconds`", path.display()))
        })
        .collect()
}

fn print_rows(cfg: &ExperimentConfig, rows: &[Row], replicas: &[usize], policy: &str) {
    println!(
        "model {}, data set {}, batch {}, {} epochs, {} threads, {} matrix kernels",
        cfg.model,
        cfg.dataset,
        cfg.batch_size,
        cfg.epochs,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        dtprune_train::platform::gemm_kernels()
    );
    println!("{:<14} {:>8} {:>10} {:>10} {:>10} {:>10} {:>9} {:>9} {:>6}", "policy", "replicas", "s/epoch", "s/step", "images/s", "prune ovh", "test acc", "sparsity", "cores");
    for r in rows {
        println!(
            "{:<14} {:>8} {:>10.3} {:>10.4} {:>10.0} {:>9.2}% {:>8.2}% {:>8.2}% {:>6.2}",
            r.policy,
            r.replicas,
            r.seconds_per_epoch,
            r.seconds_per_step,
            r.images_per_second,
            r.overhead * 100.0,
            r.accuracy * 100.0,
            r.sparsity * 100.0,
            r.cores
        );
    }
    let dense_last = rows[replicas.len() - 1].seconds_per_epoch;
    if replicas.len() > 1 {
        println!("epoch time ratio replicas {}/{}: {:.3}", replicas[replicas.len() - 1], replicas[0], dense_last / rows[0].seconds_per_epoch);
    }
    println!("epoch time ratio {policy}/none: {:.3}", rows[rows.len() - 1].seconds_per_epoch / dense_last);
}

/// CPU seconds (user + system) this process has used so far, from /proc (0 where unavailable).
/// "cores" in the table is CPU time over wall time of the whole run (data loading and
/// evaluation included; rayon's idle spinning counts as CPU time): an indication only.
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}
