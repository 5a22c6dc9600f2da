//! The divergence check inside a step: after a parameter's update, are all its values finite?

/// True when no value is NaN or infinite: `v * 0` is 0 for a finite `v` and NaN otherwise, and
/// a sum keeps a NaN; sixteen partial sums let it vectorise.
pub(crate) fn all_finite(values: &[f32]) -> bool {
    let mut acc = [0f32; 16];
    let chunks = values.chunks_exact(16);
    let rest: f32 = chunks.remainder().iter().map(|v| v * 0.0).sum();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v * 0.0;
        }
    }
    rest.is_finite() && acc.iter().sum::<f32>().is_finite()
}

#[cfg(test)]
mod tests {
    use super::all_finite;

    #[test]
    fn finds_nan_and_infinity_anywhere() {
        let mut v = vec![1e30f32; 37];
        assert!(all_finite(&v), "large finite values are finite (x * 0 keeps sums from overflowing)");
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            for at in [0, 15, 16, 31, 32, 36] {
                let keep = v[at];
                v[at] = bad;
                assert!(!all_finite(&v), "{bad} at {at}");
                v[at] = keep;
            }
        }
        assert!(all_finite(&[]));
    }
}
