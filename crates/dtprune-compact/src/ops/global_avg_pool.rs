//! Global average pooling `[C, H, W, N] -> [C, N]`: the mean of each channel's H·W values per
//! sample (batch innermost, see `crate::network`).

pub fn forward(x: &[f32], channels: usize, hw: usize, n: usize) -> Vec<f32> {
    let mut y = vec![0f32; channels * n];
    let inv = 1.0 / hw as f32;
    for (c, out) in y.chunks_mut(n.max(1)).enumerate() {
        let plane = &x[c * hw * n..][..hw * n];
        for px in plane.chunks(n.max(1)) {
            out.iter_mut().zip(px).for_each(|(o, v)| *o += v);
        }
        out.iter_mut().for_each(|o| *o *= inv);
    }
    y
}

#[cfg(test)]
mod tests {
    #[test]
    fn means_per_channel_and_sample() {
        // 2 channels, 2 pixels, 2 samples: [c][px][n]
        let x = [1., 10., 3., 30., -1., 0., 1., 4.];
        assert_eq!(super::forward(&x, 2, 2, 2), vec![2., 20., 0., 2.]);
    }
}
