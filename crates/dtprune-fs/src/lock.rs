//! One writer per run folder: `DIR/.dtprune.lock` holds the writer's pid, and an OS file lock
//! (`flock`) on it is what actually excludes a second writer.
//!
//! The OS lock goes away with its process however it ends (SIGKILL, power loss of a network
//! client aside), so a lock file whose pid is dead is never mistaken for a live writer: the
//! next process finds the file unlocked, says whose stale lock it takes over, and writes its own
//! pid. On a clean exit the file is emptied, not removed — removing it would let a process that
//! opened the old file and one that created a new one both believe they hold the lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// File name of the lock inside a run folder.
pub const LOCK_FILE: &str = ".dtprune.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{}: another dtprune process ({}) is writing this run folder; wait for it to finish or stop it", dir.display(), holder_text(*pid))]
    Held { dir: PathBuf, pid: Option<u32> },
    #[error("{}: cannot lock the run folder: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

fn holder_text(pid: Option<u32>) -> String {
    pid.map_or_else(|| "pid unknown".to_string(), |p| format!("pid {p}"))
}

/// A held run-folder lock; released (and the pid cleared) when dropped.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
    /// The pid found in an unlocked lock file: a writer that died without cleaning up.
    stale_pid: Option<u32>,
}

impl RunLock {
    /// Locks `dir` (which must exist) for this process, or fails with [`LockError::Held`]
    /// naming the pid of the process that holds it.
    pub fn acquire(dir: &Path) -> Result<RunLock, LockError> {
        let path = dir.join(LOCK_FILE);
        let io_err = |source| LockError::Io { path: path.clone(), source };
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(LockError::Held { dir: dir.into(), pid: read_pid(&mut file) }),
            Err(TryLockError::Error(e)) => return Err(io_err(e)),
        }
        let stale_pid = read_pid(&mut file).filter(|&p| p != std::process::id());
        write_pid(&mut file).map_err(io_err)?;
        Ok(RunLock { file, path, stale_pid })
    }

    /// The pid of a dead writer whose lock this one took over, if any.
    pub fn stale_pid(&self) -> Option<u32> {
        self.stale_pid
    }

    /// A sentence for the user about a taken-over stale lock, if there was one.
    pub fn takeover_message(&self) -> Option<String> {
        self.stale_pid.map(|pid| {
            format!(
                "{}: took over a stale lock left by pid {pid}, which {} (a run it was writing can be continued with --resume)",
                self.path.display(),
                if process_alive(pid) { "no longer holds it" } else { "is no longer running" }
            )
        })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Empty = free; the OS lock itself is released when the file is closed.
        let _ = self.file.set_len(0);
        let _ = self.file.sync_all();
    }
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

fn write_pid(file: &mut File) -> io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    writeln!(file, "{}", std::process::id())?;
    file.sync_all()
}

/// Whether a process with this pid exists (Linux `/proc`; elsewhere assumed gone).
fn process_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_in_the_same_folder_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path()).unwrap();
        assert_eq!(first.stale_pid(), None);
        let text = std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert_eq!(text.trim(), std::process::id().to_string());
        // flock locks belong to the open file, so a second open in this process conflicts too.
        match RunLock::acquire(dir.path()) {
            Err(LockError::Held { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected Held, got {other:?}"),
        }
        drop(first);
        assert_eq!(std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap(), "", "a released lock is empty");
        // Tests beside this one spawn processes: a fork made while `first` was open holds a copy
        // of its descriptor, and so the lock, until that child's exec closes it (microseconds).
        let again = retry_while_held(dir.path());
        assert_eq!(again.stale_pid(), None, "a cleanly released lock is not stale");
    }

    /// Acquires `dir`, retrying for up to two seconds while a concurrent fork still holds it.
    fn retry_while_held(dir: &Path) -> RunLock {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            match RunLock::acquire(dir) {
                Err(LockError::Held { .. }) if std::time::Instant::now() < deadline => std::thread::sleep(std::time::Duration::from_millis(5)),
                other => return other.unwrap(),
            }
        }
    }

    #[test]
    fn an_unlocked_file_with_a_pid_is_a_stale_lock() {
        let dir = tempfile::tempdir().unwrap();
        // The pid of a process that has exited.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        std::fs::write(dir.path().join(LOCK_FILE), format!("{dead}\n")).unwrap();
        let lock = RunLock::acquire(dir.path()).unwrap();
        assert_eq!(lock.stale_pid(), Some(dead));
        let message = lock.takeover_message().unwrap();
        assert!(message.contains(&format!("stale lock left by pid {dead}")), "{message}");
    }

    #[test]
    fn a_missing_folder_is_an_io_error_naming_the_lock_file() {
        let dir = tempfile::tempdir().unwrap();
        let e = RunLock::acquire(&dir.path().join("absent")).unwrap_err();
        assert!(e.to_string().contains("absent/.dtprune.lock"), "{e}");
    }
}
