//! A CSV file read as text fields with their line numbers, before any typing.

use std::path::{Path, PathBuf};

use crate::load_error::{read_text, LoadError, LoadResult};

/// Fields of a CSV file: a header and rows of the same width, each with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTable {
    pub path: PathBuf,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub lines: Vec<usize>,
}

/// How to read a file: its header (or `None`: the first row is the header) and a comment
/// character whose lines are skipped. Fields are trimmed; blank lines are skipped.
#[derive(Debug, Clone, Default)]
pub struct CsvFormat {
    pub header: Option<Vec<String>>,
    pub comment: Option<u8>,
}

/// Reads `path` (gzipped or not). A row whose width differs from the header's is an error at
/// its line.
pub fn read_csv(path: &Path, format: &CsvFormat) -> LoadResult<RawTable> {
    let text = read_text(path)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(format.header.is_none())
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(format.comment)
        .from_reader(text.as_bytes());
    // The csv crate's own line counter skips blank lines; count from byte offsets instead.
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .collect();
    // A record's position is where the reader resumed, which may be a skipped blank or comment
    // line before it: move on to the first line with content.
    let lines_text: Vec<&str> = text.split('\n').collect();
    let skipped = |l: &str| {
        l.trim().is_empty()
            || format
                .comment
                .is_some_and(|c| l.as_bytes().first() == Some(&c))
    };
    let line_of = |byte: u64| {
        let mut line = line_starts.partition_point(|&s| s <= byte as usize);
        while line < lines_text.len() && skipped(lines_text[line - 1]) {
            line += 1;
        }
        line
    };
    let csv_error = |e: csv::Error| {
        let line = e.position().map_or(1, |p| line_of(p.byte()));
        LoadError::bad_line(path, line, format!("malformed CSV: {e}"))
    };
    let columns: Vec<String> = match &format.header {
        Some(h) => h.clone(),
        None => reader
            .headers()
            .map_err(csv_error)?
            .iter()
            .map(String::from)
            .collect(),
    };
    if columns.is_empty() || columns.iter().all(|c| c.is_empty()) {
        return Err(LoadError::bad_line(path, 1, "no header row"));
    }
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let line = record.position().map_or(0, |p| line_of(p.byte()));
        if record.len() == 1 && record[0].is_empty() {
            continue; // a line of only spaces
        }
        if record.len() != columns.len() {
            return Err(LoadError::bad_line(
                path,
                line,
                format!(
                    "has {} fields but the header has {} ({})",
                    record.len(),
                    columns.len(),
                    columns.join(", ")
                ),
            ));
        }
        rows.push(record.iter().map(String::from).collect());
        lines.push(line);
    }
    if rows.is_empty() {
        return Err(LoadError::bad_file(path, "holds no data rows"));
    }
    Ok(RawTable {
        path: path.to_path_buf(),
        columns,
        rows,
        lines,
    })
}

impl RawTable {
    /// Index of column `name`; an error naming the header line when it is absent.
    pub fn column(&self, name: &str) -> LoadResult<usize> {
        self.columns.iter().position(|c| c == name).ok_or_else(|| {
            LoadError::bad_line(
                &self.path,
                1,
                format!("no column `{name}` (columns: {})", self.columns.join(", ")),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_header_rows_and_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        std::fs::write(&p, "a, b\n1, x\n\n2 ,y\n").unwrap();
        let t = read_csv(&p, &CsvFormat::default()).unwrap();
        assert_eq!(t.columns, ["a", "b"]);
        assert_eq!(t.rows, [["1", "x"], ["2", "y"]]);
        assert_eq!(t.lines, [2, 4]);
        assert_eq!(t.column("b").unwrap(), 1);
        let e = t.column("c").unwrap_err().to_string();
        assert!(e.ends_with("t.csv:1: no column `c` (columns: a, b)"), "{e}");
        std::fs::write(&p, "a,b\n1,x\n2\n").unwrap();
        let e = read_csv(&p, &CsvFormat::default()).unwrap_err().to_string();
        assert!(
            e.ends_with("t.csv:3: has 1 fields but the header has 2 (a, b)"),
            "{e}"
        );
    }
}
