//! The built-in models. A model is one file: a `#[derive(Module)]` struct that implements
//! [`crate::model::Model`], plus one entry in [`crate::registry`].

mod lenet300;
mod lenet5;

pub use lenet300::Lenet300;
pub use lenet5::Lenet5;
