//! Data sets by name from the command line: `dtprune models`, image-folder trees of real grey
//! (MNIST, PNG) and colour (CIFAR-10, JPEG) images, their errors, and CIFAR-10 itself.

mod common;

use common::{dtprune, mnist_dir, read_json, repo_root, run_fail, run_ok, show};
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};

#[test]
fn models_lists_inputs_parameters_and_data_sets() {
    let out = run_ok(&["models"]);
    for needle in [
        "lenet300     input image",
        "lenet5       input image",
        "data sets: mnist, idx, cifar10, image-folder",
        "hidden1            default 300        range [1, 16384] (integer)",
        "conv2              default 50         range [1, 1024] (integer)",
        "image-folder   input image",
    ] {
        assert!(out.contains(needle), "`{needle}` missing from:\n{out}");
    }
}

fn cifar_archive() -> Option<PathBuf> {
    let p = repo_root().join("../shared/datasets/cifar10-jpeg/CIFAR-10-images-jpeg-d7d0561.tar.gz");
    if p.is_file() {
        Some(p)
    } else {
        println!("skipped: the CIFAR-10 archive is not at {} (shared/datasets)", p.display());
        None
    }
}

/// `per_class` JPEG files of each of `classes` from the archive's train split.
fn cifar_jpegs(archive: &Path, classes: &[&str], per_class: usize) -> Vec<(String, Vec<u8>)> {
    let mut tar = tar::Archive::new(GzDecoder::new(std::fs::File::open(archive).unwrap()));
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let Some(class) = classes.iter().find(|c| path.contains(&format!("/train/{c}/"))) else { continue };
        if out.iter().filter(|(c, _)| c == class).count() < per_class {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            out.push((class.to_string(), bytes));
        }
        if out.len() == classes.len() * per_class {
            break;
        }
    }
    out
}

/// A grey tree: `per_class` MNIST training images of digits 0, 1 and 2 in each split, as PNG.
fn grey_tree(root: &Path, per_class: usize) {
    let cfg = dtprune_train::ExperimentConfig { data_dir: Some(mnist_dir()), ..Default::default() };
    let mnist = dtprune_train::run::load_data(&cfg).unwrap().images().unwrap().clone();
    for (split, set) in [("train", &mnist.train), ("test", &mnist.test)] {
        for (digit, name) in [(0u8, "zero"), (1, "one"), (2, "two")] {
            let dir = root.join(split).join(name);
            std::fs::create_dir_all(&dir).unwrap();
            for (k, i) in (0..set.len()).filter(|&i| set.label(i) == digit).take(per_class).enumerate() {
                image::GrayImage::from_raw(28, 28, set.image(i).to_vec()).unwrap().save(dir.join(format!("{k:03}.png"))).unwrap();
            }
        }
    }
}

fn train_tree(model: &str, tree: &Path, out: &Path, cache: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["train", "--model", model, "--dataset", "image-folder", "--data-dir", tree.to_str().unwrap()];
    args.extend_from_slice(&["--epochs", "1", "--val-size", "30", "--quiet", "--no-compact", "--out", out.to_str().unwrap()]);
    args.extend_from_slice(extra);
    dtprune().env("DTPRUNE_CACHE_DIR", cache).args(&args).output().unwrap()
}

#[test]
fn grey_and_colour_image_folders_train_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let grey = tmp.path().join("grey");
    grey_tree(&grey, 60);
    let run = tmp.path().join("grey-run");
    let out = train_tree("lenet300", &grey, &run, &cache, &[]);
    assert!(out.status.success(), "{}", show(&[], &out));
    let s = read_json(&run.join("summary.json"));
    assert_eq!(s["dataset"], "image-folder");
    // Three easy classes from 150 training images: well above chance.
    assert!(s["test_accuracy"].as_f64().unwrap() > 0.6, "{s}");
    // The statistics were computed from the training split and recorded.
    let cfg = dtprune_train::ExperimentConfig::from_toml_file(&run.join("config.toml")).unwrap();
    let norm = cfg.normalize.expect("normalize recorded");
    assert_eq!(norm.mean.len(), 1);
    assert!((0.05..0.3).contains(&norm.mean[0]), "{norm:?}");
    // eval reads the tree again (from the cache) with the recorded statistics.
    let e = dtprune().env("DTPRUNE_CACHE_DIR", &cache).args(["eval", "--run", run.to_str().unwrap(), "--json"]).output().unwrap();
    assert!(e.status.success(), "{}", show(&[], &e));
    let e: serde_json::Value = serde_json::from_slice(&e.stdout).unwrap();
    assert_eq!(e["test_accuracy"], s["test_accuracy"]);
    assert_eq!(e["test_images"], 180);

    let Some(archive) = cifar_archive() else { return };
    let colour = tmp.path().join("colour");
    for (k, (class, bytes)) in cifar_jpegs(&archive, &["cat", "ship"], 40).iter().enumerate() {
        for split in ["train", "test"] {
            let dir = colour.join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("{k:03}.jpg")), bytes).unwrap();
        }
    }
    let run = tmp.path().join("colour-run");
    let out = train_tree("lenet5", &colour, &run, &cache, &["--augment-crop", "2", "--augment-flip"]);
    assert!(out.status.success(), "{}", show(&[], &out));
    let cfg = dtprune_train::ExperimentConfig::from_toml_file(&run.join("config.toml")).unwrap();
    assert_eq!(cfg.normalize.unwrap().mean.len(), 3);
    assert_eq!((cfg.augment.crop_padding, cfg.augment.flip), (2, true));
    let graph = read_json(&run.join("graph.json"));
    assert_eq!(graph["input"], serde_json::json!([3, 32, 32]));
}

#[test]
fn bad_image_folders_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let tree = tmp.path().join("tree");
    grey_tree(&tree, 3);
    let run = tmp.path().join("run");
    let fail = |what: &str| {
        let out = train_tree("lenet300", &tree, &run, &cache, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{what}: {}", show(&[], &out));
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
        // Nothing was written for a data set that does not load.
        assert!(!run.join("config.toml").exists(), "{what}");
        stderr
    };
    let bad = tree.join("train/one/001.png");
    std::fs::write(&bad, b"\x89PNG but then nothing").unwrap();
    let e = fail("corrupt image");
    assert!(e.contains(&bad.display().to_string()) && e.contains("not a readable image"), "{e}");

    image::RgbImage::new(28, 28).save(&bad).unwrap();
    let e = fail("colour among grey");
    assert!(e.contains(&bad.display().to_string()) && e.contains("3x28x28"), "{e}");

    std::fs::remove_dir_all(tree.join("train/one")).unwrap();
    std::fs::create_dir(tree.join("train/one")).unwrap();
    let e = fail("empty class");
    assert!(e.contains(&tree.join("train/one").display().to_string()) && e.contains("no .png/.jpg/.jpeg image"), "{e}");

    // Missing --data-dir and an unknown data set.
    let e = run_fail(&["train", "--dataset", "image-folder", "--epochs", "1"]);
    assert!(e.contains("needs a data directory"), "{e}");
    let e = run_fail(&["train", "--dataset", "imagenet", "--epochs", "1"]);
    assert!(e.contains("unknown dataset `imagenet`; valid: mnist, idx, cifar10, image-folder"), "{e}");
}

/// LeNet-5 on CIFAR-10 end to end (a subset, one epoch): input channels and size come from the
/// data set, the per-channel statistics from its training split. The decoded archive is cached
/// in the user's cache folder (shared with `dtprune-data`'s archive test).
#[test]
fn lenet5_trains_on_cifar10() {
    let Some(archive) = cifar_archive() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let d = archive.parent().unwrap().to_str().unwrap();
    let args = [
        "train", "--model", "lenet5", "--dataset", "cifar10", "--data-dir", d, "--epochs", "1", "--train-limit", "5000",
        "--val-size", "1000", "--test-limit", "1000", "--quiet", "--out", run.to_str().unwrap(),
    ];
    run_ok(&args);
    let s = read_json(&run.join("summary.json"));
    // Ten classes: chance is 0.10; one epoch on 5000 images learns something.
    assert!(s["test_accuracy"].as_f64().unwrap() > 0.2, "{s}");
    let graph = read_json(&run.join("graph.json"));
    assert_eq!(graph["input"], serde_json::json!([3, 32, 32]));
    // 32 -> 28 -> 14 -> 10 -> 5: fc1 takes 50 * 5 * 5 inputs.
    let fc1 = graph["nodes"].as_array().unwrap().iter().find(|n| n["op"] == "linear").unwrap();
    assert_eq!(fc1["in_features"], 1250, "{graph}");
    let cfg = dtprune_train::ExperimentConfig::from_toml_file(&run.join("config.toml")).unwrap();
    let mean = cfg.normalize.unwrap().mean;
    assert!(mean.len() == 3 && (mean[0] - 0.49).abs() < 0.01, "{mean:?}");
    assert!(run.join("compact.safetensors").is_file());
}
