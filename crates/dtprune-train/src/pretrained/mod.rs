//! Pretrained encoders loaded from Hugging Face checkpoints: a BERT encoder under its
//! Hugging Face tensor names and the sentence-transformers pipeline around it.

pub mod bert;
pub mod bert_config;
pub mod distill;
pub mod error;
pub mod hf_names;
pub mod sentence;

pub use bert::Bert;
pub use bert_config::BertConfig;
pub use distill::{distill, save_hf, DistillEpoch, DistillOptions, DistillReport};
pub use error::PretrainedError;
pub use hf_names::load_hf_weights;
pub use sentence::{cosine, SentenceEncoder, SentenceModelFiles};
