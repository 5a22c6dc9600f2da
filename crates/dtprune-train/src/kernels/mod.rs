//! Host kernels on plain `f32` slices, used by the layers whose Burn/Flex counterparts measured
//! slower: dense products through the `gemm` crate and channel-major convolution.

pub mod conv;
pub mod matmul;
