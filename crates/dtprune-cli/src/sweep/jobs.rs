//! `--emit-jobs`: the sweep's unfinished runs as a job list for a cluster instead of running them
//! here. `jobs.txt` holds one shell command per line (for GNU parallel, xargs, any scheduler);
//! `jobs.sbatch` is a Slurm job array whose task `i` runs line `i + 1`. Each line is
//! `dtprune sweep trial --config C --out O`: it skips a finished run and runs an unfinished one
//! from scratch, so resubmitting the array after a partial failure only redoes what is missing.
//! Paths are absolute: the sweep folder is expected on storage every node sees (as a cluster's
//! home or scratch is); `dtprune sweep collect` then merges the folders wherever they ended up.

use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::runner::Job;

pub const JOBS_TXT: &str = "jobs.txt";
pub const JOBS_SBATCH: &str = "jobs.sbatch";

/// Writes `jobs.txt` and `jobs.sbatch` for `jobs` into `dir`; returns their paths.
/// `threads`: the CPUs each task asks for (its `RAYON_NUM_THREADS`).
pub fn emit(dir: &Path, exe: &Path, jobs: &[Job], threads: usize) -> Result<(PathBuf, PathBuf)> {
    let dir = std::path::absolute(dir).with_context(|| format!("absolute path of {}", dir.display()))?;
    let mut lines = String::new();
    for j in jobs {
        let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let _ = writeln!(
            lines,
            "{} sweep trial --config {} --out {}",
            quote(exe),
            quote(&abs(&j.config)),
            quote(&abs(&j.dir))
        );
    }
    let txt = dir.join(JOBS_TXT);
    dtprune_fs::write_atomic(&txt, lines.as_bytes()).with_context(|| format!("write {}", txt.display()))?;
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("create {}", logs.display()))?;
    let sbatch = dir.join(JOBS_SBATCH);
    let script = sbatch_script(&txt, &logs, jobs.len(), threads);
    dtprune_fs::write_atomic(&sbatch, script.as_bytes()).with_context(|| format!("write {}", sbatch.display()))?;
    Ok((txt, sbatch))
}

fn sbatch_script(jobs_txt: &Path, logs: &Path, n: usize, threads: usize) -> String {
    let last = n.saturating_sub(1);
    format!(
        "#!/bin/bash\n\
         # dtprune sweep: one Slurm array task per line of jobs.txt (task i runs line i+1).\n\
         # Submit with `sbatch {sbatch}`; when the tasks are done, `dtprune sweep collect {dir} -o {dir}`.\n\
         #SBATCH --job-name=dtprune-sweep\n\
         #SBATCH --array=0-{last}\n\
         #SBATCH --cpus-per-task={threads}\n\
         #SBATCH --output={logs}/%A_%a.out\n\
         set -euo pipefail\n\
         JOBS={jobs}\n\
         : \"${{SLURM_ARRAY_TASK_ID:?this script is a Slurm array job (sbatch), or set SLURM_ARRAY_TASK_ID}}\"\n\
         line=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" \"$JOBS\")\n\
         if [ -z \"$line\" ]; then\n  echo \"no line $((SLURM_ARRAY_TASK_ID + 1)) in $JOBS\" >&2\n  exit 1\nfi\n\
         # The rayon pool gets the CPUs Slurm gave the task (the shard count is in the config).\n\
         export RAYON_NUM_THREADS=\"${{SLURM_CPUS_PER_TASK:-{threads}}}\"\n\
         eval \"$line\"\n",
        sbatch = quote(&jobs_txt.with_file_name(JOBS_SBATCH)),
        dir = quote(jobs_txt.parent().unwrap_or(Path::new("."))),
        logs = logs.display(),
        jobs = quote(jobs_txt),
    )
}

/// A path as one POSIX shell word.
fn quote(p: &Path) -> String {
    let s = p.to_string_lossy();
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:=,".contains(c)) {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote(Path::new("/a/b-1.toml")), "/a/b-1.toml");
        assert_eq!(quote(Path::new("/a b/it's")), "'/a b/it'\\''s'");
    }

    #[test]
    fn array_covers_every_line() {
        let s = sbatch_script(Path::new("/s/jobs.txt"), Path::new("/s/logs"), 5, 2);
        assert!(s.starts_with("#!/bin/bash\n"));
        assert!(s.contains("#SBATCH --array=0-4\n") && s.contains("#SBATCH --cpus-per-task=2\n"), "{s}");
        assert!(s.contains("JOBS=/s/jobs.txt\n"));
    }
}
