//! # dtprune-prune — the dynamic threshold pruning engine, framework-free
//!
//! The algorithm of the spec (seed §3–§4) in small pieces:
//! - [`mask`]: 0/1 masks, the only thing a pruning method produces;
//! - [`stats`]: the weight statistics the monitor records and policies read;
//! - [`policy`]: threshold policies behind one trait ([`ThresholdPolicy`]), one file each, with
//!   validated parameters ([`params`]);
//! - [`group`]: coupled structures (channel groups tied by residual adds, residual blocks) that
//!   are removed whole;
//! - [`engine`]: applies a policy's masks and removals, guards layers, logs events and rolls back;
//! - [`checkpoint`]: the weight policies applied once to a finished checkpoint, from streaming
//!   statistics ([`stream_stats`]) so that tensors need not fit in memory.
//!
//! The framework integration (walking a Burn module's parameters, masking gradients and
//! optimizer state) lives in `dtprune-train`.

pub mod checkpoint;
pub mod engine;
pub mod error;
pub mod group;
pub mod mask;
pub mod params;
pub mod policy;
pub mod stats;
pub mod stream_stats;

pub use engine::{EngineSnapshot, EventKind, Outcome, PrunableSpec, PruneEvent, PruningEngine, RollbackConfig, RunMetrics};
pub use error::PruneError;
pub use mask::Mask;
pub use group::{Block, GroupMember, MemberRole, StructureGroup};
pub use policy::{Decision, Observation, Removal, StructureView, TensorDecision, TensorView, ThresholdPolicy};
pub use stats::TensorStats;
