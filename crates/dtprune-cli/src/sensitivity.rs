//! What `dtprune sensitivity` prints: the accuracy table, the suggested per-tensor thresholds
//! and a `dtprune train` command that starts from them on the run's own model and data.

use dtprune_train::config::ExperimentConfig;
use dtprune_train::sensitivity::SensitivityReport;

/// Prints the report; `cfg` is the analysed run's `config.toml` (its model and data go into
/// the suggested command).
pub fn print_report(r: &SensitivityReport, cfg: &ExperimentConfig) {
    println!(
        "{}: {} validation images, baseline accuracy {:.2}%, budget {:.2} points",
        r.model,
        r.val_images,
        r.baseline_val_accuracy * 100.0,
        r.budget * 100.0
    );
    let levels: Vec<String> = r.levels.iter().map(|l| format!("{:>6.1}%", l * 100.0)).collect();
    println!("\nvalidation accuracy with one tensor pruned to each level:");
    println!("{:<16} {}", "tensor", levels.join(" "));
    for s in &r.suggestions {
        let accs: Vec<String> = r.levels.iter().map(|&l| {
            r.rows.iter().find(|x| x.tensor == s.tensor && x.level == l).map_or_else(|| format!("{:>7}", "-"), |x| format!("{:>6.2}%", x.val_accuracy * 100.0))
        }).collect();
        println!("{:<16} {}", s.tensor, accs.join(" "));
    }
    println!("\nsuggested per-tensor thresholds (highest level within the budget):");
    println!("{:<16} {:>8} {:>9} {:>12} {:>9} {:>8}", "tensor", "numel", "level", "tau", "val acc", "drop");
    for s in &r.suggestions {
        match (s.level, s.threshold, s.val_accuracy, s.drop) {
            (Some(l), Some(t), Some(a), Some(d)) => {
                println!("{:<16} {:>8} {:>8.1}% {:>12.6} {:>8.2}% {:>7.2}pt", s.tensor, s.numel, l * 100.0, t, a * 100.0, d * 100.0)
            }
            _ => println!("{:<16} {:>8} {:>9} {:>12} {:>9} {:>8}   (every level costs more than the budget)", s.tensor, s.numel, "none", "-", "-", "-"),
        }
    }
    println!();
    println!("tau is a magnitude threshold for that tensor alone: weights with |w| < tau are zeroed.");
    println!("The drops were measured one tensor at a time; pruning several tensors at once compounds them.");
    let chosen: Vec<f64> = r.suggestions.iter().filter_map(|s| s.level).collect();
    let dense: Vec<&str> = r.suggestions.iter().filter(|s| s.level.is_none()).map(|s| s.tensor.as_str()).collect();
    if let Some(min) = chosen.iter().copied().reduce(f64::min) {
        println!("No policy takes one level per tensor; a uniform start every tensor tolerates is the smallest suggested level:");
        println!("  {}", command_line(&oneshot_args(cfg, min)));
        if !dense.is_empty() {
            println!("  and leave {} dense: list the other tensors in `prune_only` of a --config file", dense.join(", "));
        }
    } else {
        println!("No tensor can be pruned to any tested level within the budget; try lower --levels or a larger --budget.");
    }
    let files: Vec<String> = r.files.iter().map(|f| f.display().to_string()).collect();
    println!("wrote {}", files.join(", "));
}

/// `dtprune train` with a uniform one-shot prune to `sparsity`, on the run's model (name and
/// `[model]` parameters) and data (data set, `data_dir`, `[data]` options): the arguments, one
/// per word. The data set is left out when it is the default (`mnist`).
pub fn oneshot_args(cfg: &ExperimentConfig, sparsity: f64) -> Vec<String> {
    let mut a: Vec<String> = ["dtprune", "train", "--model", &cfg.model.name].map(String::from).into();
    for (k, v) in &cfg.model.params {
        a.extend(["-M".into(), format!("{k}={}", value_arg(v))]);
    }
    if cfg.dataset != ExperimentConfig::default().dataset {
        a.extend(["--dataset".into(), cfg.dataset.clone()]);
    }
    if let Some(d) = &cfg.data_dir {
        a.extend(["--data-dir".into(), d.display().to_string()]);
    }
    for (k, v) in &cfg.data {
        a.extend(["-D".into(), format!("{k}={}", value_arg(v))]);
    }
    a.extend(["--policy", "oneshot", "-P"].map(String::from));
    a.extend([format!("sparsity={sparsity}"), "-P".into(), "scope=tensor".into()]);
    a
}

/// A config value as the command line writes it (`-D`/`-M` read it back as the same value):
/// text bare, a list of names comma-separated, numbers and booleans as TOML writes them.
fn value_arg(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(items) => items.iter().map(value_arg).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// The arguments as one line for a POSIX shell: a word with anything but letters, digits and
/// `-_./=:,+@%` is single-quoted.
pub fn command_line(args: &[String]) -> String {
    let word = |s: &String| {
        if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c)) {
            s.clone()
        } else {
            format!("'{}'", s.replace('\'', r"'\''"))
        }
    };
    args.iter().map(word).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The printed words read back by `dtprune train`'s own parser and config merge.
    fn parsed(args: &[String]) -> ExperimentConfig {
        match crate::Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}")).command {
            crate::Command::Train(a) => crate::resolve_config(&a).unwrap(),
            _ => panic!("not a train command: {args:?}"),
        }
    }

    #[test]
    fn mnist_run_gives_the_plain_command() {
        let args = oneshot_args(&ExperimentConfig::default(), 0.7);
        assert_eq!(command_line(&args), "dtprune train --model lenet300 --policy oneshot -P sparsity=0.7 -P scope=tensor");
    }

    #[test]
    fn command_carries_the_runs_model_and_data() {
        // A text run: non-default data set, a data directory with a space, [data] options of
        // each kind (integer, real, text with a quote, list), [model] parameters.
        let cfg = ExperimentConfig::from_toml_str(concat!(
            "dataset = \"text-tsv\"\ndata_dir = \"/data/my texts\"\n",
            "[model]\nname = \"transformer\"\nd_model = 64\nlayers = 2\n",
            "[data]\nmax_len = 32\ntest_fraction = 0.25\nfile = \"it's.tsv\"\nnames = [\"a\", \"b\"]\n",
        ))
        .unwrap();
        let args = oneshot_args(&cfg, 0.9);
        assert_eq!(
            command_line(&args),
            "dtprune train --model transformer -M d_model=64 -M layers=2 --dataset text-tsv --data-dir '/data/my texts' \
             -D 'file=it'\\''s.tsv' -D max_len=32 -D names=a,b -D test_fraction=0.25 --policy oneshot -P sparsity=0.9 -P scope=tensor"
        );
        let back = parsed(&args);
        assert_eq!((&back.model, &back.dataset, &back.data_dir), (&cfg.model, &cfg.dataset, &cfg.data_dir));
        // The list comes back as the comma-separated text the loader reads as the same names.
        let mut expected = cfg.data.clone();
        expected.insert("names".into(), toml::Value::String("a,b".into()));
        assert_eq!(back.data, expected);
        assert_eq!(back.policy.name, "oneshot");
        assert_eq!(back.policy.params["sparsity"], toml::Value::Float(0.9));
        assert_eq!(back.policy.params["scope"], toml::Value::String("tensor".into()));
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        let words: Vec<String> = ["a-b_c./=:,+@%", "", "x y", "it's", "$HOME"].map(String::from).into();
        assert_eq!(command_line(&words), r"a-b_c./=:,+@% '' 'x y' 'it'\''s' '$HOME'");
    }
}
