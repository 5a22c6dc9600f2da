//! Data loading for dtprune: validated IDX reading (raw or gzip), MNIST with pinned
//! checksums, any IDX image-classification directory, and train/val/test splits.
//!
//! Pure Rust with no Burn dependency, so it builds fast and can be tested in isolation;
//! the trainer turns [`ImageSet`] buffers into tensors.

pub mod error;
pub mod idx;
pub mod mnist;
pub mod set;

// Speech, text and table data (issue 11): host data a model batch is built from.
pub mod catalog;
pub mod load_error;
pub mod options;
pub mod speech;
pub mod split;
pub mod table;
pub mod text;

pub use error::{DataError, FormatProblem, Result};
pub use idx::{read_idx_images, read_idx_labels, IdxImages};
pub use mnist::{
    default_mnist_dir, load_idx_dir, load_idx_dir_with_val_size, load_mnist,
    load_mnist_with_val_size, DATA_DIR_ENV, MNIST_NUM_CLASSES,
};
pub use set::{DatasetInfo, ImageSet, ImageSplits, DEFAULT_VAL_SIZE};
