//! `dtprune sweep`: grid and random search over any config key, run in parallel here
//! (resumable) or emitted as a job array for a cluster, tabulated into one sweep folder with the
//! accuracy-vs-compression Pareto front, the best trial's config and a report.
//!
//! The folder: `plan.json` (the trials), `configs/ID.toml` (each run's config), `trials/ID/` and
//! `baselines/ID/` (run folders), then `trials.csv`, `trials.json`, `front.csv`,
//! `baselines.csv`, `best.toml`, `front.svg`/`.png` and `report.html`.

mod collect;
mod jobs;
mod plan;
mod runner;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use dtprune_report::sweep::{parse_grid, parse_random, read_finished, SearchSpace, SweepTable};
use dtprune_train::config::ExperimentConfig;
use std::path::{Path, PathBuf};

use plan::Plan;
use runner::{Job, Threads};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SweepArgs {
    #[command(subcommand)]
    what: Option<SweepCommand>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Args)]
struct RunArgs {
    /// Base experiment config (TOML); every trial is this with its swept keys changed.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Try every value: `KEY=V1,V2,…` (repeatable; trials are the cartesian product). KEY is a
    /// config key (`lr`, `epochs`, `seed`, …), `policy`, or a policy parameter (`budget` or
    /// `policy.budget`).
    #[arg(long = "grid", value_name = "KEY=V1,V2,...")]
    grid: Vec<String>,
    /// Draw values: `KEY=LO:HI` (uniform) or `KEY=LO:HI:log`; integers if both bounds are.
    #[arg(long = "random", value_name = "KEY=LO:HI[:log]")]
    random: Vec<String>,
    /// Random draws per grid point (with --random).
    #[arg(long)]
    trials: Option<usize>,
    /// Seed of the random draws.
    #[arg(long, default_value_t = 0)]
    sweep_seed: u64,
    /// Trials at once (default: cores / the trials' shard count `replicas`).
    #[arg(long)]
    parallel: Option<usize>,
    /// The best trial: the most compressed on the front within this much validation accuracy
    /// of the most accurate (absolute: 0.005 = half a point).
    #[arg(long, default_value_t = 0.005, allow_negative_numbers = true)]
    within: f64,
    /// Also run `gmp` and `oneshot` at each sparsity the trials target (same epochs and seed).
    #[arg(long)]
    baselines: bool,
    /// The baselines' sparsities (default: every `target_sparsity` of the trials).
    #[arg(long, value_delimiter = ',', requires = "baselines", allow_negative_numbers = true)]
    baseline_sparsity: Vec<f64>,
    /// Write jobs.txt and a Slurm jobs.sbatch instead of running the trials.
    #[arg(long)]
    emit_jobs: bool,
    /// The sweep folder.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Subcommand)]
enum SweepCommand {
    /// Merge finished trial folders from anywhere into one table, front and best config.
    Collect {
        /// Sweep folders, folders of run folders, or run folders.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        #[arg(short, long)]
        out: PathBuf,
        #[arg(long, default_value_t = 0.005, allow_negative_numbers = true)]
        within: f64,
    },
    /// The HTML page of a sweep folder (from its trials.json).
    Report {
        dir: PathBuf,
        #[arg(short, long, default_value = "report.html")]
        out: PathBuf,
    },
    /// Run one trial of a sweep (a line of jobs.txt): nothing if `--out` holds a finished run,
    /// else a fresh `dtprune train --config C --out O`.
    #[command(hide = true)]
    Trial {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(args: SweepArgs) -> Result<()> {
    match args.what {
        None => sweep(args.run),
        Some(SweepCommand::Collect { dirs, out, within }) => {
            check_within(within)?;
            let sources = collect::find_runs(&dirs)?;
            let (table, best) = collect::tabulate(&sources, within)?;
            let written = collect::write_outputs(&out, &table, best.as_deref())?;
            print_result(&table, &out, &written);
            Ok(())
        }
        Some(SweepCommand::Report { dir, out }) => {
            report(&dir, &out)?;
            println!("wrote {}", out.display());
            Ok(())
        }
        Some(SweepCommand::Trial { config, out }) => trial(&config, &out),
    }
}

/// Whether `dir` is a sweep folder with a table (for `dtprune report DIR`).
pub fn is_sweep_folder(dir: &Path) -> bool {
    dir.join(dtprune_report::sweep::table::TRIALS_JSON).is_file()
}

pub fn report(dir: &Path, out: &Path) -> Result<()> {
    let table = SweepTable::load(dir)?;
    collect::write_report(&table, dir, out)?;
    Ok(())
}

fn check_within(within: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&within) {
        bail!("--within {within} is out of range; valid range is [0, 1]");
    }
    Ok(())
}

fn sweep(a: RunArgs) -> Result<()> {
    let out = a.out.clone().context("`dtprune sweep` needs --out DIR (the sweep folder)")?;
    check_within(a.within)?;
    // Everything is built and checked before anything is written.
    let grid = a.grid.iter().map(|g| parse_grid(g)).collect::<Result<Vec<_>, _>>()?;
    let random = a.random.iter().map(|r| parse_random(r)).collect::<Result<Vec<_>, _>>()?;
    let space = SearchSpace::new(grid, random, a.trials, a.sweep_seed)?;
    let base = plan::load_base(a.config.as_deref())?;
    let (keys, trials) = plan::build_trials(&base, &space.keys(), &space.expand())?;
    let baselines = if a.baselines { plan::build_baselines(&base, &trials, &a.baseline_sparsity)? } else { Vec::new() };
    let plan = Plan { keys, trials, baselines };
    let replicas = max_replicas(&plan)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = Threads::choose(cores, replicas, a.parallel)?;
    plan::prepare_folder(&out, &plan)?;

    let exe = std::env::current_exe().context("the path of this dtprune binary")?;
    let all: Vec<Job> = plan
        .runs(&out)
        .map(|(t, config, dir)| Job { id: t.id.clone(), label: t.label.clone(), config, dir })
        .collect();
    let (done, todo): (Vec<&Job>, Vec<&Job>) = all.iter().partition(|j| runner::is_finished(&j.dir));
    let todo: Vec<Job> = todo.into_iter().cloned().collect();
    if a.emit_jobs && todo.is_empty() {
        println!("all {} runs of {} are finished: no jobs to emit; dtprune sweep collect {} -o {}", all.len(), out.display(), out.display(), out.display());
        return Ok(());
    }
    if a.emit_jobs {
        let (txt, sbatch) = jobs::emit(&out, &exe, &todo, replicas)?;
        println!("{} runs to do ({} of {} already finished)", todo.len(), done.len(), all.len());
        println!("wrote {} (one command per line) and {} (Slurm array 0-{})", txt.display(), sbatch.display(), todo.len().saturating_sub(1));
        println!("submit: sbatch {}; then: dtprune sweep collect {} -o {}", sbatch.display(), out.display(), out.display());
        return Ok(());
    }
    println!(
        "sweep {}: {} trials, {} baselines; {} already finished; {} at a time, {} threads each ({} cores, {} shards per trial)",
        out.display(),
        plan.trials.len(),
        plan.baselines.len(),
        done.len(),
        threads.parallel,
        threads.per_trial,
        cores,
        replicas
    );
    let started = std::time::Instant::now();
    let mut failed = Vec::new();
    let mut finished = 0;
    runner::run_all(&exe, &todo, threads, |job, outcome| {
        finished += 1;
        let head = format!("[{finished}/{}] {} {}", todo.len(), job.id, job.label);
        match &outcome.result {
            Ok(()) => println!("{head}: {} in {:.1} s", figures(&job.dir), outcome.seconds),
            Err(e) => {
                println!("{head}: FAILED {e}");
                failed.push(format!("{} ({e})", job.id));
            }
        }
    });
    if !todo.is_empty() {
        println!("ran {} runs in {:.1} s", todo.len(), started.elapsed().as_secs_f64());
    }
    let sources = collect::Sources {
        trials: plan.trials.iter().map(|t| Plan::trial_dir(&out, t)).collect(),
        baselines: plan.baselines.iter().map(|t| Plan::baseline_dir(&out, t)).collect(),
        keys: plan.keys.clone(),
    };
    match collect::tabulate(&sources, a.within) {
        Ok((table, best)) => {
            let written = collect::write_outputs(&out, &table, best.as_deref())?;
            print_result(&table, &out, &written);
        }
        // Every run failed: the failures are the error to report.
        Err(e) if !failed.is_empty() => eprintln!("warning: {e:#}"),
        Err(e) => return Err(e),
    }
    if !failed.is_empty() {
        bail!("{} of {} runs failed: {}; rerun the same command to retry them", failed.len(), todo.len(), failed.join("; "));
    }
    Ok(())
}

/// The largest shard count among the runs (the model's default where the config sets none).
fn max_replicas(plan: &Plan) -> Result<usize> {
    let mut r = 1;
    for t in plan.trials.iter().chain(&plan.baselines) {
        let c = ExperimentConfig::from_toml_str(&t.config).map_err(anyhow::Error::msg)?;
        let model = dtprune_train::registry::model(&c.model.name)?;
        r = r.max(c.replicas.unwrap_or_else(|| model.runner.replicas()));
    }
    Ok(r)
}

fn figures(dir: &Path) -> String {
    match read_finished(dir) {
        Ok(Some(r)) => {
            let m = r.metrics;
            format!(
                "val {:.2}%  test {:.2}%  sparsity {:.2}% ({:.1}x)",
                m.val_accuracy * 100.0,
                m.test_accuracy * 100.0,
                m.sparsity * 100.0,
                m.compression
            )
        }
        Ok(None) => "no summary.json".into(),
        Err(e) => format!("unreadable summary: {e}"),
    }
}

fn print_result(table: &SweepTable, out: &Path, written: &[PathBuf]) {
    println!("{} trials, {} on the front", table.trials.len(), table.front().len());
    if let Some(b) = table.best_trial() {
        let m = &b.metrics;
        println!(
            "best: {} {}: val {:.2}%  test {:.2}%  sparsity {:.2}% ({:.1}x)  (most compressed on the front within {} of the best validation accuracy)",
            b.id,
            table.keys.iter().map(|k| format!("{k}={}", b.value_text(k))).collect::<Vec<_>>().join(" "),
            m.val_accuracy * 100.0,
            m.test_accuracy * 100.0,
            m.sparsity * 100.0,
            m.compression,
            table.within
        );
        println!("rerun it: dtprune train --config {}", out.join("best.toml").display());
    }
    let names: Vec<String> = written.iter().filter_map(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).collect();
    println!("wrote {} in {}", names.join(", "), out.display());
}

/// One line of jobs.txt.
fn trial(config: &Path, out: &Path) -> Result<()> {
    if !runner::prepare(out)? {
        println!("{}: already finished", out.display());
        return Ok(());
    }
    crate::train(crate::TrainArgs { config: Some(config.to_path_buf()), out: Some(out.to_path_buf()), quiet: true, no_compact: true, ..Default::default() })
}
