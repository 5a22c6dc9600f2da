//! In-memory image-classification sets and the train/val/test triple.

use std::ops::Range;

use crate::error::{DataError, Result};

/// Default number of training images held out for validation (the last ones, as in
/// the classic MNIST 55k/5k protocol).
pub const DEFAULT_VAL_SIZE: usize = 5_000;

/// What a model needs to know about its input and output: image size and class count.
/// Images are single-channel (IDX holds grayscale bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetInfo {
    pub rows: usize,
    pub cols: usize,
    pub num_classes: usize,
}

impl DatasetInfo {
    /// Pixels per image, i.e. the input width of a flattening model.
    pub fn pixels_per_image(&self) -> usize {
        self.rows * self.cols
    }
}

/// A labelled set of equally-sized grayscale images.
///
/// Fields are private so the invariants `images.len() == len * rows * cols`,
/// `labels.len() == len` and `label < num_classes` always hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSet {
    images: Vec<u8>,
    labels: Vec<u8>,
    rows: usize,
    cols: usize,
    num_classes: usize,
}

impl ImageSet {
    /// Builds a set from row-major pixels (`N * rows * cols` bytes) and `N` labels.
    pub fn new(
        images: Vec<u8>,
        labels: Vec<u8>,
        rows: usize,
        cols: usize,
        num_classes: usize,
    ) -> Result<Self> {
        let pixels = rows.checked_mul(cols).filter(|&p| p > 0).ok_or_else(|| {
            DataError::InconsistentSet(format!("image size {rows}x{cols} is empty or too large"))
        })?;
        if Some(images.len()) != labels.len().checked_mul(pixels) {
            return Err(DataError::InconsistentSet(format!(
                "{} pixel bytes do not make {} images of {rows}x{cols}",
                images.len(),
                labels.len()
            )));
        }
        if let Some(index) = labels.iter().position(|&l| usize::from(l) >= num_classes) {
            return Err(DataError::InconsistentSet(format!(
                "label {} of item {index} is not below the number of classes ({num_classes})",
                labels[index]
            )));
        }
        Ok(Self {
            images,
            labels,
            rows,
            cols,
            num_classes,
        })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    pub fn pixels_per_image(&self) -> usize {
        self.rows * self.cols
    }

    pub fn shape(&self) -> DatasetInfo {
        DatasetInfo {
            rows: self.rows,
            cols: self.cols,
            num_classes: self.num_classes,
        }
    }

    /// All pixels, row-major, image after image.
    pub fn images(&self) -> &[u8] {
        &self.images
    }

    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// Pixels of image `i`. Panics if `i >= len()` like slice indexing: indices come from
    /// the caller's own batching, not from user input.
    pub fn image(&self, i: usize) -> &[u8] {
        let pixels = self.pixels_per_image();
        &self.images[i * pixels..(i + 1) * pixels]
    }

    /// Label of image `i`. Panics if `i >= len()`, like [`ImageSet::image`].
    pub fn label(&self, i: usize) -> u8 {
        self.labels[i]
    }

    /// Takes back the owned buffers `(images, labels)`, e.g. to build tensors without a copy.
    pub fn into_parts(self) -> (Vec<u8>, Vec<u8>) {
        (self.images, self.labels)
    }

    /// Splits into `(train, val)` where `val` is the LAST `val_size` items. Errors when that
    /// would leave the training part empty.
    pub fn split_off_last(mut self, val_size: usize) -> Result<(ImageSet, ImageSet)> {
        let train_len = self.len();
        if val_size >= train_len {
            return Err(DataError::ValSplitTooLarge {
                val_size,
                train_len,
            });
        }
        let keep = train_len - val_size;
        let val = ImageSet {
            images: self.images.split_off(keep * self.pixels_per_image()),
            labels: self.labels.split_off(keep),
            ..self.empty_like()
        };
        Ok((self, val))
    }

    /// Copy of the items in `range`; errors if the range is not within `0..len()`.
    pub fn subset(&self, range: Range<usize>) -> Result<ImageSet> {
        if range.start > range.end || range.end > self.len() {
            return Err(DataError::RangeOutOfBounds {
                start: range.start,
                end: range.end,
                len: self.len(),
            });
        }
        let pixels = self.pixels_per_image();
        Ok(ImageSet {
            images: self.images[range.start * pixels..range.end * pixels].to_vec(),
            labels: self.labels[range.clone()].to_vec(),
            ..self.empty_like()
        })
    }

    /// Copy of the first `n` items, or of all items when `n >= len()`: meant for
    /// "limit the data for a quick run" options, where asking for too many is harmless.
    pub fn first(&self, n: usize) -> ImageSet {
        let end = n.min(self.len());
        let pixels = self.pixels_per_image();
        ImageSet {
            images: self.images[..end * pixels].to_vec(),
            labels: self.labels[..end].to_vec(),
            ..self.empty_like()
        }
    }

    fn empty_like(&self) -> ImageSet {
        ImageSet {
            images: Vec::new(),
            labels: Vec::new(),
            rows: self.rows,
            cols: self.cols,
            num_classes: self.num_classes,
        }
    }
}

/// The three splits a training run uses. All share one [`DatasetInfo`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSplits {
    pub train: ImageSet,
    pub val: ImageSet,
    pub test: ImageSet,
}

impl ImageSplits {
    /// Holds out the last `val_size` training items for validation; the test set is untouched.
    pub fn from_train_test(train: ImageSet, test: ImageSet, val_size: usize) -> Result<Self> {
        let (train, val) = train.split_off_last(val_size)?;
        Ok(Self { train, val, test })
    }

    pub fn info(&self) -> DatasetInfo {
        self.train.shape()
    }
}
