//! `image-folder`: any `train/<class>/*.{png,jpg}` + `test/<class>/…` tree, the torchvision
//! `ImageFolder` convention. Classes are the folder names in sorted order (label = position),
//! the images of a class are read in sorted file-name order, grey or colour; every image of the
//! data set must have the size and channel count of the first. Decoded once, then cached.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::cache::{cache_key, cache_path, read_cache, write_cache, SourceFile};
use crate::decode::{decode_image, is_image_file, Decoded};
use crate::error::{DataError, Result};
use crate::set::{ImageSet, TrainTest};

/// One image to decode: where it is (named in errors), its label, and its bytes when they were
/// already read (from an archive) rather than to be read from `path`.
pub struct ImageSource {
    pub path: PathBuf,
    pub label: u8,
    pub bytes: Option<Vec<u8>>,
}

/// Loads the tree under `root`, through a cache file in the folder `cache_dir`.
pub fn load_image_folder(root: &Path, cache_dir: &Path) -> Result<TrainTest> {
    let (train_dir, test_dir) = (root.join("train"), root.join("test"));
    let (classes, train_files) = scan_split(&train_dir)?;
    let (test_classes, test_files) = scan_split(&test_dir)?;
    if classes != test_classes {
        return Err(DataError::ClassesDiffer {
            train_dir,
            test_dir,
            train: classes.join(", "),
            test: test_classes.join(", "),
        });
    }
    let sources = train_files
        .iter()
        .chain(&test_files)
        .map(|s| SourceFile::stat(&s.path))
        .collect::<Result<Vec<_>>>()?;
    let cache = cache_path(cache_dir, "image-folder", &cache_key("image-folder", &sources));
    if let Some(hit) = read_cache(&cache) {
        return Ok(hit);
    }
    let sets = decode_train_test(classes, train_files, test_files)?;
    write_cache(&cache, &sets)?;
    Ok(sets)
}

/// Class names (sorted folder names) and every image of one split, class after class.
pub fn scan_split(dir: &Path) -> Result<(Vec<String>, Vec<ImageSource>)> {
    let classes: Vec<String> = sorted_entries(dir)?
        .into_iter()
        .filter(|p| p.is_dir())
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .filter(|n| !n.starts_with('.'))
        .collect();
    if classes.is_empty() {
        return Err(DataError::NoClasses { dir: dir.to_path_buf() });
    }
    if classes.len() > 256 {
        return Err(DataError::TooManyClasses {
            dir: dir.to_path_buf(),
            classes: classes.len(),
        });
    }
    let mut files = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let class_dir = dir.join(class);
        let images: Vec<PathBuf> = sorted_entries(&class_dir)?
            .into_iter()
            .filter(|p| p.is_file() && is_image_file(p))
            .collect();
        if images.is_empty() {
            return Err(DataError::EmptyClass { dir: class_dir });
        }
        files.extend(images.into_iter().map(|path| ImageSource {
            path,
            label: label as u8,
            bytes: None,
        }));
    }
    Ok((classes, files))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |source| DataError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(io)?;
    out.sort();
    Ok(out)
}

/// One decoded image with its origin and label.
struct DecodedItem {
    path: PathBuf,
    label: u8,
    image: Decoded,
}

/// Decodes both splits (on every core) and checks that every image has the first one's shape;
/// each split comes back with its classes interleaved ([`ImageSet::interleave_classes`]).
pub fn decode_train_test(classes: Vec<String>, train: Vec<ImageSource>, test: Vec<ImageSource>) -> Result<TrainTest> {
    let train = decode_all(train)?;
    let test = decode_all(test)?;
    let first = train.first().ok_or_else(|| DataError::InconsistentSet("the training split holds no image".into()))?;
    let shape = |d: &Decoded| (d.channels, d.rows, d.cols);
    if let Some(odd) = train.iter().chain(&test).find(|i| shape(&i.image) != shape(&first.image)) {
        return Err(DataError::ImageShape {
            path: odd.path.clone(),
            first: first.path.clone(),
            found: odd.image.shape_text(),
            expected: first.image.shape_text(),
        });
    }
    let (c, h, w) = shape(&first.image);
    let n = classes.len();
    let to_set = |items: Vec<DecodedItem>| -> Result<ImageSet> {
        let labels = items.iter().map(|i| i.label).collect();
        let pixels = items.into_iter().flat_map(|i| i.image.pixels).collect();
        Ok(ImageSet::with_channels(pixels, labels, c, h, w, n)?.interleave_classes())
    };
    Ok(TrainTest {
        classes,
        train: to_set(train)?,
        test: to_set(test)?,
    })
}

/// Reads and decodes every source in parallel; the first failure in list order is reported,
/// so the error does not depend on thread timing.
fn decode_all(sources: Vec<ImageSource>) -> Result<Vec<DecodedItem>> {
    sources
        .into_par_iter()
        .map(|s| {
            let bytes = match s.bytes {
                Some(b) => b,
                None => std::fs::read(&s.path).map_err(|e| DataError::Io {
                    path: s.path.clone(),
                    source: e,
                })?,
            };
            let image = decode_image(&s.path, &bytes)?;
            Ok(DecodedItem {
                path: s.path,
                label: s.label,
                image,
            })
        })
        .collect::<Vec<Result<DecodedItem>>>()
        .into_iter()
        .collect()
}
