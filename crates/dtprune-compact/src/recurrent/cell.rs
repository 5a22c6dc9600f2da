//! The two cells and one time step of each, on feature-major buffers: a gate's pre-activation
//! is `[H, B]` (unit-major, batch contiguous), and the gates are stacked in PyTorch's order
//! (LSTM i, f, g, o; GRU r, z, n) so one product `W · h` computes them all.

use super::activation::{sigmoid, tanh};
use crate::simd::multiversion;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellKind {
    Lstm,
    Gru,
}

impl CellKind {
    /// The node op of `graph.json` (`lstm`, `gru`).
    pub fn from_op(op: &str) -> Option<CellKind> {
        match op {
            "lstm" => Some(CellKind::Lstm),
            "gru" => Some(CellKind::Gru),
            _ => None,
        }
    }

    pub fn op(self) -> &'static str {
        match self {
            CellKind::Lstm => "lstm",
            CellKind::Gru => "gru",
        }
    }

    /// The gates' tensor names (Burn's fields, as the trainer writes them) in stacking order.
    pub fn gates(self) -> &'static [&'static str] {
        match self {
            CellKind::Lstm => &["input_gate", "forget_gate", "cell_gate", "output_gate"],
            CellKind::Gru => &["reset_gate", "update_gate", "new_gate"],
        }
    }

    pub fn num_gates(self) -> usize {
        self.gates().len()
    }
}

multiversion! {
/// One LSTM step. `px`, `ph`: the input's and the hidden state's pre-activations `[4H, B]`
/// (biases included); `c`, `h`: the state `[H, B]`, updated in place:
/// `c = σ(f)·c + σ(i)·tanh(g)`, `h = σ(o)·tanh(c)`.
pub fn lstm_step(px: &[f32], ph: &[f32], c: &mut [f32], h: &mut [f32]) {
    let n = h.len();
    assert!(px.len() == 4 * n && ph.len() == 4 * n && c.len() == n);
    let (xi, rest) = px.split_at(n);
    let (xf, rest) = rest.split_at(n);
    let (xg, xo) = rest.split_at(n);
    let (hi, rest) = ph.split_at(n);
    let (hf, rest) = rest.split_at(n);
    let (hg, ho) = rest.split_at(n);
    for j in 0..n {
        let i = sigmoid(xi[j] + hi[j]);
        let f = sigmoid(xf[j] + hf[j]);
        let g = tanh(xg[j] + hg[j]);
        let o = sigmoid(xo[j] + ho[j]);
        c[j] = f * c[j] + i * g;
        h[j] = o * tanh(c[j]);
    }
}
}

multiversion! {
/// One GRU step (PyTorch's form, the reset applied after the hidden product, as Burn's
/// default `reset_after`). `px`, `ph`: `[3H, B]`; `h` updated in place:
/// `r = σ(x_r + h_r)`, `z = σ(x_z + h_z)`, `n = tanh(x_n + r·h_n)`, `h = (1 − z)·n + z·h`.
pub fn gru_step(px: &[f32], ph: &[f32], h: &mut [f32]) {
    let n = h.len();
    assert!(px.len() == 3 * n && ph.len() == 3 * n);
    let (xr, rest) = px.split_at(n);
    let (xz, xn) = rest.split_at(n);
    let (hr, rest) = ph.split_at(n);
    let (hz, hn) = rest.split_at(n);
    for j in 0..n {
        let r = sigmoid(xr[j] + hr[j]);
        let z = sigmoid(xz[j] + hz[j]);
        let cand = tanh(xn[j] + r * hn[j]);
        h[j] = (1.0 - z) * cand + z * h[j];
    }
}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    #[test]
    fn lstm_step_by_hand() {
        // One unit, batch 1: i = 0.5 + 0.5, f = -1, g = 0.3, o = 2 (input + hidden parts).
        let px = [0.5, -1.0, 0.1, 1.5];
        let ph = [0.5, 0.0, 0.2, 0.5];
        let (mut c, mut h) = ([0.4f32], [9.0f32]);
        lstm_step(&px, &ph, &mut c, &mut h);
        let c_want = s(-1.0) * 0.4 + s(1.0) * 0.3f64.tanh();
        let h_want = s(2.0) * c_want.tanh();
        assert!((c[0] as f64 - c_want).abs() < 1e-6 && (h[0] as f64 - h_want).abs() < 1e-6, "{c:?} {h:?}");
    }

    #[test]
    fn gru_step_by_hand() {
        // Two units, batch 1; gates r, z, n stacked unit-major.
        let px = [0.1, -0.2, 0.3, 0.0, -0.5, 0.7];
        let ph = [0.2, 0.1, -0.1, 0.4, 0.6, -0.3];
        let mut h = [0.5f32, -0.25];
        let old = h;
        gru_step(&px, &ph, &mut h);
        for u in 0..2 {
            let r = s((px[u] + ph[u]) as f64);
            let z = s((px[2 + u] + ph[2 + u]) as f64);
            let n = ((px[4 + u] as f64) + r * ph[4 + u] as f64).tanh();
            let want = (1.0 - z) * n + z * old[u] as f64;
            assert!((h[u] as f64 - want).abs() < 1e-6, "unit {u}: {} vs {want}", h[u]);
        }
    }

    #[test]
    fn a_unit_with_zero_pre_activations_keeps_a_zero_state() {
        // What makes cutting a dead unit exact: σ(0)·0 + σ(0)·tanh(0) = 0, and (1−½)·0 + ½·0 = 0.
        let (mut c, mut h) = ([0.0f32], [0.0f32]);
        lstm_step(&[0.0; 4], &[0.0; 4], &mut c, &mut h);
        assert_eq!((c[0], h[0]), (0.0, 0.0));
        let mut h = [0.0f32];
        gru_step(&[0.0; 3], &[0.0; 3], &mut h);
        assert_eq!(h[0], 0.0);
    }
}
