//! LayerNorm over a residual stream whose width may have shrunk (the trainer's `StreamNorm`):
//! the statistics divide by the stream's original `width` and count each removed dimension as
//! the zero it was in the masked model, so the variance gains `(width − kept)·mean²`. With
//! nothing removed it is PyTorch's `LayerNorm` (population variance, ε inside the root).

/// γ and β of the kept dimensions, and the width the statistics count.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamNorm {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub width: usize,
    pub eps: f32,
}

impl StreamNorm {
    /// `y[j, c] = (x[j, c] − mean_c) / √(var_c + ε) · γ_j + β_j` for the activations
    /// `x[kept, cols]` (one column per position), statistics per column.
    pub fn forward(&self, x: &[f32], cols: usize, y: &mut [f32]) {
        let kept = self.gamma.len();
        debug_assert!(x.len() == kept * cols && y.len() == x.len());
        let n = self.width as f32;
        let mut mean = vec![0f32; cols];
        for row in x.chunks_exact(cols) {
            mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let missing = (self.width - kept.min(self.width)) as f32;
        let mut var: Vec<f32> = mean.iter().map(|m| missing * m * m).collect();
        for row in x.chunks_exact(cols) {
            var.iter_mut().zip(row).zip(&mean).for_each(|((s, v), m)| *s += (v - m) * (v - m));
        }
        let inv: Vec<f32> = var.iter().map(|s| 1.0 / (s / n + self.eps).sqrt()).collect();
        for (j, (yr, xr)) in y.chunks_exact_mut(cols).zip(x.chunks_exact(cols)).enumerate() {
            let (g, b) = (self.gamma[j], self.beta[j]);
            for c in 0..cols {
                yr[c] = (xr[c] - mean[c]) * inv[c] * g + b;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Column (1, 3): mean 2, variance 1 → (−1, 1)/√(1 + ε). The stream (1, 3, 0) of width 3
    /// with its last dimension removed: mean 4/3, variance ((1 − 4/3)² + (3 − 4/3)² + (4/3)²)/3
    /// = 14/9, kept outputs (−1/3, 5/3)/√(14/9 + ε). γ = (2, 1), β = (0, 1) on the second column.
    #[test]
    fn counts_removed_dimensions_as_zeros() {
        let eps = 1e-5f32;
        let full = StreamNorm { gamma: vec![1.0, 1.0], beta: vec![0.0, 0.0], width: 2, eps };
        let mut y = vec![0.0; 2];
        full.forward(&[1.0, 3.0], 1, &mut y);
        let s = (1.0 + eps).sqrt();
        assert!((y[0] + 1.0 / s).abs() < 1e-6 && (y[1] - 1.0 / s).abs() < 1e-6, "{y:?}");

        let shrunk = StreamNorm { gamma: vec![2.0, 1.0], beta: vec![0.0, 1.0], width: 3, eps };
        // Two columns: (1, 3) and (1, 3) again, stored [kept, cols].
        let mut y = vec![0.0; 4];
        shrunk.forward(&[1.0, 1.0, 3.0, 3.0], 2, &mut y);
        let s = (14.0f32 / 9.0 + eps).sqrt();
        let want = [2.0 * (-1.0 / 3.0) / s, 2.0 * (-1.0 / 3.0) / s, (5.0 / 3.0) / s + 1.0, (5.0 / 3.0) / s + 1.0];
        for (a, b) in y.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{y:?} vs {want:?}");
        }
    }
}
