//! Global average pooling of channel-major activations.

use burn::prelude::*;

/// `x`: `[channels, batch, rows, cols]` → `[batch, channels]`, the mean of each plane.
pub fn global_avg_pool_cbhw(x: Tensor<4>) -> Tensor<2> {
    let [c, b, h, w] = x.dims();
    x.reshape([c, b, h * w]).mean_dim(2).reshape([c, b]).swap_dims(0, 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn plane_means_by_hand() {
        let device = Device::flex();
        // 2 channels, 2 images, 1x2 planes: channel 0: (1, 3), (5, 7); channel 1: (0, 2), (4, 8).
        let x = Tensor::<4>::from_data(TensorData::new(vec![1.0f32, 3.0, 5.0, 7.0, 0.0, 2.0, 4.0, 8.0], [2, 2, 1, 2]), &device);
        let y = global_avg_pool_cbhw(x);
        assert_eq!(y.dims(), [2, 2]);
        // Image 0: (2, 1); image 1: (6, 6).
        assert_eq!(crate::host_f32(y), vec![2.0, 1.0, 6.0, 6.0]);
    }
}
