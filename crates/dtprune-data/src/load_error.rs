//! Errors of the speech, text and table loaders. Every variant names the file, and the line
//! where there is one, because the user's fix is to edit or replace that file.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::options::OptionError;

/// A place in the input: a file, optionally a line (1-based) in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    pub line: Option<usize>,
}

impl Location {
    pub fn file(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            line: None,
        }
    }

    pub fn line(path: &Path, line: usize) -> Self {
        Self {
            path: path.to_path_buf(),
            line: Some(line),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.path.display()),
            None => write!(f, "{}", self.path.display()),
        }
    }
}

/// Everything that can go wrong while loading a speech, text or table data set.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The content is malformed at `at`; `problem` says how.
    #[error("{at}: {problem}")]
    Bad { at: Location, problem: String },

    /// A required file or directory is not there.
    #[error("{what} not found: {}", path.display())]
    Missing { what: String, path: PathBuf },

    /// The tokenizer could not be built or trained (its own message).
    #[error("tokenizer: {message}")]
    Tokenizer { message: String },

    #[error(transparent)]
    Option(#[from] OptionError),
}

pub type LoadResult<T> = std::result::Result<T, LoadError>;

impl LoadError {
    pub fn bad(at: Location, problem: impl Into<String>) -> Self {
        LoadError::Bad {
            at,
            problem: problem.into(),
        }
    }

    pub fn bad_file(path: &Path, problem: impl Into<String>) -> Self {
        Self::bad(Location::file(path), problem)
    }

    pub fn bad_line(path: &Path, line: usize, problem: impl Into<String>) -> Self {
        Self::bad(Location::line(path, line), problem)
    }

    pub fn io(path: &Path) -> impl FnOnce(io::Error) -> Self + '_ {
        move |source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Reads a whole file, gunzipping it when it starts with the gzip magic (`1f 8b`).
pub fn read_maybe_gzip(path: &Path) -> LoadResult<Vec<u8>> {
    use std::io::Read;
    let bytes = std::fs::read(path).map_err(LoadError::io(path))?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .map_err(|e| LoadError::bad_file(path, format!("cannot decompress gzip data: {e}")))?;
        Ok(out)
    } else {
        Ok(bytes)
    }
}

/// Reads a UTF-8 text file (gzipped or not).
pub fn read_text(path: &Path) -> LoadResult<String> {
    let bytes = read_maybe_gzip(path)?;
    String::from_utf8(bytes).map_err(|e| {
        let before = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        LoadError::bad_line(path, line, "not valid UTF-8 text")
    })
}
