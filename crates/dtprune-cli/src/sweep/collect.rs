//! Finished run folders → the sweep's table, front, best config, plot and page. Used by the
//! sweep itself on its own folder and by `dtprune sweep collect DIR… -o OUT` on folders from
//! anywhere: a sweep folder (its `trials/` and `baselines/`), a folder of run folders, or one
//! run folder. Runs under a folder named `baselines` are baselines; every other run is a trial.

use anyhow::{bail, Context, Result};
use dtprune_report::sweep::{read_finished, sweep_html, varied_keys, FinishedRun, FrontPlot, Metric, SweepTable, TrialRow};
use std::path::{Path, PathBuf};

use super::plan::load_plan;

/// Run folders found in the inputs, and the keys their sweeps' plans name.
#[derive(Debug, Default)]
pub struct Sources {
    pub trials: Vec<PathBuf>,
    pub baselines: Vec<PathBuf>,
    pub keys: Vec<String>,
}

fn is_run(dir: &Path) -> bool {
    dir.join("config.toml").is_file() || dir.join("summary.json").is_file()
}

fn children(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    Ok(out)
}

pub fn find_runs(dirs: &[PathBuf]) -> Result<Sources> {
    let mut s = Sources::default();
    for dir in dirs {
        if !dir.is_dir() {
            bail!("{}: no such directory", dir.display());
        }
        let before = s.trials.len() + s.baselines.len();
        if is_run(dir) {
            let baseline = dir.parent().and_then(Path::file_name).is_some_and(|n| n == "baselines");
            if baseline { &mut s.baselines } else { &mut s.trials }.push(dir.clone());
        } else if dir.join("trials").is_dir() || dir.join("baselines").is_dir() {
            for (sub, list) in [("trials", &mut s.trials), ("baselines", &mut s.baselines)] {
                if dir.join(sub).is_dir() {
                    list.extend(children(&dir.join(sub))?.into_iter().filter(|d| is_run(d)));
                }
            }
            if let Some(plan) = load_plan(dir)? {
                for k in plan.keys {
                    if !s.keys.contains(&k) {
                        s.keys.push(k);
                    }
                }
            }
        } else {
            for d in children(dir)? {
                if d.file_name().is_some_and(|n| n == "baselines") {
                    s.baselines.extend(children(&d)?.into_iter().filter(|c| is_run(c)));
                } else if is_run(&d) {
                    s.trials.push(d);
                }
            }
        }
        if s.trials.len() + s.baselines.len() == before {
            bail!("{}: holds no run folder (a folder with config.toml), no trials/ and no baselines/", dir.display());
        }
    }
    Ok(s)
}

/// Reads every folder; unfinished ones and repeats of an already seen config are left out with
/// a warning. Returns the table and the best trial's `config.toml`.
pub fn tabulate(sources: &Sources, within: f64) -> Result<(SweepTable, Option<String>)> {
    let read = |dirs: &[PathBuf], seen: &mut Vec<FinishedRun>| -> Result<Vec<(String, FinishedRun)>> {
        let mut out: Vec<(String, FinishedRun)> = Vec::new();
        for d in dirs {
            let Some(run) = read_finished(d)? else {
                eprintln!("warning: {} is not finished (no summary.json); left out", d.display());
                continue;
            };
            if let Some(same) = seen.iter().find(|r| r.config_text == run.config_text) {
                eprintln!("warning: {} has the same config as {}; left out", d.display(), same.dir.display());
                continue;
            }
            let name = d.file_name().map_or_else(|| d.display().to_string(), |n| n.to_string_lossy().into_owned());
            let mut id = name.clone();
            let mut k = 2;
            while out.iter().any(|(i, _)| *i == id) {
                id = format!("{name}#{k}");
                k += 1;
            }
            seen.push(run.clone());
            out.push((id, run));
        }
        Ok(out)
    };
    let mut seen = Vec::new();
    let trials = read(&sources.trials, &mut seen)?;
    let baselines = read(&sources.baselines, &mut seen)?;
    if trials.is_empty() {
        bail!("no finished trial to tabulate (of {} trial folders)", sources.trials.len());
    }
    let configs: Vec<&toml::Table> = trials.iter().map(|(_, r)| &r.config).collect();
    let keys = varied_keys(&configs, &sources.keys);
    let rows = trials.iter().map(|(id, r)| TrialRow::new(id.clone(), r, &keys)).collect();
    let base_rows = baselines.iter().map(|(id, r)| TrialRow::new(id.clone(), r, &keys)).collect();
    let table = SweepTable::new(keys, rows, base_rows, within);
    let best_config = table.best.as_ref().and_then(|b| trials.iter().find(|(id, _)| id == b)).map(|(_, r)| r.config_text.clone());
    Ok((table, best_config))
}

/// Writes the tables, `best.toml`, the front plot (`front.svg`, `front.png`) and `report.html`
/// into `out`; returns the paths.
pub fn write_outputs(out: &Path, table: &SweepTable, best_config: Option<&str>) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let mut written = table.write(out, best_config)?;
    let plot = FrontPlot::new(table, Metric::Validation);
    for ext in ["svg", "png"] {
        let p = out.join(format!("front.{ext}"));
        dtprune_report::save_plot(dtprune_report::Plot::Front(&plot), &p)?;
        written.push(p);
    }
    written.push(write_report(table, out, &out.join("report.html"))?);
    Ok(written)
}

/// The sweep page of `table` (from folder `dir`) at `path`.
pub fn write_report(table: &SweepTable, dir: &Path, path: &Path) -> Result<PathBuf> {
    let title = format!("dtprune sweep: {}", dir.display());
    let html = sweep_html(table, &title)?;
    dtprune_report::html::write_atomic(path, html.as_bytes())?;
    Ok(path.to_path_buf())
}
