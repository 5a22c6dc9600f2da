//! Data sets by name — images, speech, text and tables — with the options each takes: the
//! built-in loaders and any registered at run time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use crate::error::{DataError, Result};
use crate::normalize::Normalization;
use crate::options::{DataOptions, OptionSpec};
use crate::set::{ImageSplits, TrainTest};
use crate::splits::Splits;
use crate::{speech, table, text};

/// What a loader is asked for.
#[derive(Debug, Clone, Copy)]
pub struct DatasetRequest<'a> {
    /// `--data-dir`; loaders with a built-in default may ignore a missing one.
    pub data_dir: Option<&'a Path>,
    /// Training items held out for validation (images: the last ones; speech, text, tables:
    /// a stratified seeded sample, [`crate::splits`]).
    pub val_size: usize,
    /// The data set's options (`-D key=value`, a `[data]` table), validated by its loader
    /// against [`DatasetEntry::options`].
    pub options: &'a BTreeMap<String, toml::Value>,
}

/// A loaded data set: splits, class names, and the pixel normalisation it declares (only for
/// an image set whose content is pinned; otherwise computed from the training split).
#[derive(Debug, Clone)]
pub struct Dataset {
    pub splits: Splits,
    pub classes: Vec<String>,
    pub declared: Option<Normalization>,
}

impl Dataset {
    /// The image splits; an error naming the set's kind for any other data.
    pub fn images(&self) -> Result<&ImageSplits> {
        match &self.splits {
            Splits::Image(s) => Ok(s),
            other => Err(DataError::InconsistentSet(format!("this data set holds {} data, not images", other.input()))),
        }
    }
}

/// A registry entry.
#[derive(Debug, Clone, Copy)]
pub struct DatasetEntry {
    pub name: &'static str,
    /// The kind of model input it yields (`image`, `speech`, `text`, `table`); a model takes
    /// the sets of its kind.
    pub input: &'static str,
    pub summary: &'static str,
    /// The options it takes (`-D key=value`).
    pub options: fn() -> Vec<OptionSpec>,
    pub load: fn(&DatasetRequest) -> Result<Dataset>,
}

fn no_options() -> Vec<OptionSpec> {
    Vec::new()
}

/// MNIST's statistics over its 60,000 training images, as published; the pinned checksums
/// guarantee the content they were computed from.
pub const MNIST_NORMALIZATION: ([f64; 1], [f64; 1]) = ([0.1307], [0.3081]);

const BUILT_IN: &[DatasetEntry] = &[
    DatasetEntry {
        name: "mnist",
        input: "image",
        summary: "MNIST 28x28 grey digits, built in (data/mnist), checksum-verified",
        options: no_options,
        load: load_mnist_entry,
    },
    DatasetEntry {
        name: "idx",
        input: "image",
        summary: "any grey image set as the four MNIST IDX files in --data-dir (Fashion-MNIST, KMNIST, ...)",
        options: no_options,
        load: load_idx_entry,
    },
    DatasetEntry {
        name: "cifar10",
        input: "image",
        summary: "CIFAR-10 JPEG copy, 32x32 colour: --data-dir holding train/ + test/ or the .tar.gz",
        options: no_options,
        load: load_cifar10_entry,
    },
    DatasetEntry {
        name: "image-folder",
        input: "image",
        summary: "--data-dir with train/<class>/*.png|jpg and test/<class>/..., grey or colour (torchvision ImageFolder)",
        options: no_options,
        load: load_image_folder_entry,
    },
    DatasetEntry {
        name: "fsdd",
        input: "speech",
        summary: "Free Spoken Digit Dataset: 8 kHz spoken digits as log-mel frames, official split (index 0-4 test); --data-dir holds its .tar.gz or recordings/",
        options: fsdd_options,
        load: load_fsdd_entry,
    },
    DatasetEntry {
        name: "audio-folder",
        input: "speech",
        summary: "--data-dir with <class>/*.wav (or train/ and test/ trees of them), classes in sorted order",
        options: audio_folder_options,
        load: load_audio_folder_entry,
    },
    DatasetEntry {
        name: "sms-spam",
        input: "text",
        summary: "SMS Spam Collection v.1: ham/spam messages, WordPiece ids, stratified seeded 80/20 split",
        options: sms_options,
        load: load_sms_entry,
    },
    DatasetEntry {
        name: "text-tsv",
        input: "text",
        summary: "label<TAB>text lines: train.tsv + test.tsv in --data-dir, or -D file=NAME and a split fraction",
        options: text_tsv_options,
        load: load_text_tsv_entry,
    },
    DatasetEntry {
        name: "adult",
        input: "table",
        summary: "UCI Adult (census income): official adult.data / adult.test in --data-dir",
        options: no_options,
        load: load_adult_entry,
    },
    DatasetEntry {
        name: "csv",
        input: "table",
        summary: "train.csv + test.csv with a header in --data-dir; -D label=COL -D categorical=A,B, the rest numeric",
        options: csv_options,
        load: load_csv_entry,
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

/// Image sets take no options: any given one is an error saying so.
fn no_options_given(name: &str, request: &DatasetRequest) -> Result<()> {
    DataOptions::resolve(name, &[], request.options).map(drop).map_err(|e| DataError::Load(e.into()))
}

fn numbered_classes(n: usize) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

fn need_dir(name: &str, request: &DatasetRequest, what: &str) -> Result<PathBuf> {
    request.data_dir.map(Path::to_path_buf).ok_or_else(|| DataError::NeedsDataDir { name: name.into(), what: what.into() })
}

fn load_mnist_entry(request: &DatasetRequest) -> Result<Dataset> {
    no_options_given("mnist", request)?;
    let dir = request.data_dir.map_or_else(crate::mnist::default_mnist_dir, Path::to_path_buf);
    let splits = crate::mnist::load_mnist_with_val_size(&dir, request.val_size)?;
    let (mean, std) = MNIST_NORMALIZATION;
    Ok(Dataset {
        classes: numbered_classes(splits.train.num_classes()),
        splits: Splits::Image(splits),
        declared: Some(Normalization { mean: mean.to_vec(), std: std.to_vec() }),
    })
}

fn load_idx_entry(request: &DatasetRequest) -> Result<Dataset> {
    no_options_given("idx", request)?;
    let dir = need_dir("idx", request, "the folder holding train-images-idx3-ubyte[.gz] and the other three IDX files")?;
    let splits = crate::mnist::load_idx_dir_with_val_size(&dir, request.val_size)?;
    Ok(Dataset { classes: numbered_classes(splits.train.num_classes()), splits: Splits::Image(splits), declared: None })
}

fn from_tree(sets: TrainTest, val_size: usize) -> Result<Dataset> {
    Ok(Dataset { splits: Splits::Image(ImageSplits::from_train_test(sets.train, sets.test, val_size)?), classes: sets.classes, declared: None })
}

fn load_cifar10_entry(request: &DatasetRequest) -> Result<Dataset> {
    no_options_given("cifar10", request)?;
    let dir = need_dir("cifar10", request, "a folder holding train/ and test/ of the JPEG copy, or its .tar.gz archive")?;
    from_tree(crate::cifar10::load_cifar10(&dir, &crate::cache::cache_dir())?, request.val_size)
}

fn load_image_folder_entry(request: &DatasetRequest) -> Result<Dataset> {
    no_options_given("image-folder", request)?;
    let dir = need_dir("image-folder", request, "a folder holding train/<class>/ and test/<class>/ image folders")?;
    from_tree(crate::image_folder::load_image_folder(&dir, &crate::cache::cache_dir())?, request.val_size)
}

fn fsdd_options() -> Vec<OptionSpec> {
    speech::options::FEATURE_OPTIONS.to_vec()
}
fn audio_folder_options() -> Vec<OptionSpec> {
    [speech::options::FEATURE_OPTIONS, speech::options::SPLIT_OPTIONS].concat()
}
fn sms_options() -> Vec<OptionSpec> {
    text::options::TEXT_OPTIONS.to_vec()
}
fn text_tsv_options() -> Vec<OptionSpec> {
    [text::options::TEXT_OPTIONS, &[text::options::FILE_OPTION]].concat()
}
fn csv_options() -> Vec<OptionSpec> {
    table::options::CSV_OPTIONS.to_vec()
}

/// Speech features are cached (keyed by sources and options) where `$DTPRUNE_CACHE_DIR` says.
fn speech_cache() -> Option<PathBuf> {
    speech::cache::default_cache_dir()
}

fn load_fsdd_entry(request: &DatasetRequest) -> Result<Dataset> {
    let dir = need_dir("fsdd", request, "the folder holding the FSDD .tar.gz (e.g. ../shared/datasets/fsdd) or its recordings/")?;
    let splits = speech::load_fsdd(&dir, request.options, speech_cache().as_deref()).map_err(DataError::Load)?;
    speech_dataset(splits, "fsdd", request.val_size)
}

fn load_audio_folder_entry(request: &DatasetRequest) -> Result<Dataset> {
    let dir = need_dir("audio-folder", request, "a folder holding <class>/*.wav, or train/<class>/ and test/<class>/")?;
    let splits = speech::load_audio_folder(&dir, request.options, speech_cache().as_deref()).map_err(DataError::Load)?;
    speech_dataset(splits, "audio-folder", request.val_size)
}

fn speech_dataset(splits: speech::SpeechSplits, name: &str, val_size: usize) -> Result<Dataset> {
    let classes = splits.class_names.clone();
    Ok(Dataset { splits: Splits::speech(splits, name, val_size)?, classes, declared: None })
}

fn load_sms_entry(request: &DatasetRequest) -> Result<Dataset> {
    let dir = need_dir("sms-spam", request, "the folder holding SMSSpamCollection[.gz] (e.g. ../shared/datasets/sms-spam-collection)")?;
    text_dataset(text::load_sms_spam(&dir, request.options).map_err(DataError::Load)?, "sms-spam", request.val_size)
}

fn load_text_tsv_entry(request: &DatasetRequest) -> Result<Dataset> {
    let dir = need_dir("text-tsv", request, "a folder holding train.tsv and test.tsv (label<TAB>text), or the file named by -D file=NAME")?;
    text_dataset(text::load_text_tsv(&dir, request.options).map_err(DataError::Load)?, "text-tsv", request.val_size)
}

fn text_dataset(splits: text::TextSplits, name: &str, val_size: usize) -> Result<Dataset> {
    let classes = splits.class_names.clone();
    Ok(Dataset { splits: Splits::text(splits, name, val_size)?, classes, declared: None })
}

fn load_adult_entry(request: &DatasetRequest) -> Result<Dataset> {
    let dir = need_dir("adult", request, "the folder holding adult.data and adult.test (e.g. ../shared/datasets/uci-adult)")?;
    table_dataset(table::load_adult(&dir, request.options).map_err(DataError::Load)?, "adult", request.val_size)
}

fn load_csv_entry(request: &DatasetRequest) -> Result<Dataset> {
    let dir = need_dir("csv", request, "a folder holding train.csv and test.csv with a header row")?;
    table_dataset(table::load_csv(&dir, request.options).map_err(DataError::Load)?, "csv", request.val_size)
}

fn table_dataset(splits: table::TableSplits, name: &str, val_size: usize) -> Result<Dataset> {
    let classes = splits.schema.class_names.clone();
    Ok(Dataset { splits: Splits::table(splits, name, val_size)?, classes, declared: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_and_registration() {
        assert_eq!(dataset("cifar10").unwrap().input, "image");
        let e = dataset("imagenet").unwrap_err().to_string();
        assert!(e.contains("unknown dataset `imagenet`") && e.contains("mnist, idx, cifar10, image-folder, fsdd, audio-folder, sms-spam, text-tsv, adult, csv"), "{e}");
        for d in datasets() {
            // Every declared default is valid (resolving with nothing given applies them all).
            DataOptions::resolve(d.name, &(d.options)(), &BTreeMap::new()).unwrap();
        }
        let none = BTreeMap::new();
        let e = load_dataset("image-folder", &DatasetRequest { data_dir: None, val_size: 10, options: &none }).unwrap_err().to_string();
        assert!(e.contains("needs a data directory"), "{e}");
        let given = BTreeMap::from([("frames".to_string(), toml::Value::Integer(5))]);
        let e = load_dataset("mnist", &DatasetRequest { data_dir: None, val_size: 10, options: &given }).unwrap_err().to_string();
        assert_eq!(e, "data set `mnist`: unknown option `frames` (valid: none)");
        let mine = DatasetEntry { name: "mine", input: "image", summary: "test", options: no_options, load: load_mnist_entry };
        register_dataset(mine).unwrap();
        assert_eq!(dataset("mine").unwrap().summary, "test");
        assert!(register_dataset(DatasetEntry { name: "mnist", ..mine }).is_err());
    }
}
