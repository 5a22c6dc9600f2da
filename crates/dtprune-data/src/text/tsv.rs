//! `label<TAB>text` lines (the SMS Spam Collection's format and `text-tsv`).
//!
//! Lines are split on `\n` only (a `\r` before it is dropped), so Unicode line separators
//! inside a message stay in its text. The label is everything before the first tab, trimmed;
//! the text is everything after it. A line without a tab, an empty label and an empty text are
//! errors naming the file and line; a final newline is allowed.

use std::path::Path;

use crate::load_error::{read_text, LoadError, LoadResult};

/// One labelled text and the 1-based line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextRow {
    pub label: String,
    pub text: String,
    pub line: usize,
}

/// Reads a TSV file (gzipped or not).
pub fn read_tsv(path: &Path) -> LoadResult<Vec<TextRow>> {
    parse_tsv(path, &read_text(path)?)
}

/// Parses TSV `content` read from `path`.
pub fn parse_tsv(path: &Path, content: &str) -> LoadResult<Vec<TextRow>> {
    let content = content.strip_suffix('\n').unwrap_or(content);
    let mut rows = Vec::new();
    for (i, line) in content.split('\n').enumerate() {
        let line_no = i + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        let (label, text) = line
            .split_once('\t')
            .ok_or_else(|| LoadError::bad_line(path, line_no, "no tab: expected label<TAB>text"))?;
        let label = label.trim();
        if label.is_empty() {
            return Err(LoadError::bad_line(
                path,
                line_no,
                "empty label before the tab",
            ));
        }
        if text.trim().is_empty() {
            return Err(LoadError::bad_line(
                path,
                line_no,
                format!("empty text for label `{label}`"),
            ));
        }
        rows.push(TextRow {
            label: label.to_string(),
            text: text.to_string(),
            line: line_no,
        });
    }
    if rows.is_empty() {
        return Err(LoadError::bad_file(path, "holds no lines"));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_keeps_line_numbers() {
        let rows = parse_tsv(
            Path::new("a.tsv"),
            "ham\tOk lar...\r\nspam\tWIN\tnow\u{85}!\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].label.as_str(), rows[0].text.as_str(), rows[0].line),
            ("ham", "Ok lar...", 1)
        );
        assert_eq!(rows[1].text, "WIN\tnow\u{85}!");
    }

    #[test]
    fn errors_name_file_and_line() {
        let p = Path::new("d/train.tsv");
        let e = parse_tsv(p, "ham\tok\nspam no tab here\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "d/train.tsv:2: no tab: expected label<TAB>text"
        );
        let e = parse_tsv(p, "ham\tok\nham\t  \n").unwrap_err();
        assert_eq!(e.to_string(), "d/train.tsv:2: empty text for label `ham`");
        let e = parse_tsv(p, "\tok\n").unwrap_err();
        assert_eq!(e.to_string(), "d/train.tsv:1: empty label before the tab");
        let e = parse_tsv(p, "ham\tok\n\nham\tok\n").unwrap_err();
        assert!(e.to_string().starts_with("d/train.tsv:2: no tab"), "{e}");
        assert!(parse_tsv(p, "").is_err());
    }
}
