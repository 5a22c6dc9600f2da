//! Data sets by name: the built-in loaders and any registered at run time.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use crate::error::{DataError, Result};
use crate::normalize::Normalization;
use crate::set::{ImageSplits, TrainTest};

/// What a loader is asked for.
#[derive(Debug, Clone, Copy)]
pub struct DatasetRequest<'a> {
    /// `--data-dir`; loaders with a built-in default may ignore a missing one.
    pub data_dir: Option<&'a Path>,
    /// Training items held out (the last ones) for validation.
    pub val_size: usize,
}

/// A loaded data set: splits, class names, and normalisation statistics it declares (only for
/// a set whose content is pinned; otherwise they are computed from the training split).
#[derive(Debug, Clone)]
pub struct Dataset {
    pub splits: ImageSplits,
    pub classes: Vec<String>,
    pub declared: Option<Normalization>,
}

/// A registry entry.
#[derive(Debug, Clone, Copy)]
pub struct DatasetEntry {
    pub name: &'static str,
    /// The kind of model input it yields (`image`); a model takes the sets of its kind.
    pub input: &'static str,
    pub summary: &'static str,
    pub load: fn(&DatasetRequest) -> Result<Dataset>,
}

/// MNIST's statistics over its 60,000 training images, as published; the pinned checksums
/// guarantee the content they were computed from.
pub const MNIST_NORMALIZATION: ([f64; 1], [f64; 1]) = ([0.1307], [0.3081]);

const BUILT_IN: &[DatasetEntry] = &[
    DatasetEntry {
        name: "mnist",
        input: "image",
        summary: "MNIST 28x28 grey digits, built in (data/mnist), checksum-verified",
        load: load_mnist_entry,
    },
    DatasetEntry {
        name: "idx",
        input: "image",
        summary: "any grey image set as the four MNIST IDX files in --data-dir (Fashion-MNIST, KMNIST, ...)",
        load: load_idx_entry,
    },
    DatasetEntry {
        name: "cifar10",
        input: "image",
        summary: "CIFAR-10 JPEG copy, 32x32 colour: --data-dir holding train/ + test/ or the .tar.gz",
        load: load_cifar10_entry,
    },
    DatasetEntry {
        name: "image-folder",
        input: "image",
        summary: "--data-dir with train/<class>/*.png|jpg and test/<class>/..., grey or colour (torchvision ImageFolder)",
        load: load_image_folder_entry,
    },
];

static REGISTERED: RwLock<Vec<DatasetEntry>> = RwLock::new(Vec::new());

/// Every data set: the built-in ones, then those registered, in order.
pub fn datasets() -> Vec<DatasetEntry> {
    let registered = REGISTERED.read().unwrap_or_else(|e| e.into_inner());
    BUILT_IN.iter().copied().chain(registered.iter().copied()).collect()
}

/// Adds a data set (or replaces a registered one of the same name; built-in names are taken).
pub fn register_dataset(entry: DatasetEntry) -> Result<()> {
    if BUILT_IN.iter().any(|b| b.name == entry.name) {
        return Err(DataError::InconsistentSet(format!("data set `{}` is built in and cannot be replaced", entry.name)));
    }
    let mut registered = REGISTERED.write().unwrap_or_else(|e| e.into_inner());
    registered.retain(|r| r.name != entry.name);
    registered.push(entry);
    Ok(())
}

/// The entry for `name`; an unknown name is an error listing the valid ones.
pub fn dataset(name: &str) -> Result<DatasetEntry> {
    let all = datasets();
    all.iter().find(|d| d.name == name).copied().ok_or_else(|| DataError::UnknownDataset {
        name: name.into(),
        valid: all.iter().map(|d| d.name).collect::<Vec<_>>().join(", "),
    })
}

/// Loads the data set `name`.
pub fn load_dataset(name: &str, request: &DatasetRequest) -> Result<Dataset> {
    (dataset(name)?.load)(request)
}

fn numbered_classes(n: usize) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

fn need_dir(name: &str, request: &DatasetRequest, what: &str) -> Result<PathBuf> {
    request.data_dir.map(Path::to_path_buf).ok_or_else(|| DataError::NeedsDataDir { name: name.into(), what: what.into() })
}

fn load_mnist_entry(request: &DatasetRequest) -> Result<Dataset> {
    let dir = request.data_dir.map_or_else(crate::mnist::default_mnist_dir, Path::to_path_buf);
    let splits = crate::mnist::load_mnist_with_val_size(&dir, request.val_size)?;
    let (mean, std) = MNIST_NORMALIZATION;
    Ok(Dataset {
        classes: numbered_classes(splits.train.num_classes()),
        splits,
        declared: Some(Normalization { mean: mean.to_vec(), std: std.to_vec() }),
    })
}

fn load_idx_entry(request: &DatasetRequest) -> Result<Dataset> {
    let dir = need_dir("idx", request, "the folder holding train-images-idx3-ubyte[.gz] and the other three IDX files")?;
    let splits = crate::mnist::load_idx_dir_with_val_size(&dir, request.val_size)?;
    Ok(Dataset { classes: numbered_classes(splits.train.num_classes()), splits, declared: None })
}

fn from_tree(sets: TrainTest, val_size: usize) -> Result<Dataset> {
    Ok(Dataset { splits: ImageSplits::from_train_test(sets.train, sets.test, val_size)?, classes: sets.classes, declared: None })
}

fn load_cifar10_entry(request: &DatasetRequest) -> Result<Dataset> {
    let dir = need_dir("cifar10", request, "a folder holding train/ and test/ of the JPEG copy, or its .tar.gz archive")?;
    from_tree(crate::cifar10::load_cifar10(&dir, &crate::cache::cache_dir())?, request.val_size)
}

fn load_image_folder_entry(request: &DatasetRequest) -> Result<Dataset> {
    let dir = need_dir("image-folder", request, "a folder holding train/<class>/ and test/<class>/ image folders")?;
    from_tree(crate::image_folder::load_image_folder(&dir, &crate::cache::cache_dir())?, request.val_size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_and_registration() {
        assert_eq!(dataset("cifar10").unwrap().input, "image");
        let e = dataset("imagenet").unwrap_err().to_string();
        assert!(e.contains("unknown dataset `imagenet`") && e.contains("mnist, idx, cifar10, image-folder"), "{e}");
        let e = load_dataset("image-folder", &DatasetRequest { data_dir: None, val_size: 10 }).unwrap_err().to_string();
        assert!(e.contains("needs a data directory"), "{e}");
        let mine = DatasetEntry { name: "mine", input: "image", summary: "test", load: load_mnist_entry };
        register_dataset(mine).unwrap();
        assert_eq!(dataset("mine").unwrap().summary, "test");
        assert!(register_dataset(DatasetEntry { name: "mnist", ..mine }).is_err());
    }
}
