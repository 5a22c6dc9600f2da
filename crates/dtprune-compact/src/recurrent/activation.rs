//! The gate nonlinearities of the recurrent kernels, written so a loop over them vectorises:
//! `exp` by range reduction to `2^n · e^r` (|r| ≤ ln2/2) and a degree-6 polynomial, with the
//! rounding done by the 1.5·2^23 trick instead of a call to `round`. libm's `expf` is a call
//! per element, which at batch 1 costs more than the sparse products of a step.
//!
//! Accuracy (checked in the tests against f64): `exp` within 3e-7 relative (2.5 ulp) on [-87, 88];
//! `sigmoid` and `tanh` within 3e-7 absolute everywhere (they saturate to exactly 0/1 and ±1).

/// Below this `exp` returns 0-ish normals, above it would overflow f32.
const EXP_LO: f32 = -87.0;
const EXP_HI: f32 = 88.0;

/// `e^x` for finite x, clamped to [`EXP_LO`, `EXP_HI`] (so it is never 0, ∞ or subnormal).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that n · LN2_HI is exact for |n| < 2^9.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2^23: adding it rounds to an integer.
    // The integer n is read from the rounded float's low mantissa bits rather than by `as i32`
    // (a saturating, NaN-checked cast the compiler left partly scalar; without it the compact
    // LSTM pass took 15% less time). A NaN x gives a NaN p, hence a NaN result.
    // Compare-and-select, which vectorises and lets a NaN through (comparisons with NaN are
    // false): a NaN gate input must give a NaN state, not a finite one.
    let x = if x < EXP_LO {
        EXP_LO
    } else if x > EXP_HI {
        EXP_HI
    } else {
        x
    };
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    // Taylor terms to r^6: the remainder r^7/7! < 1.1e-7 for |r| ≤ 0.35.
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // shifted = 1.5·2^23 + n exactly, so its bits are ROUND's plus n (|n| ≤ 127).
    let n_int = shifted.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    let scale = f32::from_bits(((n_int + 127) as u32) << 23);
    p * scale
}

/// `1 / (1 + e^-x)`.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `tanh x = 1 - 2 / (e^{2x} + 1)`; absolute (not relative) accuracy near 0, which is what a
/// gate needs.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> impl Iterator<Item = f32> {
        (-20_000..=20_000).map(|i| i as f32 * 1e-3).chain([-87.0, -50.0, 30.0, 88.0, 1e-7, -1e-7, 0.0])
    }

    #[test]
    fn exp_is_accurate() {
        // Hand values first: e^0 = 1 exactly, e^1, e^-1.
        assert_eq!(exp(0.0), 1.0);
        assert!((exp(1.0) - std::f32::consts::E).abs() <= 2.0 * f32::EPSILON * std::f32::consts::E);
        assert!((exp(-1.0) - 0.367_879_44).abs() < 1e-7);
        for x in (-86_990..=87_990).map(|i| i as f32 * 1e-3) {
            let want = (x as f64).exp();
            let rel = ((exp(x) as f64 - want) / want).abs();
            assert!(rel < 3e-7, "exp({x}) = {} vs {want}: rel {rel}", exp(x));
        }
        // Clamped, never infinite or zero.
        assert!(exp(1000.0).is_finite() && exp(-1000.0) > 0.0);
        assert!(exp(f32::NAN).is_nan() && sigmoid(f32::NAN).is_nan() && tanh(f32::NAN).is_nan());
    }

    #[test]
    fn sigmoid_and_tanh_are_accurate() {
        assert_eq!(sigmoid(0.0), 0.5);
        assert_eq!(tanh(0.0), 0.0);
        for x in grid() {
            let xs = x as f64;
            let (s, t) = (1.0 / (1.0 + (-xs).exp()), xs.tanh());
            assert!((sigmoid(x) as f64 - s).abs() < 3e-7, "sigmoid({x})");
            assert!((tanh(x) as f64 - t).abs() < 3e-7, "tanh({x}): {} vs {t}", tanh(x));
        }
        assert_eq!(sigmoid(100.0), 1.0);
        assert_eq!(tanh(100.0), 1.0);
        assert_eq!(tanh(-100.0), -1.0);
        assert!(sigmoid(-100.0) >= 0.0 && sigmoid(-100.0) < 1e-37);
    }
}
