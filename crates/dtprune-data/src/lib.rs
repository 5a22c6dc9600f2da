//! Data loading for dtprune: data sets by name ([`registry`]) with their validated options
//! ([`options`]): validated IDX reading (raw or gzip), MNIST with pinned checksums, any IDX
//! image-classification directory, CIFAR-10's JPEG copy and any `ImageFolder` tree (decoded
//! once into a binary [`cache`]); train/val/test splits, per-channel [`normalize`] statistics
//! and seeded image [`augment`]ation; spoken audio as log-mel frames ([`speech`]), text as
//! WordPiece ids ([`text`]), tables as categorical ids and standardised numbers ([`table`]).
//!
//! Pure Rust with no Burn dependency, so it builds fast and can be tested in isolation;
//! the trainer turns [`ImageSet`] buffers into tensors.

pub mod augment;
pub mod cache;
pub mod cifar10;
pub mod decode;
pub mod error;
pub mod idx;
pub mod image_folder;
pub mod mnist;
pub mod normalize;
pub mod registry;
pub mod rng;
pub mod set;

pub use augment::Augment;

// Speech, text and table data (issue 11): host data a model batch is built from.
pub mod load_error;
pub mod options;
pub mod speech;
pub mod split;
pub mod splits;
pub mod table;
pub mod text;

pub use error::{DataError, FormatProblem, Result};
pub use idx::{read_idx_images, read_idx_labels, IdxImages};
pub use mnist::{
    default_mnist_dir, load_idx_dir, load_idx_dir_with_val_size, load_mnist,
    load_mnist_with_val_size, DATA_DIR_ENV, MNIST_NUM_CLASSES,
};
pub use normalize::Normalization;
pub use registry::{dataset, datasets, load_dataset, register_dataset, Dataset, DatasetEntry, DatasetRequest};
pub use rng::SplitMix64;
pub use splits::Splits;
pub use set::{DatasetInfo, ImageSet, ImageSplits, TrainTest, DEFAULT_VAL_SIZE};
