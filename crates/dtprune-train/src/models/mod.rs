//! The built-in models. A model is one file: a `#[derive(Module)]` struct that implements
//! [`crate::model::Model`], plus one entry in [`crate::registry`].

mod gru;
mod lenet300;
mod lenet5;
mod lstm;
pub mod recurrent;
pub mod recurrent_groups;
pub mod tabular_groups;
pub mod recurrent_shrink;
pub mod resnet;
mod resnet_graph;
mod tabular_mlp;
pub mod transformer;
pub mod transformer_groups;
pub mod transformer_shrink;

pub use gru::GruClassifier;
pub use lenet300::Lenet300;
pub use lenet5::Lenet5;
pub use lstm::LstmClassifier;
pub use recurrent::RecurrentClassifier;
pub use resnet::{Resnet18, Resnet20, Resnet56};
pub use tabular_mlp::TabularMlp;
pub use transformer::{EncoderBlock, TransformerClassifier};
