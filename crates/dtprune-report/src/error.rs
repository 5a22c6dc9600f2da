//! One error type for the crate. Every variant names the file (and line, where there is one) so
//! that `dtprune report` can print it as-is and the user knows what to fix.

use std::path::PathBuf;

/// Errors of reading a run directory and writing its TensorBoard files, tables, plots and report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The path does not exist, is not a directory, or holds neither `history.jsonl` nor
    /// `summary.json`.
    #[error("{}: not a dtprune run directory ({reason})", path.display())]
    NotARun { path: PathBuf, reason: String },

    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// One line of `history.jsonl` is not a valid epoch record (1-based line number).
    #[error("{}:{line}: invalid history record: {source}", path.display())]
    HistoryLine {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },

    /// `summary.json` is not valid JSON of the expected shape.
    #[error("{}: invalid summary: {source}", path.display())]
    Summary {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    /// The run has no epoch records, so there is nothing to tabulate or log.
    #[error("{}: the run has no epochs in history.jsonl", path.display())]
    EmptyHistory { path: PathBuf },

    /// `tb_from_history` refuses to add a second copy of the scalars next to existing event
    /// files (TensorBoard would show every point twice).
    #[error("{}: already holds TensorBoard event files; remove them first", path.display())]
    TbExists { path: PathBuf },

    /// A plot could not be drawn (plotters backend or font error).
    #[error("plot {what}: {message}")]
    Plot { what: String, message: String },

    /// A plot output path has an extension other than `.png` / `.svg`.
    #[error("{}: plot file must end in .png or .svg", path.display())]
    PlotFormat { path: PathBuf },

    /// `render_report` was called without any run directory.
    #[error("no run directories given")]
    NoRuns,
}

impl ReportError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ReportError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = ReportError> = std::result::Result<T, E>;
