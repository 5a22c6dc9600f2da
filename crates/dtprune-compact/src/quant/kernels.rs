//! Int8 row kernels: `out[l] = offset + scale · Σ_p w_p · x[idx_p·n + shift + l]`, `l < out.len()`.
//!
//! One kernel serves every quantised layer. Activations keep the f32 network's batch-innermost
//! layout (`[F, N]`, `[C, H, W, N]`), so a linear row's nonzero `k` reads the run `x[k·n ..]`
//! and a convolution tap `(ci, dy, dx)` of output row `oy` reads the run starting at input
//! pixel `(ci, oy·sh + dy, dx)`: both are "index × n + shift".
//!
//! Values: activations are unsigned 7-bit (`0..=127`, see `scheme.rs`), weights signed int8
//! (`-127..=127`), sums exact in i32. The result is dequantised with one fused multiply-add, in
//! one multiply then one add (not fused: baseline x86-64 has no FMA), in the SIMD copy and the reference alike, so the copies agree bit for bit.
//!
//! The AVX2 copy takes a row's nonzeros four at a time (rows are padded to a multiple of four
//! with zero weights): it interleaves the four input runs byte-wise into `[x0 x1 x2 x3]` per
//! sample, then `vpmaddubsw` (u8 × s8 → pairs summed in i16, at most 2·127·127 = 32258, so it
//! never saturates) and `vpmaddwd` by ones (→ the four-product sum in i32): the shape of
//! AVX-512 VNNI's `vpdpbusd`, in two instructions. 32 samples per step.

use crate::simd::has_avx2;

/// The nonzeros of a layer's rows, each row padded to a multiple of four entries with zero
/// weights (which read a valid run: the row's last index, or 0).
#[derive(Clone, Debug, PartialEq)]
pub struct QRows {
    /// `ptr[r]..ptr[r+1]`: row r's entries (a multiple of 4 apart).
    pub ptr: Vec<u32>,
    /// Input run index of each entry (a linear layer's column; a tap's input pixel).
    pub idx: Vec<u32>,
    /// Four consecutive weights packed little-endian (one per group of four entries).
    pub quads: Vec<i32>,
    pub w: Vec<i8>,
    /// The largest index (bounds checks of the callers, once per call).
    pub max: Option<u32>,
}

impl QRows {
    /// From each row's `(index, weight)` list.
    pub fn new(rows: impl IntoIterator<Item = Vec<(u32, i8)>>) -> QRows {
        let (mut ptr, mut idx, mut w) = (vec![0u32], Vec::new(), Vec::new());
        for row in rows {
            let last = row.last().map_or(0, |e| e.0);
            for (i, v) in &row {
                idx.push(*i);
                w.push(*v);
            }
            for _ in 0..(4 - row.len() % 4) % 4 {
                idx.push(last);
                w.push(0);
            }
            ptr.push(idx.len() as u32);
        }
        let quads = w.chunks_exact(4).map(|q| i32::from_le_bytes([q[0] as u8, q[1] as u8, q[2] as u8, q[3] as u8])).collect();
        let max = idx.iter().copied().max();
        QRows { ptr, idx, quads, w, max }
    }

    pub fn rows(&self) -> usize {
        self.ptr.len() - 1
    }

    #[inline]
    pub fn row(&self, r: usize) -> (&[u32], &[i8], &[i32]) {
        let (a, b) = (self.ptr[r] as usize, self.ptr[r + 1] as usize);
        (&self.idx[a..b], &self.w[a..b], &self.quads[a / 4..b / 4])
    }

    /// Largest input run index (bounds checks of the callers).
    pub fn max_idx(&self) -> Option<u32> {
        self.max
    }
}

/// The plain reference: one multiply-add at a time, in i32.
pub fn qrow_ref(idx: &[u32], w: &[i8], n: usize, shift: usize, x: &[u8], scale: f32, offset: f32, out: &mut [f32]) {
    for (l, o) in out.iter_mut().enumerate() {
        let mut acc = 0i32;
        for (&i, &v) in idx.iter().zip(w) {
            acc += v as i32 * x[i as usize * n + shift + l] as i32;
        }
        *o = scale * acc as f32 + offset;
    }
}

/// The fastest copy this CPU runs (capped by `DTPRUNE_SIMD`). `x` must hold only values
/// `0..=127`; `idx.len()` a multiple of four.
#[allow(clippy::too_many_arguments)]
pub fn qrow(idx: &[u32], w: &[i8], quads: &[i32], n: usize, shift: usize, x: &[u8], scale: f32, offset: f32, out: &mut [f32]) {
    if let Some(&m) = idx.iter().max() {
        assert!(m as usize * n + shift + out.len() <= x.len(), "int8 row reads past its input");
    }
    // SAFETY: bounds checked just above.
    unsafe { qrow_unchecked(idx, w, quads, n, shift, x, scale, offset, out) }
}

/// [`qrow`] without the bounds check, for layers that checked their largest index once.
///
/// # Safety
/// `idx[p]·n + shift + out.len() <= x.len()` for every p.
#[allow(clippy::too_many_arguments)]
#[inline]
pub unsafe fn qrow_unchecked(idx: &[u32], w: &[i8], quads: &[i32], n: usize, shift: usize, x: &[u8], scale: f32, offset: f32, out: &mut [f32]) {
    debug_assert!(idx.len() % 4 == 0 && quads.len() * 4 == idx.len() && w.len() == idx.len());
    #[cfg(target_arch = "x86_64")]
    if out.len() >= 64 && has_avx512_vnni() {
        // SAFETY: AVX-512 F/BW/VNNI present (has_avx512_vnni); the caller guarantees the bounds.
        return unsafe { avx512_vnni::qrow(idx, quads, n, shift, x, scale, offset, out, |rest_shift, rest| qrow_unchecked(idx, w, quads, n, rest_shift, x, scale, offset, rest)) };
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2() && out.len() >= 32 {
        // SAFETY: AVX2 is present (has_avx2); the caller guarantees the bounds.
        return unsafe { avx2::qrow(idx, w, quads, n, shift, x, scale, offset, out) };
    }
    let _ = quads;
    if let [o] = out {
        // One output (a batch-1 linear row): a gathered dot product.
        *o = scale * unsafe { gather_dot(idx, w, n, shift, x) } as f32 + offset;
        return;
    }
    qrow_ref(idx, w, n, shift, x, scale, offset, out)
}

crate::simd::multiversion! {
    /// `Σ_p w_p · x[idx_p·n + shift]` with four partial sums (exact: integer adds commute).
    ///
    /// # Safety
    /// Every `idx_p·n + shift < x.len()`; `idx.len()` a multiple of four.
    unsafe fn gather_dot(idx: &[u32], w: &[i8], n: usize, shift: usize, x: &[u8]) -> i32 {
        let mut s = [0i32; 4];
        for (i, v) in idx.chunks_exact(4).zip(w.chunks_exact(4)) {
            for l in 0..4 {
                // SAFETY: the caller's bound.
                s[l] += v[l] as i32 * unsafe { *x.get_unchecked(i[l] as usize * n + shift) } as i32;
            }
        }
        (s[0] + s[1]) + (s[2] + s[3])
    }
}

/// The AVX2 copy, callable directly by tests on CPUs that have it.
#[cfg(target_arch = "x86_64")]
pub fn qrow_avx2(idx: &[u32], w: &[i8], quads: &[i32], n: usize, shift: usize, x: &[u8], scale: f32, offset: f32, out: &mut [f32]) -> bool {
    if !(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")) {
        return false;
    }
    assert!(idx.len() % 4 == 0 && quads.len() * 4 == idx.len() && w.len() == idx.len());
    if let Some(&m) = idx.iter().max() {
        assert!(m as usize * n + shift + out.len() <= x.len());
    }
    // SAFETY: checked just above.
    unsafe { avx2::qrow(idx, w, quads, n, shift, x, scale, offset, out) };
    true
}

/// Whether the AVX-512 VNNI copy may run: the AVX-512 kernels are allowed (`DTPRUNE_SIMD`) and
/// the CPU has AVX-512 BW (byte unpacks on 512 bits) and VNNI (`vpdpbusd`).
#[inline]
pub fn has_avx512_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static VNNI: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *VNNI.get_or_init(|| crate::simd::has_avx512() && std::is_x86_feature_detected!("avx512bw") && std::is_x86_feature_detected!("avx512vnni"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The AVX-512 VNNI copy, callable directly by tests on CPUs that have it (whatever
/// `DTPRUNE_SIMD` says); false when the CPU lacks it.
#[cfg(target_arch = "x86_64")]
pub fn qrow_avx512_vnni(idx: &[u32], w: &[i8], quads: &[i32], n: usize, shift: usize, x: &[u8], scale: f32, offset: f32, out: &mut [f32]) -> bool {
    if !(std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bw") && std::is_x86_feature_detected!("avx512vnni")) {
        return false;
    }
    assert!(idx.len() % 4 == 0 && quads.len() * 4 == idx.len() && w.len() == idx.len());
    if let Some(&m) = idx.iter().max() {
        assert!(m as usize * n + shift + out.len() <= x.len());
    }
    // SAFETY: checked just above; the tail goes to the reference.
    unsafe { avx512_vnni::qrow(idx, quads, n, shift, x, scale, offset, out, |s, rest| qrow_ref(idx, w, n, s, x, scale, offset, rest)) };
    true
}

/// 64 samples per step: the AVX2 copy's interleave on 512 bits, then one `vpdpbusd` per group
/// of 16 samples (u8 × s8, four products summed into i32 in one instruction) where AVX2 needs
/// `vpmaddubsw` + `vpmaddwd` + `vpaddd`. The shuffles (eight per four nonzeros) stay: they are
/// what the batch-innermost layout costs, and now bound the kernel (one shuffle port).
#[cfg(target_arch = "x86_64")]
mod avx512_vnni {
    use std::arch::x86_64::*;

    /// Steps of 64 samples; the last `out.len() % 64` go to `tail(shift + done, rest)`.
    ///
    /// # Safety
    /// AVX-512 F, BW and VNNI present; `idx[p]·n + shift + out.len() <= x.len()` for every p.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn qrow(idx: &[u32], quads: &[i32], n: usize, shift: usize, x: &[u8], scale: f32, offset: f32, out: &mut [f32], tail: impl FnOnce(usize, &mut [f32])) {
        let len = out.len();
        let (vs, vo) = (_mm512_set1_ps(scale), _mm512_set1_ps(offset));
        let xp = x.as_ptr();
        let mut j = 0;
        while j + 64 <= len {
            let (mut a0, mut a1, mut a2, mut a3) = (_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512());
            for (q, &wq) in quads.iter().enumerate() {
                // SAFETY: the caller's bound (j + 64 <= len).
                let at = |p: usize| unsafe { _mm512_loadu_si512(xp.add(idx[4 * q + p] as usize * n + shift + j) as *const _) };
                let (v0, v1, v2, v3) = (at(0), at(1), at(2), at(3));
                let wv = _mm512_set1_epi32(wq);
                let (lo01, hi01) = (_mm512_unpacklo_epi8(v0, v1), _mm512_unpackhi_epi8(v0, v1));
                let (lo23, hi23) = (_mm512_unpacklo_epi8(v2, v3), _mm512_unpackhi_epi8(v2, v3));
                // Per 128-bit lane L: a0 holds samples 16L+0..3, a1 16L+4..7, a2 16L+8..11, a3 16L+12..15.
                a0 = _mm512_dpbusd_epi32(a0, _mm512_unpacklo_epi16(lo01, lo23), wv);
                a1 = _mm512_dpbusd_epi32(a1, _mm512_unpackhi_epi16(lo01, lo23), wv);
                a2 = _mm512_dpbusd_epi32(a2, _mm512_unpacklo_epi16(hi01, hi23), wv);
                a3 = _mm512_dpbusd_epi32(a3, _mm512_unpackhi_epi16(hi01, hi23), wv);
            }
            // Back to sample order: output lane L is [a0.L, a1.L, a2.L, a3.L].
            let (t0, t1) = (_mm512_shuffle_i32x4(a0, a1, 0x44), _mm512_shuffle_i32x4(a2, a3, 0x44));
            let (t2, t3) = (_mm512_shuffle_i32x4(a0, a1, 0xEE), _mm512_shuffle_i32x4(a2, a3, 0xEE));
            let op = out.as_mut_ptr().add(j);
            // Multiply, then add (not fused): the reference's rounding.
            let put = |k: usize, v: __m512i| unsafe { _mm512_storeu_ps(op.add(16 * k), _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(v), vs), vo)) };
            put(0, _mm512_shuffle_i32x4(t0, t1, 0x88));
            put(1, _mm512_shuffle_i32x4(t0, t1, 0xDD));
            put(2, _mm512_shuffle_i32x4(t2, t3, 0x88));
            put(3, _mm512_shuffle_i32x4(t2, t3, 0xDD));
            j += 64;
        }
        if j < len {
            tail(shift + j, &mut out[j..]);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// # Safety
    /// AVX2 present; `idx[p]·n + shift + out.len() <= x.len()` for every p.
    #[target_feature(enable = "avx2")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn qrow(idx: &[u32], w: &[i8], quads: &[i32], n: usize, shift: usize, x: &[u8], scale: f32, offset: f32, out: &mut [f32]) {
        let len = out.len();
        let (vs, vo, ones) = (_mm256_set1_ps(scale), _mm256_set1_ps(offset), _mm256_set1_epi16(1));
        let xp = x.as_ptr();
        let mut j = 0;
        while j + 32 <= len {
            let (mut a0, mut a1, mut a2, mut a3) = (_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256());
            for (q, &wq) in quads.iter().enumerate() {
                let at = |p: usize| unsafe { _mm256_loadu_si256(xp.add(idx[4 * q + p] as usize * n + shift + j) as *const __m256i) };
                let (v0, v1, v2, v3) = (at(0), at(1), at(2), at(3));
                let wv = _mm256_set1_epi32(wq);
                let (lo01, hi01) = (_mm256_unpacklo_epi8(v0, v1), _mm256_unpackhi_epi8(v0, v1));
                let (lo23, hi23) = (_mm256_unpacklo_epi8(v2, v3), _mm256_unpackhi_epi8(v2, v3));
                // Per 128-bit lane: samples 0-3 | 16-19, 4-7 | 20-23, 8-11 | 24-27, 12-15 | 28-31.
                let dot = |v: __m256i| _mm256_madd_epi16(_mm256_maddubs_epi16(v, wv), ones);
                a0 = _mm256_add_epi32(a0, dot(_mm256_unpacklo_epi16(lo01, lo23)));
                a1 = _mm256_add_epi32(a1, dot(_mm256_unpackhi_epi16(lo01, lo23)));
                a2 = _mm256_add_epi32(a2, dot(_mm256_unpacklo_epi16(hi01, hi23)));
                a3 = _mm256_add_epi32(a3, dot(_mm256_unpackhi_epi16(hi01, hi23)));
            }
            let op = out.as_mut_ptr().add(j);
            let put = |k: usize, v: __m256i| unsafe { _mm256_storeu_ps(op.add(8 * k), _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(v), vs), vo)) };
            put(0, _mm256_permute2x128_si256(a0, a1, 0x20));
            put(1, _mm256_permute2x128_si256(a2, a3, 0x20));
            put(2, _mm256_permute2x128_si256(a0, a1, 0x31));
            put(3, _mm256_permute2x128_si256(a2, a3, 0x31));
            j += 32;
        }
        if j < len {
            // The last samples, one at a time (all of a batch-1 linear row).
            super::qrow_ref(idx, w, n, shift + j, x, scale, offset, &mut out[j..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_and_hand_computed_row() {
        // Row 0: 2·x[1] − 3·x[4]; row 1 empty; row 2: five entries (padded to eight).
        let q = QRows::new([vec![(1, 2), (4, -3)], vec![], vec![(0, 1), (1, 1), (2, 1), (3, 1), (5, -127)]]);
        assert_eq!(q.ptr, vec![0, 4, 4, 12]);
        assert_eq!(q.idx[..4], [1, 4, 4, 4]);
        assert_eq!(q.w[..4], [2, -3, 0, 0]);
        assert_eq!(q.quads[0], i32::from_le_bytes([2, (-3i8) as u8, 0, 0]));
        // x = [10, 20, 30, 40, 50, 60] (n = 1): 2·20 − 3·50 = −110 → 0.5 · −110 + 1 = −54.
        let x = [10u8, 20, 30, 40, 50, 60];
        let (idx, w, quads) = q.row(0);
        let mut out = [0f32];
        qrow(idx, w, quads, 1, 0, &x, 0.5, 1.0, &mut out);
        assert_eq!(out, [-54.0]);
        let (idx, w, quads) = q.row(2);
        qrow(idx, w, quads, 1, 0, &x, 1.0, 0.0, &mut out);
        assert_eq!(out, [(10 + 20 + 30 + 40 - 127 * 60) as f32]);
        let (idx, w, quads) = q.row(1);
        qrow(idx, w, quads, 1, 0, &x, 2.0, 7.5, &mut out);
        assert_eq!(out, [7.5], "an empty row is its offset (the bias)");
    }

    /// The AVX2 and AVX-512 VNNI copies against the reference, bit for bit: every sample-count
    /// remainder around the 32- and 64-sample steps, shifted runs, the extreme values ±127 × 127.
    #[test]
    fn simd_copies_match_reference_exactly() {
        let mut s = 12345u64;
        let mut rnd = |m: u64| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 33) % m
        };
        for &(n, len, shift) in &[(1usize, 1usize, 0usize), (32, 32, 0), (33, 33, 0), (64, 64, 5), (100, 95, 3), (128, 128, 0), (7, 70, 2), (200, 191, 1), (160, 160, 0)] {
            let cols = 50;
            let rows: Vec<Vec<(u32, i8)>> = (0..9)
                .map(|r| {
                    let mut c: Vec<u32> = (0..cols as u32).filter(|_| rnd(3) == 0).collect();
                    c.truncate(r * 3 + 1);
                    c.into_iter().map(|k| (k, if rnd(5) == 0 { -127 } else { (rnd(255) as i32 - 127) as i8 })).collect()
                })
                .collect();
            let q = QRows::new(rows);
            let x: Vec<u8> = (0..cols * n + shift + len).map(|i| if i % 11 == 0 { 127 } else { rnd(128) as u8 }).collect();
            for r in 0..q.rows() {
                let (idx, w, quads) = q.row(r);
                let (mut a, mut b) = (vec![0f32; len], vec![0f32; len]);
                qrow_ref(idx, w, n, shift, &x, 0.013, -0.7, &mut a);
                if !qrow_avx2(idx, w, quads, n, shift, &x, 0.013, -0.7, &mut b) {
                    eprintln!("SKIPPED avx2 int8 kernel check: this CPU has no AVX2+FMA");
                    return;
                }
                assert_eq!(a, b, "n {n} len {len} shift {shift} row {r}");
                let mut v = vec![0f32; len];
                if qrow_avx512_vnni(idx, w, quads, n, shift, &x, 0.013, -0.7, &mut v) {
                    assert_eq!(a, v, "avx512 vnni: n {n} len {len} shift {shift} row {r}");
                } else if r == 0 {
                    eprintln!("SKIPPED avx512 vnni int8 kernel check: this CPU has no AVX-512 VNNI");
                }
                let mut c = vec![0f32; len];
                qrow(idx, w, quads, n, shift, &x, 0.013, -0.7, &mut c);
                assert_eq!(a, c, "dispatched copy");
            }
        }
    }
}
