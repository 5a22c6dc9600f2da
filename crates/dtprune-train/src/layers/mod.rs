//! Layers written in plain Burn tensor ops (plus host-side index computation) where that is
//! faster than Burn/Flex's own kernels, and the BatchNorm whose running statistics stay
//! deterministic under data-parallel shards; self-attention with a free head count and the
//! LayerNorm of a residual stream that may shrink, for the Transformer encoder.

mod attention;
mod batch_norm;
mod conv_op;
pub mod batch_stats;
mod gemm_conv;
mod max_pool;
mod pool;
mod stream_norm;

pub use attention::{SelfAttention, SelfAttentionConfig};
pub use batch_norm::{update_running_stats, BatchNorm2d};
pub use conv_op::conv2d_cbhw;
pub use gemm_conv::GemmConv2d;
pub use max_pool::max_pool2d;
pub use pool::global_avg_pool_cbhw;
pub use stream_norm::{StreamNorm, StreamNormConfig};
