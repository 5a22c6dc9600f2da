//! Errors of the data crate. Every variant carries the path(s) involved, because the
//! user's fix is almost always "replace or re-download that file".

use std::io;
use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

/// Everything that can go wrong while loading a data set from disk.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// One or more required files are absent; lists every missing name so a single
    /// message is enough to fix the directory.
    #[error(
        "missing data file(s) in {}{}: expected {} (each either gzip-compressed with .gz or raw); \
         set DTPRUNE_DATA_DIR or pass another directory",
        dir.display(),
        if *dir_exists { "" } else { " (directory does not exist)" },
        files.iter().map(|f| format!("{f}.gz")).collect::<Vec<_>>().join(", ")
    )]
    MissingFiles {
        dir: PathBuf,
        dir_exists: bool,
        /// Canonical names without the optional `.gz` suffix.
        files: Vec<String>,
    },

    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The file starts with the gzip magic but does not decompress (corrupt or cut short).
    #[error("cannot decompress gzip file {}: {source}", path.display())]
    Gzip {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The (decompressed) bytes are not a well-formed IDX file of the expected kind.
    #[error("invalid IDX file {}: {problem}", path.display())]
    Format {
        path: PathBuf,
        problem: FormatProblem,
    },

    #[error("{} holds {images} images but {} holds {labels} labels", images_path.display(), labels_path.display())]
    CountMismatch {
        images_path: PathBuf,
        labels_path: PathBuf,
        images: usize,
        labels: usize,
    },

    #[error("{}: label {label} of item {index} is not below the number of classes ({num_classes})", path.display())]
    LabelOutOfRange {
        path: PathBuf,
        index: usize,
        label: u8,
        num_classes: usize,
    },

    /// Train and test images must share one shape so one model can consume both.
    #[error("image size differs: {} has {train_rows}x{train_cols} images but {} has {test_rows}x{test_cols}", train_path.display(), test_path.display())]
    ShapeMismatch {
        train_path: PathBuf,
        test_path: PathBuf,
        train_rows: usize,
        train_cols: usize,
        test_rows: usize,
        test_cols: usize,
    },

    #[error("checksum mismatch for {}: expected sha256 {expected}, got {actual} (file corrupt or not the official one)", path.display())]
    Checksum {
        path: PathBuf,
        expected: String,
        actual: String,
    },

    /// The requested validation split would leave no training data.
    #[error(
        "validation size {val_size} must be smaller than the training set ({train_len} items)"
    )]
    ValSplitTooLarge { val_size: usize, train_len: usize },

    #[error("range {start}..{end} is out of bounds for a set of {len} items")]
    RangeOutOfBounds {
        start: usize,
        end: usize,
        len: usize,
    },

    /// In-memory construction of an `ImageSet` with inconsistent parts (not from a file).
    #[error("inconsistent image set: {0}")]
    InconsistentSet(String),
}

/// What exactly is wrong inside an IDX file; kept as data so tests and callers can match on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatProblem {
    #[error("file is {len} bytes, too short for an IDX header")]
    TooShort { len: usize },
    #[error("bad magic number {found:#010x}: first two bytes must be zero")]
    BadMagic { found: u32 },
    #[error("unsupported element type {dtype:#04x}: only unsigned bytes (0x08) are supported")]
    UnsupportedDtype { dtype: u8 },
    #[error("has {found} dimension(s), expected {expected} ({kind})")]
    WrongDims {
        found: u8,
        expected: u8,
        kind: &'static str,
    },
    #[error("dimension sizes {dims:?} are too large")]
    SizeOverflow { dims: Vec<u32> },
    #[error("truncated: header announces {expected} bytes but file has {actual}")]
    Truncated { expected: usize, actual: usize },
    #[error("{extra} trailing byte(s) after the {expected} bytes the header announces")]
    TrailingBytes { expected: usize, extra: usize },
    #[error("images have zero size ({rows}x{cols})")]
    EmptyImages { rows: usize, cols: usize },
}
