//! Turning `dtprune-data` image sets into Burn batches: pixels are normalised once up front,
//! batches are gathered from a seeded shuffle, so a seed fixes the data order.

use crate::graph::Preprocess;
use burn::prelude::*;
use burn::tensor::TensorData;
use dtprune_data::ImageSet;

/// An image set normalised to f32, ready for batching.
pub struct Prepared {
    pub pixels: Vec<f32>,
    pub labels: Vec<i64>,
    pub per_image: usize,
    pub shape: [usize; 3],
}

impl Prepared {
    pub fn new(set: &ImageSet, pre: Preprocess) -> Self {
        let pixels = pre.apply(set.images());
        Self {
            pixels,
            labels: set.labels().iter().map(|&l| i64::from(l)).collect(),
            per_image: set.pixels_per_image(),
            shape: [1, set.rows(), set.cols()],
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The images at `indices` as `[n, 1, rows, cols]` and their labels.
    pub fn batch(&self, indices: &[usize], device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
        let mut x = Vec::with_capacity(indices.len() * self.per_image);
        let mut y = Vec::with_capacity(indices.len());
        for &i in indices {
            x.extend_from_slice(&self.pixels[i * self.per_image..(i + 1) * self.per_image]);
            y.push(self.labels[i]);
        }
        let [c, h, w] = self.shape;
        let images = Tensor::<4>::from_data(TensorData::new(x, [indices.len(), c, h, w]), device);
        let labels = Tensor::<1, Int>::from_data(TensorData::new(y, [indices.len()]), device);
        (images, labels)
    }
}

/// SplitMix64: a tiny, fully specified generator, so the data order for a seed never changes
/// with a dependency upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Fisher–Yates shuffle of `0..n`.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_values() {
        // Reference outputs of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
        let mut r = SplitMix64(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn permutation_is_a_permutation_and_seeded() {
        let p = SplitMix64(7).permutation(100);
        let mut s = p.clone();
        s.sort();
        assert_eq!(s, (0..100).collect::<Vec<_>>());
        assert_eq!(p, SplitMix64(7).permutation(100));
        assert_ne!(p, SplitMix64(8).permutation(100));
    }
}
