//! Reader for the IDX format (the MNIST family's container): a 4-byte magic
//! `00 00 <dtype> <ndims>`, `ndims` big-endian u32 sizes, then the row-major payload.
//! Only unsigned-byte images (3-D) and labels (1-D) are supported, which covers every
//! IDX image-classification set in circulation.

use std::fs;
use std::io::Read;
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::error::{DataError, FormatProblem, Result};

/// IDX element type code for `u8`.
const DTYPE_U8: u8 = 0x08;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Images as read from one IDX file: `count` images of `rows * cols` bytes, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
}

/// Reads a whole file, transparently decompressing it when it starts with the gzip
/// magic. Detection is by content, not by extension, so a mis-named file still loads.
pub fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>> {
    let raw = fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode_maybe_gzip(path, raw)
}

/// At most this many bytes past what an IDX header announces are inflated (and counted, not
/// kept) to say how much is extra; a stream that goes on beyond is reported as longer.
const TRAILING_COUNT_LIMIT: u64 = 1 << 20;

/// [`read_maybe_gzip`] on bytes already read; `path` is only used in errors.
///
/// A gzip stream is inflated only as far as the IDX header inside it announces (plus a
/// bounded count of extra bytes), so a small hostile `.gz` that inflates to gigabytes (a
/// "gzip bomb") is an error about its size, not an exhausted memory.
pub fn decode_maybe_gzip(path: &Path, raw: Vec<u8>) -> Result<Vec<u8>> {
    if !raw.starts_with(&GZIP_MAGIC) {
        return Ok(raw);
    }
    let gzip = |source| DataError::Gzip {
        path: path.to_path_buf(),
        source,
    };
    let mut decoder = MultiGzDecoder::new(raw.as_slice());
    // The header first: the 4-byte magic, then one u32 per dimension.
    let mut inflated = Vec::new();
    (&mut decoder).take(4).read_to_end(&mut inflated).map_err(gzip)?;
    if inflated.len() == 4 && inflated[0] == 0 && inflated[1] == 0 {
        let dims_len = 4 * u64::from(inflated[3]);
        (&mut decoder).take(dims_len).read_to_end(&mut inflated).map_err(gzip)?;
    }
    // A malformed header: `parse_header` names the problem from these bytes.
    let Some(expected) = announced_len(&inflated) else {
        return Ok(inflated);
    };
    // MNIST images inflate roughly 5x; reserving avoids repeated regrowth of a 47 MB buffer
    // (but never more than announced, which a hostile header can set to anything).
    inflated.reserve(expected.min(raw.len().saturating_mul(5)));
    let rest = (expected - inflated.len()) as u64;
    (&mut decoder).take(rest).read_to_end(&mut inflated).map_err(gzip)?;
    if inflated.len() < expected {
        return Ok(inflated); // truncated: `parse_header` says so with both lengths
    }
    let extra = std::io::copy(&mut (&mut decoder).take(TRAILING_COUNT_LIMIT), &mut std::io::sink())
        .map_err(gzip)?;
    match extra {
        0 => Ok(inflated),
        TRAILING_COUNT_LIMIT => Err(format_error(path)(FormatProblem::Oversized {
            expected,
            more_than: TRAILING_COUNT_LIMIT as usize,
        })),
        extra => Err(format_error(path)(FormatProblem::TrailingBytes {
            expected,
            extra: extra as usize,
        })),
    }
}

/// The total file length (header and payload) an IDX header announces, or `None` when
/// `bytes` does not start with a complete, representable header.
fn announced_len(bytes: &[u8]) -> Option<usize> {
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return None;
    }
    let header_len = 4 + 4 * usize::from(bytes[3]);
    bytes
        .get(4..header_len)?
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .try_fold(1usize, |acc, d| acc.checked_mul(d))?
        .checked_add(header_len)
}

/// Validates an IDX header against the expected rank and exact payload length, returning
/// the dimension sizes and the header length.
fn parse_header(
    bytes: &[u8],
    expected_dims: u8,
    kind: &'static str,
) -> Result<(Vec<usize>, usize), FormatProblem> {
    if bytes.len() < 4 {
        return Err(FormatProblem::TooShort { len: bytes.len() });
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(FormatProblem::BadMagic { found: magic });
    }
    if bytes[2] != DTYPE_U8 {
        return Err(FormatProblem::UnsupportedDtype { dtype: bytes[2] });
    }
    if bytes[3] != expected_dims {
        return Err(FormatProblem::WrongDims {
            found: bytes[3],
            expected: expected_dims,
            kind,
        });
    }
    let header_len = 4 + 4 * usize::from(expected_dims);
    if bytes.len() < header_len {
        return Err(FormatProblem::TooShort { len: bytes.len() });
    }
    let dims_u32: Vec<u32> = bytes[4..header_len]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let dims: Vec<usize> = dims_u32.iter().map(|&d| d as usize).collect();
    let expected_len = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .and_then(|payload| payload.checked_add(header_len))
        .ok_or(FormatProblem::SizeOverflow { dims: dims_u32 })?;
    match bytes.len() {
        actual if actual < expected_len => Err(FormatProblem::Truncated {
            expected: expected_len,
            actual,
        }),
        actual if actual > expected_len => Err(FormatProblem::TrailingBytes {
            expected: expected_len,
            extra: actual - expected_len,
        }),
        _ => Ok((dims, header_len)),
    }
}

fn format_error(path: &Path) -> impl FnOnce(FormatProblem) -> DataError + '_ {
    move |problem| DataError::Format {
        path: path.to_path_buf(),
        problem,
    }
}

/// Parses already-read bytes as a 3-D `u8` image file; `path` is only used in errors.
pub fn parse_idx_images(path: &Path, mut bytes: Vec<u8>) -> Result<IdxImages> {
    let (dims, header_len) =
        parse_header(&bytes, 3, "images: count x rows x cols").map_err(format_error(path))?;
    let (count, rows, cols) = (dims[0], dims[1], dims[2]);
    if rows == 0 || cols == 0 {
        return Err(format_error(path)(FormatProblem::EmptyImages {
            rows,
            cols,
        }));
    }
    bytes.drain(..header_len);
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels: bytes,
    })
}

/// Parses already-read bytes as a 1-D `u8` label file; `path` is only used in errors.
pub fn parse_idx_labels(path: &Path, mut bytes: Vec<u8>) -> Result<Vec<u8>> {
    let (_, header_len) = parse_header(&bytes, 1, "labels: count").map_err(format_error(path))?;
    bytes.drain(..header_len);
    Ok(bytes)
}

/// Reads and validates an IDX image file (raw or gzip).
pub fn read_idx_images(path: &Path) -> Result<IdxImages> {
    parse_idx_images(path, read_maybe_gzip(path)?)
}

/// Reads and validates an IDX label file (raw or gzip).
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>> {
    parse_idx_labels(path, read_maybe_gzip(path)?)
}

/// Checks that every label is a valid class index, reporting the first offender.
pub fn check_labels(path: &Path, labels: &[u8], num_classes: usize) -> Result<()> {
    match labels.iter().position(|&l| usize::from(l) >= num_classes) {
        Some(index) => Err(DataError::LabelOutOfRange {
            path: path.to_path_buf(),
            index,
            label: labels[index],
            num_classes,
        }),
        None => Ok(()),
    }
}

/// Checks that an image file and its label file describe the same number of items.
pub fn check_counts(
    images_path: &Path,
    images: &IdxImages,
    labels_path: &Path,
    labels: &[u8],
) -> Result<()> {
    if images.count == labels.len() {
        Ok(())
    } else {
        Err(DataError::CountMismatch {
            images_path: images_path.to_path_buf(),
            labels_path: labels_path.to_path_buf(),
            images: images.count,
            labels: labels.len(),
        })
    }
}
