use thiserror::Error;

/// Everything that can go wrong while configuring or running the pruning engine.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum PruneError {
    #[error("unknown policy `{0}` (run `dtprune policies` for the list)")]
    UnknownPolicy(String),
    #[error("policy `{policy}`: unknown parameter `{param}` (valid: {valid})")]
    UnknownParam { policy: String, param: String, valid: String },
    #[error("policy `{policy}`: parameter `{param}` = {value} is out of range; valid range is {range}")]
    OutOfRange { policy: String, param: String, value: String, range: String },
    #[error("policy `{policy}`: parameter `{param}` has the wrong type: {expected} expected, got `{got}`")]
    WrongType { policy: String, param: String, expected: String, got: String },
    #[error("policy `{policy}`: {message}")]
    Invalid { policy: String, message: String },
    #[error("tensor `{name}`: {message}")]
    Tensor { name: String, message: String },
    #[error("no prunable tensors matched `{0}`")]
    NoPrunable(String),
}
