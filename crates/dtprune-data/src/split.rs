//! Stratified, seeded train/test split for data sets without an official one (SMS Spam,
//! a single `text-tsv` file, an `audio-folder` without `train/` and `test/`).
//!
//! Per class, in class order, the item indices are shuffled with one ChaCha8 stream seeded by
//! `seed`, and the first `round(n_c · test_fraction)` go to the test set. The result depends only
//! on the labels, the fraction and the seed, and is recorded ([`SplitRecord`]) in the run.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Which items went where; indices are into the source's item order (for a text file: line
/// order, 0-based), both lists ascending.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SplitRecord {
    pub seed: u64,
    pub test_fraction: f64,
    pub train: Vec<usize>,
    pub test: Vec<usize>,
}

/// Splits items with labels `labels` (each `< num_classes`).
pub fn stratified_split(
    labels: &[u32],
    num_classes: usize,
    test_fraction: f64,
    seed: u64,
) -> SplitRecord {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut train = Vec::new();
    let mut test = Vec::new();
    for class in 0..num_classes as u32 {
        let mut members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        members.shuffle(&mut rng);
        let n_test = (members.len() as f64 * test_fraction).round() as usize;
        test.extend_from_slice(&members[..n_test]);
        train.extend_from_slice(&members[n_test..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    SplitRecord {
        seed,
        test_fraction,
        train,
        test,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_class_counts_are_rounded_fractions() {
        // 10 of class 0, 5 of class 1: round(2.0) = 2 and round(1.0) = 1 go to test.
        let labels: Vec<u32> = (0..15).map(|i| u32::from(i >= 10)).collect();
        let s = stratified_split(&labels, 2, 0.2, 7);
        assert_eq!(s.test.len(), 3);
        assert_eq!(s.test.iter().filter(|&&i| labels[i] == 1).count(), 1);
        let mut all: Vec<usize> = s.train.iter().chain(&s.test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..15).collect::<Vec<_>>(), "a partition");
    }

    #[test]
    fn seeded() {
        let labels: Vec<u32> = (0..200).map(|i| (i % 3) as u32).collect();
        assert_eq!(
            stratified_split(&labels, 3, 0.25, 1),
            stratified_split(&labels, 3, 0.25, 1)
        );
        assert_ne!(
            stratified_split(&labels, 3, 0.25, 1).test,
            stratified_split(&labels, 3, 0.25, 2).test
        );
    }
}
