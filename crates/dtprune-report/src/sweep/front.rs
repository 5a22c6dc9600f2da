//! The accuracy-vs-compression Pareto front of a sweep, and the "best" trial on it.
//!
//! Both maximise: a trial is on the front when no other trial is at least as accurate *and* at
//! least as compressed, and strictly better in one of the two. The best trial is chosen on
//! validation accuracy (the test set stays untouched by the choice): among the front, the most
//! compressed trial whose validation accuracy is within `within` (absolute, 0.005 = half a
//! point) of the most accurate trial.

/// One trial's position: (accuracy, compression), both to be maximised.
pub type Point = (f64, f64);

/// Indices of the points on the Pareto front, sorted by compression (then accuracy) ascending.
/// Points with a non-finite coordinate are never on it; duplicates are all kept.
pub fn pareto_front(points: &[Point]) -> Vec<usize> {
    let finite = |p: &Point| p.0.is_finite() && p.1.is_finite();
    let dominates = |a: &Point, b: &Point| a.0 >= b.0 && a.1 >= b.1 && (a.0 > b.0 || a.1 > b.1);
    let mut front: Vec<usize> = (0..points.len())
        .filter(|&i| finite(&points[i]))
        .filter(|&i| !points.iter().any(|q| finite(q) && dominates(q, &points[i])))
        .collect();
    front.sort_by(|&a, &b| points[a].1.total_cmp(&points[b].1).then(points[a].0.total_cmp(&points[b].0)).then(a.cmp(&b)));
    front
}

/// The best trial: the most compressed one on `front` whose accuracy is at least the front's
/// highest accuracy minus `within` (ties: the more accurate, then the lower index). `None` when
/// the front is empty.
pub fn choose_best(points: &[Point], front: &[usize], within: f64) -> Option<usize> {
    let top = front.iter().map(|&i| points[i].0).fold(f64::NEG_INFINITY, f64::max);
    front
        .iter()
        .copied()
        .filter(|&i| points[i].0 >= top - within)
        .max_by(|&a, &b| points[a].1.total_cmp(&points[b].1).then(points[a].0.total_cmp(&points[b].0)).then(b.cmp(&a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Five trials, drawn by hand:
    ///   0: 98.0% at 10×   front (most accurate)
    ///   1: 97.9% at 20×   front
    ///   2: 97.0% at 15×   dominated by 1 (less accurate, less compressed)
    ///   3: 96.0% at 50×   front (most compressed)
    ///   4: 97.9% at 12×   dominated by 1 (same accuracy, less compressed)
    const P: [Point; 5] = [(0.980, 10.0), (0.979, 20.0), (0.970, 15.0), (0.960, 50.0), (0.979, 12.0)];

    #[test]
    fn front_of_hand_drawn_trials() {
        assert_eq!(pareto_front(&P), [0, 1, 3]);
    }

    #[test]
    fn best_is_the_most_compressed_within_the_margin() {
        let f = pareto_front(&P);
        // Top 98.0%; within 0.5 pt: trials 0 (10×) and 1 (20×, 97.9%) → 1.
        assert_eq!(choose_best(&P, &f, 0.005), Some(1));
        // Within 0: only the most accurate.
        assert_eq!(choose_best(&P, &f, 0.0), Some(0));
        // Within 2 points: trial 3 (96.0%, 50×) qualifies.
        assert_eq!(choose_best(&P, &f, 0.02), Some(3));
        assert_eq!(choose_best(&P, &[], 0.005), None);
    }

    #[test]
    fn duplicates_and_non_finite_points() {
        let p = [(0.9, 10.0), (0.9, 10.0), (f64::NAN, 100.0), (0.8, f64::INFINITY), (0.85, 5.0)];
        assert_eq!(pareto_front(&p), [0, 1], "equal points do not dominate each other; NaN/inf never count");
        // Ties on both coordinates: the lower index.
        assert_eq!(choose_best(&p, &pareto_front(&p), 0.005), Some(0));
    }

    #[test]
    fn one_trial_is_its_own_front() {
        assert_eq!(pareto_front(&[(0.5, 2.0)]), [0]);
        assert_eq!(choose_best(&[(0.5, 2.0)], &[0], 0.005), Some(0));
    }
}
