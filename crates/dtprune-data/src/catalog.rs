//! The speech, text and table data sets by name: what each is, the options it takes, and one
//! entry point that loads any of them into host data.

use std::collections::BTreeMap;
use std::path::Path;

use crate::load_error::{LoadError, LoadResult};
use crate::options::OptionSpec;
use crate::speech::options::{FEATURE_OPTIONS, SPLIT_OPTIONS};
use crate::speech::{load_audio_folder, load_fsdd, SpeechSplits};
use crate::table::options::CSV_OPTIONS;
use crate::table::{load_adult, load_csv, TableSplits};
use crate::text::options::{FILE_OPTION, TEXT_OPTIONS};
use crate::text::{load_sms_spam, load_text_tsv, TextSplits};

/// What a model of the data set consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// `[frames, n_mels]` log-mel features plus lengths.
    Speech,
    /// Token ids plus padding masks.
    Text,
    /// Categorical ids plus numeric columns.
    Table,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetEntry {
    pub name: &'static str,
    pub kind: InputKind,
    pub summary: &'static str,
    /// Folder under the shared data sets that holds the built-in copy, if any.
    pub shared_dir: Option<&'static str>,
}

pub const DATASETS: &[DatasetEntry] = &[
    DatasetEntry {
        name: "fsdd",
        kind: InputKind::Speech,
        summary: "Free Spoken Digit Dataset: 8 kHz spoken digits, official split (index 0-4 test)",
        shared_dir: Some("fsdd"),
    },
    DatasetEntry {
        name: "audio-folder",
        kind: InputKind::Speech,
        summary: "<class>/*.wav (or train/ and test/ trees of them), classes in sorted order",
        shared_dir: None,
    },
    DatasetEntry {
        name: "sms-spam",
        kind: InputKind::Text,
        summary: "SMS Spam Collection v.1: ham/spam messages, stratified seeded 80/20 split",
        shared_dir: Some("sms-spam-collection"),
    },
    DatasetEntry {
        name: "text-tsv",
        kind: InputKind::Text,
        summary: "label<TAB>text lines: train.tsv + test.tsv, or one file and a split fraction",
        shared_dir: None,
    },
    DatasetEntry {
        name: "adult",
        kind: InputKind::Table,
        summary: "UCI Adult (census income): official adult.data / adult.test",
        shared_dir: Some("uci-adult"),
    },
    DatasetEntry {
        name: "csv",
        kind: InputKind::Table,
        summary: "train.csv + test.csv with a header; -D label=COL -D categorical=A,B",
        shared_dir: None,
    },
];

/// A loaded data set, by family.
#[derive(Debug, Clone, PartialEq)]
pub enum HostData {
    Speech(SpeechSplits),
    Text(TextSplits),
    Table(TableSplits),
}

pub fn find_dataset(name: &str) -> LoadResult<&'static DatasetEntry> {
    DATASETS
        .iter()
        .find(|d| d.name == name)
        .ok_or_else(|| LoadError::UnknownDataset {
            name: name.into(),
            known: DATASETS
                .iter()
                .map(|d| d.name)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// The options data set `name` takes (for `--help`-style listings).
pub fn dataset_options(name: &str) -> LoadResult<Vec<OptionSpec>> {
    Ok(match find_dataset(name)?.name {
        "fsdd" => FEATURE_OPTIONS.to_vec(),
        "audio-folder" => [FEATURE_OPTIONS, SPLIT_OPTIONS].concat(),
        "sms-spam" => TEXT_OPTIONS.to_vec(),
        "text-tsv" => [TEXT_OPTIONS, &[FILE_OPTION]].concat(),
        "adult" => Vec::new(),
        "csv" => CSV_OPTIONS.to_vec(),
        other => unreachable!("catalog entry `{other}` has no options listed"),
    })
}

/// Loads data set `name` from `data_dir` with the `-D` options `given`. Speech features are
/// cached under `cache_dir` when it is given.
pub fn load_dataset(
    name: &str,
    data_dir: &Path,
    given: &BTreeMap<String, toml::Value>,
    cache_dir: Option<&Path>,
) -> LoadResult<HostData> {
    Ok(match find_dataset(name)?.name {
        "fsdd" => HostData::Speech(load_fsdd(data_dir, given, cache_dir)?),
        "audio-folder" => HostData::Speech(load_audio_folder(data_dir, given, cache_dir)?),
        "sms-spam" => HostData::Text(load_sms_spam(data_dir, given)?),
        "text-tsv" => HostData::Text(load_text_tsv(data_dir, given)?),
        "adult" => HostData::Table(load_adult(data_dir, given)?),
        "csv" => HostData::Table(load_csv(data_dir, given)?),
        other => unreachable!("catalog entry `{other}` has no loader"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_has_options_and_unknown_names_list_the_known() {
        for d in DATASETS {
            // Every declared default is valid (resolving with nothing given applies them all).
            let specs = dataset_options(d.name).unwrap();
            crate::options::DataOptions::resolve(d.name, &specs, &BTreeMap::new()).unwrap();
        }
        let e = find_dataset("mnist-audio").unwrap_err().to_string();
        assert_eq!(e, "unknown data set `mnist-audio` (known: fsdd, audio-folder, sms-spam, text-tsv, adult, csv)");
    }
}
