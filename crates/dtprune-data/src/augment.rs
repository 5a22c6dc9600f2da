//! Image augmentation for training: random crop with padding and horizontal flip (the CIFAR
//! recipe of He et al. 2016: pad 4, crop back to 32×32, flip half the images).
//!
//! The random choices are drawn one image after another from a seeded [`SplitMix64`], then
//! applied in parallel, so the result depends on the seed only, not on the threads.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::rng::SplitMix64;

/// What to do to each training image (default: nothing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Augment {
    /// Pad each side by this many pixels (with black) and crop a random window of the original
    /// size back out (0: no crop).
    pub crop_padding: usize,
    /// Mirror each image left to right with probability ½.
    pub flip: bool,
}

/// The random choices for one image: the crop window's top-left corner in the padded image,
/// and whether to mirror it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Draw {
    pub dy: usize,
    pub dx: usize,
    pub flip: bool,
}

impl Augment {
    pub fn is_identity(&self) -> bool {
        self.crop_padding == 0 && !self.flip
    }

    /// One image's choices; draws only what is enabled (offsets first, then the flip).
    pub fn draw(&self, rng: &mut SplitMix64) -> Draw {
        let span = 2 * self.crop_padding as u64 + 1;
        let (dy, dx) = if self.crop_padding > 0 {
            ((rng.next_u64() % span) as usize, (rng.next_u64() % span) as usize)
        } else {
            (0, 0)
        };
        Draw {
            dy,
            dx,
            flip: self.flip && rng.next_u64() & 1 == 1,
        }
    }

    /// Augments `images` (consecutive `[c, h, w]` images, channel-major) in place; `fill` is
    /// the value of a padding pixel per channel (black, normalised).
    pub fn apply<T: Copy + Send + Sync>(&self, images: &mut [T], shape: [usize; 3], fill: &[T], rng: &mut SplitMix64) {
        if self.is_identity() {
            return;
        }
        let per_image = shape.iter().product::<usize>();
        let draws: Vec<Draw> = (0..images.len() / per_image).map(|_| self.draw(rng)).collect();
        images.par_chunks_mut(per_image).zip(draws).for_each(|(image, draw)| {
            let source = image.to_vec();
            crop_flip(&source, shape, self.crop_padding, draw, fill, image);
        });
    }
}

/// `dst` = the `h × w` window at `(draw.dy, draw.dx)` of `src` padded by `pad` pixels of
/// `fill`, mirrored left to right when `draw.flip` (crop, then flip, as torchvision's
/// `RandomCrop` followed by `RandomHorizontalFlip`).
pub fn crop_flip<T: Copy>(src: &[T], [c, h, w]: [usize; 3], pad: usize, draw: Draw, fill: &[T], dst: &mut [T]) {
    for ch in 0..c {
        let (plane_in, plane_out) = (&src[ch * h * w..(ch + 1) * h * w], &mut dst[ch * h * w..(ch + 1) * h * w]);
        for y in 0..h {
            // Row in the unpadded source (may be outside it).
            let sy = (y + draw.dy).checked_sub(pad).filter(|&sy| sy < h);
            for x in 0..w {
                let x_in_crop = if draw.flip { w - 1 - x } else { x };
                let sx = (x_in_crop + draw.dx).checked_sub(pad).filter(|&sx| sx < w);
                plane_out[y * w + x] = match (sy, sx) {
                    (Some(sy), Some(sx)) => plane_in[sy * w + sx],
                    _ => fill[ch],
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One 3×3 channel holding 1..9 (row-major), padded by 1 with 0.
    const IMAGE: [u8; 9] = [1, 2, 3, 4, 5, 6, 7, 8, 9];

    fn run(draw: Draw) -> Vec<u8> {
        let mut out = vec![99; 9];
        crop_flip(&IMAGE, [1, 3, 3], 1, draw, &[0], &mut out);
        out
    }

    #[test]
    fn crop_by_hand() {
        // Window at the padded image's centre (1, 1): the image itself.
        assert_eq!(run(Draw { dy: 1, dx: 1, flip: false }), IMAGE.to_vec());
        // Top-left window (0, 0): shifted down-right, a row and a column of padding.
        assert_eq!(run(Draw { dy: 0, dx: 0, flip: false }), vec![0, 0, 0, 0, 1, 2, 0, 4, 5]);
        // Bottom-right window (2, 2): shifted up-left.
        assert_eq!(run(Draw { dy: 2, dx: 2, flip: false }), vec![5, 6, 0, 8, 9, 0, 0, 0, 0]);
    }

    #[test]
    fn flip_by_hand() {
        assert_eq!(run(Draw { dy: 1, dx: 1, flip: true }), vec![3, 2, 1, 6, 5, 4, 9, 8, 7]);
        // Crop then flip: the top-left window [0 0 0; 0 1 2; 0 4 5] mirrored.
        assert_eq!(run(Draw { dy: 0, dx: 0, flip: true }), vec![0, 0, 0, 2, 1, 0, 5, 4, 0]);
    }

    #[test]
    fn channels_use_their_own_fill() {
        let src = [1u8, 2, 3, 4];
        let mut out = [0u8; 4];
        // Two 1×2 channels, pad 1, window at (0, 0): the top row is padding in both.
        crop_flip(&src, [2, 1, 2], 1, Draw { dy: 0, dx: 0, flip: false }, &[7, 8], &mut out);
        assert_eq!(out, [7, 7, 8, 8]);
    }

    #[test]
    fn seeded_and_parallel_equals_serial() {
        let aug = Augment { crop_padding: 2, flip: true };
        let images: Vec<f32> = (0..64 * 3 * 5 * 5).map(|i| i as f32).collect();
        let mut a = images.clone();
        aug.apply(&mut a, [3, 5, 5], &[-1.0, -2.0, -3.0], &mut SplitMix64(5));
        // Serial re-computation with the same draws.
        let mut rng = SplitMix64(5);
        let mut b = images.clone();
        for (dst, src) in b.chunks_mut(75).zip(images.chunks(75)) {
            crop_flip(src, [3, 5, 5], 2, aug.draw(&mut rng), &[-1.0, -2.0, -3.0], dst);
        }
        assert_eq!(a, b);
        assert_ne!(a, images);
        // Every offset and both flips occur over 64 images; another seed differs.
        let mut rng = SplitMix64(5);
        let draws: Vec<Draw> = (0..64).map(|_| aug.draw(&mut rng)).collect();
        assert!((0..5).all(|d| draws.iter().any(|x| x.dy == d) && draws.iter().any(|x| x.dx == d)));
        assert!(draws.iter().any(|x| x.flip) && draws.iter().any(|x| !x.flip));
        let mut c = images.clone();
        aug.apply(&mut c, [3, 5, 5], &[-1.0, -2.0, -3.0], &mut SplitMix64(6));
        assert_ne!(a, c);
        // No augmentation: untouched, and no number drawn.
        let mut rng = SplitMix64(5);
        let mut d = images.clone();
        Augment::default().apply(&mut d, [3, 5, 5], &[0.0; 3], &mut rng);
        assert_eq!((d, rng), (images, SplitMix64(5)));
    }
}
