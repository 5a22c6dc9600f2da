//! Format validation and directory loading on small hand-made IDX files.

use std::io::Write;
use std::path::{Path, PathBuf};

use dtprune_data::idx::check_labels;
use dtprune_data::{
    load_idx_dir, load_idx_dir_with_val_size, load_mnist, read_idx_images, read_idx_labels,
    DataError, FormatProblem, ImageSet,
};
use flate2::write::GzEncoder;
use flate2::Compression;
use tempfile::TempDir;

/// Encodes an IDX file: magic `00 00 dtype ndims`, big-endian sizes, payload.
fn idx_bytes(dtype: u8, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, dtype, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

fn images_bytes(count: u32, rows: u32, cols: u32) -> Vec<u8> {
    let payload: Vec<u8> = (0..count * rows * cols).map(|i| i as u8).collect();
    idx_bytes(0x08, &[count, rows, cols], &payload)
}

fn labels_bytes(labels: &[u8]) -> Vec<u8> {
    idx_bytes(0x08, &[labels.len() as u32], labels)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn format_problem(err: DataError) -> FormatProblem {
    match err {
        DataError::Format { problem, .. } => problem,
        other => panic!("expected a format error, got {other:?}"),
    }
}

/// Writes a complete IDX directory: `train_n` and `test_n` images of `side`x`side`.
fn write_dir(dir: &Path, side: u32, train_labels: &[u8], test_labels: &[u8], gz: bool) {
    let ext = if gz { ".gz" } else { "" };
    let enc = |b: Vec<u8>| if gz { gzip(&b) } else { b };
    let n = |l: &[u8]| l.len() as u32;
    write(
        dir,
        &format!("train-images-idx3-ubyte{ext}"),
        &enc(images_bytes(n(train_labels), side, side)),
    );
    write(
        dir,
        &format!("train-labels-idx1-ubyte{ext}"),
        &enc(labels_bytes(train_labels)),
    );
    write(
        dir,
        &format!("t10k-images-idx3-ubyte{ext}"),
        &enc(images_bytes(n(test_labels), side, side)),
    );
    write(
        dir,
        &format!("t10k-labels-idx1-ubyte{ext}"),
        &enc(labels_bytes(test_labels)),
    );
}

#[test]
fn reads_valid_raw_images_and_labels() {
    let tmp = TempDir::new().unwrap();
    let images = read_idx_images(&write(tmp.path(), "img", &images_bytes(3, 2, 4))).unwrap();
    assert_eq!((images.count, images.rows, images.cols), (3, 2, 4));
    assert_eq!(images.pixels, (0..24).collect::<Vec<u8>>());
    let labels = read_idx_labels(&write(tmp.path(), "lbl", &labels_bytes(&[1, 0, 2]))).unwrap();
    assert_eq!(labels, vec![1, 0, 2]);
}

#[test]
fn detects_gzip_by_magic_not_extension() {
    let tmp = TempDir::new().unwrap();
    let raw = images_bytes(2, 3, 3);
    let gz_named_plainly = write(tmp.path(), "images-no-extension", &gzip(&raw));
    let images = read_idx_images(&gz_named_plainly).unwrap();
    assert_eq!((images.count, images.rows, images.cols), (2, 3, 3));
    assert_eq!(images.pixels, raw[16..]);
}

#[test]
fn corrupt_gzip_is_an_error_naming_the_file() {
    let tmp = TempDir::new().unwrap();
    let mut gz = gzip(&images_bytes(50, 10, 10));
    gz.truncate(gz.len() / 2);
    let path = write(tmp.path(), "cut.gz", &gz);
    let err = read_idx_images(&path).unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err:?}");
    assert!(err.to_string().contains("cut.gz"), "{err}");
}

#[test]
fn rejects_wrong_magic_and_dtype() {
    let tmp = TempDir::new().unwrap();
    let mut bad = images_bytes(1, 2, 2);
    bad[0] = 0x12;
    let path = write(tmp.path(), "bad-magic", &bad);
    let err = read_idx_images(&path).unwrap_err();
    assert!(
        err.to_string().contains("bad-magic") && err.to_string().contains("magic"),
        "{err}"
    );
    assert!(matches!(
        format_problem(err),
        FormatProblem::BadMagic { .. }
    ));

    // float32 (0x0D) images: valid IDX, but not a type we support.
    let floats = idx_bytes(0x0D, &[1, 1, 1], &[0; 4]);
    let err = read_idx_images(&write(tmp.path(), "floats", &floats)).unwrap_err();
    assert_eq!(
        format_problem(err),
        FormatProblem::UnsupportedDtype { dtype: 0x0D }
    );
}

#[test]
fn rejects_wrong_number_of_dimensions() {
    let tmp = TempDir::new().unwrap();
    // A label file where images are expected, and vice versa.
    let labels = write(tmp.path(), "labels", &labels_bytes(&[1, 2]));
    let err = read_idx_images(&labels).unwrap_err();
    assert!(matches!(
        format_problem(err),
        FormatProblem::WrongDims {
            found: 1,
            expected: 3,
            ..
        }
    ));
    let images = write(tmp.path(), "images", &images_bytes(1, 2, 2));
    let err = read_idx_labels(&images).unwrap_err();
    assert!(matches!(
        format_problem(err),
        FormatProblem::WrongDims {
            found: 3,
            expected: 1,
            ..
        }
    ));
}

#[test]
fn rejects_truncated_and_trailing_bytes() {
    let tmp = TempDir::new().unwrap();
    let mut short = images_bytes(2, 2, 2);
    short.pop();
    let err = read_idx_images(&write(tmp.path(), "short", &short)).unwrap_err();
    assert!(err.to_string().contains("short"), "{err}");
    assert_eq!(
        format_problem(err),
        FormatProblem::Truncated {
            expected: 24,
            actual: 23
        }
    );

    let mut long = labels_bytes(&[1, 2, 3]);
    long.extend_from_slice(&[9, 9]);
    let err = read_idx_labels(&write(tmp.path(), "long", &long)).unwrap_err();
    assert_eq!(
        format_problem(err),
        FormatProblem::TrailingBytes {
            expected: 11,
            extra: 2
        }
    );

    let err = read_idx_labels(&write(tmp.path(), "tiny", &[0, 0])).unwrap_err();
    assert_eq!(format_problem(err), FormatProblem::TooShort { len: 2 });
    let err = read_idx_labels(&write(tmp.path(), "header-only", &[0, 0, 8, 1, 0])).unwrap_err();
    assert_eq!(format_problem(err), FormatProblem::TooShort { len: 5 });
}

#[test]
fn loads_idx_dir_raw_and_gz_with_classes_from_labels() {
    for gz in [false, true] {
        let tmp = TempDir::new().unwrap();
        write_dir(tmp.path(), 3, &[0, 1, 2, 3, 1, 0], &[4, 0], gz);
        let splits = load_idx_dir_with_val_size(tmp.path(), 2).unwrap();
        assert_eq!(
            (splits.train.len(), splits.val.len(), splits.test.len()),
            (4, 2, 2)
        );
        // Classes span train AND test: label 4 only occurs in test.
        assert_eq!(splits.info().num_classes, 5);
        assert_eq!((splits.info().rows, splits.info().cols), (3, 3));
        // Validation is the LAST training items.
        assert_eq!(splits.train.labels(), &[0, 1, 2, 3]);
        assert_eq!(splits.val.labels(), &[1, 0]);
        assert_eq!(
            splits.val.image(0),
            &images_bytes(6, 3, 3)[16 + 4 * 9..16 + 5 * 9]
        );
    }
}

#[test]
fn label_count_must_match_image_count() {
    let tmp = TempDir::new().unwrap();
    write_dir(tmp.path(), 2, &[0, 1, 0], &[1], false);
    write(tmp.path(), "t10k-labels-idx1-ubyte", &labels_bytes(&[1, 0]));
    let err = load_idx_dir_with_val_size(tmp.path(), 1).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::CountMismatch {
                images: 1,
                labels: 2,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("t10k-images-idx3-ubyte") && msg.contains("t10k-labels-idx1-ubyte"),
        "{msg}"
    );
}

#[test]
fn train_and_test_image_sizes_must_agree() {
    let tmp = TempDir::new().unwrap();
    write_dir(tmp.path(), 2, &[0, 1, 0], &[1], false);
    write(tmp.path(), "t10k-images-idx3-ubyte", &images_bytes(1, 3, 3));
    let err = load_idx_dir_with_val_size(tmp.path(), 1).unwrap_err();
    assert!(matches!(err, DataError::ShapeMismatch { .. }), "{err:?}");
}

#[test]
fn labels_must_be_below_class_count() {
    let err = check_labels(Path::new("labels-file"), &[0, 3, 9, 12], 10).unwrap_err();
    assert!(matches!(
        err,
        DataError::LabelOutOfRange {
            index: 3,
            label: 12,
            num_classes: 10,
            ..
        }
    ));
    assert!(err.to_string().contains("labels-file"));
    assert!(ImageSet::new(vec![0; 4], vec![0, 10], 1, 2, 10).is_err());
}

#[test]
fn missing_files_are_all_named_with_the_directory() {
    let tmp = TempDir::new().unwrap();
    write_dir(tmp.path(), 2, &[0, 1], &[1], true);
    std::fs::remove_file(tmp.path().join("train-labels-idx1-ubyte.gz")).unwrap();
    std::fs::remove_file(tmp.path().join("t10k-images-idx3-ubyte.gz")).unwrap();
    let err = load_idx_dir(tmp.path()).unwrap_err();
    let DataError::MissingFiles { ref files, .. } = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        files,
        &["train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"]
    );
    let msg = err.to_string();
    assert!(msg.contains(&tmp.path().display().to_string()), "{msg}");
    assert!(
        msg.contains("train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz"),
        "{msg}"
    );
    assert!(!msg.contains("does not exist"), "{msg}");

    let nowhere = tmp.path().join("does-not-exist");
    let msg = load_mnist(&nowhere).unwrap_err().to_string();
    for name in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        assert!(msg.contains(name), "{msg}");
    }
    assert!(
        msg.contains("does-not-exist") && msg.contains("directory does not exist"),
        "{msg}"
    );
}

#[test]
fn mnist_checksum_mismatch_names_file_and_both_hashes() {
    let tmp = TempDir::new().unwrap();
    write_dir(tmp.path(), 28, &[5, 0, 4], &[7], true);
    let err = load_mnist(tmp.path()).unwrap_err();
    let DataError::Checksum {
        ref path,
        ref expected,
        ref actual,
    } = err
    else {
        panic!("{err:?}")
    };
    assert!(path.ends_with("train-images-idx3-ubyte.gz"));
    assert_eq!(
        expected,
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
    );
    assert_eq!(actual.len(), 64);
    let msg = err.to_string();
    assert!(
        msg.contains("train-images-idx3-ubyte.gz")
            && msg.contains(expected)
            && msg.contains(actual.as_str())
    );
}

#[test]
fn val_split_must_leave_training_data() {
    let tmp = TempDir::new().unwrap();
    write_dir(tmp.path(), 2, &[0, 1, 1], &[0], false);
    for val_size in [3, 4, 5_000] {
        let err = load_idx_dir_with_val_size(tmp.path(), val_size).unwrap_err();
        assert!(
            matches!(err, DataError::ValSplitTooLarge { train_len: 3, .. }),
            "{err:?}"
        );
    }
    let splits = load_idx_dir_with_val_size(tmp.path(), 0).unwrap();
    assert_eq!((splits.train.len(), splits.val.len()), (3, 0));
}

#[test]
fn subset_and_first() {
    let set = ImageSet::new((0..12).collect(), vec![0, 1, 2, 0, 1, 2], 1, 2, 3).unwrap();
    let mid = set.subset(2..4).unwrap();
    assert_eq!(
        (mid.images(), mid.labels()),
        (&[4, 5, 6, 7][..], &[2, 0][..])
    );
    assert!(matches!(
        set.subset(5..7),
        Err(DataError::RangeOutOfBounds { len: 6, .. })
    ));
    assert_eq!(set.first(2).labels(), &[0, 1]);
    assert_eq!(set.first(100).len(), 6);
    assert_eq!(set.image(5), &[10, 11]);
    assert_eq!(set.shape(), mid.shape());
}

#[test]
fn data_dir_env_var_overrides_default() {
    use dtprune_data::{default_mnist_dir, DATA_DIR_ENV};
    // Only this test touches the variable in this test binary; restore whatever was set.
    let original = std::env::var_os(DATA_DIR_ENV);
    std::env::set_var(DATA_DIR_ENV, "/somewhere/else");
    let overridden = default_mnist_dir();
    std::env::set_var(DATA_DIR_ENV, "");
    let built_in = default_mnist_dir();
    match original {
        Some(value) => std::env::set_var(DATA_DIR_ENV, value),
        None => std::env::remove_var(DATA_DIR_ENV),
    }
    assert_eq!(overridden, PathBuf::from("/somewhere/else"));
    assert!(built_in.ends_with("data/mnist"), "{}", built_in.display());
}
