//! BatchNorm2d in eval mode: `y = (x - mean) / sqrt(var + eps) * γ + β`, per channel, as the
//! affine map `y = x * scale + shift`. The compact model folds it into the preceding conv
//! (`crate::structure::fold`); the dense reference runs it as its own op, as a framework does.

/// Per-channel `scale = γ / sqrt(var + eps)` and `shift = β - mean * scale`.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNormOp {
    pub name: String,
    pub scale: Vec<f32>,
    pub shift: Vec<f32>,
    /// PyTorch's tensors `[γ, β, running_mean, running_var]` and eps, for export.
    pub tensors: [Vec<f32>; 4],
    pub eps: f64,
}

impl BatchNormOp {
    /// From PyTorch's four tensors; the arithmetic in f64, rounded once.
    pub fn new(name: &str, gamma: &[f32], beta: &[f32], mean: &[f32], var: &[f32], eps: f64) -> BatchNormOp {
        let (scale, shift) = (0..gamma.len())
            .map(|c| {
                let s = gamma[c] as f64 / (var[c] as f64 + eps).sqrt();
                (s as f32, (beta[c] as f64 - mean[c] as f64 * s) as f32)
            })
            .unzip();
        BatchNormOp { name: name.into(), scale, shift, tensors: [gamma.to_vec(), beta.to_vec(), mean.to_vec(), var.to_vec()], eps }
    }

    /// In place on `[C, plane]` (`plane` = H·W·N values per channel).
    pub fn forward(&self, x: &mut [f32], plane: usize) {
        for (c, chunk) in x.chunks_mut(plane.max(1)).enumerate() {
            let (s, t) = (self.scale[c], self.shift[c]);
            chunk.iter_mut().for_each(|v| *v = *v * s + t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_formula_hand_computed() {
        // channel 0: gamma 2, beta 1, mean 3, var 3, eps 1 -> scale 2/2 = 1, shift 1 - 3 = -2
        // channel 1: gamma 0, beta 0.5 -> the constant 0.5
        let bn = BatchNormOp::new("bn", &[2., 0.], &[1., 0.5], &[3., 7.], &[3., 1.], 1.0);
        assert_eq!((bn.scale.clone(), bn.shift.clone()), (vec![1., 0.], vec![-2., 0.5]));
        let mut x = vec![5., 6., 100., -100.];
        bn.forward(&mut x, 2);
        assert_eq!(x, vec![3., 4., 0.5, 0.5]);
    }
}
