//! The options of the text data sets (`sms-spam`, `text-tsv`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::options::{DataOptions, OptionError, OptionKind, OptionSpec};

pub const TEXT_OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "max_len",
        kind: OptionKind::Int { min: 1, max: 4096 },
        default: "64",
        help: "tokens per text: longer texts are truncated, shorter ones padded (mask 0)",
    },
    OptionSpec {
        name: "vocab",
        kind: OptionKind::Text,
        default: "",
        help: "a vocab.txt[.gz] to use (e.g. MiniLM's); empty = train a WordPiece vocabulary on the training split",
    },
    OptionSpec {
        name: "vocab_size",
        kind: OptionKind::Int { min: 10, max: 1_000_000 },
        default: "8000",
        help: "size of a trained vocabulary, special tokens included (every character of the training text is kept even past it)",
    },
    OptionSpec {
        name: "min_frequency",
        kind: OptionKind::Int { min: 1, max: 1_000_000 },
        default: "2",
        help: "a trained vocabulary keeps pieces seen at least this often",
    },
    OptionSpec {
        name: "test_fraction",
        kind: OptionKind::Float { min: 0.0, max: 0.9, open_min: true },
        default: "0.2",
        help: "share of each class held out for test when there is no test file",
    },
    OptionSpec {
        name: "split_seed",
        kind: OptionKind::Int { min: 0, max: i64::MAX },
        default: "0",
        help: "seed of the stratified split (independent of the training seed)",
    },
];

/// `text-tsv` also takes the name of a single file to split.
pub const FILE_OPTION: OptionSpec = OptionSpec {
    name: "file",
    kind: OptionKind::Text,
    default: "",
    help: "one label<TAB>text file (relative to the data directory) to split; empty = train.tsv + test.tsv",
};

/// Validated text options.
#[derive(Debug, Clone, PartialEq)]
pub struct TextOptions {
    pub max_len: usize,
    pub vocab: Option<PathBuf>,
    pub vocab_size: usize,
    pub min_frequency: u64,
    pub test_fraction: f64,
    pub split_seed: u64,
    pub file: Option<PathBuf>,
    pub resolved: DataOptions,
}

impl TextOptions {
    pub fn resolve(
        dataset: &str,
        given: &BTreeMap<String, toml::Value>,
        with_file: bool,
    ) -> Result<Self, OptionError> {
        let mut specs = TEXT_OPTIONS.to_vec();
        if with_file {
            specs.push(FILE_OPTION);
        }
        let o = DataOptions::resolve(dataset, &specs, given)?;
        Ok(Self {
            max_len: o.usize("max_len"),
            vocab: o.text("vocab").map(PathBuf::from),
            vocab_size: o.usize("vocab_size"),
            min_frequency: o.int("min_frequency") as u64,
            test_fraction: o.float("test_fraction"),
            split_seed: o.int("split_seed") as u64,
            file: if with_file {
                o.text("file").map(PathBuf::from)
            } else {
                None
            },
            resolved: o,
        })
    }
}
