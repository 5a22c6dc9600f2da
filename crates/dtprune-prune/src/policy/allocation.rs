//! Per-layer sparsity from measured sensitivity: given how much validation loss each layer
//! loses when a fraction of its surviving weights is pruned alone ([`SensitivityCurve`]), split
//! a number of weights to prune among the layers so that every layer costs the *same* loss
//! increase δ (equal marginal damage), instead of one global magnitude threshold (which lets the
//! layer with the smallest weights pay for everything) or one sparsity per tensor (which ignores
//! that some layers tolerate far more than others).

use super::signals::SensitivityCurve;

/// The fraction of a layer's survivors that its curve allows at loss increase `delta`: the
/// inverse of the curve made monotone (running maximum, negative increases as 0) and piecewise
/// linear through (0, 0) and its points; past the last point the last segment's slope goes on
/// (a flat last segment: `q_max`). Never above `q_max`.
pub fn fraction_at(curve: &SensitivityCurve, delta: f64, q_max: f64) -> f64 {
    let mut points = vec![(0.0, 0.0)];
    let mut sorted = curve.points.clone();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (q, d) in sorted {
        let last = points.last().expect("starts with (0, 0)").1;
        points.push((q, d.max(last).max(0.0)));
    }
    for w in points.windows(2) {
        let ((q0, d0), (q1, d1)) = (w[0], w[1]);
        if delta < d1 {
            // d0 <= delta < d1, so the segment rises.
            return (q0 + (q1 - q0) * (delta - d0) / (d1 - d0)).min(q_max);
        }
    }
    let n = points.len();
    let ((q0, d0), (q1, d1)) = (points[n.saturating_sub(2)], points[n - 1]);
    if n < 2 || d1 <= d0 {
        return q_max;
    }
    (q1 + (delta - d1) * (q1 - q0) / (d1 - d0)).min(q_max)
}

/// Fractions of each layer's `kept` weights to prune so that `Σ kept_l · q_l = prune` with every
/// layer at the same loss increase δ. When the curves allow more than `prune` at δ = 0 (layers
/// that lose nothing measurable), those free fractions are scaled down in proportion; when even
/// `q_max` everywhere is not enough, every layer gets `q_max`.
pub fn equal_loss_fractions(curves: &[SensitivityCurve], kept: &[usize], prune: f64, q_max: f64) -> Vec<f64> {
    let at = |delta: f64| -> Vec<f64> { curves.iter().map(|c| fraction_at(c, delta, q_max)).collect() };
    let total = |q: &[f64]| -> f64 { q.iter().zip(kept).map(|(q, &k)| q * k as f64).sum() };
    if prune <= 0.0 {
        return vec![0.0; curves.len()];
    }
    let free = at(0.0);
    let free_total = total(&free);
    if free_total >= prune {
        return free.iter().map(|q| q * prune / free_total).collect();
    }
    let mut hi = 1e-6;
    while total(&at(hi)) < prune {
        hi *= 2.0;
        if hi > 1e6 {
            return vec![q_max; curves.len()];
        }
    }
    let mut lo = 0.0;
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if total(&at(mid)) < prune {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    // The inverse jumps where a curve is flat: interpolate between the two sides so the count
    // comes out exact.
    let (q_lo, q_hi) = (at(lo), at(hi));
    let (t_lo, t_hi) = (total(&q_lo), total(&q_hi));
    let t = if t_hi > t_lo { ((prune - t_lo) / (t_hi - t_lo)).clamp(0.0, 1.0) } else { 1.0 };
    q_lo.iter().zip(&q_hi).map(|(a, b)| a + (b - a) * t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(points: &[(f64, f64)]) -> SensitivityCurve {
        SensitivityCurve { points: points.to_vec() }
    }

    #[test]
    fn inverse_of_the_curve_by_hand() {
        // Δ(0.5) = 0.1, Δ(1.0) = 0.3
        let c = curve(&[(1.0, 0.3), (0.5, 0.1)]);
        assert!((fraction_at(&c, 0.05, 0.95) - 0.25).abs() < 1e-12);
        // on the second segment: 0.5 + 0.5 * (0.2 - 0.1) / 0.2 = 0.75
        assert!((fraction_at(&c, 0.2, 0.95) - 0.75).abs() < 1e-12);
        // capped
        assert_eq!(fraction_at(&c, 0.29, 0.8), 0.8);
        // a noisy dip (Δ falls from 0.1 to 0.05) is held at the running maximum: flat to q = 0.6
        let c = curve(&[(0.3, 0.1), (0.6, 0.05), (0.9, 0.4)]);
        assert!((fraction_at(&c, 0.1, 0.95) - 0.6).abs() < 1e-12);
        // past the last point: slope (0.4 - 0.1) / 0.3 = 1; δ = 0.45 -> 0.9 + 0.05 = 0.95 → cap 0.92
        assert_eq!(fraction_at(&c, 0.45, 0.92), 0.92);
        assert!((fraction_at(&c, 0.41, 0.99) - 0.91).abs() < 1e-9);
        // insensitive layer (all zero): anything up to q_max
        assert_eq!(fraction_at(&curve(&[(0.5, 0.0), (0.9, -0.01)]), 0.0, 0.9), 0.9);
    }

    #[test]
    fn equal_loss_split_by_hand() {
        // Layer a: Δ = 0.2 q (linear); layer b: Δ = 0.8 q. Equal δ: q_a = δ/0.2, q_b = δ/0.8, so
        // q_a = 4 q_b. kept 100 each, prune 50: 100 (4 q_b + q_b) = 50 -> q_b = 0.1, q_a = 0.4.
        let a = curve(&[(0.5, 0.1), (1.0, 0.2)]);
        let b = curve(&[(0.5, 0.4), (1.0, 0.8)]);
        let q = equal_loss_fractions(&[a.clone(), b.clone()], &[100, 100], 50.0, 0.95);
        assert!((q[0] - 0.4).abs() < 1e-6 && (q[1] - 0.1).abs() < 1e-6, "{q:?}");
        // both at the cap when the request is impossible
        assert_eq!(equal_loss_fractions(&[a.clone(), b.clone()], &[100, 100], 500.0, 0.9), vec![0.9, 0.9]);
        assert_eq!(equal_loss_fractions(&[a, b], &[100, 100], 0.0, 0.9), vec![0.0, 0.0]);
    }

    #[test]
    fn free_fractions_are_scaled() {
        // a loses nothing up to q = 0.5, b up to q = 0.25: 100 * 0.5 + 200 * 0.25 = 100 free;
        // prune 50 -> half of each free fraction.
        let a = curve(&[(0.5, 0.0), (1.0, 1.0)]);
        let b = curve(&[(0.25, 0.0), (1.0, 1.0)]);
        let q = equal_loss_fractions(&[a, b], &[100, 200], 50.0, 0.95);
        assert!((q[0] - 0.25).abs() < 1e-12 && (q[1] - 0.125).abs() < 1e-12, "{q:?}");
    }

    #[test]
    fn flat_step_is_split_exactly() {
        // a jumps: 0 loss up to 0.5, then flat at 0.1 up to 0.9 (inverse jumps from 0.5 to 0.9
        // at δ = 0.1); b: Δ = q. Prune 100 of kept 100 + 100: at δ just below 0.1 a gives 0.5
        // and b 0.1 (60), at δ = 0.1 a gives 0.9+ ... the split must still total 100.
        let a = curve(&[(0.5, 0.0), (0.9, 0.1), (1.0, 0.1)]);
        let b = curve(&[(1.0, 1.0)]);
        let q = equal_loss_fractions(&[a, b], &[100, 100], 100.0, 0.95);
        let total = 100.0 * q[0] + 100.0 * q[1];
        assert!((total - 100.0).abs() < 1e-6, "{q:?}");
    }
}
