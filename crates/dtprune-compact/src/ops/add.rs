//! Residual add: the element-wise sum of inputs of one shape, into the first input's buffer.

pub fn forward(acc: &mut [f32], others: &[&[f32]]) {
    for o in others {
        debug_assert_eq!(o.len(), acc.len());
        acc.iter_mut().zip(o.iter()).for_each(|(a, b)| *a += b);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sums() {
        let mut a = vec![1., 2.];
        super::forward(&mut a, &[&[10., 20.], &[0.5, 0.5]]);
        assert_eq!(a, vec![11.5, 22.5]);
    }
}
