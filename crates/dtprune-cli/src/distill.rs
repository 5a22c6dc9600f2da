//! `dtprune distill`: prune a pretrained sentence encoder while fine-tuning it to keep the dense
//! model's embeddings (`dtprune_train::pretrained::distill` does the work; this is the flags).

use anyhow::{bail, Context, Result};
use clap::Args;
use dtprune_prune::RollbackConfig;
use dtprune_train::pretrained::{distill, DistillOptions, SentenceModelFiles};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Args)]
#[command(after_help = "Texts as for `dtprune embed` (one per line, --field picks a tab-separated column, .gz read as is); \
they are shuffled with --seed and the last --val texts are held out. The policy's validation accuracy is \
the mean cosine to the dense embeddings on them. gmp steps are counted in optimizer steps \
(texts / --batch per epoch); --sparsity sets gmp's final_sparsity, controller's target_sparsity, oneshot's sparsity.")]
pub struct DistillArgs {
    /// A sentence-transformers model folder (config.json, tokenizer, modules.json, …).
    #[arg(long)]
    model_dir: PathBuf,
    /// The dense weights (default: MODEL_DIR/model.safetensors).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Unlabelled texts to distil on (repeatable).
    #[arg(long = "input", short, required = true)]
    inputs: Vec<PathBuf>,
    /// Which tab-separated column of a line holds the text (as for `dtprune embed`).
    #[arg(long, default_value_t = 0)]
    field: usize,
    /// Use only the first N texts (0 = all).
    #[arg(long, default_value_t = 0)]
    limit: usize,
    /// Texts held out to judge the pruning.
    #[arg(long, default_value_t = 300)]
    val: usize,
    #[arg(long, default_value = "gmp")]
    policy: String,
    #[arg(long)]
    sparsity: Option<f64>,
    /// A policy parameter, `key=value` (repeatable).
    #[arg(long = "policy-param", short = 'P', value_name = "KEY=VALUE")]
    policy_params: Vec<String>,
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 5e-5)]
    lr: f64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Prune only parameters matching this glob over Burn paths (repeatable; default: every Linear weight).
    #[arg(long, value_name = "GLOB")]
    prune_only: Vec<String>,
    /// Undo a prune event that lowers the held-out cosine by more than this (0 disables rollback).
    #[arg(long, default_value_t = 0.0)]
    rollback_tolerance: f64,
    /// The pruned, fine-tuned encoder (Hugging Face names, f32).
    #[arg(short, long)]
    out: PathBuf,
    /// Write the per-epoch record as JSON.
    #[arg(long, value_name = "FILE.json")]
    report: Option<PathBuf>,
}

fn sparsity_key(policy: &str) -> Option<&'static str> {
    match policy {
        "gmp" => Some("final_sparsity"),
        "controller" | "distribution" => Some("target_sparsity"),
        "oneshot" => Some("sparsity"),
        _ => None,
    }
}

pub fn run(a: DistillArgs) -> Result<()> {
    let mut params = BTreeMap::new();
    for kv in &a.policy_params {
        let (k, v) = dtprune_prune::params::parse_override(kv).with_context(|| format!("--policy-param `{kv}` is not KEY=VALUE"))?;
        params.insert(k, v);
    }
    if let Some(s) = a.sparsity {
        let Some(key) = sparsity_key(&a.policy) else { bail!("--sparsity: policy `{}` has no target sparsity; use -P", a.policy) };
        if params.insert(key.to_string(), toml::Value::Float(s)).is_some() {
            bail!("--sparsity and -P {key}= both set `{key}`; give one");
        }
    }
    // The policy and its parameters are checked before any model or text is read.
    dtprune_prune::policy::build(&a.policy, &params).with_context(|| format!("--policy {}", a.policy))?;
    if a.batch == 0 || a.epochs == 0 {
        bail!("--batch and --epochs must be at least 1");
    }
    if !(a.lr > 0.0 && a.lr.is_finite()) {
        bail!("--lr must be a positive number, not {}", a.lr);
    }
    let mut texts = crate::embed::read_texts(&a.inputs, a.field, a.limit)?;
    let order = dtprune_data::rng::SplitMix64(a.seed).permutation(texts.len());
    texts = order.into_iter().map(|i| std::mem::take(&mut texts[i])).collect();
    if a.val == 0 || a.val >= texts.len() {
        bail!("--val {} must be at least 1 and below the {} texts given", a.val, texts.len());
    }
    let (train, val) = texts.split_at(texts.len() - a.val);
    let train: Vec<&str> = train.iter().map(String::as_str).collect();
    let val: Vec<&str> = val.iter().map(String::as_str).collect();
    let options = DistillOptions {
        policy: a.policy,
        policy_params: params,
        epochs: a.epochs,
        batch: a.batch,
        lr: a.lr,
        seed: a.seed,
        prune_only: a.prune_only,
        rollback: RollbackConfig { enabled: a.rollback_tolerance > 0.0, tolerance: a.rollback_tolerance, recovery_epochs: 1 },
    };
    let files = SentenceModelFiles::new(&a.model_dir, a.weights.as_deref());
    println!("distilling on {} texts, judged on {} held out", train.len(), val.len());
    let report = distill(&files, &train, &val, &options, &a.out, &mut |e| {
        println!("epoch {}: loss {:.5}, held-out cosine to dense {:.4}, sparsity {:.1}% ({:.0} s)", e.epoch, e.train_loss, e.val_cosine, 100.0 * e.sparsity, e.seconds);
    })?;
    println!("wrote {} (held-out cosine {:.4} before, {:.4} after; {} prune events, {} rollbacks)", a.out.display(), report.start_val_cosine, report.epochs.last().map_or(f64::NAN, |e| e.val_cosine), report.prune_events, report.rollbacks);
    if let Some(path) = &a.report {
        dtprune_fs::write_atomic(path, &serde_json::to_vec_pretty(&report)?).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
