//! Text loading end to end: the SMS fixture (`tests/fixtures/sms/`, the first 40 lines of the
//! SMS Spam Collection, CC BY 4.0), `text-tsv` trees made from it, MiniLM's real vocabulary and
//! tokenizer, and the full collection from `../shared/datasets/` when present.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dtprune_data::options::options_from_args;
use dtprune_data::text::{load_sms_spam, load_text_tsv, TextSplits};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sms")
}

fn shared(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/datasets")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "SKIPPED: {} is absent (the shared data sets are not beside the repository)",
            p.display()
        );
        None
    }
}

fn opts(args: &[&str]) -> BTreeMap<String, toml::Value> {
    options_from_args(args.iter().copied()).unwrap()
}

fn fixture_lines() -> Vec<String> {
    std::fs::read_to_string(fixture_dir().join("SMSSpamCollection"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn check_consistent(s: &TextSplits) {
    for set in [&s.train, &s.test] {
        for i in 0..set.len() {
            let len = set.lengths()[i] as usize;
            let mask = &set.mask()[i * set.max_len()..(i + 1) * set.max_len()];
            assert!(mask[..len].iter().all(|&m| m == 1) && mask[len..].iter().all(|&m| m == 0));
            assert!(set.item(i)[len..].iter().all(|&t| t == s.pad_id));
            assert!(set.item(i).iter().all(|&t| (t as usize) < s.vocab.len()));
            assert!(len > 0, "every message has a token");
        }
    }
}

#[test]
fn sms_fixture_is_split_stratified_and_seeded() {
    let s = load_sms_spam(&fixture_dir(), &opts(&[])).unwrap();
    assert_eq!(s.class_names, ["ham", "spam"]);
    // 31 ham, 9 spam: round(6.2) = 6 and round(1.8) = 2 go to test.
    assert_eq!((s.train.len(), s.test.len()), (32, 8));
    assert_eq!(s.test.labels().iter().filter(|&&l| l == 1).count(), 2);
    let record = s.split.as_ref().unwrap();
    assert_eq!(
        (record.seed, record.test_fraction, record.test.len()),
        (0, 0.2, 8)
    );
    assert_eq!(
        s.test.lines(),
        record.test.iter().map(|i| i + 1).collect::<Vec<_>>()
    );
    assert_eq!(&s.vocab[..2], ["[PAD]", "[UNK]"]);
    assert_eq!(s.train.max_len(), 64);
    check_consistent(&s);
    assert_eq!(
        load_sms_spam(&fixture_dir(), &opts(&[])).unwrap(),
        s,
        "deterministic"
    );
    let other = load_sms_spam(&fixture_dir(), &opts(&["split_seed=3"])).unwrap();
    assert_ne!(other.split.unwrap().test, record.test);
    let short = load_sms_spam(
        &fixture_dir(),
        &opts(&["max_len=8", "vocab_size=300", "min_frequency=1"]),
    )
    .unwrap();
    assert!(short.truncated.0 > 0 && short.vocab.len() <= 300);
    check_consistent(&short);
}

fn tsv_dir(train: &[String], test: &[String]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("train.tsv"), train.join("\n") + "\n").unwrap();
    std::fs::write(dir.path().join("test.tsv"), test.join("\n") + "\n").unwrap();
    dir
}

#[test]
fn text_tsv_train_and_test_files() {
    let lines = fixture_lines();
    let dir = tsv_dir(&lines[..30], &lines[30..]);
    let s = load_text_tsv(dir.path(), &opts(&["min_frequency=1"])).unwrap();
    assert_eq!(
        (s.train.len(), s.test.len(), s.split.is_none()),
        (30, 10, true)
    );
    assert_eq!(s.test.lines()[0], 1);
    check_consistent(&s);
    // One file and a split fraction instead.
    let one = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture_dir().join("SMSSpamCollection"),
        one.path().join("all.tsv"),
    )
    .unwrap();
    let s = load_text_tsv(one.path(), &opts(&["file=all.tsv", "test_fraction=0.5"])).unwrap();
    assert_eq!(s.test.len() + s.train.len(), 40);
    assert_eq!(s.split.unwrap().test_fraction, 0.5);
}

#[test]
fn text_tsv_errors_name_file_and_line() {
    let lines = fixture_lines();
    let mut test = lines[30..].to_vec();
    test[3] = test[3].replacen('\t', " ", 1);
    let dir = tsv_dir(&lines[..30], &test);
    let e = load_text_tsv(dir.path(), &opts(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with("test.tsv:4: no tab: expected label<TAB>text"),
        "{e}"
    );

    let mut test = lines[30..].to_vec();
    test[1] = "ham\t ".into();
    let dir = tsv_dir(&lines[..30], &test);
    let e = load_text_tsv(dir.path(), &opts(&[]))
        .unwrap_err()
        .to_string();
    assert!(e.ends_with("test.tsv:2: empty text for label `ham`"), "{e}");

    let mut test = lines[30..].to_vec();
    test[5] = test[5]
        .replacen("ham", "eggs", 1)
        .replacen("spam", "eggs", 1);
    let dir = tsv_dir(&lines[..30], &test);
    let e = load_text_tsv(dir.path(), &opts(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with(
            "test.tsv:6: label `eggs` does not occur in the training data (classes: ham, spam)"
        ),
        "{e}"
    );

    let empty = tempfile::tempdir().unwrap();
    let e = load_text_tsv(empty.path(), &opts(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("train.tsv[.gz]") && e.contains("not found"),
        "{e}"
    );
    let e = load_text_tsv(empty.path(), &opts(&["max_len=0"]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("`max_len` = 0 is out of range"), "{e}");
}

#[test]
fn minilm_vocabulary_tokenises_like_its_own_tokenizer() {
    let (Some(vocab), Some(json)) = (
        shared("models/all-MiniLM-L6-v2/vocab.txt.gz"),
        shared("models/all-MiniLM-L6-v2/tokenizer.json.gz"),
    ) else {
        return;
    };
    let arg = format!("vocab={}", vocab.display());
    let s = load_sms_spam(&fixture_dir(), &opts(&[&arg, "max_len=128"])).unwrap();
    assert_eq!(
        (s.vocab.len(), s.pad_id, s.vocab[100].as_str()),
        (30522, 0, "[UNK]")
    );
    check_consistent(&s);
    // The model's own tokenizer.json (Hugging Face's BertTokenizer pipeline) gives the same ids,
    // without its [CLS]/[SEP].
    let bytes = dtprune_data::load_error::read_maybe_gzip(&json).unwrap();
    let reference = tokenizers::Tokenizer::from_bytes(&bytes).unwrap();
    let lines = fixture_lines();
    for i in 0..s.train.len() {
        let text = lines[s.train.lines()[i] - 1].split_once('\t').unwrap().1;
        let want = reference.encode(text, false).unwrap();
        let len = s.train.lengths()[i] as usize;
        assert_eq!(
            &s.train.item(i)[..len],
            &want.get_ids()[..len.min(want.get_ids().len())],
            "line {}",
            s.train.lines()[i]
        );
    }
}

#[test]
fn full_sms_spam_collection() {
    let Some(dir) = shared("sms-spam-collection") else {
        return;
    };
    let s = load_sms_spam(&dir, &opts(&[])).unwrap();
    let (train, test) = (s.train.labels(), s.test.labels());
    assert_eq!(train.len() + test.len(), 5574);
    let spam = |l: &[u32]| l.iter().filter(|&&c| c == 1).count();
    assert_eq!(spam(train) + spam(test), 747);
    // round(4827 · 0.2) = 965 ham and round(747 · 0.2) = 149 spam in test.
    assert_eq!((test.len(), spam(test)), (1114, 149));
    assert!(s.vocab.len() <= 8000);
    check_consistent(&s);
    eprintln!(
        "SMS: vocabulary {} tokens, {} / {} texts over 64 tokens",
        s.vocab.len(),
        s.truncated.0,
        s.truncated.1
    );
}
