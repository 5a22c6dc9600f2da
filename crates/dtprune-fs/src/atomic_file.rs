//! Streaming atomic output, for files too large to build in memory first: bytes go to a
//! temporary file in the destination's directory; [`AtomicFile::commit`] flushes, fsyncs and
//! renames it into place. Dropping an uncommitted `AtomicFile` (an error on the way, a panic)
//! removes the temporary, so the final name only ever holds a complete file.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    out: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Creates the temporary next to `path` (whose directory must exist and be writable).
    pub fn create(path: &Path) -> io::Result<Self> {
        let tmp = temporary_for(path)?;
        let file = File::create(&tmp)?;
        Ok(Self { path: path.to_path_buf(), tmp, out: Some(BufWriter::with_capacity(1 << 20, file)) })
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes, fsyncs and renames the temporary to the final path.
    pub fn commit(mut self) -> io::Result<()> {
        let out = self.out.take().expect("an AtomicFile is committed once");
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&self.tmp, &self.path)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.as_mut().expect("not committed").write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.out.as_mut().expect("not committed").write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.as_mut().expect("not committed").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // Committed: the temporary was renamed away. Otherwise (or if the rename failed) it goes.
        self.out.take();
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// The directory `path` lives in (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// `.NAME.PID.tmp` in the directory of `path`: the naming of [`crate::write_atomic`].
pub(crate) fn temporary_for(path: &Path) -> io::Result<PathBuf> {
    let dir = parent_dir(path);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not a file path", path.display())))?;
    Ok(dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id())))
}

/// Whether `name` is a temporary of [`temporary_for`]'s naming (`.NAME.PID.tmp`): what a
/// process killed in the middle of an atomic write leaves behind, never a finished file.
pub fn is_temporary_name(name: &str) -> bool {
    name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")).and_then(|n| n.rsplit_once('.')).is_some_and(|(file, pid)| {
        !file.is_empty() && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporaries_are_recognised_by_name() {
        let t = temporary_for(Path::new("run/config.toml")).unwrap();
        assert!(is_temporary_name(t.file_name().unwrap().to_str().unwrap()));
        assert!(is_temporary_name(".model.safetensors.123.tmp"));
        for name in ["config.toml", ".dtprune.lock", ".config.toml.tmp", ".config.toml.12a.tmp", "..1.tmp", "x.1.tmp"] {
            assert!(!is_temporary_name(name), "{name}");
        }
    }

    #[test]
    fn commit_writes_the_whole_stream() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.bin");
        let mut f = AtomicFile::create(&p).unwrap();
        for i in 0..100u8 {
            f.write_all(&[i; 1000]).unwrap();
            assert!(!p.exists(), "nothing under the final name before commit");
        }
        f.commit().unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(bytes.len(), 100_000);
        assert_eq!(bytes[99_999], 99);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary left behind");
    }

    #[test]
    fn dropped_without_commit_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.bin");
        std::fs::write(&p, b"old").unwrap();
        let mut f = AtomicFile::create(&p).unwrap();
        f.write_all(b"half of it").unwrap();
        drop(f);
        assert_eq!(std::fs::read(&p).unwrap(), b"old", "the old file is untouched");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "temporary removed");
    }

    #[test]
    fn missing_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(AtomicFile::create(&dir.path().join("no/such/out.bin")).is_err());
    }
}
