//! Speech loading end to end on real FSDD recordings: the fixtures under
//! `tests/fixtures/fsdd/` (nine files cut from the data set, CC BY-SA 4.0, see the README there),
//! malformed variants of them, and the full archive in `../shared/datasets/fsdd/` when present.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use dtprune_data::options::options_from_args;
use dtprune_data::speech::{load_audio_folder, load_fsdd, SpeechOptions};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fsdd")
}

fn shared_fsdd() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/fsdd");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: {} is absent (the shared data sets are not beside the repository)",
            dir.display()
        );
        None
    }
}

fn opts(args: &[&str]) -> BTreeMap<String, toml::Value> {
    options_from_args(args.iter().copied()).unwrap()
}

#[test]
fn fixture_recordings_follow_the_official_split() {
    let s = load_fsdd(&fixtures(), &opts(&[]), None).unwrap();
    // Index 0–4 is test: 0_george_0, 1_nicolas_4, 3_jackson_1, 5_lucas_2.
    assert_eq!(s.test.len(), 4);
    assert_eq!(s.train.len(), 5);
    assert_eq!(s.test.labels(), [0, 1, 3, 5]);
    assert_eq!(s.train.labels(), [0, 1, 3, 7, 9]);
    assert_eq!(
        s.class_names,
        (0..10).map(|d| d.to_string()).collect::<Vec<_>>()
    );
    assert_eq!((s.train.frames(), s.train.n_mels()), (100, 40));
    assert!(s.test.sources()[0].ends_with("0_george_0.wav"));
    // 0_george_0.wav holds 2384 samples: 1 + ceil((2398 − 256)/80) = 28 frames, padded to 100.
    assert_eq!(s.test.lengths()[0], 28);
    let item = s.test.item(0);
    assert!(item[..28 * 40]
        .iter()
        .all(|v| v.is_finite() && *v >= s.pad_value));
    let above = item[..28 * 40].iter().filter(|&&v| v > s.pad_value).count();
    assert!(
        above > 28 * 40 * 9 / 10,
        "speech, not silence: {above} of {} values above the floor",
        28 * 40
    );
    assert!(item[28 * 40..].iter().all(|&v| v == s.pad_value));
}

#[test]
fn features_are_cached_by_content_and_options() {
    let cache = tempfile::tempdir().unwrap();
    let first = load_fsdd(&fixtures(), &opts(&["n_mels=20"]), Some(cache.path())).unwrap();
    let files: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(
        load_fsdd(&fixtures(), &opts(&["n_mels=20"]), Some(cache.path())).unwrap(),
        first
    );
    // Overwrite the cached features with zeros: a hit returns them, which shows it was read.
    let bytes = std::fs::read(&files[0]).unwrap();
    let feature_bytes = (first.train.features().len() + first.test.features().len()) * 4;
    let mut tampered = bytes.clone();
    let n = tampered.len();
    tampered[n - feature_bytes..].fill(0);
    std::fs::write(&files[0], &tampered).unwrap();
    let hit = load_fsdd(&fixtures(), &opts(&["n_mels=20"]), Some(cache.path())).unwrap();
    assert!(hit.train.features().iter().all(|&v| v == 0.0));
    // Other options: another key, another file.
    let other = load_fsdd(&fixtures(), &opts(&["n_mels=24"]), Some(cache.path())).unwrap();
    assert_eq!(other.train.n_mels(), 24);
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 2);
    // A cache location that cannot be written (here: a file) only costs the cache.
    let blocked = cache.path().join("not-a-dir");
    std::fs::write(&blocked, b"x").unwrap();
    let uncached = load_fsdd(&fixtures(), &opts(&["n_mels=24"]), Some(&blocked)).unwrap();
    assert_eq!(uncached, other);
}

fn rewrite(src: &Path, dst: &Path, channels: u16, rate: u32) {
    let mut r = hound::WavReader::open(src).unwrap();
    let samples: Vec<i16> = r.samples::<i16>().map(|s| s.unwrap()).collect();
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        ..r.spec()
    };
    let mut w = hound::WavWriter::create(dst, spec).unwrap();
    for s in samples {
        for _ in 0..channels {
            w.write_sample(s).unwrap();
        }
    }
    w.finalize().unwrap();
}

/// A folder of real recordings with one file replaced by `bad`; loading must name that file.
fn load_with_bad_file(make_bad: impl Fn(&Path, &Path)) -> String {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("recordings");
    std::fs::create_dir(&rec).unwrap();
    for e in std::fs::read_dir(fixtures().join("recordings")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, rec.join(p.file_name().unwrap())).unwrap();
    }
    make_bad(
        &fixtures().join("recordings/3_jackson_7.wav"),
        &rec.join("3_jackson_7.wav"),
    );
    let e = load_fsdd(dir.path(), &opts(&[]), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("3_jackson_7.wav"),
        "error must name the file: {e}"
    );
    e
}

#[test]
fn malformed_recordings_are_named_errors() {
    let e = load_with_bad_file(|src, dst| rewrite(src, dst, 2, 8000));
    assert!(
        e.ends_with("3_jackson_7.wav: has 2 channels; only mono recordings are supported"),
        "{e}"
    );
    let e = load_with_bad_file(|src, dst| rewrite(src, dst, 1, 16000));
    assert!(
        e.contains("sample rate is 16000 Hz, expected 8000 Hz"),
        "{e}"
    );
    let e = load_with_bad_file(|src, dst| {
        let bytes = std::fs::read(src).unwrap();
        std::fs::write(dst, &bytes[..bytes.len() / 2]).unwrap();
    });
    assert!(e.contains("truncated"), "{e}");
    let e = load_with_bad_file(|_, dst| std::fs::write(dst, b"<html>not audio</html>").unwrap());
    assert!(e.contains("not a readable WAV file"), "{e}");
}

#[test]
fn bad_options_are_errors_before_reading() {
    let e = load_fsdd(&fixtures(), &opts(&["n_mels=0"]), None).unwrap_err();
    assert!(
        e.to_string()
            .contains("`n_mels` = 0 is out of range; valid range is [1, 256]"),
        "{e}"
    );
    let e = load_fsdd(&fixtures(), &opts(&["hopp=80"]), None).unwrap_err();
    assert!(e.to_string().contains("unknown option `hopp`"), "{e}");
    let e = load_fsdd(Path::new("/nonexistent/fsdd"), &opts(&[]), None).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/fsdd"), "{e}");
}

#[test]
fn audio_folder_classes_are_sorted_folder_names() {
    let dir = tempfile::tempdir().unwrap();
    for (class, files) in [
        ("yes", ["0_george_0", "0_george_5", "1_nicolas_4"]),
        ("no", ["3_jackson_1", "3_jackson_7", "9_theo_30"]),
    ] {
        std::fs::create_dir(dir.path().join(class)).unwrap();
        for f in files {
            std::fs::copy(
                fixtures().join(format!("recordings/{f}.wav")),
                dir.path().join(format!("{class}/{f}.wav")),
            )
            .unwrap();
        }
    }
    let s = load_audio_folder(
        dir.path(),
        &opts(&["test_fraction=0.34", "frames=50"]),
        None,
    )
    .unwrap();
    assert_eq!(s.class_names, ["no", "yes"]);
    // round(3 · 0.34) = 1 test item per class.
    assert_eq!((s.train.len(), s.test.len()), (4, 2));
    let mut test_labels = s.test.labels().to_vec();
    test_labels.sort();
    assert_eq!(test_labels, [0, 1]);
    assert_eq!(s.train.frames(), 50);
    // An empty class folder is an error naming it.
    std::fs::create_dir(dir.path().join("maybe")).unwrap();
    let e = load_audio_folder(dir.path(), &opts(&[]), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("maybe") && e.contains("no .wav files"), "{e}");
}

#[test]
fn audio_folder_with_train_and_test_trees() {
    let dir = tempfile::tempdir().unwrap();
    for (split, class, f) in [
        ("train", "a", "0_george_5"),
        ("train", "b", "3_jackson_7"),
        ("test", "b", "3_jackson_1"),
    ] {
        let d = dir.path().join(split).join(class);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(
            fixtures().join(format!("recordings/{f}.wav")),
            d.join(format!("{f}.wav")),
        )
        .unwrap();
    }
    let s = load_audio_folder(dir.path(), &opts(&[]), None).unwrap();
    assert_eq!(
        (s.class_names.len(), s.train.labels(), s.test.labels()),
        (2, &[0, 1][..], &[1][..])
    );
    std::fs::create_dir_all(dir.path().join("test/c")).unwrap();
    std::fs::copy(
        fixtures().join("recordings/9_theo_30.wav"),
        dir.path().join("test/c/x.wav"),
    )
    .unwrap();
    let e = load_audio_folder(dir.path(), &opts(&[]), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("class `c` has no folder in"), "{e}");
}

fn numpy_python() -> Option<String> {
    let py = std::env::var("DTPRUNE_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import numpy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Some(py);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "CI is set but `{py} -c \"import numpy\"` fails: install numpy or set DTPRUNE_PYTHON"
        );
    }
    eprintln!("SKIPPED numpy log-mel check: `{py}` lacks numpy (set DTPRUNE_PYTHON)");
    None
}

#[test]
fn log_mel_matches_numpy_on_a_real_recording() {
    let Some(py) = numpy_python() else { return };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/logmel_numpy.py");
    // Two settings: the defaults, and an n_fft larger than the window with a band limit.
    for args in [
        &[][..],
        &[
            "n_fft=512",
            "n_mels=64",
            "f_min=100",
            "f_max=3800",
            "hop=64",
            "frames=1000",
        ][..],
    ] {
        let o = SpeechOptions::resolve("fsdd", &opts(args), false).unwrap();
        let s = load_fsdd(&fixtures(), &opts(&[args, &["frames=1000"]].concat()), None).unwrap();
        let i = s
            .train
            .sources()
            .iter()
            .position(|p| p.ends_with("9_theo_30.wav"))
            .unwrap();
        let file = fixtures().join("recordings/9_theo_30.wav");
        let m = o.mel;
        let out = Command::new(&py)
            .arg(&script)
            .arg(&file)
            .args([m.window, m.hop, m.n_fft, m.n_mels].map(|v| v.to_string()))
            .args([m.f_min, m.f_max, m.log_floor].map(|v| v.to_string()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let want: Vec<Vec<f64>> = serde_json::from_slice(&out.stdout).unwrap();
        let len = s.train.lengths()[i] as usize;
        assert_eq!(len, want.len(), "frame count");
        let got = s.train.item(i);
        let mut worst = 0f64;
        for (t, row) in want.iter().enumerate() {
            for (k, w) in row.iter().enumerate() {
                let g = f64::from(got[t * m.n_mels + k]);
                // log domain: an absolute tolerance is a relative one on the energies.
                worst = worst.max((g - w).abs());
            }
        }
        assert!(worst < 5e-4, "max |dtprune − numpy| = {worst} for {args:?}");
        eprintln!("log-mel vs numpy, {args:?}: max abs difference {worst:.2e} over {len} frames");
    }
}

#[test]
fn full_fsdd_counts() {
    let Some(dir) = shared_fsdd() else { return };
    let cache = tempfile::tempdir().unwrap();
    let s = load_fsdd(&dir, &opts(&[]), Some(cache.path())).unwrap();
    assert_eq!((s.train.len(), s.test.len()), (2700, 300));
    for d in 0..10 {
        assert_eq!(s.train.labels().iter().filter(|&&l| l == d).count(), 270);
        assert_eq!(s.test.labels().iter().filter(|&&l| l == d).count(), 30);
    }
    assert!(s.train.features().iter().all(|v| v.is_finite()));
    // The second load reads the cache and gives the same data.
    assert_eq!(load_fsdd(&dir, &opts(&[]), Some(cache.path())).unwrap(), s);
}
