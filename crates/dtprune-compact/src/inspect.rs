//! `dtprune inspect FILE.safetensors`: per-tensor shape, dtype, sparsity and norms.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::tensor_io::SafetensorsFile;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorStats {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: String,
    pub numel: usize,
    pub bytes: usize,
    /// `None` for dtypes we do not decode.
    pub zeros: Option<usize>,
    pub sparsity: Option<f64>,
    pub l1: Option<f64>,
    pub l2: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InspectReport {
    pub path: String,
    pub file_bytes: usize,
    pub tensors: Vec<TensorStats>,
    pub total_numel: usize,
    pub total_zeros: usize,
    pub total_bytes: usize,
}

impl InspectReport {
    pub fn sparsity(&self) -> f64 {
        self.total_zeros as f64 / self.total_numel.max(1) as f64
    }
}

/// Reads any safetensors file and summarises every tensor (in file order).
pub fn inspect(path: &Path) -> Result<InspectReport> {
    let file = SafetensorsFile::open(path)?;
    let mut tensors = Vec::new();
    for (name, e) in &file.entries {
        let values = file.as_f64(name);
        let numel = e.shape.iter().product();
        let (zeros, l1, l2) = match &values {
            Some(v) => (
                Some(v.iter().filter(|x| **x == 0.0).count()),
                Some(v.iter().map(|x| x.abs()).sum::<f64>()),
                Some(v.iter().map(|x| x * x).sum::<f64>().sqrt()),
            ),
            None => (None, None, None),
        };
        tensors.push(TensorStats {
            name: name.clone(),
            shape: e.shape.clone(),
            dtype: format!("{:?}", e.dtype),
            numel,
            bytes: e.range.len(),
            sparsity: zeros.map(|z| z as f64 / (numel as f64).max(1.0)),
            zeros,
            l1,
            l2,
        });
    }
    Ok(InspectReport {
        path: path.display().to_string(),
        file_bytes: file.file_len(),
        total_numel: tensors.iter().map(|t| t.numel).sum(),
        total_zeros: tensors.iter().filter_map(|t| t.zeros).sum(),
        total_bytes: tensors.iter().map(|t| t.bytes).sum(),
        tensors,
    })
}

impl std::fmt::Display for InspectReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} ({} bytes)", self.path, self.file_bytes)?;
        writeln!(
            f,
            "{:<32} {:<18} {:<5} {:>10} {:>9} {:>12} {:>12}",
            "tensor", "shape", "dtype", "numel", "sparsity", "L1", "L2"
        )?;
        let opt =
            |v: Option<f64>, p: usize| v.map(|x| format!("{x:.p$}")).unwrap_or_else(|| "-".into());
        for t in &self.tensors {
            writeln!(
                f,
                "{:<32} {:<18} {:<5} {:>10} {:>9} {:>12} {:>12}",
                t.name,
                format!("{:?}", t.shape),
                t.dtype,
                t.numel,
                t.sparsity
                    .map(|s| format!("{:.2}%", 100.0 * s))
                    .unwrap_or_else(|| "-".into()),
                opt(t.l1, 4),
                opt(t.l2, 4)
            )?;
        }
        write!(
            f,
            "total: {} tensors, {} values, {} zeros ({:.2}% sparse), {} data bytes",
            self.tensors.len(),
            self.total_numel,
            self.total_zeros,
            100.0 * self.sparsity(),
            self.total_bytes
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor_io::{write_safetensors, OwnedTensor};

    #[test]
    fn stats_hand_computed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.safetensors");
        write_safetensors(
            &p,
            &[
                (
                    "w".into(),
                    OwnedTensor::f32(vec![2, 2], &[3.0, 0.0, -4.0, 0.0]),
                ),
                ("i".into(), OwnedTensor::i32(vec![2], &[0, 5])),
            ],
            None,
        )
        .unwrap();
        let r = inspect(&p).unwrap();
        let w = r.tensors.iter().find(|t| t.name == "w").unwrap();
        assert_eq!(
            (w.zeros, w.sparsity, w.l1, w.l2),
            (Some(2), Some(0.5), Some(7.0), Some(5.0))
        );
        assert_eq!((r.total_numel, r.total_zeros), (6, 3));
        assert!(r.to_string().contains("50.00%"));
    }
}
