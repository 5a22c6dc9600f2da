//! Text data: `label<TAB>text` files → WordPiece token ids with padding masks, for the
//! built-in SMS Spam Collection and for `text-tsv`.

pub mod build;
pub mod options;
pub mod pretrained_tokenizer;
pub mod set;
pub mod sms;
pub mod text_tsv;
pub mod tsv;
pub mod vocab_trainer;
pub mod wordpiece;

pub use options::TextOptions;
pub use pretrained_tokenizer::PretrainedTokenizer;
pub use set::{TextShape, TextSplits, TokenizedSet};
pub use sms::{load_sms_spam, SMS_NAME};
pub use text_tsv::{load_text_tsv, TEXT_TSV_NAME};
pub use wordpiece::TextTokenizer;
