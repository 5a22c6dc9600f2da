//! A binary cache of decoded image sets, so an image tree or archive is decoded once.
//!
//! The cache file is named by a key: the SHA-256 of the cache format version and of every
//! source file's path, size and modification time. Touching, replacing, adding or removing a
//! source file changes the key, and the next run decodes again. Files are written atomically;
//! one that does not read back (cut short, other format) is ignored and rewritten.
//!
//! Layout (little-endian): magic `DTPRUNE-IMAGES\0\x01`, class count (u32), each class name
//! (u32 length + UTF-8), then the train and the test set, each as count (u64), channels, rows,
//! cols (u32 each), the pixels and the labels.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

use crate::error::{DataError, Result};
use crate::set::{ImageSet, TrainTest};

/// Environment variable naming the cache folder (default `$HOME/.cache/dtprune/datasets`).
pub const CACHE_DIR_ENV: &str = "DTPRUNE_CACHE_DIR";

const MAGIC: &[u8; 16] = b"DTPRUNE-IMAGES\0\x01";

/// One file a cached set was decoded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: PathBuf,
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch (0 where the platform has none).
    pub modified_ns: u128,
}

impl SourceFile {
    pub fn stat(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| DataError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        Ok(Self {
            path: path.to_path_buf(),
            size: meta.len(),
            modified_ns,
        })
    }
}

/// The cache key of a data set `kind` decoded from `sources` (in the order given).
pub fn cache_key(kind: &str, sources: &[SourceFile]) -> String {
    let mut h = Sha256::new();
    h.update(MAGIC);
    h.update(kind.as_bytes());
    for s in sources {
        h.update([0]);
        h.update(s.path.to_string_lossy().as_bytes());
        h.update([0]);
        h.update(s.size.to_le_bytes());
        h.update(s.modified_ns.to_le_bytes());
    }
    h.finalize()[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// The folder cache files go to: `$DTPRUNE_CACHE_DIR`, else `$HOME/.cache/dtprune/datasets`,
/// else the system's temporary folder.
pub fn cache_dir() -> PathBuf {
    match std::env::var_os(CACHE_DIR_ENV) {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => match std::env::var_os("HOME") {
            Some(h) if !h.is_empty() => PathBuf::from(h).join(".cache/dtprune/datasets"),
            _ => std::env::temp_dir().join("dtprune-datasets"),
        },
    }
}

/// Cache file for `kind` and `key` in the folder `dir` (usually [`cache_dir`]).
pub fn cache_path(dir: &Path, kind: &str, key: &str) -> PathBuf {
    dir.join(format!("{kind}-{key}.bin"))
}

/// Reads a cache file; `None` when it is absent or does not parse (it is then rebuilt).
pub fn read_cache(path: &Path) -> Option<TrainTest> {
    let bytes = std::fs::read(path).ok()?;
    let parsed = parse(&bytes);
    if parsed.is_none() {
        tracing::warn!(path = %path.display(), "ignoring an unreadable image cache; decoding again");
    }
    parsed
}

/// Writes `sets` atomically to `path` (creating the folder).
pub fn write_cache(path: &Path, sets: &TrainTest) -> Result<()> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    dtprune_fs::write_atomic(path, &serialise(sets)).map_err(io)
}

fn serialise(sets: &TrainTest) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + sets.train.images().len() + sets.test.images().len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(sets.classes.len() as u32).to_le_bytes());
    for c in &sets.classes {
        out.extend_from_slice(&(c.len() as u32).to_le_bytes());
        out.extend_from_slice(c.as_bytes());
    }
    for set in [&sets.train, &sets.test] {
        out.extend_from_slice(&(set.len() as u64).to_le_bytes());
        for d in [set.channels(), set.rows(), set.cols()] {
            out.extend_from_slice(&(d as u32).to_le_bytes());
        }
        out.extend_from_slice(set.images());
        out.extend_from_slice(set.labels());
    }
    out
}

/// A cursor over the cache bytes; every read checks the length.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u32(&mut self) -> Option<usize> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?) as usize)
    }
    fn u64(&mut self) -> Option<usize> {
        usize::try_from(u64::from_le_bytes(self.take(8)?.try_into().ok()?)).ok()
    }
}

fn parse(bytes: &[u8]) -> Option<TrainTest> {
    let mut r = Reader(bytes);
    if r.take(MAGIC.len())? != MAGIC {
        return None;
    }
    let classes: Vec<String> = (0..r.u32()?)
        .map(|_| {
            let n = r.u32()?;
            String::from_utf8(r.take(n)?.to_vec()).ok()
        })
        .collect::<Option<_>>()?;
    let mut set = || -> Option<ImageSet> {
        let n = r.u64()?;
        let (c, h, w) = (r.u32()?, r.u32()?, r.u32()?);
        let pixels = r.take(n.checked_mul(c)?.checked_mul(h)?.checked_mul(w)?)?.to_vec();
        let labels = r.take(n)?.to_vec();
        ImageSet::with_channels(pixels, labels, c, h, w, classes.len()).ok()
    };
    let (train, test) = (set()?, set()?);
    r.0.is_empty().then_some(TrainTest { classes, train, test })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sets() -> TrainTest {
        TrainTest {
            classes: vec!["cat".into(), "dog".into()],
            train: ImageSet::with_channels((0..24).collect(), vec![0, 1], 3, 2, 2, 2).unwrap(),
            test: ImageSet::with_channels(vec![9; 12], vec![1], 3, 2, 2, 2).unwrap(),
        }
    }

    #[test]
    fn round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/x.bin");
        write_cache(&path, &sets()).unwrap();
        assert_eq!(read_cache(&path), Some(sets()));
        // Cut short, or with a byte too many: ignored.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert_eq!(read_cache(&path), None);
        std::fs::write(&path, [&bytes[..], &[0]].concat()).unwrap();
        assert_eq!(read_cache(&path), None);
        assert_eq!(read_cache(&dir.path().join("absent.bin")), None);
    }

    #[test]
    fn key_follows_size_time_and_names() {
        let f = |path: &str, size, modified_ns| SourceFile {
            path: path.into(),
            size,
            modified_ns,
        };
        let base = cache_key("tree", &[f("a.png", 10, 5), f("b.png", 20, 6)]);
        assert_eq!(base.len(), 24);
        assert_eq!(base, cache_key("tree", &[f("a.png", 10, 5), f("b.png", 20, 6)]));
        for other in [
            cache_key("tree", &[f("a.png", 11, 5), f("b.png", 20, 6)]), // size
            cache_key("tree", &[f("a.png", 10, 7), f("b.png", 20, 6)]), // time
            cache_key("tree", &[f("a.png", 10, 5), f("c.png", 20, 6)]), // name
            cache_key("tree", &[f("a.png", 10, 5)]),                    // a file less
            cache_key("cifar10", &[f("a.png", 10, 5), f("b.png", 20, 6)]),
        ] {
            assert_ne!(base, other);
        }
        // The real stat of a file: size and a non-zero time.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, b"abc").unwrap();
        let s = SourceFile::stat(&p).unwrap();
        assert_eq!(s.size, 3);
        assert!(s.modified_ns > 0);
    }
}
