//! Pruned + int8: `dtprune compact --quantize int8`.
//!
//! The compact model's conv and linear layers get symmetric int8 weights per output channel and
//! per-tensor 7-bit activations ([`scheme`]), computed by one int8 row kernel with a plain
//! reference and an AVX2 copy picked at run time ([`kernels`]; this build has no AVX-512 VNNI
//! copy: no machine to test it on). [`layer`] is a quantised layer, [`network`] the int8 network
//! and its calibration, [`file`] the safetensors file and its record in `compact.json`.

pub mod file;
pub mod kernels;
pub mod layer;
pub mod network;
pub mod scheme;

pub use file::{export_int8, load_int8, CalibrationRecord, QuantCheck, QuantLayerRecord, QuantRecord, INT8_WEIGHTS};
pub use network::{calibrate, quantize, Activations, QuantNetwork};

/// The `--quantize` formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantFormat {
    Int8,
}

impl std::str::FromStr for QuantFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "int8" => Ok(QuantFormat::Int8),
            other => Err(format!("unknown quantization `{other}`; valid: int8")),
        }
    }
}
