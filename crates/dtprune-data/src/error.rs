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

    /// Normalisation statistics that do not fit the images (wrong count, zero std, NaN).
    #[error("normalisation: {0}")]
    Normalization(String),

    /// A file in an image tree that does not decode as PNG or JPEG.
    #[error("{}: not a readable image: {message}", path.display())]
    BadImage { path: PathBuf, message: String },

    /// An image whose channel count or size differs from the first image of its data set.
    #[error("{}: image is {found}, but {} is {expected} (every image of a data set must have one size and channel count)", path.display(), first.display())]
    ImageShape {
        path: PathBuf,
        first: PathBuf,
        /// `channels x rows x cols`, as text.
        found: String,
        expected: String,
    },

    /// A class folder with no image in it.
    #[error("{}: class folder holds no .png/.jpg/.jpeg image", dir.display())]
    EmptyClass { dir: PathBuf },

    /// An image-folder split with no class folder.
    #[error("{}: no class folders (expected {}/<class>/*.png|jpg)", dir.display(), dir.display())]
    NoClasses { dir: PathBuf },

    /// Train and test splits of an image tree must name the same classes.
    #[error("{} has classes [{train}] but {} has [{test}]; both splits need the same class folders", train_dir.display(), test_dir.display())]
    ClassesDiffer {
        train_dir: PathBuf,
        test_dir: PathBuf,
        train: String,
        test: String,
    },

    #[error("{}: {classes} classes; at most 256 are supported (labels are one byte)", dir.display())]
    TooManyClasses { dir: PathBuf, classes: usize },

    /// A tar(.gz) archive that cannot be read.
    #[error("{}: cannot read archive: {message}", path.display())]
    Archive { path: PathBuf, message: String },

    #[error("unknown dataset `{name}`; valid: {valid}")]
    UnknownDataset { name: String, valid: String },

    #[error("dataset `{name}` needs a data directory (--data-dir DIR): {what}")]
    NeedsDataDir { name: String, what: String },

    /// A speech, text or table loader's error (it names the file and line, or the option).
    #[error(transparent)]
    Load(#[from] crate::load_error::LoadError),
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
    #[error("decompresses to more than {more_than} byte(s) past the {expected} bytes the header announces (stopped reading there)")]
    Oversized { expected: usize, more_than: usize },
    #[error("images have zero size ({rows}x{cols})")]
    EmptyImages { rows: usize, cols: usize },
}
