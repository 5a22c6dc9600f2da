//! In-memory image-classification sets and the train/val/test triple.

use std::ops::Range;

use crate::error::{DataError, Result};

/// Default number of training images held out for validation (the last ones, as in
/// the classic MNIST 55k/5k protocol).
pub const DEFAULT_VAL_SIZE: usize = 5_000;

/// What a model needs to know about its input and output: image size and class count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetInfo {
    /// 1 for grey-scale (IDX holds grey bytes), 3 for colour.
    pub channels: usize,
    pub rows: usize,
    pub cols: usize,
    pub num_classes: usize,
}

impl DatasetInfo {
    /// Values per image (channels × rows × cols), i.e. the input width of a flattening model.
    pub fn pixels_per_image(&self) -> usize {
        self.channels * self.rows * self.cols
    }
}

/// A labelled set of equally-sized images, each stored channel-major (`[channels, rows, cols]`,
/// the layout of a model's input tensor).
///
/// Fields are private so the invariants `images.len() == len * channels * rows * cols`,
/// `labels.len() == len` and `label < num_classes` always hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSet {
    images: Vec<u8>,
    labels: Vec<u8>,
    channels: usize,
    rows: usize,
    cols: usize,
    num_classes: usize,
}

impl ImageSet {
    /// Builds a grey-scale set from row-major pixels (`N * rows * cols` bytes) and `N` labels.
    pub fn new(
        images: Vec<u8>,
        labels: Vec<u8>,
        rows: usize,
        cols: usize,
        num_classes: usize,
    ) -> Result<Self> {
        Self::with_channels(images, labels, 1, rows, cols, num_classes)
    }

    /// Builds a set of `channels`-channel images stored channel-major
    /// (`N * channels * rows * cols` bytes) and `N` labels.
    pub fn with_channels(
        images: Vec<u8>,
        labels: Vec<u8>,
        channels: usize,
        rows: usize,
        cols: usize,
        num_classes: usize,
    ) -> Result<Self> {
        let pixels = rows
            .checked_mul(cols)
            .and_then(|p| p.checked_mul(channels))
            .filter(|&p| p > 0)
            .ok_or_else(|| {
                DataError::InconsistentSet(format!(
                    "image size {channels}x{rows}x{cols} is empty or too large"
                ))
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
            channels,
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

    pub fn channels(&self) -> usize {
        self.channels
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

    /// Values per image: channels × rows × cols.
    pub fn pixels_per_image(&self) -> usize {
        self.channels * self.rows * self.cols
    }

    pub fn shape(&self) -> DatasetInfo {
        DatasetInfo {
            channels: self.channels,
            rows: self.rows,
            cols: self.cols,
            num_classes: self.num_classes,
        }
    }

    /// All pixels, channel-major within an image, image after image.
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
            channels: self.channels,
            rows: self.rows,
            cols: self.cols,
            num_classes: self.num_classes,
        }
    }
}

/// A data set as stored (before the validation split): class names, train and test images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainTest {
    pub classes: Vec<String>,
    pub train: ImageSet,
    pub test: ImageSet,
}

impl ImageSet {
    /// The items reordered round-robin over the classes (first item of each class, then the
    /// second of each, …; a class that runs out is skipped), keeping each class's own order.
    ///
    /// Image folders list one class after another; interleaved, the last `val_size` items (the
    /// validation split) and the first `test_limit` test items hold every class in proportion.
    pub fn interleave_classes(&self) -> ImageSet {
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); self.num_classes];
        for (i, &l) in self.labels.iter().enumerate() {
            by_class[usize::from(l)].push(i);
        }
        let longest = by_class.iter().map(Vec::len).max().unwrap_or(0);
        let order: Vec<usize> = (0..longest)
            .flat_map(|k| by_class.iter().filter_map(move |c| c.get(k).copied()))
            .collect();
        let pixels = self.pixels_per_image();
        let mut images = Vec::with_capacity(self.images.len());
        for &i in &order {
            images.extend_from_slice(&self.images[i * pixels..(i + 1) * pixels]);
        }
        ImageSet {
            images,
            labels: order.iter().map(|&i| self.labels[i]).collect(),
            ..self.empty_like()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_round_robin() {
        // Labels 0 0 0 1 2 2 (one pixel each, value = position): → 0 1 2 0 2 0.
        let set = ImageSet::new(vec![10, 11, 12, 13, 14, 15], vec![0, 0, 0, 1, 2, 2], 1, 1, 3).unwrap();
        let mixed = set.interleave_classes();
        assert_eq!(mixed.labels(), &[0, 1, 2, 0, 2, 0]);
        assert_eq!(mixed.images(), &[10, 13, 14, 11, 15, 12]);
    }

    #[test]
    fn colour_sets_count_channels() {
        let set = ImageSet::with_channels(vec![0; 24], vec![0, 1], 3, 2, 2, 2).unwrap();
        assert_eq!((set.channels(), set.pixels_per_image(), set.image(1).len()), (3, 12, 12));
        assert!(ImageSet::with_channels(vec![0; 23], vec![0, 1], 3, 2, 2, 2).is_err());
        let (train, val) = set.split_off_last(1).unwrap();
        assert_eq!((train.len(), val.len(), val.channels()), (1, 1, 3));
    }
}
