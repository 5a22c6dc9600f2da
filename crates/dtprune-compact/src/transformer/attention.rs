//! Multi-head self-attention over one text's real tokens. Padding keys get weight exactly 0 in
//! the trainer (a score of −10⁹ underflows `exp` in f32) and padding queries are never read
//! (the mean pool skips them), so only the first `len` positions are computed here.

use crate::dense::gemm;

/// `qkv[3·A, t]`: the queries, keys and values of `heads` heads of `head_dim` (`A = heads ·
/// head_dim`), one column per position. Writes the heads' contexts concatenated, `ctx[A, t]`:
/// `ctx_h = V_h · softmax(Q_hᵀ K_h / √head_dim)ᵀ`.
pub fn forward(qkv: &[f32], heads: usize, head_dim: usize, t: usize, ctx: &mut [f32]) {
    let a = heads * head_dim;
    debug_assert!(qkv.len() == 3 * a * t && ctx.len() == a * t);
    let scale = 1.0 / (head_dim as f32).sqrt();
    let mut q_t = vec![0f32; t * head_dim];
    let mut scores = vec![0f32; t * t];
    let mut weights_t = vec![0f32; t * t];
    ctx.fill(0.0);
    for h in 0..heads {
        let rows = |block: usize| &qkv[(block * a + h * head_dim) * t..(block * a + (h + 1) * head_dim) * t];
        let (q, k, v) = (rows(0), rows(1), rows(2));
        for i in 0..head_dim {
            for p in 0..t {
                q_t[p * head_dim + i] = q[i * t + p];
            }
        }
        scores.fill(0.0);
        gemm(t, t, head_dim, &q_t, head_dim, k, t, &mut scores, t, false);
        for (p, row) in scores.chunks_exact_mut(t).enumerate() {
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s * scale));
            let mut sum = 0.0;
            for s in row.iter_mut() {
                *s = (*s * scale - max).exp();
                sum += *s;
            }
            for (s, &e) in row.iter().enumerate() {
                weights_t[s * t + p] = e / sum;
            }
        }
        gemm(head_dim, t, t, v, t, &weights_t, t, &mut ctx[h * head_dim * t..(h + 1) * head_dim * t], t, false);
    }
}

#[cfg(test)]
mod tests {
    /// One head of width 1, two tokens: q = (0, 1), k = (0, ln 3), v = (2, 6).
    /// Query 0: scores (0, 0) → weights (½, ½) → 4. Query 1: scores (0, ln 3) → weights
    /// (¼, ¾) → 2/4 + 18/4 = 5.
    #[test]
    fn hand_computed_head() {
        let ln3 = 3f32.ln();
        let qkv = [0.0, 1.0, 0.0, ln3, 2.0, 6.0];
        let mut ctx = [0.0; 2];
        super::forward(&qkv, 1, 1, 2, &mut ctx);
        assert!((ctx[0] - 4.0).abs() < 1e-5 && (ctx[1] - 5.0).abs() < 1e-5, "{ctx:?}");
    }

    /// Two heads attend separately: head 1's values never reach head 0's context.
    #[test]
    fn heads_are_separate() {
        // heads 2, head_dim 1, t 1: a single token attends to itself with weight 1.
        let qkv = [0.3, -0.2, 0.5, 0.1, 7.0, -9.0];
        let mut ctx = [0.0; 2];
        super::forward(&qkv, 2, 1, 1, &mut ctx);
        assert_eq!(ctx, [7.0, -9.0]);
    }
}
