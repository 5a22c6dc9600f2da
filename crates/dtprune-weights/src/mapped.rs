//! A safetensors file opened by memory map: the header parsed and validated (by the
//! `safetensors` crate), the tensors listed in file order, their bytes read chunk by chunk.
//!
//! Mapped pages that were read count toward the process's resident size until they are
//! unmapped, so after each chunk its pages are dropped from this mapping (`MADV_DONTNEED`):
//! the data stays in the kernel's page cache (a later pass re-reads it from memory, not from
//! disk), and the resident size stays at about one chunk however large the file is.

use crate::error::WeightsError;
use crate::float::FloatKind;
use memmap2::{Mmap, UncheckedAdvice};
use safetensors::{Dtype, SafeTensorError, SafeTensors};
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Bytes read (and released) at a time: a multiple of every element size.
pub const CHUNK_BYTES: usize = 4 << 20;

/// One tensor of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorEntry {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    /// Where its bytes are, from the start of the file.
    pub bytes: Range<usize>,
}

impl TensorEntry {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn float_kind(&self) -> Option<FloatKind> {
        FloatKind::of(self.dtype)
    }
}

pub struct MappedCheckpoint {
    path: PathBuf,
    map: Mmap,
    header_len: usize,
    entries: Vec<TensorEntry>,
}

impl MappedCheckpoint {
    pub fn open(path: &Path) -> Result<Self, WeightsError> {
        let read = |source| WeightsError::Read { path: path.to_path_buf(), source };
        let file = File::open(path).map_err(read)?;
        if file.metadata().map_err(read)?.is_dir() {
            return Err(read(std::io::Error::new(std::io::ErrorKind::InvalidInput, "is a directory")));
        }
        // SAFETY: the map is only read. Like every memory-mapped reader (safetensors' own
        // Python loader too), a file truncated by another process while we run would fault.
        let map = unsafe { Mmap::map(&file) }.map_err(read)?;
        let format = |message: String| WeightsError::Format { path: path.to_path_buf(), message };
        let (n, metadata) = SafeTensors::read_metadata(&map).map_err(|e| format(explain(&map, e)))?;
        let header_len = 8 + n;
        let entries = metadata
            .offset_keys()
            .into_iter()
            .map(|name| {
                let info = metadata.info(&name).expect("offset_keys lists known tensors");
                let (start, end) = info.data_offsets;
                TensorEntry { dtype: info.dtype, shape: info.shape.clone(), bytes: header_len + start..header_len + end, name }
            })
            .collect();
        Ok(Self { path: path.to_path_buf(), map, header_len, entries })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The 8-byte length and the JSON header, exactly as in the file.
    pub fn header_bytes(&self) -> &[u8] {
        &self.map[..self.header_len]
    }

    /// The tensors in the order of their data in the file.
    pub fn entries(&self) -> &[TensorEntry] {
        &self.entries
    }

    /// Calls `f` with consecutive chunks of `range` (at most [`CHUNK_BYTES`] each), releasing
    /// each chunk's pages after use.
    pub fn for_each_chunk(&self, range: Range<usize>, mut f: impl FnMut(&[u8])) {
        let mut at = range.start;
        while at < range.end {
            let end = (at + CHUNK_BYTES).min(range.end);
            f(&self.map[at..end]);
            self.release(at..end);
            at = end;
        }
    }

    fn release(&self, range: Range<usize>) {
        // SAFETY: the map is a read-only shared file mapping, so MADV_DONTNEED discards no
        // data: the next read of these pages maps them again from the page cache. No borrow
        // of the range outlives this call's callers (the chunk slice is dropped before).
        // Failure only means the pages stay resident.
        let _ = unsafe { self.map.unchecked_advise_range(UncheckedAdvice::DontNeed, range.start, range.len()) };
    }
}

/// The `safetensors` crate's error, said with what it means for this file.
fn explain(bytes: &[u8], e: SafeTensorError) -> String {
    let declared = bytes.get(..8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    match e {
        SafeTensorError::HeaderTooSmall => format!("the file has {} bytes, fewer than the 8-byte header length", bytes.len()),
        SafeTensorError::HeaderTooLarge | SafeTensorError::InvalidHeaderLength => format!(
            "its first 8 bytes declare a {}-byte JSON header, but the file has {} bytes (a safetensors file starts with the header's length, little-endian)",
            declared.unwrap_or(0),
            bytes.len()
        ),
        SafeTensorError::InvalidHeader(e) => format!("the header is not UTF-8 ({e})"),
        SafeTensorError::InvalidHeaderDeserialization(e) => format!("the header is not safetensors JSON ({e})"),
        SafeTensorError::InvalidOffset(name) => format!("tensor `{name}`: data_offsets do not start where the previous tensor ends (the offsets must tile the data section)"),
        SafeTensorError::TensorInvalidInfo => format!("{}: data_offsets do not span dtype size x shape", culprit(bytes).unwrap_or_else(|| "a tensor".into())),
        SafeTensorError::MetadataIncompleteBuffer => "the tensors' data_offsets do not end where the file ends (truncated file, or offsets that lie)".into(),
        SafeTensorError::ValidationOverflow | SafeTensorError::MisalignedSlice => format!("a tensor's shape is impossible ({e})"),
        other => other.to_string(),
    }
}

/// The first tensor whose data_offsets span a different number of bytes than its dtype and
/// shape need (the `safetensors` crate does not say which).
fn culprit(bytes: &[u8]) -> Option<String> {
    let n = usize::try_from(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?)).ok()?;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(bytes.get(8..8 + n)?).ok()?;
    header.iter().filter(|(k, _)| *k != "__metadata__").find_map(|(name, info)| {
        let info: safetensors::tensor::TensorInfo = serde_json::from_value(info.clone()).ok()?;
        let need = info.shape.iter().product::<usize>() * info.dtype.bitsize() / 8;
        (info.data_offsets.1.checked_sub(info.data_offsets.0) != Some(need))
            .then(|| format!("tensor `{name}` ({:?} {:?} needs {need} bytes, data_offsets [{}, {}])", info.dtype, info.shape, info.data_offsets.0, info.data_offsets.1))
    })
}
