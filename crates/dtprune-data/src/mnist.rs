//! Loading MNIST and any other data set stored under the four canonical IDX file names
//! (Fashion-MNIST, KMNIST, ...).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{DataError, Result};
use crate::idx::{
    check_counts, check_labels, parse_idx_images, parse_idx_labels, read_maybe_gzip, IdxImages,
};
use crate::set::{ImageSet, ImageSplits, DEFAULT_VAL_SIZE};

/// Environment variable overriding [`default_mnist_dir`]: the directory that directly
/// holds the four IDX files.
pub const DATA_DIR_ENV: &str = "DTPRUNE_DATA_DIR";

/// Canonical file names, without the optional `.gz` suffix.
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

pub const MNIST_NUM_CLASSES: usize = 10;

/// SHA-256 of the official MNIST files' UNCOMPRESSED content, so that re-compressed
/// copies (different gzip bytes, same data) still verify.
pub const MNIST_SHA256: [(&str, &str); 4] = [
    (
        TRAIN_IMAGES,
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    (
        TRAIN_LABELS,
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    (
        TEST_IMAGES,
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    (
        TEST_LABELS,
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
];

/// Where MNIST lives when the user names no directory: `$DTPRUNE_DATA_DIR` if set and
/// non-empty, else `data/mnist` at the repository root. The root is found from this
/// crate's manifest dir at compile time so `cargo run` works from a clean clone
/// whatever the current directory is.
pub fn default_mnist_dir() -> PathBuf {
    match std::env::var_os(DATA_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist"),
    }
}

/// Loads MNIST from `dir`, verifying checksums, with the default validation split
/// (last [`DEFAULT_VAL_SIZE`] training images).
pub fn load_mnist(dir: &Path) -> Result<ImageSplits> {
    load_mnist_with_val_size(dir, DEFAULT_VAL_SIZE)
}

/// Like [`load_mnist`] with a chosen validation size.
pub fn load_mnist_with_val_size(dir: &Path, val_size: usize) -> Result<ImageSplits> {
    load_dir(dir, val_size, Verification::Mnist)
}

/// Loads any IDX image-classification set stored under the MNIST file names, with the
/// default validation split. Nothing is pinned: image size comes from the files and the
/// number of classes is `max label + 1` over train and test.
pub fn load_idx_dir(dir: &Path) -> Result<ImageSplits> {
    load_idx_dir_with_val_size(dir, DEFAULT_VAL_SIZE)
}

/// Like [`load_idx_dir`] with a chosen validation size.
pub fn load_idx_dir_with_val_size(dir: &Path, val_size: usize) -> Result<ImageSplits> {
    load_dir(dir, val_size, Verification::None)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verification {
    /// Pinned checksums and exactly 10 classes.
    Mnist,
    /// Structural validation only.
    None,
}

/// Finds each canonical file, preferring `NAME.gz` over `NAME`; reports all missing ones at once.
fn resolve_files(dir: &Path) -> Result<[(&'static str, PathBuf); 4]> {
    let stems = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS];
    let mut missing = Vec::new();
    let found = stems.map(|stem| {
        let candidates = [dir.join(format!("{stem}.gz")), dir.join(stem)];
        let hit = candidates.into_iter().find(|p| p.is_file());
        if hit.is_none() {
            missing.push(stem.to_string());
        }
        (stem, hit.unwrap_or_default())
    });
    if missing.is_empty() {
        Ok(found)
    } else {
        Err(DataError::MissingFiles {
            dir: dir.to_path_buf(),
            dir_exists: dir.is_dir(),
            files: missing,
        })
    }
}

fn verify_digest(path: &Path, stem: &str, actual: String) -> Result<()> {
    let Some((_, expected)) = MNIST_SHA256.iter().find(|(s, _)| *s == stem) else {
        return Ok(());
    };
    if actual == *expected {
        Ok(())
    } else {
        Err(DataError::Checksum {
            path: path.to_path_buf(),
            expected: (*expected).to_string(),
            actual,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One split as read from disk, before the class count is known.
struct RawSplit {
    images_path: PathBuf,
    labels_path: PathBuf,
    images: IdxImages,
    labels: Vec<u8>,
}

/// Reads and validates one file of the pair; `stem` selects the pinned hash for MNIST.
fn read_checked<T>(
    stem: &str,
    path: &Path,
    verification: Verification,
    parse: fn(&Path, Vec<u8>) -> Result<T>,
) -> Result<T> {
    let bytes = read_maybe_gzip(path)?;
    // Hash before parsing consumes the buffer, but report structural problems first:
    // "truncated" is a more precise diagnosis than "checksum mismatch".
    let digest = (verification == Verification::Mnist).then(|| hex(&Sha256::digest(&bytes)));
    let parsed = parse(path, bytes)?;
    if let Some(actual) = digest {
        verify_digest(path, stem, actual)?;
    }
    Ok(parsed)
}

fn read_split(
    (images_stem, images_path): (&str, PathBuf),
    (labels_stem, labels_path): (&str, PathBuf),
    verification: Verification,
) -> Result<RawSplit> {
    let images = read_checked(images_stem, &images_path, verification, parse_idx_images)?;
    let labels = read_checked(labels_stem, &labels_path, verification, parse_idx_labels)?;
    check_counts(&images_path, &images, &labels_path, &labels)?;
    Ok(RawSplit {
        images_path,
        labels_path,
        images,
        labels,
    })
}

fn into_set(split: RawSplit, num_classes: usize) -> Result<ImageSet> {
    check_labels(&split.labels_path, &split.labels, num_classes)?;
    ImageSet::new(
        split.images.pixels,
        split.labels,
        split.images.rows,
        split.images.cols,
        num_classes,
    )
}

fn load_dir(dir: &Path, val_size: usize, verification: Verification) -> Result<ImageSplits> {
    let [train_images, train_labels, test_images, test_labels] = resolve_files(dir)?;
    let train = read_split(train_images, train_labels, verification)?;
    let test = read_split(test_images, test_labels, verification)?;

    let (tr, te) = (&train.images, &test.images);
    if (tr.rows, tr.cols) != (te.rows, te.cols) {
        return Err(DataError::ShapeMismatch {
            train_path: train.images_path,
            test_path: test.images_path,
            train_rows: tr.rows,
            train_cols: tr.cols,
            test_rows: te.rows,
            test_cols: te.cols,
        });
    }

    let num_classes = match verification {
        Verification::Mnist => MNIST_NUM_CLASSES,
        Verification::None => train
            .labels
            .iter()
            .chain(&test.labels)
            .max()
            .map_or(0, |&max| usize::from(max) + 1),
    };
    ImageSplits::from_train_test(
        into_set(train, num_classes)?,
        into_set(test, num_classes)?,
        val_size,
    )
}
