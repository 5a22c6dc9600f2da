//! Per-channel normalisation of u8 pixels: `x = (pixel · scale − mean[c]) / std[c]`, with the
//! statistics computed from a training split (or declared by a data set whose content is pinned,
//! or given in the config) — never assumed.

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::set::ImageSet;

/// Pixels are first scaled to [0, 1].
pub const PIXEL_SCALE: f64 = 1.0 / 255.0;

/// Per-channel mean and standard deviation of pixel values scaled to [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalization {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Normalization {
    /// The statistics of `set`: per channel, the mean and the population standard deviation
    /// over every pixel of every image (torchvision's usual recipe), in f64.
    pub fn of(set: &ImageSet) -> Self {
        let c = set.channels();
        let plane = set.rows() * set.cols();
        let mut sum = vec![0u64; c];
        let mut sum_sq = vec![0u64; c];
        // Exact integer sums: at most 255² per pixel, so u64 holds far more images than fit in memory.
        for image in set.images().chunks_exact(c * plane) {
            for (ch, values) in image.chunks_exact(plane).enumerate() {
                for &p in values {
                    sum[ch] += u64::from(p);
                    sum_sq[ch] += u64::from(p) * u64::from(p);
                }
            }
        }
        let n = (set.len() * plane).max(1) as f64;
        let mean: Vec<f64> = sum.iter().map(|&s| s as f64 / n).collect();
        let std = sum_sq
            .iter()
            .zip(&mean)
            .map(|(&sq, &m)| (sq as f64 / n - m * m).max(0.0).sqrt())
            .collect();
        Self {
            mean: mean.iter().map(|m| m * PIXEL_SCALE).collect(),
            std: scale_all(std),
        }
    }

    /// Checks that there is one finite mean and one positive finite std per channel.
    pub fn check(&self, channels: usize) -> Result<()> {
        let bad = |message: String| Err(DataError::Normalization(message));
        if self.mean.len() != channels || self.std.len() != channels {
            return bad(format!(
                "normalisation has {} mean(s) and {} std(s) but the images have {channels} channel(s)",
                self.mean.len(),
                self.std.len()
            ));
        }
        if let Some(m) = self.mean.iter().find(|m| !m.is_finite()) {
            return bad(format!("mean {m} is not a finite number"));
        }
        if let Some(s) = self.std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return bad(format!("std {s} must be a positive finite number (a constant channel cannot be normalised)"));
        }
        Ok(())
    }

    /// Normalises channel-major images (`[.., channels, plane]`) in f32.
    ///
    /// The f32 arithmetic `(p · scale − mean) / std` is the formula `dtprune-compact`'s
    /// `Preprocess::apply` and the numpy check use, so a one-channel set gives the same bits.
    pub fn apply(&self, pixels: &[u8], plane: usize) -> Vec<f32> {
        let scale = PIXEL_SCALE as f32;
        let per_channel: Vec<(f32, f32)> = self.mean.iter().zip(&self.std).map(|(&m, &s)| (m as f32, s as f32)).collect();
        let mut out = Vec::with_capacity(pixels.len());
        for image in pixels.chunks(per_channel.len() * plane) {
            for (values, &(mean, std)) in image.chunks(plane).zip(&per_channel) {
                out.extend(values.iter().map(|&p| (p as f32 * scale - mean) / std));
            }
        }
        out
    }

    /// The normalised value of a black (0) pixel per channel: what zero padding becomes.
    pub fn black(&self) -> Vec<f32> {
        self.mean.iter().zip(&self.std).map(|(&m, &s)| (0.0 - m as f32) / s as f32).collect()
    }
}

fn scale_all(v: Vec<f64>) -> Vec<f64> {
    v.into_iter().map(|x| x * PIXEL_SCALE).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_by_hand() {
        // Two 1x2 images, two channels: channel 0 holds 0, 255, 255, 255 → mean 0.75,
        // E[x²] = 0.75 → var 0.75 − 0.5625 = 0.1875; channel 1 holds 51 four times → 0.2, std 0.
        let images = vec![0, 255, 51, 51, 255, 255, 51, 51];
        let set = ImageSet::with_channels(images, vec![0, 1], 2, 1, 2, 2).unwrap();
        let n = Normalization::of(&set);
        assert!((n.mean[0] - 0.75).abs() < 1e-12 && (n.mean[1] - 0.2).abs() < 1e-12, "{n:?}");
        assert!((n.std[0] - 0.1875f64.sqrt()).abs() < 1e-12 && n.std[1] == 0.0, "{n:?}");
        // A constant channel cannot be normalised.
        assert!(n.check(2).unwrap_err().to_string().contains("std 0"));
        assert!(n.check(3).unwrap_err().to_string().contains("3 channel(s)"));
    }

    #[test]
    fn apply_per_channel() {
        let n = Normalization { mean: vec![0.5, 0.0], std: vec![0.25, 1.0] };
        n.check(2).unwrap();
        // Pixels 255 and 0 in channel 0: (1 − 0.5)/0.25 = 2, (0 − 0.5)/0.25 = −2; channel 1: p/255.
        let out = n.apply(&[255, 0, 255, 0], 2);
        assert_eq!(out, vec![2.0, -2.0, 1.0, 0.0]);
        assert_eq!(n.black(), vec![-2.0, 0.0]);
    }

    #[test]
    fn one_channel_matches_the_compact_preprocess_formula() {
        // MNIST's declared statistics, applied the way `Preprocess::apply` does.
        let n = Normalization { mean: vec![0.1307], std: vec![0.3081] };
        let pixels: Vec<u8> = (0..=255).collect();
        let expected: Vec<f32> = pixels.iter().map(|&p| (p as f32 * (1.0f64 / 255.0) as f32 - 0.1307f32) / 0.3081f32).collect();
        assert_eq!(n.apply(&pixels, 256), expected);
    }
}
