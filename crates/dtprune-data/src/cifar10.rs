//! `cifar10`: the JPEG copy of CIFAR-10 (`train/<class>/NNNN.jpg`, `test/<class>/…`), read
//! from a directory holding either the extracted tree or its `.tar.gz` archive (read in place,
//! nothing is extracted). Decoded once, then cached like any image tree.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use flate2::read::GzDecoder;

use crate::cache::{cache_key, cache_path, read_cache, write_cache, SourceFile};
use crate::error::{DataError, Result};
use crate::image_folder::{decode_train_test, load_image_folder, ImageSource};
use crate::set::TrainTest;

/// The ten classes, in the sorted order that gives their labels (CIFAR-10's own order too).
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
];

/// Loads CIFAR-10 from `dir`: `dir/train` + `dir/test`, or `dir/cifar10-jpeg/{train,test}`,
/// or a `*.tar.gz` archive in `dir` (or `dir` being the archive itself).
/// Decoded images are cached in the folder `cache_dir`.
pub fn load_cifar10(dir: &Path, cache_dir: &Path) -> Result<TrainTest> {
    let sets = if dir.is_file() {
        load_archive(dir, cache_dir)?
    } else if let Some(tree) = [dir.to_path_buf(), dir.join("cifar10-jpeg")].into_iter().find(|d| d.join("train").is_dir()) {
        load_image_folder(&tree, cache_dir)?
    } else {
        load_archive(&find_archive(dir)?, cache_dir)?
    };
    if sets.classes != CIFAR10_CLASSES {
        return Err(DataError::InconsistentSet(format!(
            "{}: classes [{}] are not CIFAR-10's [{}]",
            dir.display(),
            sets.classes.join(", "),
            CIFAR10_CLASSES.join(", ")
        )));
    }
    Ok(sets)
}

fn find_archive(dir: &Path) -> Result<PathBuf> {
    let missing = || DataError::MissingFiles {
        dir: dir.to_path_buf(),
        dir_exists: dir.is_dir(),
        files: vec!["train/<class>/*.jpg + test/<class>/*.jpg, or CIFAR-10-images-jpeg-*.tar".into()],
    };
    let mut archives: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|_| missing())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n.to_string_lossy().ends_with(".tar.gz")))
        .collect();
    archives.sort();
    match archives.len() {
        0 => Err(missing()),
        1 => Ok(archives.remove(0)),
        _ => Err(DataError::InconsistentSet(format!(
            "{}: several .tar.gz archives ({}); pass the one to read as --data-dir",
            dir.display(),
            archives.iter().map(|a| a.display().to_string()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Reads the archive's `…/train/<class>/<file>` and `…/test/<class>/<file>` images.
fn load_archive(archive: &Path, cache_dir: &Path) -> Result<TrainTest> {
    let key = cache_key("cifar10", &[SourceFile::stat(archive)?]);
    let cache = cache_path(cache_dir, "cifar10", &key);
    if let Some(hit) = read_cache(&cache) {
        return Ok(hit);
    }
    let bad = |message: String| DataError::Archive {
        path: archive.to_path_buf(),
        message,
    };
    let file = std::fs::File::open(archive).map_err(|e| DataError::Io {
        path: archive.to_path_buf(),
        source: e,
    })?;
    // (split, class, file name, bytes) of every image entry.
    let mut entries: Vec<(String, String, String, Vec<u8>)> = Vec::new();
    let mut tar = tar::Archive::new(GzDecoder::new(file));
    for entry in tar.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
        let Some((split, class, name)) = image_entry(&path) else { continue };
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut bytes).map_err(|e| bad(format!("{}: {e}", path.display())))?;
        entries.push((split, class, name, bytes));
    }
    entries.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
    let mut classes: Vec<String> = entries.iter().map(|e| e.1.clone()).collect();
    classes.sort();
    classes.dedup();
    let mut splits: [Vec<ImageSource>; 2] = [Vec::new(), Vec::new()];
    for (split, class, name, bytes) in entries {
        let label = classes.iter().position(|c| *c == class).expect("class listed") as u8;
        let which = usize::from(split == "test");
        splits[which].push(ImageSource {
            path: archive.join(&split).join(&class).join(name),
            label,
            bytes: Some(bytes),
        });
    }
    let [train, test] = splits;
    if train.is_empty() || test.is_empty() {
        return Err(bad("holds no train/<class>/*.jpg or no test/<class>/*.jpg images".into()));
    }
    let sets = decode_train_test(classes, train, test)?;
    write_cache(&cache, &sets)?;
    Ok(sets)
}

/// `(split, class, file)` when `path` ends in `train|test/<class>/<image file>`.
fn image_entry(path: &Path) -> Option<(String, String, String)> {
    let parts: Vec<String> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let [.., split, class, name] = parts.as_slice() else { return None };
    let is_image = crate::decode::is_image_file(Path::new(name));
    ((split == "train" || split == "test") && is_image).then(|| (split.clone(), class.clone(), name.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths() {
        assert_eq!(
            image_entry(Path::new("cifar10-jpeg/train/cat/0001.jpg")),
            Some(("train".into(), "cat".into(), "0001.jpg".into()))
        );
        assert_eq!(image_entry(Path::new("test/dog/1.png")), Some(("test".into(), "dog".into(), "1.png".into())));
        assert_eq!(image_entry(Path::new("cifar10-jpeg/README.md")), None);
        assert_eq!(image_entry(Path::new("cifar10-jpeg/val/cat/1.jpg")), None);
    }
}
