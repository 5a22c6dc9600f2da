//! 0/1 masks over a tensor's elements.
//!
//! A [`Mask`] is what every pruning method produces (compare `torch.nn.utils.prune`: a method only
//! computes a mask, applying it is generic). Masks are stored as bytes so that they are cheap to
//! combine and serialise and exact to compare.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mask {
    keep: Vec<u8>,
}

impl Mask {
    /// A mask that keeps every element.
    pub fn ones(numel: usize) -> Self {
        Self { keep: vec![1; numel] }
    }

    pub fn from_keep(keep: Vec<bool>) -> Self {
        Self { keep: keep.into_iter().map(u8::from).collect() }
    }

    /// Reads a mask from 0/1 floats (any nonzero keeps).
    pub fn from_f32(values: &[f32]) -> Self {
        Self { keep: values.iter().map(|&v| u8::from(v != 0.0)).collect() }
    }

    /// Keeps exactly the elements whose importance ratio `|w| / tau` is at least 1.
    pub fn from_threshold(values: &[f32], tau: f32) -> Self {
        Self { keep: values.iter().map(|&v| u8::from(v.abs() >= tau)).collect() }
    }

    pub fn len(&self) -> usize {
        self.keep.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keep.is_empty()
    }

    pub fn keeps(&self, i: usize) -> bool {
        self.keep[i] != 0
    }

    pub fn kept(&self) -> usize {
        self.keep.iter().filter(|&&k| k != 0).count()
    }

    pub fn pruned(&self) -> usize {
        self.len() - self.kept()
    }

    /// Fraction of elements that are masked (0 for an empty mask).
    pub fn sparsity(&self) -> f64 {
        if self.keep.is_empty() {
            0.0
        } else {
            self.pruned() as f64 / self.len() as f64
        }
    }

    /// Elementwise AND: an element survives only if both masks keep it.
    pub fn and(&self, other: &Mask) -> Mask {
        assert_eq!(self.len(), other.len(), "masks of different length");
        Mask { keep: self.keep.iter().zip(&other.keep).map(|(a, b)| a & b).collect() }
    }

    /// Number of elements kept here but masked in `after` (newly pruned), and masked here but
    /// kept in `after` (regrown).
    pub fn diff(&self, after: &Mask) -> (usize, usize) {
        let mut pruned = 0;
        let mut regrown = 0;
        for (a, b) in self.keep.iter().zip(&after.keep) {
            match (a, b) {
                (1, 0) => pruned += 1,
                (0, 1) => regrown += 1,
                _ => {}
            }
        }
        (pruned, regrown)
    }

    /// Zeroes the masked elements of `values` in place.
    pub fn apply(&self, values: &mut [f32]) {
        for (v, &k) in values.iter_mut().zip(&self.keep) {
            if k == 0 {
                *v = 0.0;
            }
        }
    }

    pub fn to_f32(&self) -> Vec<f32> {
        self.keep.iter().map(|&k| k as f32).collect()
    }

    pub fn set(&mut self, i: usize, keep: bool) {
        self.keep[i] = u8::from(keep);
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_keeps_ratio_at_least_one() {
        // r = |w| / 0.5 -> [0.2, 1.0, 1.6, 0.0]: keep the 2nd and 3rd.
        let m = Mask::from_threshold(&[0.1, -0.5, 0.8, 0.0], 0.5);
        assert_eq!(m.to_f32(), vec![0.0, 1.0, 1.0, 0.0]);
        assert_eq!(m.kept(), 2);
        assert_eq!(m.sparsity(), 0.5);
    }

    #[test]
    fn and_diff_apply() {
        let a = Mask::from_f32(&[1.0, 1.0, 0.0, 1.0]);
        let b = Mask::from_f32(&[1.0, 0.0, 1.0, 0.0]);
        assert_eq!(a.and(&b).to_f32(), vec![1.0, 0.0, 0.0, 0.0]);
        assert_eq!(a.diff(&b), (2, 1));
        let mut w = vec![1.0, 2.0, 3.0, 4.0];
        b.apply(&mut w);
        assert_eq!(w, vec![1.0, 0.0, 3.0, 0.0]);
    }
}
