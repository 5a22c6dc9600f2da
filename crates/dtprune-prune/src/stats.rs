//! Weight statistics the monitor records and the distribution-driven policies read.

use crate::mask::Mask;
use serde::{Deserialize, Serialize};

/// Magnitudes below this count as "near zero" in [`TensorStats::near_zero`].
pub const NEAR_ZERO: f32 = 1e-3;

/// Statistics of one tensor. Distribution figures (`abs_mean`, `abs_std`, `near_zero`) are taken
/// over the weights the mask keeps, because that is the population a threshold acts on next;
/// norms are over the whole tensor (masked weights are zero and add nothing).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TensorStats {
    pub numel: usize,
    pub nonzero: usize,
    pub sparsity: f64,
    pub abs_mean: f64,
    pub abs_std: f64,
    pub near_zero: f64,
    pub l1: f64,
    pub l2: f64,
}

impl TensorStats {
    pub fn compute(values: &[f32], mask: &Mask) -> Self {
        let (mut n, mut sum, mut sum_sq, mut near) = (0usize, 0f64, 0f64, 0usize);
        let (mut l1, mut l2sq, mut nonzero) = (0f64, 0f64, 0usize);
        for (i, &v) in values.iter().enumerate() {
            let a = f64::from(v.abs());
            l1 += a;
            l2sq += a * a;
            nonzero += usize::from(v != 0.0);
            if mask.keeps(i) {
                n += 1;
                sum += a;
                sum_sq += a * a;
                near += usize::from(v.abs() < NEAR_ZERO);
            }
        }
        let (abs_mean, abs_std) = mean_std(n, sum, sum_sq);
        Self {
            numel: values.len(),
            nonzero,
            sparsity: mask.sparsity(),
            abs_mean,
            abs_std,
            near_zero: if n == 0 { 0.0 } else { near as f64 / n as f64 },
            l1,
            l2: l2sq.sqrt(),
        }
    }
}

/// Population mean and standard deviation from running sums (0, 0 when empty).
pub fn mean_std(n: usize, sum: f64, sum_sq: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 0.0);
    }
    let mean = sum / n as f64;
    let var = (sum_sq / n as f64 - mean * mean).max(0.0);
    (mean, var.sqrt())
}

/// mean and std of |w| over the kept weights of several tensors taken together.
pub fn pooled_abs_mean_std<'a>(tensors: impl IntoIterator<Item = (&'a [f32], &'a Mask)>) -> (f64, f64) {
    let (mut n, mut sum, mut sum_sq) = (0usize, 0f64, 0f64);
    for (values, mask) in tensors {
        for (i, &v) in values.iter().enumerate() {
            if mask.keeps(i) {
                let a = f64::from(v.abs());
                n += 1;
                sum += a;
                sum_sq += a * a;
            }
        }
    }
    mean_std(n, sum, sum_sq)
}

/// The magnitude below which `fraction` of the given values lie (the k-th smallest |w|, with
/// k = round(fraction * n)); the threshold that prunes that fraction. 0 when nothing is pruned.
pub fn magnitude_quantile(mut magnitudes: Vec<f32>, fraction: f64) -> f32 {
    let n = magnitudes.len();
    let k = crate::stream_stats::pruned_count(n, fraction);
    if k == 0 || n == 0 {
        return 0.0;
    }
    if k >= n {
        return f32::INFINITY;
    }
    // The k-th smallest (0-based index k) is the first one kept: |w| >= tau keeps it.
    let (_, kth, _) = magnitudes.select_nth_unstable_by(k, |a, b| a.total_cmp(b));
    *kth
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_by_hand() {
        // values 0, -1, 2, 3 with the first masked.
        let mask = Mask::from_f32(&[0.0, 1.0, 1.0, 1.0]);
        let s = TensorStats::compute(&[0.0, -1.0, 2.0, 3.0], &mask);
        assert_eq!(s.numel, 4);
        assert_eq!(s.nonzero, 3);
        assert_eq!(s.sparsity, 0.25);
        assert!((s.abs_mean - 2.0).abs() < 1e-12);
        // population std of {1,2,3} = sqrt(2/3)
        assert!((s.abs_std - (2.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(s.l1, 6.0);
        assert!((s.l2 - 14f64.sqrt()).abs() < 1e-12);
        assert_eq!(s.near_zero, 0.0);
    }

    #[test]
    fn quantile_prunes_requested_fraction() {
        let mags = vec![0.5, 0.1, 0.4, 0.2, 0.3];
        // prune 40% = 2 of 5: threshold is the 3rd smallest, 0.3
        assert_eq!(magnitude_quantile(mags.clone(), 0.4), 0.3);
        assert_eq!(magnitude_quantile(mags.clone(), 0.0), 0.0);
        assert_eq!(magnitude_quantile(mags, 1.0), f32::INFINITY);
    }

    #[test]
    fn pooled_stats() {
        let a = [1.0f32, -3.0];
        let b = [2.0f32];
        let ma = Mask::ones(2);
        let mb = Mask::ones(1);
        let (m, s) = pooled_abs_mean_std([(&a[..], &ma), (&b[..], &mb)]);
        assert!((m - 2.0).abs() < 1e-12);
        assert!((s - (2.0f64 / 3.0).sqrt()).abs() < 1e-12);
    }
}
