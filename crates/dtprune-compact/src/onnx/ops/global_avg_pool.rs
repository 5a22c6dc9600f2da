//! `GlobalAveragePool` (`[N, C, H, W] -> [N, C, 1, 1]`) then `Flatten(axis = 1)`: dtprune's
//! global average pool yields the feature vector `[N, C]`, PyTorch's `mean((2, 3))`.

use crate::onnx::builder::GraphBuilder;

pub fn emit(b: &mut GraphBuilder, input: &str) -> String {
    let pooled = b.node("GlobalAveragePool", "global_avg_pool", &[input.to_string()], vec![]);
    super::flatten::emit(b, &pooled)
}
