//! The number formats: what an int8 weight and a 7-bit activation mean.
//!
//! * **Weights**: symmetric int8 per output channel (row): `w ≈ s_r · q`, `s_r = max|w_r| / 127`,
//!   `q = rint(w / s_r)` in `-127..=127` (never −128, so `|q| · 127 · 2` fits the i16 pair sums
//!   of `vpmaddubsw`). An all-zero row gets `s_r = 0` and all-zero `q`: its output is its bias,
//!   exactly as in f32.
//! * **Activations**: per tensor, asymmetric, unsigned 7-bit: `x ≈ s · (q − z)`, `q` in `0..=127`.
//!   Seven bits, not eight, because `vpmaddubsw` multiplies *unsigned* by signed bytes and sums
//!   pairs in i16 with saturation: 255 · 127 · 2 overflows, 127 · 127 · 2 does not (onnxruntime's
//!   AVX2 path reduces the range for the same reason). The range `[lo, hi]` always contains 0
//!   (so zero padding and ReLU zeros are exact); `s = (hi − lo) / 127`, `z = rint(−lo / s)`.
//!   A tensor that is all zeros gets `s = 1, z = 0`.
//! * Quantising a value: `q = clamp(rint(x · (1/s) + z), 0, 127)` in f32 (ties to even, as
//!   numpy's `rint`), NaN → 0.

use serde::{Deserialize, Serialize};

/// Largest 7-bit activation code.
pub const ACT_MAX: f32 = 127.0;

/// Per-tensor activation parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActQuant {
    pub scale: f32,
    pub zero_point: u8,
}

impl ActQuant {
    /// The parameters covering `[min, max]` (widened to contain 0).
    pub fn from_range(min: f32, max: f32) -> ActQuant {
        let (lo, hi) = (min.min(0.0), max.max(0.0));
        let span = hi - lo;
        if !(span > 0.0) || !span.is_finite() {
            return ActQuant { scale: 1.0, zero_point: 0 };
        }
        let scale = span / ACT_MAX;
        let zero_point = (-lo / scale).round_ties_even().clamp(0.0, ACT_MAX) as u8;
        ActQuant { scale, zero_point }
    }

    /// The parameters of a tensor's own range (dynamic quantisation).
    pub fn of(x: &[f32]) -> ActQuant {
        let (lo, hi) = min_max(x);
        ActQuant::from_range(lo, hi)
    }

    /// `out[i] = clamp(rint(x[i] / s + z), 0, 127)`.
    pub fn quantize(&self, x: &[f32], out: &mut [u8]) {
        quantize_into(x, 1.0 / self.scale, self.zero_point as f32, out)
    }
}

crate::simd::multiversion! {
    /// Clamped first (`max` maps NaN to 0), then rounded by adding 2^23: in `[2^23, 2^23 + 127]`
    /// an f32 has unit spacing, so the add rounds to the nearest integer, ties to even, and the
    /// integer is the low byte of the bits. Plain float ops and a truncation, which vectorise
    /// (`round_ties_even` + a saturating `as u8` did not: 40% of an int8 LeNet-300 pass).
    fn quantize_into(x: &[f32], inv: f32, z: f32, out: &mut [u8]) {
        for (o, &v) in out.iter_mut().zip(x) {
            let t = (v * inv + z).max(0.0).min(ACT_MAX);
            *o = (t + 8_388_608.0).to_bits() as u8;
        }
    }
}

crate::simd::multiversion! {
    /// `(min, max)` of the finite values (`(0, 0)` for none).
    pub fn min_max(x: &[f32]) -> (f32, f32) {
        let (mut lo, mut hi) = ([0f32; 8], [0f32; 8]);
        let chunks = x.chunks_exact(8);
        let rest = chunks.remainder();
        for c in chunks {
            for l in 0..8 {
                lo[l] = lo[l].min(c[l]);
                hi[l] = hi[l].max(c[l]);
            }
        }
        let (mut a, mut b) = (lo.iter().copied().fold(0f32, f32::min), hi.iter().copied().fold(0f32, f32::max));
        for &v in rest {
            a = a.min(v);
            b = b.max(v);
        }
        (a, b)
    }
}

/// One row's symmetric int8 weights: `(scale, codes)`.
pub fn quantize_row(w: &[f32]) -> (f32, Vec<i8>) {
    let max = w.iter().fold(0f32, |m, v| m.max(v.abs()));
    if max == 0.0 {
        return (0.0, vec![0; w.len()]);
    }
    let scale = max / 127.0;
    (scale, w.iter().map(|&v| (v / scale).round_ties_even().clamp(-127.0, 127.0) as i8).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_hand_computed() {
        let (s, q) = quantize_row(&[0.5, -1.27, 0.0, 0.635, 0.004]);
        assert_eq!(s, 0.01);
        // 0.5/0.01 = 50, −127, 0, 63.5 → 64 (ties to even), 0.4 → 0.
        assert_eq!(q, vec![50, -127, 0, 64, 0]);
        assert_eq!(quantize_row(&[0.0, 0.0]), (0.0, vec![0, 0]), "an all-zero row: scale 0, its output is the bias");
    }

    #[test]
    fn activations_hand_computed() {
        // [−1, 3]: s = 4/127, z = rint(127/4) = rint(31.75) = 32.
        let a = ActQuant::from_range(-1.0, 3.0);
        assert_eq!((a.scale, a.zero_point), (4.0 / 127.0, 32));
        let mut q = [0u8; 5];
        a.quantize(&[-1.0, 0.0, 3.0, 100.0, f32::NAN], &mut q);
        // −1·31.75 + 32 = 0.25 → 0; 0 → z; 3·31.75 + 32 = 127.25 → 127; clamped; NaN → 0.
        assert_eq!(q, [0, 32, 127, 127, 0]);
        // Non-negative (after ReLU): z = 0; the range is widened to contain 0.
        let r = ActQuant::from_range(0.5, 2.54);
        assert_eq!((r.scale, r.zero_point), (2.54 / 127.0, 0));
        assert_eq!(ActQuant::from_range(0.0, 0.0), ActQuant { scale: 1.0, zero_point: 0 });
        assert_eq!(min_max(&[3.0, -2.0, 1.0, 0.5, 9.0, -7.5, 1.0, 2.0, 4.0, -8.0]), (-8.0, 9.0));
    }
}
