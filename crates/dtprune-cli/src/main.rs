//! `dtprune`: train with dynamic threshold pruning, compact, benchmark, inspect and report.

mod bench_train;
mod compact_recurrent;
mod compact_tabular;
mod compact_transformer;
mod quantize;
mod config_file;
mod distill;
mod embed;
mod export;
mod models;
mod progress;
mod prune_weights;
mod run_folder;
mod sensitivity;
mod sweep;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use dtprune_train::config::ExperimentConfig;
use dtprune_train::optim::OptimizerKind;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(name = "dtprune", version, about = "Dynamic threshold pruning: train and prune at once, get a smaller, faster model")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model with a pruning policy and write a run directory.
    Train(TrainArgs),
    /// Re-evaluate a run's saved model on the test set.
    Eval {
        #[arg(long)]
        run: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// List every pruning policy with its parameters, defaults and ranges.
    Policies,
    /// List every model (input kind, `[model]` parameters, data sets it takes) and data set.
    Models,
    /// Physically remove dead structures and store sparse layers sparsely (compact.safetensors).
    Compact {
        #[arg(long)]
        run: PathBuf,
        /// Density below which a layer is stored as CSR (default: measured on this machine).
        #[arg(long)]
        crossover: Option<f64>,
        /// Also write `reference.safetensors`: the first N test images of the run's data set
        /// (`pixels`, U8), the compact model's logits for them (`logits`, F32) and the
        /// masked-dense model's (`dense_logits`), to check the exported models in another runtime.
        #[arg(long, value_name = "N")]
        reference: Option<usize>,
        /// Also write the int8 model (`compact-int8.safetensors`, recorded in compact.json).
        #[arg(long, value_enum, value_name = "FORMAT")]
        quantize: Option<quantize::QuantizeArg>,
        /// int8 activation scales: calibrated once (static) or per call (dynamic).
        #[arg(long, value_enum, default_value = "static", requires = "quantize")]
        activations: quantize::ActivationsArg,
        /// Training images that calibrate the static int8 scales.
        #[arg(long, value_name = "N", default_value_t = 256, requires = "quantize")]
        calibration: usize,
        /// Seed of the calibration images' choice.
        #[arg(long, default_value_t = 0, requires = "quantize")]
        calibration_seed: u64,
    },
    /// Benchmark inference of a run: onnxruntime (dense and compact ONNX exports, when
    /// `$DTPRUNE_PYTHON` has it) beside dtprune's dense and compact kernels; or training speed
    /// (`bench train`).
    #[command(args_conflicts_with_subcommands = true)]
    Bench {
        #[command(subcommand)]
        what: Option<BenchCommand>,
        #[arg(long)]
        run: Option<PathBuf>,
        /// Batch sizes, comma separated.
        #[arg(long, value_delimiter = ',', default_value = "1,128,1000")]
        batch: Vec<usize>,
    },
    /// Write a run's model for another runtime: `--format onnx` gives `model.onnx` (masked-dense)
    /// or, with `--compact`, `compact.onnx` (compacted shapes; CSR layers as dense initialisers).
    Export {
        #[arg(long)]
        run: PathBuf,
        #[arg(long, default_value = "onnx")]
        format: String,
        /// Export the compact model (compacting the run first if it has none).
        #[arg(long)]
        compact: bool,
        /// Output file (default: model.onnx / compact.onnx in the run directory).
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
    /// Per-tensor shape, dtype, sparsity and norms of a safetensors file.
    Inspect { file: PathBuf },
    /// Prune each prunable tensor alone to several levels (one shot, no retraining), measure
    /// validation accuracy, and suggest per-tensor thresholds (writes sensitivity.* into the run).
    Sensitivity {
        #[arg(long)]
        run: PathBuf,
        /// Fractions of each tensor's weights to prune, comma separated, each in (0, 1).
        #[arg(long, value_delimiter = ',', default_value = "0.5,0.7,0.9,0.95,0.98", allow_hyphen_values = true)]
        levels: Vec<f64>,
        /// Largest accepted drop of validation accuracy (absolute: 0.005 = 0.5 points).
        #[arg(long, default_value_t = 0.005, allow_negative_numbers = true)]
        budget: f64,
    },
    /// Prune any safetensors checkpoint after training: per-tensor thresholds from the weights,
    /// dtypes kept, unselected tensors copied bit for bit (streamed; memory does not grow with the file).
    PruneWeights(prune_weights::PruneWeightsArgs),
    /// Sentence embeddings from a pretrained sentence-transformers model (all-MiniLM-L6-v2), and
    /// how close pruned checkpoints' embeddings stay to the dense ones.
    Embed(embed::EmbedArgs),
    /// Prune a pretrained sentence encoder during a short fine-tune that keeps its embeddings
    /// close to the dense model's (distillation on unlabelled texts).
    Distill(distill::DistillArgs),
    /// One self-contained HTML report for one or more runs.
    Report {
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        #[arg(short, long, default_value = "report.html")]
        out: PathBuf,
    },
    /// Grid / random search over config keys: trials in parallel (resumable) or as a job array,
    /// one table, the accuracy-vs-compression Pareto front and the best config.
    Sweep(sweep::SweepArgs),
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Seconds per epoch and images per second of training, dense and with a pruning policy.
    Train {
        /// Default: the `--config`'s model, else lenet300.
        #[arg(long)]
        model: Option<String>,
        #[arg(long, default_value_t = 2)]
        epochs: usize,
        #[arg(long, default_value_t = 128)]
        batch_size: usize,
        /// The pruning policy whose overhead is measured against `none`.
        #[arg(long, default_value = "performance")]
        policy: String,
        /// Data-parallel shard counts to compare (dense runs); the policy run uses the last.
        #[arg(long, value_delimiter = ',', default_value = "1,2")]
        replicas: Vec<usize>,
        #[command(flatten)]
        setup: bench_train::Setup,
    },
}

#[derive(Args, Default)]
struct TrainArgs {
    /// Continue the run in DIR where it stopped, exactly as its config.toml and checkpoint
    /// record it: the result is bit-identical to a run that was never interrupted. Flags that
    /// would change the run (--test-limit, --epochs, ...) are refused; --quiet, --json and
    /// --no-compact are taken.
    #[arg(long, value_name = "DIR", conflicts_with_all = RESUME_CONFLICTS)]
    resume: Option<PathBuf>,
    /// Experiment config (TOML); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// lenet300 | lenet5 | a registered model (`dtprune models`)
    #[arg(long)]
    model: Option<String>,
    /// A `[model]` parameter, `key=value` (repeatable).
    #[arg(long = "model-param", short = 'M', value_name = "KEY=VALUE")]
    model_params: Vec<String>,
    /// mnist (built in) | idx | cifar10 | image-folder | fsdd | audio-folder | sms-spam |
    /// text-tsv | adult | csv (all but mnist read --data-dir; `dtprune models` lists them)
    #[arg(long)]
    dataset: Option<String>,
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// A data-set option, `key=value` (repeatable; `dtprune models` lists each set's options).
    #[arg(long = "data-option", short = 'D', value_name = "KEY=VALUE")]
    data_options: Vec<String>,
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long)]
    batch_size: Option<usize>,
    #[arg(long)]
    lr: Option<f64>,
    /// adam | sgd
    #[arg(long)]
    optimizer: Option<String>,
    #[arg(long)]
    momentum: Option<f64>,
    #[arg(long)]
    weight_decay: Option<f64>,
    /// Multiply the learning rate by this after every epoch (default 0.9; with
    /// `lr_schedule = "cosine"` 1, the only value it takes).
    #[arg(long)]
    lr_decay: Option<f64>,
    #[arg(long)]
    seed: Option<u64>,
    #[arg(long)]
    val_size: Option<usize>,
    /// Train on the first N training images only.
    #[arg(long)]
    train_limit: Option<usize>,
    /// Evaluate on the first N test images only.
    #[arg(long)]
    test_limit: Option<usize>,
    /// Pruning policy (`dtprune policies`); `a+b` combines a structure and a weight policy.
    #[arg(long)]
    policy: Option<String>,
    /// Also record running loss/accuracy/sparsity every N steps in steps.jsonl.
    #[arg(long, value_name = "N")]
    monitor_every: Option<usize>,
    /// Also checkpoint inside an epoch every N steps (default: at epoch ends only).
    #[arg(long, value_name = "N")]
    checkpoint_every: Option<usize>,
    /// Split each batch into N shards trained on N threads (default: the model's measured
    /// choice; the numbers depend on N, not on the machine).
    #[arg(long, value_name = "N")]
    replicas: Option<usize>,
    /// Prune only tensors whose dotted names match this glob, e.g. `fc*.weight` (repeatable).
    #[arg(long, value_name = "GLOB")]
    prune_only: Vec<String>,
    /// A policy parameter, `key=value` (repeatable).
    #[arg(long = "policy-param", short = 'P', value_name = "KEY=VALUE")]
    policy_params: Vec<String>,
    /// Largest allowed fall of validation accuracy after a prune event before it is rolled back.
    #[arg(long)]
    rollback_tolerance: Option<f64>,
    #[arg(long)]
    no_rollback: bool,
    /// Augmentation: pad training images by N pixels and crop a random window back out.
    #[arg(long, value_name = "N")]
    augment_crop: Option<usize>,
    /// Augmentation: mirror half the training images left to right.
    #[arg(long)]
    augment_flip: bool,
    /// Output run directory (default: runs/<model>-<policy>-<time>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Allow writing into a directory that already holds a finished run.
    #[arg(long)]
    overwrite: bool,
    /// Skip compaction at the end.
    #[arg(long)]
    no_compact: bool,
    /// Only errors.
    #[arg(long, conflicts_with = "json")]
    quiet: bool,
    /// One JSON object per epoch on stdout, then the summary.
    #[arg(long)]
    json: bool,
}

/// Flags that would change a run: `--resume` takes them all from the run's config.toml, and
/// refuses them on the command line ([`run_folder::resume_conflict`] says why). Every other
/// flag of `train` but [`RESUME_TAKES`] must be here (a test checks it), or a resumed run
/// would drop it silently.
const RESUME_CONFLICTS: [&str; 29] = [
    "config", "model", "model_params", "dataset", "data_dir", "data_options", "epochs", "batch_size", "lr", "optimizer", "momentum", "weight_decay", "lr_decay", "seed",
    "val_size", "train_limit", "test_limit", "policy", "monitor_every", "checkpoint_every", "replicas", "prune_only", "policy_params", "rollback_tolerance",
    "no_rollback", "augment_crop", "augment_flip", "out", "overwrite",
];

/// The flags of `train` a resumed run takes: they change what is printed, not the run.
const RESUME_TAKES: [&str; 4] = ["resume", "quiet", "json", "no_compact"];

/// mimalloc returns freed memory to the OS 10 ms after it becomes free (`purge_delay`); Burn/Flex
/// frees and reallocates multi-megabyte activation and im2col buffers every training step, so
/// each step faulted fresh (transparent huge) pages back in and the kernel zeroed them. Never
/// purging keeps them mapped (the peak footprint stays resident, a few hundred MB for LeNet-5).
/// `MIMALLOC_PURGE_DELAY` in the environment still wins.
fn configure_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a plain integer option; mimalloc reads options atomically.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
}

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (v2 and v3); libmimalloc-sys does not name it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() {
    configure_allocator();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("DTPRUNE_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::try_parse().unwrap_or_else(|e| match run_folder::resume_conflict(&e) {
        // A usage error like clap's own (exit 2), with the reason clap cannot give.
        Some(message) => {
            eprintln!("error: {message}");
            std::process::exit(2);
        }
        None => e.exit(),
    });
    if let Err(e) = run(cli) {
        // The whole cause chain, but without repeating a cause a message already quotes.
        let mut message = e.to_string();
        for cause in e.chain().skip(1) {
            let cause = cause.to_string();
            if !message.contains(&cause) {
                message.push_str(": ");
                message.push_str(&cause);
            }
        }
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    // The compact kernels read their cap once, deep inside; a bad value is reported here.
    dtprune_compact::simd::requested_level().map_err(anyhow::Error::msg)?;
    match cli.command {
        Command::Train(args) => train(args),
        Command::Eval { run, json } => {
            let r = dtprune_train::run::eval_run(&run)?;
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!("{}: test accuracy {:.4} (loss {:.4}) on {} images", r.model, r.test_accuracy, r.test_loss, r.test_images);
            }
            Ok(())
        }
        Command::Policies => {
            print_policies();
            Ok(())
        }
        Command::Models => {
            models::print_models();
            Ok(())
        }
        Command::Compact { run, crossover, reference, quantize, activations, calibration, calibration_seed } => {
            let family = Family::of(&run);
            if family != Family::Layers {
                if quantize.is_some() {
                    bail!("--quantize int8 does not take {} models yet; compact without it", family.models());
                }
                println!("{}", compact(&run, crossover)?);
                if let Some(n) = reference {
                    let path = match family {
                        Family::Transformer => compact_transformer::write_reference(&run, n)?,
                        Family::Tabular => compact_tabular::write_reference(&run, n)?,
                        _ => compact_recurrent::write_reference(&run, n)?,
                    };
                    println!("wrote {} ({n} test items, the compact and the masked model's logits)", path.display());
                }
                return Ok(());
            }
            // The reference and calibration images are checked before anything is written.
            let reference_images = reference.map(|n| reference_images(&run, n)).transpose()?;
            let calibration = match quantize {
                Some(quantize::QuantizeArg::Int8) => Some(quantize::calibration_images(&run, activations, calibration, calibration_seed)?),
                None => None,
            };
            let report = compact(&run, crossover)?;
            println!("{report}");
            if let Some((pixels, n)) = reference_images {
                let (_json, network) = dtprune_compact::load_compact(&run)?;
                let dense = dtprune_compact::load_run(&run)?.dense_network()?;
                let nets = [("logits", &network), ("dense_logits", &dense)];
                let path = dtprune_compact::write_references(&run, &nets, &pixels, n)?;
                println!("wrote {} ({n} test images, the compact and the masked-dense model's logits)", path.display());
            }
            if let Some(c) = calibration {
                quantize::quantize_run(&run, c)?;
            }
            Ok(())
        }
        Command::Bench { what: Some(BenchCommand::Train { model, epochs, batch_size, policy, replicas, setup }), .. } => {
            if !(1..=1000).contains(&epochs) {
                bail!("--epochs {epochs} is out of range; valid range is [1, 1000]");
            }
            if let Some(r) = replicas.iter().find(|&&r| !(1..=64).contains(&r)) {
                bail!("--replicas {r} is out of range; valid range is [1, 64]");
            }
            if replicas.is_empty() {
                bail!("--replicas needs at least one value");
            }
            bench_train::run(model.as_deref(), epochs, batch_size, &policy, &replicas, &setup)
        }
        Command::Bench { what: None, run, batch } => {
            let run = run.context("`dtprune bench` needs --run DIR (or `dtprune bench train`)")?;
            if let Some(b) = batch.iter().find(|&&b| !(1..=65_536).contains(&b)) {
                bail!("--batch {b} is out of range; valid range is [1, 65536]");
            }
            if !run.join("compact.json").is_file() {
                compact(&run, None)?;
            }
            // onnxruntime, the baseline, through `$DTPRUNE_PYTHON` (a skip line without it).
            let python = std::env::var("DTPRUNE_PYTHON").unwrap_or_else(|_| "python3".into());
            let opts = dtprune_compact::BenchOptions { batches: batch, onnxruntime_python: Some(python), ..Default::default() };
            let report = match Family::of(&run) {
                Family::Recurrent => dtprune_compact::recurrent::bench::bench_run_dir(&run, &opts)?,
                Family::Transformer => dtprune_compact::transformer::bench::bench_run_dir(&run, &opts)?,
                Family::Tabular => dtprune_compact::tabular::bench::bench_run_dir(&run, &opts)?,
                Family::Layers => dtprune_compact::bench_run_dir(&run, &opts)?,
            };
            println!("{report}");
            Ok(())
        }
        Command::Export { run, format, compact, out } => export::export(&run, &format, compact, out.as_deref()),
        Command::Inspect { file } => {
            println!("{}", dtprune_compact::inspect(&file)?);
            Ok(())
        }
        Command::Sensitivity { run, levels, budget } => {
            let report = dtprune_train::run::sensitivity(&run, &levels, budget)?;
            sensitivity::print_report(&report, &ExperimentConfig::from_toml_file(&run.join("config.toml"))?);
            Ok(())
        }
        Command::PruneWeights(args) => prune_weights::run(args),
        Command::Embed(args) => embed::run(args),
        Command::Distill(args) => distill::run(args),
        Command::Report { runs, out } if runs.len() == 1 && sweep::is_sweep_folder(&runs[0]) => {
            sweep::report(&runs[0], &out)?;
            println!("wrote {}", out.display());
            Ok(())
        }
        Command::Report { runs, out } => {
            dtprune_report::render_report(&runs, &out)?;
            println!("wrote {}", out.display());
            Ok(())
        }
        Command::Sweep(args) => sweep::run(args),
    }
}

fn print_policies() {
    for p in dtprune_prune::policy::REGISTRY {
        println!("{:<18} [{}] {}", p.name, p.family, p.summary);
        for s in p.params {
            println!("    {:<18} default {:<10} range {:<22} {}", s.name, s.default.to_string(), s.kind.range_text(), s.help);
        }
    }
    println!("\nCombine a structure policy with a weight policy as `structure+NAME`.");
}

/// Resolves the experiment config: the TOML file (if any), then flags on top.
fn resolve_config(a: &TrainArgs) -> Result<ExperimentConfig> {
    let mut c = match &a.config {
        Some(path) => ExperimentConfig::from_toml_file(path)?,
        None => ExperimentConfig::default(),
    };
    macro_rules! set {
        ($($field:ident),*) => { $( if let Some(v) = a.$field.clone() { c.$field = v; } )* };
    }
    if let Some(m) = &a.model {
        if *m != c.model.name {
            // Parameters in the file belong to the file's model.
            c.model.params.clear();
        }
        c.model.name = m.clone();
    }
    for kv in &a.model_params {
        let (k, v) = dtprune_prune::params::parse_override(kv).with_context(|| format!("--model-param `{kv}` is not KEY=VALUE"))?;
        c.model.params.insert(k, v);
    }
    if a.dataset.as_ref().is_some_and(|d| *d != c.dataset) {
        // Options in the file belong to the file's data set.
        c.data.clear();
    }
    set!(dataset, epochs, batch_size, lr, momentum, weight_decay, seed, val_size, train_limit, test_limit, monitor_every, checkpoint_every);
    if a.lr_decay.is_some() {
        c.lr_decay = a.lr_decay;
    }
    if a.replicas.is_some() {
        c.replicas = a.replicas;
    }
    if !a.prune_only.is_empty() {
        c.prune_only = a.prune_only.clone();
    }
    if let Some(d) = &a.data_dir {
        c.data_dir = Some(d.clone());
    }
    for kv in &a.data_options {
        let (k, v) = dtprune_data::options::parse_option(kv).with_context(|| format!("--data-option `{kv}` is not KEY=VALUE"))?;
        c.data.insert(k, v);
    }
    if let Some(o) = &a.optimizer {
        c.optimizer = match o.as_str() {
            "adam" => OptimizerKind::Adam,
            "sgd" => OptimizerKind::Sgd,
            other => bail!("unknown optimizer `{other}`; valid: adam, sgd"),
        };
    }
    if let Some(p) = &a.policy {
        if *p != c.policy.name {
            // Parameters in the file belong to the file's policy.
            c.policy.params.clear();
        }
        c.policy.name = p.clone();
    }
    for kv in &a.policy_params {
        let (k, v) = dtprune_prune::params::parse_override(kv).with_context(|| format!("--policy-param `{kv}` is not KEY=VALUE"))?;
        c.policy.params.insert(k, v);
    }
    if let Some(n) = a.augment_crop {
        c.augment.crop_padding = n;
    }
    if a.augment_flip {
        c.augment.flip = true;
    }
    if let Some(t) = a.rollback_tolerance {
        c.rollback.tolerance = t;
    }
    if a.no_rollback {
        c.rollback.enabled = false;
    }
    Ok(c)
}

fn train(a: TrainArgs) -> Result<()> {
    // Held until the end: one writer per run folder. The config is checked once, here (before
    // a fresh run's folder is created); the resolved experiment (with its built policy) goes
    // to the trainer.
    let (experiment, out, folder) = match &a.resume {
        Some(dir) => {
            let (cfg, lock) = run_folder::open_resume(dir)?;
            (config_file::resolve_naming_file(&cfg, Some(&dir.join("config.toml")))?, dir.clone(), lock)
        }
        None => {
            let experiment = config_file::resolve_naming_file(&resolve_config(&a)?, a.config.as_deref())?;
            let cfg = &experiment.cfg;
            let out = a.out.clone().unwrap_or_else(|| {
                let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
                PathBuf::from("runs").join(format!("{}-{}-{stamp}", cfg.model, cfg.policy.name.replace('+', "_")))
            });
            if out.join("summary.json").exists() && !a.overwrite {
                bail!("{} already holds a finished run; choose another --out or pass --overwrite", out.display());
            }
            let lock = run_folder::open_fresh(&out, a.overwrite)?;
            (experiment, out, lock)
        }
    };
    let mode = if a.json {
        progress::Mode::Json
    } else if a.quiet {
        progress::Mode::Quiet
    } else {
        progress::Mode::Human
    };
    run_folder::stop_on_signals()?;
    let mut observer = progress::Progress::new(mode, &out)?;
    let summary = match dtprune_train::run::train_experiment(experiment, &out, &mut observer) {
        Ok(summary) => summary,
        Err(e) => {
            folder.discard_if_unstarted(&out);
            return Err(e.into());
        }
    };
    observer.finish();

    // Tables and plots next to the history; a failure here must not hide the trained model.
    let run = dtprune_report::Run::load(&out)?;
    dtprune_report::write_run_metrics_csv(&out)?;
    dtprune_report::write_run_plots(&run, &out.join("plots"))?;
    // A user's own model with ops compaction does not read (an embedding or attention outside
    // the model families it knows) keeps the masked model only.
    let lacking = dtprune_train::model_graph::unsupported_ops(&out.join("graph.json"));
    let compact_report = if a.no_compact || !lacking.is_empty() { None } else { Some(compact(&out, None)?) };

    match mode {
        progress::Mode::Json => println!("{}", serde_json::to_string(&summary)?),
        progress::Mode::Quiet => {}
        progress::Mode::Human => {
            println!();
            println!("run directory      {}", out.display());
            println!("model / policy     {} / {}", summary.model, summary.policy);
            println!("test accuracy      {:.2}%", summary.test_accuracy * 100.0);
            println!("sparsity           {:.2}%  (prunable weights that are zero)", summary.sparsity * 100.0);
            println!("compression        {:.1}x  ({} of {} prunable weights kept)", summary.compression_ratio, summary.prunable_nonzero, summary.prunable_total);
            println!("prune events       {}  (rollbacks {})", summary.prune_events, summary.rollbacks);
            println!("seconds per epoch  {:.2}  (pruning overhead {:.1}%)", summary.seconds_per_epoch, summary.prune_overhead * 100.0);
            if !lacking.is_empty() {
                println!("compact model      not yet: compaction does not read {}", lacking.join(", "));
            }
            if let Some(r) = compact_report {
                let (from, to) = r.param_bytes();
                println!("compact model      {from} -> {to} parameter bytes ({:.1}x smaller), {} units removed", from as f64 / to.max(1) as f64, r.removed_units());
            }
        }
    }
    Ok(())
}

/// The first `n` test images (u8 pixels) of the data set `run` was trained on.
fn reference_images(run: &Path, n: usize) -> Result<(Vec<u8>, usize)> {
    let files = dtprune_train::run::open_run(run)?;
    let data = dtprune_train::run::load_data(&files.cfg)?;
    let splits = data.images().with_context(|| format!("--reference needs image data ({})", run.display()))?;
    let available = splits.test.len();
    if n == 0 || n > available {
        bail!("--reference {n} is out of range; valid range is [1, {available}] (the run's test set)");
    }
    Ok((splits.test.first(n).images().to_vec(), n))
}

/// Which compaction reads a run's model: the layer graph's, or a whole family's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Layers,
    Recurrent,
    Transformer,
    Tabular,
}

impl Family {
    fn of(run: &Path) -> Family {
        let graph = run.join("graph.json");
        if dtprune_compact::recurrent::is_recurrent_graph(&graph) {
            Family::Recurrent
        } else if dtprune_compact::transformer::is_transformer_graph(&graph) {
            Family::Transformer
        } else if dtprune_compact::tabular::is_tabular_graph(&graph) {
            Family::Tabular
        } else {
            Family::Layers
        }
    }

    fn models(self) -> &'static str {
        match self {
            Family::Layers => "layer-graph",
            Family::Recurrent => "recurrent (lstm, gru)",
            Family::Transformer => "transformer",
            Family::Tabular => "tabular (tabular-mlp)",
        }
    }
}

/// What `dtprune compact` made of a run: a layer-graph model, a recurrent, a Transformer or a
/// tabular one.
enum Compaction {
    Layers(CompactSummary),
    Recurrent(Box<compact_recurrent::RecurrentSummary>),
    Transformer(Box<compact_transformer::TransformerSummary>),
    Tabular(Box<compact_tabular::TabularSummary>),
}

impl Compaction {
    /// Parameter bytes before and after.
    fn param_bytes(&self) -> (usize, usize) {
        match self {
            Compaction::Layers(c) => (c.report.original_param_bytes, c.report.compact_param_bytes),
            Compaction::Recurrent(r) => (r.compacted.report.original_param_bytes, r.compacted.report.compact_param_bytes),
            Compaction::Transformer(t) => (t.compacted.report.original_param_bytes, t.compacted.report.compact_param_bytes),
            Compaction::Tabular(t) => (t.compacted.report.original_param_bytes, t.compacted.report.compact_param_bytes),
        }
    }

    fn removed_units(&self) -> usize {
        match self {
            Compaction::Layers(c) => c.report.structure.removed_units(),
            Compaction::Recurrent(r) => r.compacted.report.removed_units(),
            Compaction::Transformer(t) => t.compacted.report.removed_units(),
            Compaction::Tabular(t) => t.compacted.report.removed_units(),
        }
    }
}

impl std::fmt::Display for Compaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Compaction::Layers(c) => c.fmt(f),
            Compaction::Recurrent(r) => r.fmt(f),
            Compaction::Transformer(t) => t.fmt(f),
            Compaction::Tabular(t) => t.fmt(f),
        }
    }
}

fn compact(run: &Path, crossover: Option<f64>) -> Result<Compaction> {
    let mut opts = dtprune_compact::CompactOptions::default();
    if let Some(x) = crossover {
        if !(0.0..=1.01).contains(&x) {
            bail!("--crossover {x} is out of range; valid range is [0, 1.01]");
        }
        opts.crossover = dtprune_compact::Crossover::Fixed(x);
    }
    match Family::of(run) {
        Family::Recurrent => return Ok(Compaction::Recurrent(Box::new(compact_recurrent::compact(run, &opts)?))),
        Family::Transformer => return Ok(Compaction::Transformer(Box::new(compact_transformer::compact(run, &opts)?))),
        Family::Tabular => return Ok(Compaction::Tabular(Box::new(compact_tabular::compact(run, &opts)?))),
        Family::Layers => {}
    }
    let (c, files) = dtprune_compact::compact_run_dir(run, &opts).map_err(|e| {
        let graph = run.join("graph.json");
        match dtprune_train::model_graph::unsupported_ops(&graph).as_slice() {
            [] => anyhow::Error::from(e),
            ops => anyhow::anyhow!(
                "{}: compaction does not support this model's ops yet ({}); its pruned, masked weights are in model.safetensors",
                graph.display(),
                ops.join(", ")
            ),
        }
    })?;
    Ok(Compaction::Layers(CompactSummary { report: c.report, files }))
}

struct CompactSummary {
    report: dtprune_compact::CompactReport,
    files: dtprune_compact::ExportedFiles,
}

impl std::ops::Deref for CompactSummary {
    type Target = dtprune_compact::CompactReport;
    fn deref(&self) -> &Self::Target {
        &self.report
    }
}

impl std::fmt::Display for CompactSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{:<10} {:<8} {:>14} {:>14} {:>8} {:>7} {:>10}", "layer", "op", "shape", "compact", "density", "format", "crossover")?;
        for l in &self.report.layers {
            writeln!(
                f,
                "{:<10} {:<8} {:>14} {:>14} {:>8.4} {:>7} {:>10.3}",
                l.name,
                l.op,
                format!("{:?}", l.original_shape),
                format!("{:?}", l.compact_shape),
                l.density,
                l.format,
                l.crossover
            )?;
        }
        writeln!(f, "units removed: {}", self.report.structure.removed_units())?;
        writeln!(
            f,
            "parameter bytes: {} -> {} ({:.1}x smaller)",
            self.report.original_param_bytes,
            self.report.compact_param_bytes,
            self.report.original_param_bytes as f64 / self.report.compact_param_bytes.max(1) as f64
        )?;
        write!(f, "wrote {} ({} bytes) and {}", self.files.weights.display(), self.files.weights_bytes, self.files.json.display())
    }
}


#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every flag of `train` is either refused with `--resume` or one it takes: a flag in
    /// neither list would be dropped silently by a resumed run.
    #[test]
    fn resume_refuses_every_flag_that_changes_the_run() {
        let cli = Cli::command();
        let train = cli.find_subcommand("train").expect("train subcommand");
        let ids: Vec<&str> = train.get_arguments().map(|a| a.get_id().as_str()).filter(|id| *id != "help").collect();
        for id in &ids {
            assert!(RESUME_CONFLICTS.contains(id) != RESUME_TAKES.contains(id), "train flag `{id}` must be in exactly one of RESUME_CONFLICTS and RESUME_TAKES");
        }
        for id in RESUME_CONFLICTS.iter().chain(&RESUME_TAKES) {
            assert!(ids.contains(id), "`{id}` is not a flag of train");
        }
    }

    fn parse_error(args: &[&str]) -> clap::Error {
        Cli::try_parse_from(args).err().unwrap_or_else(|| panic!("{args:?} parsed"))
    }

    #[test]
    fn resume_with_test_limit_says_why_it_is_refused() {
        for args in [["dtprune", "train", "--resume", "d", "--test-limit", "100"], ["dtprune", "train", "--test-limit", "100", "--resume", "d"]] {
            let m = run_folder::resume_conflict(&parse_error(&args)).unwrap_or_else(|| panic!("{args:?}: no resume message"));
            assert!(m.contains("bit-identical") && m.contains(": --test-limit would change the run and cannot be given with --resume"), "{m}");
            assert!(m.contains("`dtprune train --config DIR/config.toml --test-limit <TEST_LIMIT> --out NEW_DIR`"), "{m}");
        }
        // --out is not repeated in the suggested new run.
        let m = run_folder::resume_conflict(&parse_error(&["dtprune", "train", "--resume", "d", "--out", "e"])).unwrap();
        assert!(m.contains(": --out would change") && m.contains("`dtprune train --config DIR/config.toml --out NEW_DIR`"), "{m}");
        // Other usage errors keep clap's own message.
        assert!(run_folder::resume_conflict(&parse_error(&["dtprune", "train", "--quiet", "--json"])).is_none());
        assert!(run_folder::resume_conflict(&parse_error(&["dtprune", "eval", "--run", "d", "--test-limit", "5"])).is_none());
    }
}
