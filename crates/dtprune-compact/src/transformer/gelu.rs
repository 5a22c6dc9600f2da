//! GELU, the exact form the trainer uses: `x · ½ · (1 + erf(x / √2))`.

pub fn forward(x: &mut [f32]) {
    for v in x {
        *v *= 0.5 * (1.0 + libm::erff(*v * std::f32::consts::FRAC_1_SQRT_2));
    }
}

#[cfg(test)]
mod tests {
    /// GELU(0) = 0 (what makes a silent neuron dead); GELU(1) = ½(1 + erf(1/√2)) = 0.841345;
    /// GELU(−1) = 1 − 0.841345 − 1 = −0.158655.
    #[test]
    fn values() {
        let mut x = [0.0f32, 1.0, -1.0];
        super::forward(&mut x);
        assert_eq!(x[0], 0.0);
        assert!((x[1] - 0.841_345).abs() < 1e-6 && (x[2] + 0.158_655).abs() < 1e-6, "{x:?}");
    }
}
