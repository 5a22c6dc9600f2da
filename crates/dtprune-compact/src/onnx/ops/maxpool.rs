//! `MaxPool` without padding, floor rounding (`ceil_mode = 0`), as PyTorch's default.

use crate::onnx::builder::GraphBuilder;
use crate::onnx::proto::attr_ints;

pub fn emit(b: &mut GraphBuilder, input: &str, kernel: [usize; 2], stride: [usize; 2]) -> String {
    let attrs = vec![
        attr_ints("kernel_shape", &[kernel[0] as i64, kernel[1] as i64]),
        attr_ints("strides", &[stride[0] as i64, stride[1] as i64]),
    ];
    b.node("MaxPool", "maxpool", &[input.to_string()], attrs)
}
