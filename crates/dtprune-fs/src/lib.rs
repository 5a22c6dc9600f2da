//! Atomic file output ([`write_atomic`] for bytes in memory, [`AtomicFile`] for a stream):
//! write to a temporary file in the same directory, fsync, then rename, so a reader — or a
//! crash, or a full disk — never leaves a half-written file under the final name. One implementation for every dtprune crate; each maps the `io::Error` into its own
//! error type, naming the path.

mod atomic_file;
pub mod lock;

pub use atomic_file::{is_temporary_name, AtomicFile};
pub use lock::{LockError, RunLock};

use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` to `path` atomically and durably (temporary file, fsync, rename, fsync of
/// the directory). The parent directory must exist.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = atomic_file::temporary_for(path)?;
    let dir = atomic_file::parent_dir(path);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // The rename itself is durable only once the directory entry is on disk.
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// fsync of a directory, so renames and creations inside it survive a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary left behind");
    }

    #[test]
    fn failure_keeps_the_old_file_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        // The target is a directory: the rename fails after the temporary was written.
        let p = dir.path().join("taken");
        std::fs::create_dir(&p).unwrap();
        std::fs::write(p.join("inside"), b"x").unwrap();
        assert!(write_atomic(&p, b"new").is_err());
        assert!(p.is_dir());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "temporary removed");
    }
}
