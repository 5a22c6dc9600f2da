//! Batch-1 sparse products with few columns (`cols ≤ 128`: a pruned recurrent layer's hidden
//! transform, `W_hh · h`, at every step) in a sliced layout (SELL-16): rows in slices of 16,
//! each slice's entries column by column (entry k of the slice's 16 rows side by side, short
//! rows padded with zero values), so one vector of 16 entries updates 16 output rows at once
//! with no horizontal sum.
//!
//! With so few columns the whole input vector fits in 2–8 AVX-512 registers, and the 16 inputs
//! an entry vector needs are picked from them with `vpermt2ps` (two-source permutes by index),
//! a register operation, instead of a memory gather: on the pruned LSTM's 256 × 64 hidden
//! transform at 11% density, 140 ns per product against 945–970 ns for the row-by-row gather
//! kernel of [`crate::sparse`] and 980–1010 ns for the dense product of the `gemm` crate
//! (`examples/matvec_kernels.rs`, BENCHMARKS.md).

use crate::sparse::Csr;

/// Rows per slice: one AVX-512 vector of f32.
const SLICE: usize = 16;
/// The widest input the register-held kernel takes.
pub const MAX_COLS: usize = 128;

#[derive(Clone, Debug, PartialEq)]
pub struct SlicedCsr {
    pub rows: usize,
    pub cols: usize,
    /// Start of slice s's entries in `indices`/`values` (multiples of 16); `slice_starts[S]` is
    /// the end.
    slice_starts: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f32>,
}

impl SlicedCsr {
    /// The sliced copy of `csr`; `None` when it has more than [`MAX_COLS`] columns.
    pub fn from_csr(csr: &Csr) -> Option<SlicedCsr> {
        if csr.cols > MAX_COLS || csr.cols == 0 {
            return None;
        }
        let slices = csr.rows.div_ceil(SLICE);
        let mut slice_starts = Vec::with_capacity(slices + 1);
        let (mut indices, mut values) = (Vec::new(), Vec::new());
        for s in 0..slices {
            slice_starts.push(indices.len());
            let rows = s * SLICE..((s + 1) * SLICE).min(csr.rows);
            let len = rows.clone().map(|r| csr.row_range(r).len()).max().unwrap_or(0);
            let base = indices.len();
            indices.resize(base + len * SLICE, 0);
            values.resize(base + len * SLICE, 0.0);
            for (lane, r) in rows.enumerate() {
                for (k, p) in csr.row_range(r).enumerate() {
                    indices[base + k * SLICE + lane] = csr.indices[p];
                    values[base + k * SLICE + lane] = csr.data[p];
                }
            }
        }
        slice_starts.push(indices.len());
        assert!(indices.iter().all(|&i| (i as usize) < csr.cols), "CSR index out of range");
        Some(SlicedCsr { rows: csr.rows, cols: csr.cols, slice_starts, indices, values })
    }

    /// Bytes of the layout in memory (entries with their padding, slice starts).
    pub fn bytes(&self) -> usize {
        4 * (self.indices.len() + self.values.len()) + 8 * self.slice_starts.len()
    }

    /// `y[rows] += W · x[cols]`.
    pub fn matvec_acc(&self, x: &[f32], y: &mut [f32]) {
        assert!(x.len() == self.cols && y.len() == self.rows, "sliced product: x must be [cols], y [rows]");
        #[cfg(target_arch = "x86_64")]
        if crate::simd::has_avx512() {
            // SAFETY: AVX-512 F present; x and y have the checked lengths.
            return unsafe { avx512::matvec_acc(self, x, y) };
        }
        self.matvec_acc_portable(x, y);
    }

    /// The plain loop over the same layout (CPUs without AVX-512, and the reference).
    pub fn matvec_acc_portable(&self, x: &[f32], y: &mut [f32]) {
        for s in 0..self.slice_starts.len() - 1 {
            let (start, end) = (self.slice_starts[s], self.slice_starts[s + 1]);
            let lanes = (self.rows - s * SLICE).min(SLICE);
            let mut acc = [0f32; SLICE];
            for p in (start..end).step_by(SLICE) {
                for (lane, a) in acc.iter_mut().enumerate().take(lanes) {
                    *a += self.values[p + lane] * x[self.indices[p + lane] as usize];
                }
            }
            for (lane, a) in acc.iter().enumerate().take(lanes) {
                y[s * SLICE + lane] += a;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{SlicedCsr, SLICE};
    use std::arch::x86_64::*;

    /// # Safety
    /// AVX-512 F present; `x.len() == m.cols ≤ 128`, `y.len() == m.rows`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn matvec_acc(m: &SlicedCsr, x: &[f32], y: &mut [f32]) {
        // x zero-padded to 128 values in 8 registers.
        let mut padded = [0f32; 128];
        padded[..x.len()].copy_from_slice(x);
        let r: [__m512; 8] = std::array::from_fn(|i| unsafe { _mm512_loadu_ps(padded.as_ptr().add(16 * i)) });
        let wide = m.cols > 64;
        let (bit5, bit6) = (_mm512_set1_epi32(32), _mm512_set1_epi32(64));
        let (ip, vp) = (m.indices.as_ptr(), m.values.as_ptr());
        for s in 0..m.slice_starts.len() - 1 {
            let (start, end) = (m.slice_starts[s], m.slice_starts[s + 1]);
            let lanes = (m.rows - s * SLICE).min(SLICE);
            let mask: __mmask16 = if lanes == SLICE { 0xFFFF } else { (1u16 << lanes) - 1 };
            let yp = unsafe { y.as_mut_ptr().add(s * SLICE) };
            // SAFETY: lanes rows from s·16 lie inside y.
            let mut acc = unsafe { _mm512_maskz_loadu_ps(mask, yp) };
            let mut p = start;
            while p < end {
                // SAFETY: p..p+16 lies inside the slice's entries.
                let idx = unsafe { _mm512_loadu_si512(ip.add(p) as *const __m512i) };
                let val = unsafe { _mm512_loadu_ps(vp.add(p)) };
                // Bits 0-4 pick one of 32 values from a register pair, bit 5 the pair, bit 6
                // the half of 128.
                let lo = _mm512_mask_blend_ps(
                    _mm512_test_epi32_mask(idx, bit5),
                    _mm512_permutex2var_ps(r[0], idx, r[1]),
                    _mm512_permutex2var_ps(r[2], idx, r[3]),
                );
                let xv = if wide {
                    let hi = _mm512_mask_blend_ps(
                        _mm512_test_epi32_mask(idx, bit5),
                        _mm512_permutex2var_ps(r[4], idx, r[5]),
                        _mm512_permutex2var_ps(r[6], idx, r[7]),
                    );
                    _mm512_mask_blend_ps(_mm512_test_epi32_mask(idx, bit6), lo, hi)
                } else {
                    lo
                };
                acc = _mm512_fmadd_ps(val, xv, acc);
                p += SLICE;
            }
            // SAFETY: as the load.
            unsafe { _mm512_mask_storeu_ps(yp, mask, acc) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dense::DenseMat;

    #[test]
    fn matches_the_dense_product() {
        for &(rows, cols) in &[(1usize, 1usize), (5, 3), (16, 64), (37, 64), (40, 65), (33, 128), (256, 100)] {
            let w = DenseMat::new(rows, cols, (0..rows * cols).map(|i| if (i * 7 + i / 3) % 5 == 0 { (i % 11) as f32 - 5.0 } else { 0.0 }).collect());
            let x: Vec<f32> = (0..cols).map(|i| (i as f32 * 0.3).cos()).collect();
            let want: Vec<f32> = (0..rows).map(|r| 0.5 + (0..cols).map(|c| w.data[r * cols + c] * x[c]).sum::<f32>()).collect();
            let m = SlicedCsr::from_csr(&Csr::from_dense(&w)).unwrap();
            let (mut a, mut b) = (vec![0.5; rows], vec![0.5; rows]);
            m.matvec_acc(&x, &mut a);
            m.matvec_acc_portable(&x, &mut b);
            for r in 0..rows {
                assert!((a[r] - want[r]).abs() < 1e-4 && (b[r] - want[r]).abs() < 1e-4, "{rows}x{cols} row {r}: {} {} vs {}", a[r], b[r], want[r]);
            }
        }
    }

    #[test]
    fn lays_out_slices_by_entry() {
        // Rows [1 0 2], [0 3 0]: one slice of length 2; row 1 padded with a zero entry.
        let m = SlicedCsr::from_csr(&Csr::from_dense(&DenseMat::new(2, 3, vec![1., 0., 2., 0., 3., 0.]))).unwrap();
        assert_eq!(m.slice_starts, vec![0, 32]);
        assert_eq!((m.indices[0], m.indices[1], m.indices[16], m.indices[17]), (0, 1, 2, 0));
        assert_eq!((m.values[0], m.values[1], m.values[16], m.values[17]), (1., 3., 2., 0.));
        assert!(SlicedCsr::from_csr(&Csr::from_dense(&DenseMat::new(1, 129, vec![1.; 129]))).is_none());
    }
}
