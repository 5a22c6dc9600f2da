//! The Free Spoken Digit Dataset: 3,000 mono 8 kHz recordings `{digit}_{speaker}_{index}.wav`;
//! the official split puts recording index 0–4 in the test set (300), 5–49 in train (2,700).
//!
//! The data directory may hold the release archive (`free-spoken-digit-dataset*.tar.gz`, read
//! in place without extracting) or an extracted tree with a `recordings/` folder; a path to the
//! archive itself also works. Features are cached (see [`crate::speech::cache`]).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::load_error::{LoadError, LoadResult};
use crate::speech::cache::file_fingerprint;
use crate::speech::clips::{cached_features, CacheSpec, Clip};
use crate::speech::options::SpeechOptions;
use crate::speech::set::SpeechSplits;

pub const FSDD_NAME: &str = "fsdd";
/// Recordings with an index below this are the official test set.
pub const FSDD_TEST_INDEX_BELOW: u32 = 5;

/// Where the recordings are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsddSource {
    Archive(PathBuf),
    Folder(PathBuf),
}

/// Loads FSDD from `data_dir` with the speech options `given` (`-D key=value`), caching the
/// features under `cache_dir` when given.
pub fn load_fsdd(
    data_dir: &Path,
    given: &BTreeMap<String, toml::Value>,
    cache_dir: Option<&Path>,
) -> LoadResult<SpeechSplits> {
    let options = SpeechOptions::resolve(FSDD_NAME, given, false)?;
    let source = locate(data_dir)?;
    let fingerprint = match &source {
        FsddSource::Archive(p) => file_fingerprint(p)?,
        FsddSource::Folder(dir) => {
            let mut text = String::new();
            for p in wav_files(dir)? {
                text += &file_fingerprint(&p)?;
            }
            text
        }
    };
    let class_names = (0..10).map(|d| d.to_string()).collect();
    let cache = cache_dir.map(|dir| CacheSpec {
        dir,
        sources: fingerprint,
    });
    cached_features(FSDD_NAME, &options, class_names, cache, || {
        read_clips(&source)
    })
}

/// Finds the archive or the `recordings/` folder.
pub fn locate(data_dir: &Path) -> LoadResult<FsddSource> {
    if data_dir.is_file() {
        return Ok(FsddSource::Archive(data_dir.to_path_buf()));
    }
    for folder in [
        data_dir.join("recordings"),
        data_dir.join("free-spoken-digit-dataset/recordings"),
    ] {
        if folder.is_dir() {
            return Ok(FsddSource::Folder(folder));
        }
    }
    let archive = std::fs::read_dir(data_dir)
        .map_err(LoadError::io(data_dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            name.starts_with("free-spoken-digit-dataset") && name.ends_with(".tar.gz")
        })
        .min();
    archive
        .map(FsddSource::Archive)
        .ok_or_else(|| LoadError::Missing {
            what: "FSDD recordings (a `recordings/` folder or free-spoken-digit-dataset*.tar.gz)"
                .into(),
            path: data_dir.to_path_buf(),
        })
}

/// The `(digit, index)` of an FSDD file name `{digit}_{speaker}_{index}.wav`.
pub fn parse_name(path: &Path) -> LoadResult<(u32, u32)> {
    let bad = || LoadError::bad_file(path, "file name is not {digit}_{speaker}_{index}.wav");
    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(bad)?;
    let stem = name.strip_suffix(".wav").ok_or_else(bad)?;
    let parts: Vec<&str> = stem.split('_').collect();
    let [digit, speaker, index] = parts[..] else {
        return Err(bad());
    };
    let digit: u32 = digit.parse().ok().filter(|d| *d < 10).ok_or_else(bad)?;
    let index: u32 = index.parse().map_err(|_| bad())?;
    if speaker.is_empty() {
        return Err(bad());
    }
    Ok((digit, index))
}

fn clip(source: PathBuf, bytes: Vec<u8>) -> LoadResult<Clip> {
    let (digit, index) = parse_name(&source)?;
    Ok(Clip {
        source,
        bytes,
        label: digit,
        test: index < FSDD_TEST_INDEX_BELOW,
    })
}

fn read_clips(source: &FsddSource) -> LoadResult<Vec<Clip>> {
    let mut clips = match source {
        FsddSource::Folder(dir) => wav_files(dir)?
            .into_iter()
            .map(|p| {
                let bytes = std::fs::read(&p).map_err(LoadError::io(&p))?;
                clip(p, bytes)
            })
            .collect::<LoadResult<Vec<_>>>()?,
        FsddSource::Archive(archive) => read_archive(archive)?,
    };
    if clips.is_empty() {
        return Err(LoadError::bad_file(
            source_path(source),
            "holds no .wav recordings",
        ));
    }
    clips.sort_by(|a, b| a.source.cmp(&b.source));
    Ok(clips)
}

fn source_path(source: &FsddSource) -> &Path {
    match source {
        FsddSource::Archive(p) | FsddSource::Folder(p) => p,
    }
}

/// Every `recordings/*.wav` member of the archive; errors name `archive/member`.
fn read_archive(archive: &Path) -> LoadResult<Vec<Clip>> {
    let file = std::fs::File::open(archive).map_err(LoadError::io(archive))?;
    let corrupt = |e: std::io::Error| {
        LoadError::bad_file(archive, format!("cannot read the tar.gz archive: {e}"))
    };
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut clips = Vec::new();
    for entry in tar.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let member = entry.path().map_err(corrupt)?.into_owned();
        let in_recordings = member
            .parent()
            .and_then(|p| p.file_name())
            .is_some_and(|n| n == "recordings");
        if !in_recordings || member.extension().is_none_or(|e| e != "wav") {
            continue;
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut bytes).map_err(corrupt)?;
        clips.push(clip(archive.join(member), bytes)?);
    }
    Ok(clips)
}

/// The `.wav` files of `dir`, sorted.
pub(crate) fn wav_files(dir: &Path) -> LoadResult<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(LoadError::io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav")))
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_give_digit_and_split() {
        assert_eq!(parse_name(Path::new("r/7_theo_12.wav")).unwrap(), (7, 12));
        assert_eq!(parse_name(Path::new("0_george_0.wav")).unwrap(), (0, 0));
        for bad in [
            "x_theo_1.wav",
            "12_theo_1.wav",
            "7_theo.wav",
            "7_theo_1.mp3",
            "7__1.wav",
        ] {
            let e = parse_name(Path::new(bad)).unwrap_err();
            assert!(e.to_string().starts_with(bad), "{e}");
        }
    }
}
