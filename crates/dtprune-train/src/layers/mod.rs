//! Layers written in plain Burn tensor ops (plus host-side index computation) where that is
//! faster than Burn/Flex's own kernels.

mod attention;
mod gemm_conv;
mod max_pool;

pub use attention::{SelfAttention, SelfAttentionConfig};
pub use gemm_conv::GemmConv2d;
pub use max_pool::max_pool2d;
