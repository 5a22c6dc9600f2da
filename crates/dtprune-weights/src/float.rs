//! The float dtypes a checkpoint's weights come in, read as f32 and pruned in place of their
//! own bytes: a surviving value is copied bit for bit, a pruned one becomes +0 of its dtype.
//! Every F16 and BF16 value is exactly representable in f32, so thresholds compare exactly.

use half::{bf16, f16};
use safetensors::Dtype;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatKind {
    F32,
    F16,
    BF16,
}

impl FloatKind {
    pub fn of(dtype: Dtype) -> Option<Self> {
        match dtype {
            Dtype::F32 => Some(Self::F32),
            Dtype::F16 => Some(Self::F16),
            Dtype::BF16 => Some(Self::BF16),
            _ => None,
        }
    }

    /// Bytes per value.
    pub fn size(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F16 | Self::BF16 => 2,
        }
    }

    /// Appends the little-endian values of `bytes` to `out` as f32.
    pub fn decode(self, bytes: &[u8], out: &mut Vec<f32>) {
        match self {
            Self::F32 => out.extend(bytes.chunks_exact(4).map(f32_of)),
            Self::F16 => out.extend(bytes.chunks_exact(2).map(f16_of)),
            Self::BF16 => out.extend(bytes.chunks_exact(2).map(bf16_of)),
        }
    }

    /// Copies `bytes` to `out`, zeroing every value with |w| < `tau`; returns how many values
    /// of the result are zero.
    pub fn prune(self, bytes: &[u8], tau: f32, out: &mut Vec<u8>) -> usize {
        match self {
            Self::F32 => prune_with::<4>(bytes, tau, out, f32_of),
            Self::F16 => prune_with::<2>(bytes, tau, out, f16_of),
            Self::BF16 => prune_with::<2>(bytes, tau, out, bf16_of),
        }
    }

    /// How many values of `bytes` are zero (±0).
    pub fn zeros(self, bytes: &[u8]) -> usize {
        let decode = match self {
            Self::F32 => f32_of,
            Self::F16 => f16_of,
            Self::BF16 => bf16_of,
        };
        bytes.chunks_exact(self.size()).filter(|b| decode(b) == 0.0).count()
    }
}

fn f32_of(b: &[u8]) -> f32 {
    f32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn f16_of(b: &[u8]) -> f32 {
    f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32()
}

fn bf16_of(b: &[u8]) -> f32 {
    bf16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32()
}

/// One loop per dtype (`decode` inlined), so the per-value work is a compare and a copy.
fn prune_with<const N: usize>(bytes: &[u8], tau: f32, out: &mut Vec<u8>, decode: fn(&[u8]) -> f32) -> usize {
    let mut zeros = 0;
    for b in bytes.chunks_exact(N) {
        let v = decode(b);
        if v.abs() < tau {
            out.extend_from_slice(&[0u8; N]);
            zeros += 1;
        } else {
            out.extend_from_slice(b);
            zeros += usize::from(v == 0.0);
        }
    }
    zeros
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_dtype() {
        let mut out = Vec::new();
        FloatKind::F32.decode(&(-1.5f32).to_le_bytes(), &mut out);
        // f16 0x3C00 = 1.0, 0xC000 = -2.0; bf16 0x3F80 = 1.0, 0x4049 = 3.140625
        FloatKind::F16.decode(&[0x00, 0x3C, 0x00, 0xC0], &mut out);
        FloatKind::BF16.decode(&[0x80, 0x3F, 0x49, 0x40], &mut out);
        assert_eq!(out, vec![-1.5, 1.0, -2.0, 1.0, 3.140625]);
    }

    #[test]
    fn prunes_below_tau_keeps_the_rest_bit_for_bit() {
        // bf16 values 1.0, -0.5 (0xBF00), 3.140625; tau 1.0 prunes only -0.5.
        let src = [0x80, 0x3F, 0x00, 0xBF, 0x49, 0x40];
        let mut out = Vec::new();
        assert_eq!(FloatKind::BF16.prune(&src, 1.0, &mut out), 1);
        assert_eq!(out, vec![0x80, 0x3F, 0x00, 0x00, 0x49, 0x40]);
        // f32: tau 0 prunes nothing; the existing zero is counted
        let src: Vec<u8> = [0.0f32, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut out = Vec::new();
        assert_eq!(FloatKind::F32.prune(&src, 0.0, &mut out), 1);
        assert_eq!(out, src);
        assert_eq!(FloatKind::F32.zeros(&src), 1);
    }

    #[test]
    fn only_float_dtypes() {
        assert_eq!(FloatKind::of(Dtype::F16), Some(FloatKind::F16));
        assert_eq!(FloatKind::of(Dtype::I64), None);
        assert_eq!(FloatKind::of(Dtype::F64), None);
    }
}
