//! `dtprune prune-weights`: post-training pruning of any safetensors checkpoint
//! (`dtprune-weights` does the work; this is the flag parsing).

use anyhow::{bail, Context, Result};
use clap::Args;
use dtprune_prune::checkpoint::CheckpointPolicy;
use dtprune_weights::{prune_weights, PruneWeightsOptions};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Args)]
#[command(after_help = "Default selection (without --include): every F32/F16/BF16 tensor with 2 or more dimensions; \
biases, norm vectors and integer tensors (e.g. position ids) are copied bit for bit. \
Policies: oneshot (-P sparsity, scope), distribution (-P c, target_sparsity), none; \
thresholds are per tensor unless -P scope=global. A weight w is zeroed when |w| < tau.")]
pub struct PruneWeightsArgs {
    /// The checkpoint to prune (.safetensors).
    input: PathBuf,
    /// Where to write the pruned checkpoint (must not be the input).
    #[arg(short, long)]
    out: PathBuf,
    /// oneshot | distribution | none (parameters as in `dtprune policies`).
    #[arg(long, default_value = "oneshot")]
    policy: String,
    /// The policy's target sparsity: oneshot's `sparsity`, distribution's `target_sparsity` cap.
    #[arg(long)]
    sparsity: Option<f64>,
    /// A policy parameter, `key=value` (repeatable).
    #[arg(long = "policy-param", short = 'P', value_name = "KEY=VALUE")]
    policy_params: Vec<String>,
    /// Prune only tensors whose names match this glob (repeatable); replaces the default selection.
    #[arg(long, value_name = "GLOB")]
    include: Vec<String>,
    /// Leave tensors whose names match this glob unpruned (repeatable).
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Also write the per-tensor report as JSON.
    #[arg(long, value_name = "FILE.json")]
    report: Option<PathBuf>,
    /// Print only the summary line, not the per-tensor table.
    #[arg(long)]
    quiet: bool,
}

pub fn run(a: PruneWeightsArgs) -> Result<()> {
    let mut params = BTreeMap::new();
    for kv in &a.policy_params {
        let (k, v) = dtprune_prune::params::parse_override(kv).with_context(|| format!("--policy-param `{kv}` is not KEY=VALUE"))?;
        params.insert(k, v);
    }
    if let Some(s) = a.sparsity {
        let Some(key) = CheckpointPolicy::sparsity_param(&a.policy) else {
            bail!("--sparsity: policy `{}` has no target sparsity (oneshot and distribution have)", a.policy);
        };
        if params.insert(key.to_string(), toml::Value::Float(s)).is_some() {
            bail!("--sparsity and -P {key}= both set `{key}`; give one");
        }
    }
    let options = PruneWeightsOptions {
        input: a.input,
        output: a.out,
        policy: a.policy,
        params,
        include: a.include,
        exclude: a.exclude,
        report: a.report,
    };
    let report = prune_weights(&options)?;
    if a.quiet {
        println!("{}", report.to_string().lines().last().unwrap_or_default());
    } else {
        println!("{report}");
    }
    if let Some(r) = &options.report {
        println!("wrote {}", r.display());
    }
    Ok(())
}
