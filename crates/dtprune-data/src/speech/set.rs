//! In-memory speech sets: fixed-size log-mel feature matrices plus the true lengths.

use serde::{Deserialize, Serialize};

/// A labelled set of utterances as log-mel features.
///
/// Item `i` is the row-major `[frames, n_mels]` block `features()[i·frames·n_mels ..]`. Its
/// first `length(i)` frames are the utterance (truncated to `frames` when longer); the rest
/// hold `pad_value` (digital silence), so a model can either read the fixed-size block or mask
/// or pack by length.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechSet {
    features: Vec<f32>,
    lengths: Vec<u32>,
    labels: Vec<u32>,
    sources: Vec<String>,
    frames: usize,
    n_mels: usize,
}

/// The two splits of a speech data set with their class names and the options they were made
/// with.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechSplits {
    pub train: SpeechSet,
    pub test: SpeechSet,
    /// Class `k` is `class_names[k]` (sorted names; for FSDD the digits "0".."9").
    pub class_names: Vec<String>,
    /// Value of the padded frames.
    pub pad_value: f32,
    /// The resolved data options, for the run record.
    pub options: serde_json::Value,
}

/// What a model needs to know about speech input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpeechShape {
    pub frames: usize,
    pub n_mels: usize,
    pub num_classes: usize,
}

impl SpeechSet {
    /// An empty set of `[frames, n_mels]` items.
    pub fn empty(frames: usize, n_mels: usize) -> Self {
        Self {
            features: Vec::new(),
            lengths: Vec::new(),
            labels: Vec::new(),
            sources: Vec::new(),
            frames,
            n_mels,
        }
    }

    /// Appends an utterance given as `[t, n_mels]` features: truncated or padded with `pad` to
    /// the set's frame count.
    pub fn push(&mut self, features: &[f32], label: u32, source: String, pad: f32) {
        let t = features.len() / self.n_mels;
        let kept = t.min(self.frames);
        self.features
            .extend_from_slice(&features[..kept * self.n_mels]);
        self.features.resize(
            self.features.len() + (self.frames - kept) * self.n_mels,
            pad,
        );
        self.lengths.push(kept as u32);
        self.labels.push(label);
        self.sources.push(source);
    }

    /// Rebuilds a set from its parts (the feature cache); `None` if the sizes disagree.
    pub(crate) fn from_parts(
        features: Vec<f32>,
        lengths: Vec<u32>,
        labels: Vec<u32>,
        sources: Vec<String>,
        frames: usize,
        n_mels: usize,
    ) -> Option<Self> {
        let n = labels.len();
        let ok = lengths.len() == n
            && sources.len() == n
            && features.len() == n * frames * n_mels
            && lengths.iter().all(|&l| l as usize <= frames);
        ok.then_some(Self {
            features,
            lengths,
            labels,
            sources,
            frames,
            n_mels,
        })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn frames(&self) -> usize {
        self.frames
    }

    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    /// All features, `[len, frames, n_mels]` row-major.
    pub fn features(&self) -> &[f32] {
        &self.features
    }

    /// Features of item `i`, `[frames, n_mels]`. Panics if `i >= len()` (indices come from the
    /// caller's batching).
    pub fn item(&self, i: usize) -> &[f32] {
        let size = self.frames * self.n_mels;
        &self.features[i * size..(i + 1) * size]
    }

    /// Valid (non-padded) frames per item.
    pub fn lengths(&self) -> &[u32] {
        &self.lengths
    }

    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    /// Where each item came from (file name, or archive member).
    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    /// Copy of the items at `indices`, in that order (e.g. a validation hold-out).
    pub fn select(&self, indices: &[usize]) -> Self {
        let mut out = Self::empty(self.frames, self.n_mels);
        for &i in indices {
            out.features.extend_from_slice(self.item(i));
            out.lengths.push(self.lengths[i]);
            out.labels.push(self.labels[i]);
            out.sources.push(self.sources[i].clone());
        }
        out
    }
}

impl SpeechSplits {
    pub fn shape(&self) -> SpeechShape {
        SpeechShape {
            frames: self.train.frames,
            n_mels: self.train.n_mels,
            num_classes: self.class_names.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_pads_and_truncates_to_the_frame_count() {
        let mut s = SpeechSet::empty(3, 2);
        s.push(&[1.0, 2.0], 0, "a".into(), -9.0); // 1 frame → padded
        s.push(
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
            1,
            "b".into(),
            -9.0,
        ); // 4 frames → 3
        assert_eq!(s.item(0), [1.0, 2.0, -9.0, -9.0, -9.0, -9.0]);
        assert_eq!(s.item(1), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(s.lengths(), [1, 3]);
        let t = s.select(&[1]);
        assert_eq!(
            (t.len(), t.labels(), t.sources()),
            (1, &[1][..], &["b".to_string()][..])
        );
    }
}
