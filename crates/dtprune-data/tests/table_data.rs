//! Table loading end to end: the UCI Adult fixture (`tests/fixtures/adult/`: the first 40 rows
//! of `adult.data` and the first 30 lines of `adult.test`, CC BY 4.0), `csv` trees made from it,
//! and the full official files from `../shared/datasets/uci-adult/` when present.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dtprune_data::options::options_from_args;
use dtprune_data::table::adult::{ADULT_CATEGORICAL, ADULT_COLUMNS};
use dtprune_data::table::{load_adult, load_csv, TableSplits, UNKNOWN_ID};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/adult")
}

fn opts(args: &[&str]) -> BTreeMap<String, toml::Value> {
    options_from_args(args.iter().copied()).unwrap()
}

fn label_count(s: &[u32], class: u32) -> usize {
    s.iter().filter(|&&l| l == class).count()
}

#[test]
fn adult_fixture() {
    let s = load_adult(&fixture_dir(), &opts(&[])).unwrap();
    assert_eq!((s.train.len(), s.test.len()), (40, 30));
    assert_eq!(
        s.schema.class_names,
        ["<=50K", ">50K"],
        "test labels lose their trailing dot"
    );
    assert_eq!(
        (
            label_count(s.train.labels(), 1),
            label_count(s.test.labels(), 1)
        ),
        (11, 9)
    );
    assert_eq!(
        s.test.lines()[0],
        2,
        "line 1 of adult.test is the |1x3 comment"
    );
    assert_eq!((s.train.num_categorical(), s.train.num_numeric()), (8, 6));
    let workclass = &s.schema.categorical[0];
    assert_eq!(workclass.name, "workclass");
    assert!(
        workclass.values.contains(&"?".to_string()),
        "missing values are a category"
    );
    // Train values all have ids ≥ 1; some test value (e.g. a country) is unseen → id 0.
    assert!(s.train.categorical().iter().all(|&id| id != UNKNOWN_ID));
    assert!(s.test.categorical().contains(&UNKNOWN_ID));
    // Standardised with train statistics: train columns have mean 0 and std 1.
    for j in 0..6 {
        let col: Vec<f64> = (0..40)
            .map(|i| f64::from(s.train.numeric()[i * 6 + j]))
            .collect();
        let mean = col.iter().sum::<f64>() / 40.0;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 40.0;
        assert!(
            mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4,
            "column {j}: mean {mean} var {var}"
        );
    }
    // age of the first row is 39: (39 − mean) / std.
    let age = &s.schema.numeric[0];
    assert!((f64::from(s.train.numeric()[0]) - (39.0 - age.mean) / age.std).abs() < 1e-5);
    assert!(load_adult(&fixture_dir(), &opts(&["label=x"]))
        .unwrap_err()
        .to_string()
        .contains("unknown option `label` (valid: none)"));
}

/// The Adult fixture rewritten as a `csv` tree (header row, no comment line, no dots).
fn adult_as_csv(edit_test: impl Fn(&mut Vec<String>)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let header = ADULT_COLUMNS.join(",");
    let body = |name: &str| -> Vec<String> {
        std::fs::read_to_string(fixture_dir().join(name))
            .unwrap()
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('|'))
            .map(|l| l.trim_end_matches('.').to_string())
            .collect()
    };
    let train = body("adult.data");
    let mut test = body("adult.test");
    edit_test(&mut test);
    std::fs::write(
        dir.path().join("train.csv"),
        format!("{header}\n{}\n", train.join("\n")),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("test.csv"),
        format!("{header}\n{}\n", test.join("\n")),
    )
    .unwrap();
    dir
}

fn csv_args() -> Vec<String> {
    vec![
        "label=income".into(),
        format!("categorical={}", ADULT_CATEGORICAL.join(",")),
    ]
}

fn load(dir: &Path, args: &[String]) -> Result<TableSplits, dtprune_data::load_error::LoadError> {
    load_csv(
        dir,
        &options_from_args(args.iter().map(String::as_str)).unwrap(),
    )
}

#[test]
fn csv_loader_encodes_like_the_adult_loader() {
    let adult = load_adult(&fixture_dir(), &opts(&[])).unwrap();
    let dir = adult_as_csv(|_| {});
    let s = load(dir.path(), &csv_args()).unwrap();
    assert_eq!(s.schema, adult.schema);
    assert_eq!(s.train.categorical(), adult.train.categorical());
    assert_eq!(s.train.numeric(), adult.train.numeric());
    assert_eq!(s.test.labels(), adult.test.labels());
    // Narrowing the numeric columns and ignoring one.
    let mut args = csv_args();
    args.push("numeric=age,hours-per-week".into());
    let s = load(dir.path(), &args).unwrap();
    assert_eq!(s.train.num_numeric(), 2);
    let mut args = csv_args();
    args.push("ignore=fnlwgt".into());
    assert_eq!(load(dir.path(), &args).unwrap().train.num_numeric(), 5);
}

#[test]
fn csv_errors_name_file_line_and_column() {
    // A test row with a missing field.
    let dir = adult_as_csv(|t| {
        let cut = t[3]
            .rsplit_once(',')
            .unwrap()
            .0
            .rsplit_once(',')
            .unwrap()
            .0
            .to_string();
        t[3] = cut + ", <=50K";
    });
    let e = load(dir.path(), &csv_args()).unwrap_err().to_string();
    assert!(
        e.contains("test.csv:5: has 14 fields but the header has 15"),
        "{e}"
    );
    // A non-numeric value in a numeric column.
    let dir = adult_as_csv(|t| t[0] = t[0].replacen("25,", "twenty-five,", 1));
    let e = load(dir.path(), &csv_args()).unwrap_err().to_string();
    assert!(
        e.contains("test.csv:2: column `age`: `twenty-five` is not a number"),
        "{e}"
    );
    // A label the training file never had.
    let dir = adult_as_csv(|t| {
        t[2] = t[2]
            .replace("<=50K", "unknown-income")
            .replace(">50K", "unknown-income")
    });
    let e = load(dir.path(), &csv_args()).unwrap_err().to_string();
    assert!(e.ends_with("test.csv:4: label `unknown-income` does not occur in the training data (classes: <=50K, >50K)"), "{e}");
    // A column named in the options that the file lacks.
    let dir = adult_as_csv(|_| {});
    let e = load(
        dir.path(),
        &["label=income".into(), "categorical=workclass,colour".into()],
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("train.csv:1: no column `colour` (columns: age, workclass,"),
        "{e}"
    );
    // A test file whose header lacks a column the schema needs.
    let header = ADULT_COLUMNS.join(",");
    let test = std::fs::read_to_string(dir.path().join("test.csv")).unwrap();
    std::fs::write(
        dir.path().join("test.csv"),
        test.replacen(&header, &header.replace("occupation", "job"), 1),
    )
    .unwrap();
    let e = load(dir.path(), &csv_args()).unwrap_err().to_string();
    assert!(e.contains("test.csv:1: no column `occupation`"), "{e}");
    // Option errors.
    let e = load(dir.path(), &[]).unwrap_err().to_string();
    assert!(e.contains("option `label` is required"), "{e}");
    let e = load(
        dir.path(),
        &["label=income".into(), "categorical=income".into()],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("also listed in `categorical`"), "{e}");
    let e = load(dir.path(), &["label=income".into(), "columns=a".into()])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown option `columns` (valid: label, categorical, numeric, ignore)"),
        "{e}"
    );
}

#[test]
fn full_adult_counts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/uci-adult");
    if !dir.is_dir() {
        eprintln!(
            "SKIPPED: {} is absent (the shared data sets are not beside the repository)",
            dir.display()
        );
        return;
    }
    let s = load_adult(&dir, &opts(&[])).unwrap();
    assert_eq!((s.train.len(), s.test.len()), (32561, 16281));
    assert_eq!(
        (
            label_count(s.train.labels(), 0),
            label_count(s.train.labels(), 1)
        ),
        (24720, 7841)
    );
    assert_eq!(
        (
            label_count(s.test.labels(), 0),
            label_count(s.test.labels(), 1)
        ),
        (12435, 3846)
    );
    // workclass: 8 values and `?`, plus the unknown id.
    assert_eq!(s.shape().cardinalities[0], 10);
    assert_eq!(s.shape().num_numeric, 6);
    let unknown = s
        .test
        .categorical()
        .iter()
        .filter(|&&id| id == UNKNOWN_ID)
        .count();
    eprintln!(
        "Adult cardinalities {:?}; {unknown} test values unseen in train",
        s.shape().cardinalities
    );
}
