//! On-disk cache of computed speech features, so the second run starts at once.
//!
//! The key is a SHA-256 over the format version, the data set name, each source file's path,
//! size and modification time, and every resolved option; a changed file or option gives a new
//! key and so a new cache file. The file is `<dir>/<dataset>-<key prefix>.feat`: a magic line, a
//! JSON header (key, shapes, labels, lengths, sources) and the raw little-endian f32 features.
//! It is written atomically. A cache file that does not parse is ignored and rewritten; a cache
//! that cannot be written is a warning, not an error.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::load_error::{LoadError, LoadResult};
use crate::speech::set::{SpeechSet, SpeechSplits};

const MAGIC: &[u8] = b"DTPRUNE-SPEECH-FEATURES 1\n";

/// Directory for caches: `$DTPRUNE_CACHE_DIR`, else `$HOME/.cache/dtprune/features`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DTPRUNE_CACHE_DIR") {
        return Some(PathBuf::from(d));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/dtprune/features"))
}

/// Fingerprint text of one source file: path, size and mtime in nanoseconds.
pub fn file_fingerprint(path: &Path) -> LoadResult<String> {
    let meta = std::fs::metadata(path).map_err(LoadError::io(path))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Ok(format!("{}\t{}\t{mtime}\n", path.display(), meta.len()))
}

/// The cache key for `dataset` built from `sources` (fingerprints) and `options`.
pub fn cache_key(dataset: &str, sources: &str, options: &str) -> String {
    let mut h = Sha256::new();
    h.update(MAGIC);
    h.update(dataset.as_bytes());
    h.update(b"\n");
    h.update(sources.as_bytes());
    h.update(options.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

pub fn cache_path(dir: &Path, dataset: &str, key: &str) -> PathBuf {
    dir.join(format!("{dataset}-{}.feat", &key[..16]))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Header {
    key: String,
    frames: usize,
    n_mels: usize,
    class_names: Vec<String>,
    pad_value: f32,
    options: serde_json::Value,
    train: Part,
    test: Part,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Part {
    labels: Vec<u32>,
    lengths: Vec<u32>,
    sources: Vec<String>,
}

/// Writes `splits` under `path` atomically (creating the directory).
pub fn store(path: &Path, key: &str, splits: &SpeechSplits) -> LoadResult<()> {
    let part = |s: &SpeechSet| Part {
        labels: s.labels().to_vec(),
        lengths: s.lengths().to_vec(),
        sources: s.sources().to_vec(),
    };
    let header = Header {
        key: key.into(),
        frames: splits.train.frames(),
        n_mels: splits.train.n_mels(),
        class_names: splits.class_names.clone(),
        pad_value: splits.pad_value,
        options: splits.options.clone(),
        train: part(&splits.train),
        test: part(&splits.test),
    };
    let json = serde_json::to_vec(&header).expect("header serialises");
    let floats = splits.train.features().len() + splits.test.features().len();
    let mut bytes = Vec::with_capacity(MAGIC.len() + 8 + json.len() + 4 * floats);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(json.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&json);
    for x in splits.train.features().iter().chain(splits.test.features()) {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    let write_err = |source| LoadError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(write_err)?;
    }
    dtprune_fs::write_atomic(path, &bytes).map_err(write_err)
}

/// Reads a cache file; `None` when it is absent, for another key, or malformed.
pub fn load(path: &Path, key: &str) -> Option<SpeechSplits> {
    let bytes = std::fs::read(path).ok()?;
    let rest = bytes.strip_prefix(MAGIC)?;
    let len = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?) as usize;
    let header: Header = serde_json::from_slice(rest.get(8..8 + len)?).ok()?;
    if header.key != key {
        return None;
    }
    let data = rest.get(8 + len..)?;
    if data.len() % 4 != 0 {
        return None;
    }
    let mut floats = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()));
    let size = header.frames * header.n_mels;
    let mut build = |p: Part| {
        let features: Vec<f32> = floats.by_ref().take(p.labels.len() * size).collect();
        SpeechSet::from_parts(
            features,
            p.lengths,
            p.labels,
            p.sources,
            header.frames,
            header.n_mels,
        )
    };
    let train = build(header.train)?;
    let test = build(header.test)?;
    if floats.next().is_some() {
        return None;
    }
    Some(SpeechSplits {
        train,
        test,
        class_names: header.class_names,
        pad_value: header.pad_value,
        options: header.options,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_key_check() {
        let mut train = SpeechSet::empty(2, 1);
        train.push(&[1.5], 1, "a.wav".into(), -3.0);
        let mut test = SpeechSet::empty(2, 1);
        test.push(&[0.5, 0.25, 9.0], 0, "b.wav".into(), -3.0);
        let splits = SpeechSplits {
            train,
            test,
            class_names: vec!["x".into(), "y".into()],
            pad_value: -3.0,
            options: serde_json::json!({"n_mels": 1}),
        };
        let dir = tempfile::tempdir().unwrap();
        let key = cache_key("t", "src\n", "{}");
        let path = cache_path(dir.path(), "t", &key);
        store(&path, &key, &splits).unwrap();
        assert_eq!(load(&path, &key), Some(splits));
        assert_eq!(
            load(&path, &cache_key("t", "src2\n", "{}")),
            None,
            "other key"
        );
        // A cut file is not trusted.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
        assert_eq!(load(&path, &key), None);
    }
}
