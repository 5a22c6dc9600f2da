//! `audio-folder`: your own recordings as `<class>/*.wav` under the data directory, classes
//! in sorted folder-name order.
//!
//! With `train/<class>/*.wav` and `test/<class>/*.wav` the split is yours (every test class
//! must also be a train class); otherwise every `<class>/` folder is split stratified and seeded
//! (`test_fraction`, `split_seed`). Every file must be mono at `sample_rate`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::load_error::{LoadError, LoadResult};
use crate::speech::cache::file_fingerprint;
use crate::speech::clips::{cached_features, CacheSpec, Clip};
use crate::speech::fsdd::wav_files;
use crate::speech::options::SpeechOptions;
use crate::speech::set::SpeechSplits;
use crate::split::stratified_split;

pub const AUDIO_FOLDER_NAME: &str = "audio-folder";

/// Loads an audio folder (see the module comment).
pub fn load_audio_folder(
    data_dir: &Path,
    given: &BTreeMap<String, toml::Value>,
    cache_dir: Option<&Path>,
) -> LoadResult<SpeechSplits> {
    let options = SpeechOptions::resolve(AUDIO_FOLDER_NAME, given, true)?;
    let (train_dir, test_dir) = (data_dir.join("train"), data_dir.join("test"));
    let (class_names, files) = if train_dir.is_dir() && test_dir.is_dir() {
        let train = class_files(&train_dir)?;
        let test = class_files(&test_dir)?;
        let names: Vec<String> = train.keys().cloned().collect();
        if let Some(extra) = test.keys().find(|k| !train.contains_key(*k)) {
            return Err(LoadError::bad_file(
                &test_dir.join(extra),
                format!("class `{extra}` has no folder in {}", train_dir.display()),
            ));
        }
        let mut files = Vec::new();
        for (is_test, map) in [(false, train), (true, test)] {
            for (class, paths) in map {
                let label = names.iter().position(|n| *n == class).unwrap() as u32;
                files.extend(paths.into_iter().map(|p| (p, label, is_test)));
            }
        }
        (names, files)
    } else {
        let map = class_files(data_dir)?;
        let names: Vec<String> = map.keys().cloned().collect();
        let mut files: Vec<(PathBuf, u32, bool)> = Vec::new();
        for (label, paths) in map.into_values().enumerate() {
            files.extend(paths.into_iter().map(|p| (p, label as u32, false)));
        }
        let (fraction, seed) = options.split.expect("audio-folder resolves split options");
        let labels: Vec<u32> = files.iter().map(|f| f.1).collect();
        for i in stratified_split(&labels, names.len(), fraction, seed).test {
            files[i].2 = true;
        }
        (names, files)
    };
    let mut fingerprint = String::new();
    for (p, _, _) in &files {
        fingerprint += &file_fingerprint(p)?;
    }
    let cache = cache_dir.map(|dir| CacheSpec {
        dir,
        sources: fingerprint,
    });
    cached_features(AUDIO_FOLDER_NAME, &options, class_names, cache, || {
        files
            .iter()
            .map(|(p, label, test)| {
                let bytes = std::fs::read(p).map_err(LoadError::io(p))?;
                Ok(Clip {
                    source: p.clone(),
                    bytes,
                    label: *label,
                    test: *test,
                })
            })
            .collect()
    })
}

/// `class name → sorted .wav files` for every sub-folder of `dir`; an empty class folder or a
/// directory without class folders is an error.
fn class_files(dir: &Path) -> LoadResult<BTreeMap<String, Vec<PathBuf>>> {
    if !dir.is_dir() {
        return Err(LoadError::Missing {
            what: "audio folder".into(),
            path: dir.to_path_buf(),
        });
    }
    let mut map = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(LoadError::io(dir))? {
        let path = entry.map_err(LoadError::io(dir))?.path();
        if !path.is_dir() {
            continue;
        }
        let files = wav_files(&path)?;
        if files.is_empty() {
            return Err(LoadError::bad_file(
                &path,
                "class folder holds no .wav files",
            ));
        }
        map.insert(
            path.file_name().unwrap().to_string_lossy().into_owned(),
            files,
        );
    }
    if map.is_empty() {
        return Err(LoadError::bad_file(
            dir,
            "holds no class folders (<class>/*.wav)",
        ));
    }
    Ok(map)
}
