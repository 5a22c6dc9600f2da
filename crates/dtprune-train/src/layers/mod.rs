//! Layers written in plain Burn tensor ops where that is faster than Burn/Flex's own kernels.

mod gemm_conv;

pub use gemm_conv::GemmConv2d;
