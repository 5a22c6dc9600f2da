//! Incremental writer of one TensorBoard event file.
//!
//! The file is a sequence of TFRecords: `u64 LE length`, `u32 LE masked CRC32C(length bytes)`,
//! `data`, `u32 LE masked CRC32C(data)`, where `data` is one protobuf `Event`. The first record
//! carries `file_version = "brain.Event:2"`, which TensorBoard uses to recognise the format.
//! Records are appended through a buffer; call [`EventWriter::flush`] at each epoch end so a
//! live TensorBoard (and a run killed later) sees everything up to there. TensorBoard stops
//! cleanly at a truncated last record, so a crash mid-write loses at most that record.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::crc32c::masked_crc32c;
use super::proto::{self, Histogram, Value};
use crate::error::{ReportError, Result};

/// Equal-width buckets used for weight histograms: enough to see the gap pruning cuts around
/// zero, few enough that an event stays small for large tensors.
pub const HISTOGRAM_BUCKETS: usize = 30;

/// Appends scalar and histogram summaries to a fresh `events.out.tfevents.<secs>.<host>` file.
#[derive(Debug)]
pub struct EventWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl EventWriter {
    /// Creates `dir` if needed and a new event file in it. Never appends to or replaces an
    /// existing file: if the name is taken (two writers in the same second) a `.N` suffix is
    /// added, which TensorBoard still recognises (it matches on `tfevents` in the name).
    pub fn create(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        fs::create_dir_all(dir).map_err(|e| ReportError::io(dir, e))?;
        let now = now_secs();
        let base = format!("events.out.tfevents.{}.{}", now as u64, hostname());
        let mut n = 0u32;
        let (path, file) = loop {
            let name = if n == 0 {
                base.clone()
            } else {
                format!("{base}.{n}")
            };
            let path = dir.join(name);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(f) => break (path, f),
                Err(e) if e.kind() == ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => return Err(ReportError::io(path, e)),
            }
        };
        let mut w = EventWriter {
            path,
            out: BufWriter::new(file),
        };
        w.write_record(&proto::file_version_event(now, "brain.Event:2").0)?;
        w.flush()?;
        Ok(w)
    }

    /// Path of the event file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds one scalar (stored as f32, as TensorBoard does) at `step`, stamped with the
    /// current time.
    pub fn add_scalar(&mut self, tag: &str, value: f64, step: u64) -> Result<()> {
        self.add_scalars_at(&[(tag, value)], step, now_secs())
    }

    /// Adds several scalars of the same step in one event, stamped with `wall_time`
    /// (seconds since the Unix epoch). Non-finite values are written as they are; TensorBoard
    /// shows NaN/inf points.
    pub fn add_scalars_at(
        &mut self,
        values: &[(&str, f64)],
        step: u64,
        wall_time: f64,
    ) -> Result<()> {
        if values.is_empty() {
            return Ok(());
        }
        let vs: Vec<(&str, Value<'_>)> = values
            .iter()
            .map(|(t, v)| (*t, Value::Scalar(*v as f32)))
            .collect();
        let ev = proto::summary_event(wall_time, step as i64, &vs);
        self.write_record(&ev.0)
    }

    /// Adds a histogram of `values` (e.g. the unmasked weights of a tensor at a prune event).
    /// Non-finite values are left out; if nothing is left, nothing is written (a histogram of
    /// no values would only confuse TensorBoard).
    pub fn add_histogram(&mut self, tag: &str, values: &[f32], step: u64) -> Result<()> {
        match histogram(values, HISTOGRAM_BUCKETS) {
            Some(h) => {
                let ev = proto::summary_event(now_secs(), step as i64, &[(tag, Value::Histo(&h))]);
                self.write_record(&ev.0)
            }
            None => Ok(()),
        }
    }

    /// Pushes buffered records to the file.
    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| ReportError::io(&self.path, e))
    }

    fn write_record(&mut self, data: &[u8]) -> Result<()> {
        let rec = frame_record(data);
        self.out
            .write_all(&rec)
            .map_err(|e| ReportError::io(&self.path, e))
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        // Best effort: an error here has nowhere to go; callers who care call flush().
        let _ = self.out.flush();
    }
}

/// One TFRecord around `data`.
pub fn frame_record(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut rec = Vec::with_capacity(data.len() + 16);
    rec.extend_from_slice(&len);
    rec.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    rec.extend_from_slice(data);
    rec.extend_from_slice(&masked_crc32c(data).to_le_bytes());
    rec
}

/// Equal-width histogram of the finite values, `None` if there are none. `bucket_limit` holds
/// the right edges (the last is exactly `max`); a constant tensor gives a single bucket.
pub fn histogram(values: &[f32], buckets: usize) -> Option<Histogram> {
    let vals: Vec<f64> = values
        .iter()
        .filter(|v| v.is_finite())
        .map(|&v| v as f64)
        .collect();
    if vals.is_empty() {
        return None;
    }
    let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let max = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = vals.iter().sum();
    let sum_squares: f64 = vals.iter().map(|v| v * v).sum();
    let (bucket_limit, bucket) = if min == max || buckets <= 1 {
        (vec![max], vec![vals.len() as f64])
    } else {
        let width = (max - min) / buckets as f64;
        let mut limits: Vec<f64> = (1..=buckets).map(|i| min + width * i as f64).collect();
        limits[buckets - 1] = max;
        let mut counts = vec![0.0; buckets];
        for v in &vals {
            let i = (((v - min) / width) as usize).min(buckets - 1);
            counts[i] += 1.0;
        }
        (limits, counts)
    };
    Some(Histogram {
        min,
        max,
        num: vals.len() as f64,
        sum,
        sum_squares,
        bucket_limit,
        bucket,
    })
}

pub(crate) fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Host name for the file name, as TensorFlow does; no libc call needed on Linux.
fn hostname() -> String {
    let raw = fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let clean: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() {
        "localhost".to_string()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tb::crc32c::mask;

    #[test]
    fn record_framing() {
        let rec = frame_record(b"");
        assert_eq!(rec.len(), 16);
        assert_eq!(&rec[..8], &[0; 8]);
        // crc32c of an empty payload is 0, so its mask is the bare constant.
        assert_eq!(&rec[12..16], &0xa282_ead8u32.to_le_bytes());

        let rec = frame_record(b"123456789");
        assert_eq!(&rec[..8], &9u64.to_le_bytes());
        assert_eq!(&rec[12..21], b"123456789");
        assert_eq!(&rec[21..25], &mask(0xE306_9283).to_le_bytes());
    }

    #[test]
    fn histogram_buckets() {
        // min 0, max 3, 3 buckets of width 1: right edges 1, 2, 3.
        let h = histogram(&[0.0, 0.5, 1.5, 3.0, f32::NAN], 3).unwrap();
        assert_eq!(h.bucket_limit, vec![1.0, 2.0, 3.0]);
        assert_eq!(h.bucket, vec![2.0, 1.0, 1.0]);
        assert_eq!((h.min, h.max, h.num), (0.0, 3.0, 4.0));
        assert_eq!(h.sum, 5.0);
        assert_eq!(h.sum_squares, 0.25 + 2.25 + 9.0);

        let h = histogram(&[2.0, 2.0], 30).unwrap();
        assert_eq!(
            (h.bucket_limit.clone(), h.bucket.clone()),
            (vec![2.0], vec![2.0])
        );
        assert!(histogram(&[f32::INFINITY], 30).is_none());
    }

    #[test]
    fn writer_starts_with_file_version_and_never_overwrites() {
        let d = tempfile::tempdir().unwrap();
        let mut a = EventWriter::create(d.path()).unwrap();
        let b = EventWriter::create(d.path()).unwrap();
        assert_ne!(a.path(), b.path());
        a.add_scalar("x", 1.0, 1).unwrap();
        a.flush().unwrap();
        let bytes = fs::read(a.path()).unwrap();
        let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let data = &bytes[12..12 + len];
        assert!(data.windows(13).any(|w| w == b"brain.Event:2"));
        // A second record follows the first one.
        assert!(bytes.len() > 16 + len);
    }
}
