//! Reading and writing safetensors files, with errors that name the tensor at fault.
//!
//! The `safetensors` crate validates files but reports a truncated file as a bare
//! "metadata incomplete buffer". We read the header ourselves first so that the error says
//! which tensor's bytes are missing, then let the crate validate everything else.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde::Deserialize;

use crate::error::{CompactError, Result};

/// A dense f32 tensor in row-major (C) order.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Tensor {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Tensor {
        assert_eq!(
            shape.iter().product::<usize>(),
            data.len(),
            "shape/data mismatch"
        );
        Tensor { shape, data }
    }
    pub fn zeros(shape: Vec<usize>) -> Tensor {
        let n = shape.iter().product();
        Tensor {
            shape,
            data: vec![0.0; n],
        }
    }
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// A `[rows, cols]` matrix without the rows in `drop`.
    pub fn keep_rows(&self, drop: &[usize]) -> Tensor {
        let cols = self.shape[1];
        let rows: Vec<usize> = (0..self.shape[0]).filter(|r| !drop.contains(r)).collect();
        Tensor::new(vec![rows.len(), cols], rows.iter().flat_map(|&r| self.data[r * cols..(r + 1) * cols].iter().copied()).collect())
    }

    /// A `[rows, cols]` matrix without the columns in `drop`.
    pub fn keep_cols(&self, drop: &[usize]) -> Tensor {
        let cols: Vec<usize> = (0..self.shape[1]).filter(|c| !drop.contains(c)).collect();
        Tensor::new(vec![self.shape[0], cols.len()], self.data.chunks_exact(self.shape[1].max(1)).flat_map(|row| cols.iter().map(|&c| row[c])).collect())
    }

    /// A vector without the entries in `drop`.
    pub fn keep_entries(&self, drop: &[usize]) -> Tensor {
        let v: Vec<f32> = self.data.iter().enumerate().filter(|(i, _)| !drop.contains(i)).map(|(_, v)| *v).collect();
        Tensor::new(vec![v.len()], v)
    }
}

#[derive(Deserialize)]
struct HeaderEntry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: (usize, usize),
}

/// Where one tensor lives in a file.
#[derive(Clone, Debug)]
pub struct TensorEntry {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    /// Absolute byte range in the file.
    pub range: std::ops::Range<usize>,
}

/// A safetensors file read fully into memory and validated.
pub struct SafetensorsFile {
    pub path: PathBuf,
    bytes: Vec<u8>,
    /// Tensors in file (offset) order.
    pub entries: Vec<(String, TensorEntry)>,
    index: HashMap<String, usize>,
    pub metadata: Option<HashMap<String, String>>,
}

impl SafetensorsFile {
    pub fn open(path: &Path) -> Result<SafetensorsFile> {
        let bytes = std::fs::read(path).map_err(|e| CompactError::io(path, e))?;
        Self::from_bytes(path, bytes)
    }

    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<SafetensorsFile> {
        let bad = |reason: String| CompactError::BadSafetensors {
            path: path.to_owned(),
            reason,
        };
        if bytes.len() < 8 {
            return Err(bad(format!(
                "file has {} bytes, shorter than the 8-byte header length",
                bytes.len()
            )));
        }
        let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
        let header_end = 8usize
            .checked_add(n)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| {
                bad(format!(
                    "header claims {n} bytes but the file has only {}",
                    bytes.len() - 8
                ))
            })?;
        let header: BTreeMap<String, serde_json::Value> =
            serde_json::from_slice(&bytes[8..header_end])
                .map_err(|e| bad(format!("header is not valid JSON: {e}")))?;
        let available = bytes.len() - header_end;
        let mut metadata = None;
        let mut entries = Vec::new();
        for (name, value) in header {
            if name == "__metadata__" {
                metadata = serde_json::from_value(value).ok();
                continue;
            }
            let e: HeaderEntry = serde_json::from_value(value)
                .map_err(|err| bad(format!("tensor `{name}`: malformed header entry: {err}")))?;
            if e.data_offsets.0 > e.data_offsets.1 {
                return Err(bad(format!(
                    "tensor `{name}`: data_offsets [{}, {}] end before they start",
                    e.data_offsets.0, e.data_offsets.1
                )));
            }
            if e.data_offsets.1 > available {
                return Err(CompactError::TruncatedTensor {
                    path: path.to_owned(),
                    name,
                    needed: e.data_offsets.1,
                    available,
                });
            }
            let dtype: Dtype =
                serde_json::from_value(serde_json::Value::String(e.dtype.clone()))
                    .map_err(|_| bad(format!("tensor `{name}`: unknown dtype {}", e.dtype)))?;
            entries.push((
                name,
                TensorEntry {
                    dtype,
                    shape: e.shape,
                    range: header_end + e.data_offsets.0..header_end + e.data_offsets.1,
                },
            ));
        }
        // The crate's own validation: contiguous offsets, sizes matching shape x dtype, ...
        SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
        entries.sort_by_key(|(_, e)| e.range.start);
        let index = entries
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (n.clone(), i))
            .collect();
        Ok(SafetensorsFile {
            path: path.to_owned(),
            bytes,
            entries,
            index,
            metadata,
        })
    }

    pub fn file_len(&self) -> usize {
        self.bytes.len()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    pub fn entry(&self, name: &str) -> Option<&TensorEntry> {
        self.index.get(name).map(|&i| &self.entries[i].1)
    }

    /// Raw little-endian bytes of a tensor.
    pub fn raw(&self, name: &str) -> Option<&[u8]> {
        self.entry(name).map(|e| &self.bytes[e.range.clone()])
    }

    /// Reads an F32 tensor, checking presence, dtype, shape (if given) and finiteness.
    pub fn f32(&self, name: &str, expected_shape: Option<&[usize]>) -> Result<Tensor> {
        let e = self
            .entry(name)
            .ok_or_else(|| CompactError::MissingTensor {
                path: self.path.clone(),
                name: name.into(),
            })?;
        if e.dtype != Dtype::F32 {
            return Err(CompactError::WrongDtype {
                path: self.path.clone(),
                name: name.into(),
                expected: "F32".into(),
                found: format!("{:?}", e.dtype),
            });
        }
        if let Some(s) = expected_shape {
            if s != e.shape.as_slice() {
                return Err(CompactError::WrongShape {
                    path: self.path.clone(),
                    name: name.into(),
                    expected: s.to_vec(),
                    found: e.shape.clone(),
                });
            }
        }
        let data = f32_from_le(&self.bytes[e.range.clone()]);
        if data.iter().any(|v| !v.is_finite()) {
            return Err(CompactError::NonFinite {
                path: self.path.clone(),
                name: name.into(),
            });
        }
        Ok(Tensor::new(e.shape.clone(), data))
    }

    /// Reads any numeric tensor as f64 values (for statistics); `None` for dtypes we do not decode.
    pub fn as_f64(&self, name: &str) -> Option<Vec<f64>> {
        let e = self.entry(name)?;
        let b = &self.bytes[e.range.clone()];
        macro_rules! conv {
            ($t:ty, $n:expr) => {
                b.chunks_exact($n)
                    .map(|c| <$t>::from_le_bytes(c.try_into().unwrap()) as f64)
                    .collect()
            };
        }
        Some(match e.dtype {
            Dtype::F32 => conv!(f32, 4),
            Dtype::F64 => conv!(f64, 8),
            Dtype::I32 => conv!(i32, 4),
            Dtype::I64 => conv!(i64, 8),
            Dtype::U32 => conv!(u32, 4),
            Dtype::U64 => conv!(u64, 8),
            Dtype::I16 => conv!(i16, 2),
            Dtype::U16 => conv!(u16, 2),
            Dtype::U8 => b.iter().map(|&v| v as f64).collect(),
            Dtype::I8 => b.iter().map(|&v| v as i8 as f64).collect(),
            Dtype::BOOL => b.iter().map(|&v| (v != 0) as u8 as f64).collect(),
            Dtype::F16 => b
                .chunks_exact(2)
                .map(|c| f16_to_f64(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
            Dtype::BF16 => b
                .chunks_exact(2)
                .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16) as f64)
                .collect(),
            _ => return None,
        })
    }
}

fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let frac = (h & 0x3ff) as f64;
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 => {
            if frac == 0.0 {
                f64::INFINITY
            } else {
                f64::NAN
            }
        }
        e => (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}

pub fn f32_from_le(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect()
}

/// A tensor to be written: dtype, shape and little-endian bytes.
pub struct OwnedTensor {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

impl OwnedTensor {
    pub fn f32(shape: Vec<usize>, data: &[f32]) -> OwnedTensor {
        OwnedTensor {
            dtype: Dtype::F32,
            shape,
            bytes: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
    pub fn i32(shape: Vec<usize>, data: &[i32]) -> OwnedTensor {
        OwnedTensor {
            dtype: Dtype::I32,
            shape,
            bytes: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
    pub fn i64(shape: Vec<usize>, data: &[i64]) -> OwnedTensor {
        OwnedTensor {
            dtype: Dtype::I64,
            shape,
            bytes: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
    pub fn u8(shape: Vec<usize>, data: &[u8]) -> OwnedTensor {
        OwnedTensor {
            dtype: Dtype::U8,
            shape,
            bytes: data.to_vec(),
        }
    }
}

/// Serialises tensors to safetensors bytes.
pub fn serialize(
    tensors: &[(String, OwnedTensor)],
    metadata: Option<HashMap<String, String>>,
    path: &Path,
) -> Result<Vec<u8>> {
    let views = tensors
        .iter()
        .map(|(n, t)| {
            TensorView::new(t.dtype, t.shape.clone(), &t.bytes)
                .map(|v| (n.clone(), v))
                .map_err(|e| CompactError::Serialize {
                    path: path.to_owned(),
                    reason: format!("tensor `{n}`: {e}"),
                })
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, metadata).map_err(|e| CompactError::Serialize {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// Writes a file atomically (see `dtprune-fs`), so a reader never sees a half-written model.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    dtprune_fs::write_atomic(path, bytes).map_err(|e| CompactError::io(path, e))
}

/// Serialises and writes a safetensors file atomically.
pub fn write_safetensors(
    path: &Path,
    tensors: &[(String, OwnedTensor)],
    metadata: Option<HashMap<String, String>>,
) -> Result<u64> {
    let bytes = serialize(tensors, metadata, path)?;
    write_atomic(path, &bytes)?;
    Ok(bytes.len() as u64)
}

/// Every tensor of `shapes` read from `file` with its shape checked, masks multiplied in (a
/// tensor `masks` lists has its masked entries set to exact zeros).
pub fn read_masked(file: &SafetensorsFile, masks: Option<&SafetensorsFile>, shapes: &[(String, Vec<usize>)]) -> Result<BTreeMap<String, Tensor>> {
    let mut params = BTreeMap::new();
    for (name, shape) in shapes {
        let mut t = file.f32(name, Some(shape))?;
        if let Some(m) = masks.filter(|m| m.contains(name)) {
            let mask = m.f32(name, Some(shape))?;
            t.data.iter_mut().zip(&mask.data).filter(|(_, &k)| k == 0.0).for_each(|(v, _)| *v = 0.0);
        }
        params.insert(name.clone(), t);
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_rows_columns_and_entries_not_dropped() {
        let t = Tensor::new(vec![3, 2], vec![1., 2., 3., 4., 5., 6.]);
        assert_eq!(t.keep_rows(&[1]).data, [1., 2., 5., 6.]);
        let c = t.keep_cols(&[0]);
        assert_eq!((c.shape, c.data), (vec![3, 1], vec![2., 4., 6.]));
        assert_eq!(t.keep_cols(&[0, 1]).shape, [3, 0]);
        assert_eq!(Tensor::new(vec![3], vec![7., 8., 9.]).keep_entries(&[0, 2]).data, [8.]);
    }

    fn sample() -> Vec<u8> {
        let t = vec![
            (
                "a.weight".to_string(),
                OwnedTensor::f32(vec![2, 2], &[1.0, 0.0, -2.0, 3.5]),
            ),
            (
                "a.bias".to_string(),
                OwnedTensor::f32(vec![2], &[0.5, 0.25]),
            ),
            ("idx".to_string(), OwnedTensor::i32(vec![3], &[1, 2, 3])),
        ];
        serialize(&t, None, Path::new("x")).unwrap()
    }

    #[test]
    fn roundtrip_and_checks() {
        let f = SafetensorsFile::from_bytes(Path::new("m.safetensors"), sample()).unwrap();
        let w = f.f32("a.weight", Some(&[2, 2])).unwrap();
        assert_eq!(w.data, vec![1.0, 0.0, -2.0, 3.5]);
        let e = f.f32("a.weight", Some(&[4])).unwrap_err().to_string();
        assert!(e.contains("a.weight") && e.contains("shape"), "{e}");
        let e = f.f32("idx", None).unwrap_err().to_string();
        assert!(
            e.contains("idx") && e.contains("I32") && e.contains("F32"),
            "{e}"
        );
        let e = f.f32("b.weight", None).unwrap_err().to_string();
        assert!(e.contains("missing tensor `b.weight`"), "{e}");
        assert_eq!(f.as_f64("idx").unwrap(), vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn truncation_names_the_tensor() {
        let mut b = sample();
        b.truncate(b.len() - 5);
        let e = SafetensorsFile::from_bytes(Path::new("m.safetensors"), b)
            .err()
            .unwrap()
            .to_string();
        // `idx` is the last tensor in the data section (offsets sorted by name on write).
        assert!(e.contains("truncated") && e.contains("idx"), "{e}");
        let e = SafetensorsFile::from_bytes(Path::new("m.safetensors"), vec![1, 2, 3])
            .err()
            .unwrap();
        assert!(e.to_string().contains("shorter than"), "{e}");
        let mut b = sample();
        b.truncate(20);
        let e = SafetensorsFile::from_bytes(Path::new("m.safetensors"), b)
            .err()
            .unwrap();
        assert!(e.to_string().contains("header claims"), "{e}");
    }

    #[test]
    fn f16_decoding() {
        assert_eq!(f16_to_f64(0x3c00), 1.0);
        assert_eq!(f16_to_f64(0xc000), -2.0);
    }
}

