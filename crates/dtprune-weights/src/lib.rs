//! # dtprune-weights — prune any safetensors checkpoint after training, no model code needed
//!
//! `prune_weights` reads a `.safetensors` file through a memory map ([`mapped`]), picks the
//! tensors to prune ([`select`]), computes one threshold τ per tensor with a weight policy of
//! `dtprune-prune` ([`dtprune_prune::checkpoint`]) in streaming passes ([`stream`]), and
//! streams the pruned file ([`write`]) atomically: same header, same tensor order, same dtypes,
//! unselected tensors bit for bit. Memory stays at a few chunks of [`mapped::CHUNK_BYTES`]
//! whatever the file's size.

pub mod error;
pub mod float;
pub mod mapped;
pub mod prune;
pub mod report;
pub mod select;
pub mod stream;
pub mod write;

pub use error::WeightsError;
pub use prune::{prune_weights, PruneWeightsOptions};
pub use report::{PruneReport, TensorReport};
pub use select::DEFAULT_SELECTION;
