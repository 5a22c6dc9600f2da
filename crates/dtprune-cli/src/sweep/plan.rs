//! The plan of a sweep: every trial's config, built from the base config and the trial's
//! assignment through the same path `dtprune train --config` takes (TOML deserialisation with
//! unknown keys refused, then `Experiment::resolve`, which also builds the policy and
//! checks its parameters), all before any trial starts.
//!
//! Keys: `policy` is the policy name; `policy.NAME` a policy parameter; `rollback.NAME` a key of
//! `[rollback]`; a plain key is a top-level config key (`lr`, `epochs`, `seed`, …) if the config
//! has it, else a policy parameter (`budget`, like `-P budget=…`); another dotted key is a
//! parameter of one member of a combined policy (`structure.k`).

use anyhow::{bail, Context, Result};
use dtprune_report::sweep::Assignment;
use dtprune_train::config::ExperimentConfig;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where a swept key lands in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Location {
    TopLevel(String),
    PolicyName,
    PolicyParam(String),
    Rollback(String),
}

impl Location {
    /// The key's name in the trial table (`budget` is shown as `policy.budget`).
    fn canonical(&self) -> String {
        match self {
            Location::TopLevel(k) => k.clone(),
            Location::PolicyName => "policy".into(),
            Location::PolicyParam(k) => format!("policy.{k}"),
            Location::Rollback(k) => format!("rollback.{k}"),
        }
    }
}

fn locate(base: &toml::Table, key: &str, sample: &toml::Value) -> Location {
    if key == "policy" {
        return Location::PolicyName;
    }
    if let Some(rest) = key.strip_prefix("policy.") {
        return Location::PolicyParam(rest.into());
    }
    if let Some(rest) = key.strip_prefix("rollback.") {
        return Location::Rollback(rest.into());
    }
    if key.contains('.') {
        return Location::PolicyParam(key.into());
    }
    if base.contains_key(key) {
        return Location::TopLevel(key.into());
    }
    // Optional keys the base leaves unset (`replicas`, `data_dir`) are absent from its TOML:
    // a key the config format does not know at all is a policy parameter.
    let mut probe = base.clone();
    probe.insert(key.into(), sample.clone());
    match ExperimentConfig::deserialize(toml::Value::Table(probe)) {
        Err(e) if e.to_string().contains(&format!("unknown field `{key}`")) => Location::PolicyParam(key.into()),
        _ => Location::TopLevel(key.into()),
    }
}

/// One run of the sweep: a trial of the search space or a baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// `0000`, … for trials; `gmp-0.95`, `oneshot-0.95` for baselines.
    pub id: String,
    /// The swept keys' values, as given (`budget=0.005 target_sparsity=0.95`).
    pub label: String,
    /// The resolved config, as the trial's `configs/ID.toml` holds it.
    pub config: String,
}

/// What `plan.json` records: enough to tell whether a folder holds this same sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The swept keys in table form.
    pub keys: Vec<String>,
    pub trials: Vec<Trial>,
    pub baselines: Vec<Trial>,
}

pub const PLAN_FILE: &str = "plan.json";

impl Plan {
    pub fn config_path(dir: &Path, t: &Trial) -> PathBuf {
        dir.join("configs").join(format!("{}.toml", t.id))
    }

    pub fn trial_dir(dir: &Path, t: &Trial) -> PathBuf {
        dir.join("trials").join(&t.id)
    }

    pub fn baseline_dir(dir: &Path, t: &Trial) -> PathBuf {
        dir.join("baselines").join(&t.id)
    }

    /// Every run of the plan with its config file and run folder: trials, then baselines.
    pub fn runs<'a>(&'a self, dir: &'a Path) -> impl Iterator<Item = (&'a Trial, PathBuf, PathBuf)> + 'a {
        let trials = self.trials.iter().map(move |t| (t, Self::config_path(dir, t), Self::trial_dir(dir, t)));
        let baselines = self.baselines.iter().map(move |t| (t, Self::config_path(dir, t), Self::baseline_dir(dir, t)));
        trials.chain(baselines)
    }
}

/// The base config, with a relative `data_dir` made absolute so that trials run from any
/// directory (a cluster's job, the sweep's own subprocesses) read the same data.
pub fn load_base(path: Option<&Path>) -> Result<ExperimentConfig> {
    let mut c = match path {
        Some(p) => ExperimentConfig::from_toml_file(p)?,
        None => ExperimentConfig::default(),
    };
    checked(&c).with_context(|| format!("base config {}", path.map_or("(defaults)".into(), |p| p.display().to_string())))?;
    if let Some(d) = c.data_dir.as_mut().filter(|d| d.is_relative()) {
        *d = std::env::current_dir().context("current directory")?.join(&*d);
    }
    Ok(c)
}

/// Builds and validates every trial's config; the first bad one is an error naming the trial,
/// its values and the key.
pub fn build_trials(base: &ExperimentConfig, keys: &[String], assignments: &[Assignment]) -> Result<(Vec<String>, Vec<Trial>)> {
    let table = base_table(base);
    let first = assignments.first().context("the search space is empty")?;
    let locations: Vec<Location> = first.iter().map(|(k, v)| locate(&table, k, v)).collect();
    let canonical: Vec<String> = locations.iter().map(Location::canonical).collect();
    for (i, c) in canonical.iter().enumerate() {
        if let Some(j) = canonical[..i].iter().position(|d| d == c) {
            bail!("keys `{}` and `{}` both set `{c}`", keys[j], keys[i]);
        }
    }
    let mut trials = Vec::with_capacity(assignments.len());
    for (n, a) in assignments.iter().enumerate() {
        let id = format!("{n:04}");
        let label = a.iter().map(|(k, v)| format!("{k}={}", value_text(v))).collect::<Vec<_>>().join(" ");
        let config = apply(&table, &locations, a).with_context(|| format!("trial {id} ({label})"))?;
        trials.push(Trial { id, label, config: config.to_toml() });
    }
    Ok((canonical, trials))
}

/// The base as a TOML table.
fn base_table(base: &ExperimentConfig) -> toml::Table {
    match toml::Value::try_from(base).expect("a config serialises to TOML") {
        toml::Value::Table(t) => t,
        _ => unreachable!("a config is a TOML table"),
    }
}

fn apply(base: &toml::Table, locations: &[Location], a: &Assignment) -> Result<ExperimentConfig> {
    let mut t = base.clone();
    // The policy name first: parameters in the base belong to the base's policy, so a new
    // name starts from that policy's defaults (as `dtprune train --policy` does).
    for (loc, (_, v)) in locations.iter().zip(a) {
        if *loc == Location::PolicyName {
            let policy = section(&mut t, "policy");
            if policy.get("name") != Some(v) {
                policy.clear();
            }
            policy.insert("name".into(), v.clone());
        }
    }
    for (loc, (_, v)) in locations.iter().zip(a) {
        match loc {
            Location::PolicyName => {}
            Location::TopLevel(k) => {
                t.insert(k.clone(), v.clone());
            }
            Location::PolicyParam(k) => {
                section(&mut t, "policy").insert(k.clone(), v.clone());
            }
            Location::Rollback(k) => {
                section(&mut t, "rollback").insert(k.clone(), v.clone());
            }
        }
    }
    let described = a.iter().map(|(k, v)| format!("{k} = {}", value_text(v))).collect::<Vec<_>>().join(", ");
    let c = ExperimentConfig::deserialize(toml::Value::Table(t)).map_err(|e| anyhow::anyhow!("{described}: {}", e.to_string().trim().replace('\n', " ")))?;
    if let Err(e) = checked(&c) {
        // A plain key the config file does not have was taken for a policy parameter; if the
        // policy refuses it, say both.
        let message = e.to_string();
        let guessed = locations.iter().zip(a).find(|(loc, (key, _))| matches!(loc, Location::PolicyParam(p) if p == key && !key.contains('.')) && message.contains(&format!("unknown parameter `{key}`")));
        if let Some((_, (key, _))) = guessed {
            bail!("`{key}` is not a config key, and policy `{}` refuses it: {message}", c.policy.name);
        }
        return Err(e.into());
    }
    Ok(c)
}

fn section<'a>(t: &'a mut toml::Table, name: &str) -> &'a mut toml::Table {
    let v = t.entry(name.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if !v.is_table() {
        *v = toml::Value::Table(toml::Table::new());
    }
    v.as_table_mut().expect("just made a table")
}

pub fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The baselines at each sparsity level: `gmp` (final_sparsity) and `oneshot` (sparsity), with
/// the base config's epochs, seed and everything else. Levels: `given`, or else every
/// `target_sparsity` the trials use.
pub fn build_baselines(base: &ExperimentConfig, trials: &[Trial], given: &[f64]) -> Result<Vec<Trial>> {
    let mut levels: Vec<f64> = given.to_vec();
    if levels.is_empty() {
        for t in trials {
            let c = ExperimentConfig::from_toml_str(&t.config).map_err(anyhow::Error::msg)?;
            for (k, v) in &c.policy.params {
                if k == "target_sparsity" || k.ends_with(".target_sparsity") {
                    if let Some(s) = v.as_float().or_else(|| v.as_integer().map(|i| i as f64)) {
                        levels.push(s);
                    }
                }
            }
        }
        if levels.is_empty() {
            bail!("--baselines: no trial sets `target_sparsity`; name the levels with --baseline-sparsity 0.9,0.95");
        }
    }
    levels.sort_by(f64::total_cmp);
    levels.dedup();
    let mut out = Vec::new();
    for (policy, param) in [("gmp", "final_sparsity"), ("oneshot", "sparsity")] {
        for &s in &levels {
            let mut c = base.clone();
            c.policy.name = policy.into();
            c.policy.params = [(param.to_string(), toml::Value::Float(s))].into();
            let id = format!("{policy}-{s}");
            checked(&c).with_context(|| format!("baseline {id}"))?;
            out.push(Trial { id, label: format!("policy={policy} {param}={s}"), config: c.to_toml() });
        }
    }
    Ok(out)
}

/// Makes `dir` hold `plan`: a new or empty folder gets the plan and every config file; a folder
/// that already holds the same trials (an interrupted or finished sweep) is resumed; anything
/// else is an error, and nothing is written.
pub fn prepare_folder(dir: &Path, plan: &Plan) -> Result<()> {
    let plan_path = dir.join(PLAN_FILE);
    if plan_path.is_file() {
        let text = std::fs::read_to_string(&plan_path).with_context(|| format!("read {}", plan_path.display()))?;
        let old: Plan = serde_json::from_str(&text).with_context(|| format!("{} is not a sweep plan", plan_path.display()))?;
        if old.trials != plan.trials || old.keys != plan.keys {
            bail!(
                "{} holds another sweep (its plan.json lists other trials); choose another --out, or rerun the same command to resume it",
                dir.display()
            );
        }
    } else if dir.exists() && std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))?.next().is_some() {
        bail!("{} exists and is not a sweep folder (no plan.json); choose another --out", dir.display());
    }
    std::fs::create_dir_all(dir.join("configs")).with_context(|| format!("create {}", dir.join("configs").display()))?;
    for (t, config, _) in plan.runs(dir) {
        dtprune_fs::write_atomic(&config, t.config.as_bytes()).with_context(|| format!("write {}", config.display()))?;
    }
    let mut json = serde_json::to_string_pretty(plan)?;
    json.push('\n');
    dtprune_fs::write_atomic(&plan_path, json.as_bytes()).with_context(|| format!("write {}", plan_path.display()))
}

pub fn load_plan(dir: &Path) -> Result<Option<Plan>> {
    let path = dir.join(PLAN_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    Ok(Some(serde_json::from_str(&text).with_context(|| format!("{} is not a sweep plan", path.display()))?))
}

/// What `dtprune train` checks before it starts (ranges, model and its parameters, data set,
/// policy and its parameters), without loading any data.
fn checked(c: &ExperimentConfig) -> Result<(), dtprune_train::TrainError> {
    dtprune_train::experiment::Experiment::resolve(c).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dtprune_report::sweep::{parse_grid, SearchSpace};

    fn plan(grid: &[&str]) -> Result<(Vec<String>, Vec<Trial>)> {
        let dims = grid.iter().map(|g| parse_grid(g)).collect::<Result<Vec<_>, _>>()?;
        let space = SearchSpace::new(dims, vec![], None, 0)?;
        build_trials(&ExperimentConfig::default(), &space.keys(), &space.expand())
    }

    #[test]
    fn keys_land_where_train_puts_them() {
        let (keys, trials) = plan(&["lr=0.01", "budget=0.002", "rollback.tolerance=0.02", "replicas=1"]).unwrap();
        assert_eq!(keys, ["lr", "policy.budget", "rollback.tolerance", "replicas"]);
        let c = ExperimentConfig::from_toml_str(&trials[0].config).unwrap();
        assert_eq!(c.lr, 0.01);
        assert_eq!(c.policy.params["budget"], toml::Value::Float(0.002));
        assert_eq!(c.policy.params["target_sparsity"], toml::Value::Float(0.95), "the base's other parameters stay");
        assert_eq!(c.rollback.tolerance, 0.02);
        assert_eq!(c.replicas, Some(1));
    }

    /// `lr_decay` is unset in the default base (0.9 by default, 1 with cosine): a swept value
    /// still lands on the key, and with a cosine base any value but 1 names the trial.
    #[test]
    fn lr_decay_is_swept_though_unset_in_the_base() {
        let (keys, trials) = plan(&["lr_decay=0.8,1.0"]).unwrap();
        assert_eq!(keys, ["lr_decay"]);
        assert_eq!(ExperimentConfig::from_toml_str(&trials[0].config).unwrap().lr_decay, Some(0.8));
        let cosine = ExperimentConfig { lr_schedule: dtprune_train::config::LrSchedule::Cosine, ..Default::default() };
        let space = SearchSpace::new(vec![parse_grid("lr_decay=1.0,0.8").unwrap()], vec![], None, 0).unwrap();
        let m = format!("{:#}", build_trials(&cosine, &space.keys(), &space.expand()).unwrap_err());
        assert!(m.contains("trial 0001 (lr_decay=0.8)") && m.contains("lr_decay = 0.8 with lr_schedule = \"cosine\""), "{m}");
    }

    #[test]
    fn a_new_policy_name_starts_from_its_defaults() {
        let (_, trials) = plan(&["policy=gmp,oneshot"]).unwrap();
        let c = ExperimentConfig::from_toml_str(&trials[0].config).unwrap();
        assert_eq!(c.policy.name, "gmp");
        assert!(c.policy.params.is_empty(), "performance's target_sparsity is dropped");
        // `final_sparsity` is not a parameter of `performance`: trial 0001 is refused.
        let m = format!("{:#}", plan(&["policy=gmp,performance", "policy.final_sparsity=0.9"]).unwrap_err());
        assert!(m.contains("trial 0001 (policy=performance policy.final_sparsity=0.9)") && m.contains("final_sparsity"), "{m}");
    }

    #[test]
    fn bad_values_name_trial_and_key() {
        let e = |g: &[&str]| format!("{:#}", plan(g).unwrap_err());
        let m = e(&["epochs=2,0"]);
        assert!(m.contains("trial 0001 (epochs=0)") && m.contains("epochs = 0 is out of range"), "{m}");
        let m = e(&["budget=2"]);
        assert!(m.contains("trial 0000 (budget=2)") && m.contains("out of range") && !m.contains("not a config key"), "{m}");
        let m = e(&["epochs=2.5"]);
        assert!(m.contains("epochs = 2.5") && m.contains("invalid type"), "{m}");
        let m = e(&["epochz=3"]);
        assert!(m.contains("`epochz` is not a config key, and policy `performance` refuses it"), "{m}");
        let m = e(&["budget=0.1", "policy.budget=0.2"]);
        assert!(m.contains("both set `policy.budget`"), "{m}");
    }
}
