//! What a model takes in: the description of its input ([`InputInfo`]), the kind of batch it
//! consumes ([`InputKind`]: images now; sequences, token ids with padding masks and tabular
//! columns are further implementations), and the image one ([`ImageData`]).

use burn::prelude::*;
use burn::tensor::TensorData;
use dtprune_data::{Augment, ImageSet, Normalization};

pub use dtprune_data::SplitMix64;

/// What a model needs to know about its input to be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputInfo {
    pub channels: usize,
    pub rows: usize,
    pub cols: usize,
    pub classes: usize,
}

impl InputInfo {
    pub fn of(set: &ImageSet) -> Self {
        Self { channels: set.channels(), rows: set.rows(), cols: set.cols(), classes: set.num_classes() }
    }
}

/// Targets of a batch (class indices).
pub type Targets = Tensor<1, Int>;

/// A kind of model input: one data split made ready for batching, and how batches are cut.
pub trait InputKind: Send + Sync + Sized + 'static {
    /// The name `dtprune models` shows and data sets declare (`image`).
    const NAME: &'static str;
    /// What the model's `forward` takes.
    type Batch: Send;
    /// One split of a loaded data set, normalised with `norm`; `augment` applies to training
    /// batches ([`InputKind::train_batch`]) only.
    fn prepare(set: &ImageSet, norm: &Normalization, augment: Augment) -> Self;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The items at `indices` and their targets, unaugmented (evaluation).
    fn batch(&self, indices: &[usize], device: &Device) -> (Self::Batch, Targets);
    /// A training batch: like [`InputKind::batch`], with augmentation drawn from `rng`.
    fn train_batch(&self, indices: &[usize], device: &Device, _rng: &mut SplitMix64) -> (Self::Batch, Targets) {
        self.batch(indices, device)
    }
}

/// An image split: u8 pixels, normalised per batch (cheaper in memory than a normalised copy of
/// the whole set, and the same f32 values).
pub struct ImageData {
    pixels: Vec<u8>,
    labels: Vec<i64>,
    shape: [usize; 3],
    norm: Normalization,
    augment: Augment,
    /// Normalised black per channel: the padding of a random crop.
    black: Vec<f32>,
}

impl ImageData {
    fn gather(&self, indices: &[usize]) -> (Vec<f32>, Vec<i64>) {
        let per_image: usize = self.shape.iter().product();
        let mut raw = Vec::with_capacity(indices.len() * per_image);
        for &i in indices {
            raw.extend_from_slice(&self.pixels[i * per_image..(i + 1) * per_image]);
        }
        let x = self.norm.apply(&raw, self.shape[1] * self.shape[2]);
        (x, indices.iter().map(|&i| self.labels[i]).collect())
    }

    fn tensors(&self, x: Vec<f32>, y: Vec<i64>, device: &Device) -> (Tensor<4>, Targets) {
        let n = y.len();
        let [c, h, w] = self.shape;
        let images = Tensor::<4>::from_data(TensorData::new(x, [n, c, h, w]), device);
        let labels = Tensor::<1, Int>::from_data(TensorData::new(y, [n]), device);
        (images, labels)
    }

    /// `[channels, rows, cols]` of one image.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }
}

impl InputKind for ImageData {
    const NAME: &'static str = "image";
    /// `[batch, channels, rows, cols]`, normalised.
    type Batch = Tensor<4>;

    fn prepare(set: &ImageSet, norm: &Normalization, augment: Augment) -> Self {
        Self {
            pixels: set.images().to_vec(),
            labels: set.labels().iter().map(|&l| i64::from(l)).collect(),
            shape: [set.channels(), set.rows(), set.cols()],
            black: norm.black(),
            norm: norm.clone(),
            augment,
        }
    }

    fn len(&self) -> usize {
        self.labels.len()
    }

    fn batch(&self, indices: &[usize], device: &Device) -> (Tensor<4>, Targets) {
        let (x, y) = self.gather(indices);
        self.tensors(x, y, device)
    }

    fn train_batch(&self, indices: &[usize], device: &Device, rng: &mut SplitMix64) -> (Tensor<4>, Targets) {
        let (mut x, y) = self.gather(indices);
        self.augment.apply(&mut x, self.shape, &self.black, rng);
        self.tensors(x, y, device)
    }
}
