use std::path::PathBuf;

/// What can go wrong loading or running a pretrained encoder.
#[derive(Debug, thiserror::Error)]
pub enum PretrainedError {
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: {message}", path.display())]
    Config { path: PathBuf, message: String },
    #[error("{}: not a valid safetensors file: {message}", path.display())]
    Safetensors { path: PathBuf, message: String },
    #[error("{}: tensor `{tensor}`: {message}", path.display())]
    Tensor { path: PathBuf, tensor: String, message: String },
    #[error(transparent)]
    Tokenizer(#[from] dtprune_data::load_error::LoadError),
}

pub type Result<T> = std::result::Result<T, PretrainedError>;
