//! A gzip IDX stream is inflated only as far as the IDX header inside it announces: trailing
//! data is counted exactly up to a bound, a stream that goes on beyond it (a "gzip bomb") is
//! refused without being inflated, and a malformed or truncated stream keeps its own error.

use std::io::Write;
use std::path::Path;

use dtprune_data::idx::{decode_maybe_gzip, parse_idx_labels};
use dtprune_data::{DataError, FormatProblem};

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// IDX labels: magic `00 00 08 01`, the count, the labels.
fn labels(count: u32, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 1];
    b.extend_from_slice(&count.to_be_bytes());
    b.extend_from_slice(payload);
    b
}

fn problem(r: Result<Vec<u8>, DataError>) -> FormatProblem {
    match r {
        Err(DataError::Format { problem, path }) => {
            assert_eq!(path, Path::new("x.gz"));
            problem
        }
        other => panic!("expected a format error, got {other:?}"),
    }
}

#[test]
fn exact_stream_inflates_whole_and_raw_bytes_pass_through() {
    let raw = labels(3, &[1, 2, 3]);
    assert_eq!(decode_maybe_gzip(Path::new("x.gz"), gzip(&raw)).unwrap(), raw);
    assert_eq!(decode_maybe_gzip(Path::new("x"), raw.clone()).unwrap(), raw);
}

#[test]
fn trailing_bytes_are_counted_exactly() {
    // 8 header bytes + 3 labels announced: 11; 5 more follow.
    let p = problem(decode_maybe_gzip(Path::new("x.gz"), gzip(&labels(3, &[1, 2, 3, 0, 0, 0, 0, 0]))));
    assert!(matches!(p, FormatProblem::TrailingBytes { expected: 11, extra: 5 }), "{p:?}");
}

#[test]
fn a_gzip_bomb_stops_at_the_bound() {
    // 10 labels announced, 64 MiB of zeros after them: only 18 + 1 MiB are inflated.
    let mut raw = labels(10, &[0; 10]);
    raw.resize(raw.len() + (64 << 20), 0);
    let bomb = gzip(&raw);
    assert!(bomb.len() < 200_000);
    let p = problem(decode_maybe_gzip(Path::new("x.gz"), bomb));
    assert!(matches!(p, FormatProblem::Oversized { expected: 18, more_than: 1_048_576 }), "{p:?}");
    assert_eq!(
        p.to_string(),
        "decompresses to more than 1048576 byte(s) past the 18 bytes the header announces (stopped reading there)"
    );
}

#[test]
fn truncated_and_malformed_streams_keep_their_errors() {
    // Announces 100 labels, holds 3: inflated whole, then the parser says truncated.
    let short = decode_maybe_gzip(Path::new("x.gz"), gzip(&labels(100, &[1, 2, 3]))).unwrap();
    let err = parse_idx_labels(Path::new("x.gz"), short).unwrap_err().to_string();
    assert!(err.contains("header announces 108 bytes but file has 11"), "{err}");
    // A bad magic: only the first 4 bytes are inflated, enough for the parser's message.
    let bad = decode_maybe_gzip(Path::new("x.gz"), gzip(&[7u8; 1000])).unwrap();
    assert_eq!(bad, vec![7u8; 4]);
    // A stream whose CRC does not match its data is a gzip error naming the file: the bytes
    // after the announced ones are read to the end of the stream, and the trailer checked.
    let mut gz = gzip(&labels(3, &[1, 2, 3]));
    let n = gz.len();
    gz[n - 8] ^= 0xff;
    match decode_maybe_gzip(Path::new("x.gz"), gz) {
        Err(DataError::Gzip { path, .. }) => assert_eq!(path, Path::new("x.gz")),
        other => panic!("expected a gzip error, got {other:?}"),
    }
}
