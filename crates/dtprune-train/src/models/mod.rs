//! The built-in models. A model is one file: a `#[derive(Module)]` struct that implements
//! [`crate::model::Model`], plus one entry in [`crate::registry`].

mod lenet300;
mod lenet5;
pub mod resnet;
mod resnet_graph;

pub use lenet300::Lenet300;
pub use lenet5::Lenet5;
pub use resnet::{Resnet18, Resnet20, Resnet56};
