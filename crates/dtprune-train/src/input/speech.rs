//! Feature-frame sequences with their lengths (speech): each item is a `[frames, features]`
//! block of log-mel frames whose first `length` frames are the utterance, the rest padding.
//!
//! Features are standardised per feature (mel band) with the mean and population std of the
//! training split's *valid* frames — padding excluded, so the statistics do not depend on how
//! much silence was appended. Recurrent models train poorly on raw log energies (values around
//! −10 with small spread); the statistics come from the data set, so every split and every
//! later `eval` of the run computes the same ones.

use super::{wrong_kind, InputKind, Prepare, Split, Targets};
use crate::TrainError;
use burn::prelude::*;
use burn::tensor::TensorData;
use dtprune_data::speech::SpeechSet;
use dtprune_data::{Dataset, Splits};

/// What a sequence model is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceInfo {
    /// Frames per item (the padded length).
    pub frames: usize,
    /// Features per frame.
    pub features: usize,
    pub classes: usize,
}

/// A batch of sequences: `frames` `[batch, T, F]` and each item's valid length (≥ 1).
pub struct SequenceBatch {
    pub frames: Tensor<3>,
    pub lengths: Vec<usize>,
}

impl SequenceBatch {
    /// Each item's output at its last valid frame: `outputs` `[batch, T, H]` → `[batch, H]`.
    /// (A one-hot over time, so the gradient flows to that frame only.)
    pub fn last_valid(&self, outputs: Tensor<3>) -> Tensor<2> {
        let [b, t, _] = outputs.dims();
        let mut pick = vec![0f32; b * t];
        for (i, &len) in self.lengths.iter().enumerate() {
            pick[i * t + len.clamp(1, t) - 1] = 1.0;
        }
        let pick = Tensor::<3>::from_data(TensorData::new(pick, [b, t, 1]), &outputs.device());
        (outputs * pick).sum_dim(1).squeeze_dim(1)
    }
}

/// A speech split, standardised.
pub struct SpeechData {
    features: Vec<f32>,
    lengths: Vec<usize>,
    labels: Vec<i64>,
    frames: usize,
    n_features: usize,
}

/// Per-feature mean and population std over the valid frames of `set` (std floored at 1e-6:
/// a constant band stays finite).
pub fn frame_statistics(set: &SpeechSet) -> (Vec<f32>, Vec<f32>) {
    let f = set.n_mels();
    let (mut sum, mut sq, mut n) = (vec![0f64; f], vec![0f64; f], 0usize);
    for i in 0..set.len() {
        let item = set.item(i);
        for frame in item.chunks(f).take(set.lengths()[i] as usize) {
            for (k, &v) in frame.iter().enumerate() {
                sum[k] += f64::from(v);
                sq[k] += f64::from(v) * f64::from(v);
            }
            n += 1;
        }
    }
    let n = n.max(1) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let std = sq.iter().zip(&mean).map(|(q, m)| ((q / n - m * m).max(0.0).sqrt().max(1e-6)) as f32).collect();
    (mean.into_iter().map(|m| m as f32).collect(), std)
}

impl SpeechData {
    /// The first `n` items of `set`, standardised with `(mean, std)`.
    pub fn new(set: &SpeechSet, n: usize, (mean, std): (&[f32], &[f32])) -> Self {
        let f = set.n_mels();
        let mut features = Vec::with_capacity(n * set.frames() * f);
        for i in 0..n {
            for frame in set.item(i).chunks(f) {
                features.extend(frame.iter().zip(mean).zip(std).map(|((v, m), s)| (v - m) / s));
            }
        }
        Self {
            features,
            lengths: set.lengths()[..n].iter().map(|&l| (l as usize).max(1)).collect(),
            labels: set.labels()[..n].iter().map(|&l| i64::from(l)).collect(),
            frames: set.frames(),
            n_features: f,
        }
    }
}

impl SpeechData {
    /// `[n, frames, features]`, standardised, padded frames included.
    pub fn features(&self) -> &[f32] {
        &self.features
    }
    /// Valid frames of each item (at least 1).
    pub fn lengths(&self) -> &[usize] {
        &self.lengths
    }
    pub fn labels(&self) -> &[i64] {
        &self.labels
    }
    pub fn frames(&self) -> usize {
        self.frames
    }
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// The test split of a speech data set, standardised with its training split's statistics
    /// exactly as the trainer feeds it (what a deployed recurrent model must be checked on).
    pub fn test_split(data: &Dataset) -> Result<Self, TrainError> {
        let (splits, _) = speech(data)?;
        let (mean, std) = frame_statistics(&splits.train);
        Ok(Self::new(&splits.test, splits.test.len(), (&mean, &std)))
    }
}

fn speech(data: &Dataset) -> Result<(&dtprune_data::speech::SpeechSplits, &SpeechSet), TrainError> {
    match &data.splits {
        Splits::Speech { splits, val } => Ok((splits, val)),
        _ => Err(wrong_kind(SpeechData::NAME, data)),
    }
}

impl InputKind for SpeechData {
    const NAME: &'static str = "speech";
    type Info = SequenceInfo;
    type Batch = SequenceBatch;

    fn info(data: &Dataset) -> Result<SequenceInfo, TrainError> {
        let (splits, _) = speech(data)?;
        let shape = splits.shape();
        Ok(SequenceInfo { frames: shape.frames, features: shape.n_mels, classes: shape.num_classes })
    }

    fn classes(info: &SequenceInfo) -> usize {
        info.classes
    }

    fn prepare(data: &Dataset, split: Split, how: &Prepare) -> Result<Self, TrainError> {
        let (splits, val) = speech(data)?;
        let (mean, std) = frame_statistics(&splits.train);
        let set = match split {
            Split::Train => &splits.train,
            Split::Val => val,
            Split::Test => &splits.test,
        };
        Ok(Self::new(set, how.take(set.len()), (&mean, &std)))
    }

    fn len(&self) -> usize {
        self.labels.len()
    }

    fn batch(&self, indices: &[usize], device: &Device) -> (SequenceBatch, Targets) {
        let size = self.frames * self.n_features;
        let mut x = Vec::with_capacity(indices.len() * size);
        for &i in indices {
            x.extend_from_slice(&self.features[i * size..(i + 1) * size]);
        }
        let n = indices.len();
        let frames = Tensor::<3>::from_data(TensorData::new(x, [n, self.frames, self.n_features]), device);
        let labels = indices.iter().map(|&i| self.labels[i]).collect();
        let lengths = indices.iter().map(|&i| self.lengths[i]).collect();
        (SequenceBatch { frames, lengths }, Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), device))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_use_valid_frames_only_and_last_valid_picks_the_length() {
        // Two items of 3 frames x 2 features; item 0 has 2 valid frames, item 1 one.
        let mut set = SpeechSet::empty(3, 2);
        set.push(&[1.0, 10.0, 3.0, 10.0], 0, "a".into(), -99.0);
        set.push(&[5.0, 10.0], 1, "b".into(), -99.0);
        let (mean, std) = frame_statistics(&set);
        // Feature 0: 1, 3, 5 → mean 3, population std sqrt(8/3); feature 1: constant 10 → floor.
        assert_eq!(mean, vec![3.0, 10.0]);
        assert!((std[0] - (8.0f32 / 3.0).sqrt()).abs() < 1e-6 && std[1] == 1e-6, "{std:?}");

        let device = Device::flex();
        let data = SpeechData::new(&set, 2, (&mean, &std));
        let (batch, y) = data.batch(&[1, 0], &device);
        assert_eq!(batch.lengths, vec![1, 2]);
        assert_eq!(y.into_data().convert::<i64>().try_to_vec::<i64>().unwrap(), vec![1, 0]);
        // Outputs [2, 3, 1] = t + 10·item: item 0 (batch row 0 is item 1) picks t = 0, row 1 picks t = 1.
        let out = Tensor::<3>::from_data(TensorData::new(vec![0.0f32, 1.0, 2.0, 10.0, 11.0, 12.0], [2, 3, 1]), &device);
        let last = batch.last_valid(out).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(last, vec![0.0, 11.0]);
    }
}
