//! What a model takes in: the kind of batch it consumes ([`InputKind`]) with the description
//! of its input a model is built from ([`InputKind::Info`]): images ([`ImageData`], described
//! by [`InputInfo`]), feature-frame sequences with lengths ([`speech::SpeechData`]),
//! categorical ids with numeric columns ([`table::TableData`]) and token ids with padding masks
//! ([`text::TextData`]).

pub mod speech;
pub mod table;
pub mod text;

use crate::TrainError;
use burn::prelude::*;
use burn::tensor::TensorData;
use dtprune_data::{Augment, Dataset, ImageSet, Normalization};

pub use dtprune_data::SplitMix64;

/// Which split of a data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Val,
    Test,
}

/// How a split is made ready: its first `limit` items (0: all), the pixel normalisation
/// (image data only) and the augmentation of training batches.
#[derive(Debug, Clone, Copy, Default)]
pub struct Prepare<'a> {
    pub limit: usize,
    pub norm: Option<&'a Normalization>,
    pub augment: Augment,
}

impl Prepare<'_> {
    /// How many of `n` items to take.
    pub fn take(&self, n: usize) -> usize {
        if self.limit == 0 {
            n
        } else {
            self.limit.min(n)
        }
    }
}

/// The error for a data set of another kind than the model's input.
pub(crate) fn wrong_kind(expected: &str, data: &Dataset) -> TrainError {
    TrainError::Config { path: None, message: format!("the model takes {expected} input but the data set holds {} data", data.splits.input()) }
}

/// What an image model needs to know about its input to be built.
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

/// The description of input kind `I`.
pub type InfoOf<I> = <I as InputKind>::Info;

/// Targets of a batch (class indices).
pub type Targets = Tensor<1, Int>;

/// A kind of model input: one data split made ready for batching, and how batches are cut.
pub trait InputKind: Send + Sync + Sized + 'static {
    /// The name `dtprune models` shows and data sets declare (`image`, `speech`, `table`).
    const NAME: &'static str;
    /// What a model of this input is built from (sizes, classes).
    type Info: Clone + std::fmt::Debug + Send + Sync + 'static;
    /// What the model's `forward` takes.
    type Batch: Send;
    /// The description of a loaded data set's input; an error if it holds another kind.
    fn info(data: &Dataset) -> Result<Self::Info, TrainError>;
    /// Classes the model tells apart (chance level of the explosion check).
    fn classes(info: &Self::Info) -> usize;
    /// One split of a loaded data set made ready for batching; `how.augment` applies to
    /// training batches ([`InputKind::train_batch`]) only.
    fn prepare(data: &Dataset, split: Split, how: &Prepare) -> Result<Self, TrainError>;
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
    /// `set` normalised with `norm`; `augment` applies to training batches.
    pub fn new(set: &ImageSet, norm: &Normalization, augment: Augment) -> Self {
        Self {
            pixels: set.images().to_vec(),
            labels: set.labels().iter().map(|&l| i64::from(l)).collect(),
            shape: [set.channels(), set.rows(), set.cols()],
            black: norm.black(),
            norm: norm.clone(),
            augment,
        }
    }

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
    type Info = InputInfo;
    /// `[batch, channels, rows, cols]`, normalised.
    type Batch = Tensor<4>;

    fn info(data: &Dataset) -> Result<InputInfo, TrainError> {
        Ok(InputInfo::of(&data.images().map_err(|_| wrong_kind(Self::NAME, data))?.train))
    }

    fn classes(info: &InputInfo) -> usize {
        info.classes
    }

    fn prepare(data: &Dataset, split: Split, how: &Prepare) -> Result<Self, TrainError> {
        let splits = data.images().map_err(|_| wrong_kind(Self::NAME, data))?;
        let set = match split {
            Split::Train => &splits.train,
            Split::Val => &splits.val,
            Split::Test => &splits.test,
        };
        let norm = how.norm.ok_or_else(|| TrainError::Config { path: None, message: "image data needs a normalisation".into() })?;
        Ok(Self::new(&set.first(how.take(set.len())), norm, how.augment))
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
