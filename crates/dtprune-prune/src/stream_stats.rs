//! Statistics of |w| gathered over a *stream* of values, for tensors too large to copy: a pass
//! feeds the values in runs of any length (e.g. decoded from a memory-mapped file a few MB at
//! a time), and the result is exactly what the in-memory functions of [`crate::stats`] return.
//!
//! The quantile is a two-pass radix selection instead of `select_nth_unstable` on a copied
//! `Vec<f32>`: for non-negative floats the IEEE-754 bit pattern, read as an integer, orders like
//! the value, so the k-th smallest |w| is found by counting the top 16 bits of every |w| into
//! 65 536 bins, then the low 16 bits of the values in the one bin that holds rank k. Memory is
//! two 512 KB tables whatever the tensor's size, and the result is one of the tensor's own
//! magnitudes, bit for bit.

use crate::stats::mean_std;

/// One pass over a tensor (or several, for a global threshold): calls the sink with
/// consecutive runs of the values, covering every value exactly once.
pub type Pass<'a> = dyn FnMut(&mut dyn FnMut(&[f32])) + 'a;

/// How many of `n` values a fraction prunes: k = round(fraction * n), the rank rule of
/// [`crate::stats::magnitude_quantile`].
pub fn pruned_count(n: usize, fraction: f64) -> usize {
    (fraction.clamp(0.0, 1.0) * n as f64).round() as usize
}

/// Count, zeros, largest |w|, non-finite values and the running sums of |w| and |w|².
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AbsMoments {
    pub n: usize,
    pub zeros: usize,
    pub non_finite: usize,
    pub max_abs: f32,
    sum: f64,
    sum_sq: f64,
}

impl AbsMoments {
    pub fn add(&mut self, values: &[f32]) {
        for &v in values {
            let a = v.abs();
            if !a.is_finite() {
                self.non_finite += 1;
                continue;
            }
            self.n += 1;
            self.zeros += usize::from(a == 0.0);
            self.max_abs = self.max_abs.max(a);
            let a = f64::from(a);
            self.sum += a;
            self.sum_sq += a * a;
        }
    }

    /// Population mean and standard deviation of |w| over the finite values.
    pub fn mean_std(&self) -> (f64, f64) {
        mean_std(self.n, self.sum, self.sum_sq)
    }

    /// Fraction of the values that are exactly zero.
    pub fn sparsity(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.zeros as f64 / self.n as f64
        }
    }

    pub fn of(pass: &mut Pass) -> Self {
        let mut m = Self::default();
        pass(&mut |run| m.add(run));
        m
    }
}

const BINS: usize = 1 << 16;

/// The magnitude threshold that prunes `fraction` of the streamed values: the k-th smallest |w|
/// (0-based, k = [`pruned_count`]), 0 when nothing is pruned and +inf when everything is —
/// identical to [`crate::stats::magnitude_quantile`] on the same values. `pass` is called twice.
/// The values must be finite (check with [`AbsMoments`] first).
pub fn streamed_magnitude_quantile(pass: &mut Pass, fraction: f64) -> f32 {
    let mut high = vec![0u64; BINS];
    let mut n = 0usize;
    pass(&mut |run| {
        n += run.len();
        for &v in run {
            high[(v.abs().to_bits() >> 16) as usize] += 1;
        }
    });
    let k = pruned_count(n, fraction);
    if k == 0 || n == 0 {
        return 0.0;
    }
    if k >= n {
        return f32::INFINITY;
    }
    let (bin, rank) = locate(&high, k as u64);
    let mut low = vec![0u64; BINS];
    pass(&mut |run| {
        for &v in run {
            let bits = v.abs().to_bits();
            if (bits >> 16) as usize == bin {
                low[(bits & 0xFFFF) as usize] += 1;
            }
        }
    });
    let (low_bits, _) = locate(&low, rank);
    f32::from_bits(((bin as u32) << 16) | low_bits as u32)
}

/// The bin holding 0-based rank `k` of a histogram, and k's rank inside that bin.
fn locate(counts: &[u64], k: u64) -> (usize, u64) {
    let mut below = 0u64;
    for (bin, &c) in counts.iter().enumerate() {
        if k < below + c {
            return (bin, k - below);
        }
        below += c;
    }
    unreachable!("rank {k} beyond the {below} counted values")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::magnitude_quantile;

    /// A pass over `values` in runs of `run` values.
    fn chunked(values: &[f32], run: usize) -> Box<Pass<'_>> {
        Box::new(move |sink: &mut dyn FnMut(&[f32])| values.chunks(run).for_each(&mut *sink))
    }

    #[test]
    fn quantile_by_hand() {
        // |w| = 0.5 0.1 0.4 0.2 0.3: pruning 40% (2 of 5) keeps |w| >= the 3rd smallest, 0.3.
        let v = [0.5f32, -0.1, 0.4, -0.2, 0.3];
        assert_eq!(streamed_magnitude_quantile(&mut chunked(&v, 2), 0.4), 0.3);
        assert_eq!(streamed_magnitude_quantile(&mut chunked(&v, 2), 0.0), 0.0);
        assert_eq!(streamed_magnitude_quantile(&mut chunked(&v, 2), 1.0), f32::INFINITY);
        // 0.5 of 5 rounds to 3 pruned: the 4th smallest, 0.4
        assert_eq!(streamed_magnitude_quantile(&mut chunked(&v, 3), 0.5), 0.4);
    }

    #[test]
    fn ties_and_signed_zeros() {
        // -0 and +0 are both |w| = 0; pruning 3 of 6 gives the 4th smallest of 0 0 1 1 1 2 = 1.
        let v = [1.0f32, -0.0, 1.0, 0.0, -1.0, 2.0];
        assert_eq!(streamed_magnitude_quantile(&mut chunked(&v, 4), 0.5), 1.0);
        // 2 of 6: the 3rd smallest, 1 (|w| < 1 prunes only the two zeros: ties stay)
        assert_eq!(streamed_magnitude_quantile(&mut chunked(&v, 4), 2.0 / 6.0), 1.0);
    }

    #[test]
    fn agrees_with_the_sorting_quantile() {
        // Values spread over many binades and sharing high bits, so both passes matter.
        let mut x = 0x2545_F491u32;
        let values: Vec<f32> = (0..20_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let u = (x as f64 / u32::MAX as f64) as f32;
                (u - 0.5) * if x.is_multiple_of(7) { 1e-4 } else { 0.3 }
            })
            .collect();
        let mags: Vec<f32> = values.iter().map(|v| v.abs()).collect();
        for f in [0.0, 0.001, 0.3, 0.5, 0.7, 0.9, 0.999, 1.0] {
            assert_eq!(streamed_magnitude_quantile(&mut chunked(&values, 333), f), magnitude_quantile(mags.clone(), f), "fraction {f}");
        }
    }

    #[test]
    fn moments_by_hand() {
        // |w| = 0, 1, 2, 3 (+ one NaN, counted apart): mean 1.5, std sqrt(1.25), one zero, max 3.
        let v = [0.0f32, -1.0, f32::NAN, 2.0, -3.0];
        let m = AbsMoments::of(&mut chunked(&v, 2));
        assert_eq!((m.n, m.zeros, m.non_finite, m.max_abs), (4, 1, 1, 3.0));
        let (mean, std) = m.mean_std();
        assert!((mean - 1.5).abs() < 1e-12);
        assert!((std - 1.25f64.sqrt()).abs() < 1e-12);
        assert_eq!(m.sparsity(), 0.25);
    }

    #[test]
    fn pruned_count_rounds() {
        assert_eq!(pruned_count(5, 0.5), 3);
        assert_eq!(pruned_count(4, 0.5), 2);
        assert_eq!(pruned_count(10, 1.5), 10);
        assert_eq!(pruned_count(0, 0.5), 0);
    }
}
