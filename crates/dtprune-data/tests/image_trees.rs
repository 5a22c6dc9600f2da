//! Image-folder trees built in the test from real MNIST (grey PNG) and CIFAR-10 (colour JPEG)
//! images, the CIFAR-10 archive itself, and the errors for bad trees.

use std::path::{Path, PathBuf};

use dtprune_data::cifar10::load_cifar10;
use dtprune_data::image_folder::load_image_folder;
use dtprune_data::{default_mnist_dir, load_mnist, Normalization};
use flate2::read::GzDecoder;
use std::io::Read;

fn cifar_archive() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/cifar10-jpeg/CIFAR-10-images-jpeg-d7d0561.tar.gz");
    if p.is_file() {
        Some(p)
    } else {
        println!("skipped: the CIFAR-10 archive is not at {} (shared/datasets)", p.display());
        None
    }
}

/// The first `per_class` JPEG files of `classes` in the archive's train split, as bytes.
fn cifar_jpegs(archive: &Path, classes: &[&str], per_class: usize) -> Vec<(String, Vec<u8>)> {
    let mut tar = tar::Archive::new(GzDecoder::new(std::fs::File::open(archive).unwrap()));
    let mut out = Vec::new();
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

fn write_grey_png(path: &Path, pixels: &[u8], side: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::GrayImage::from_raw(side, side, pixels.to_vec()).unwrap().save(path).unwrap();
}

/// MNIST digits 3, 1 and 7 (folder names "seven" < "three" < ... sort by name) as PNGs.
fn mnist_tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mnist = load_mnist(&default_mnist_dir()).unwrap();
    let names = [(1u8, "one"), (3, "three"), (7, "seven")];
    let mut written = Vec::new();
    for (split, set, per) in [("train", &mnist.train, 4), ("test", &mnist.test, 2)] {
        for &(digit, name) in &names {
            let hits: Vec<usize> = (0..set.len()).filter(|&i| set.label(i) == digit).take(per).collect();
            for (k, i) in hits.into_iter().enumerate() {
                write_grey_png(&root.join(split).join(name).join(format!("{k:04}.png")), set.image(i), 28);
                if split == "train" {
                    written.push((name.to_string(), set.image(i).to_vec()));
                }
            }
        }
    }
    written
}

#[test]
fn grey_tree_loads_with_sorted_classes_interleaved_and_cached() {
    let root = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let written = mnist_tree(root.path());
    let sets = load_image_folder(root.path(), cache.path()).unwrap();
    assert_eq!(sets.classes, vec!["one", "seven", "three"]);
    assert_eq!((sets.train.channels(), sets.train.rows(), sets.train.cols()), (1, 28, 28));
    assert_eq!((sets.train.len(), sets.test.len()), (12, 6));
    // Round-robin over the sorted classes; PNG is lossless, so the pixels are MNIST's own.
    assert_eq!(&sets.train.labels()[..6], &[0, 1, 2, 0, 1, 2]);
    let first_seven = &written.iter().find(|(c, _)| c == "seven").unwrap().1;
    assert_eq!(sets.train.image(1), &first_seven[..]);

    // Second load: from the one cache file, same content.
    let files = || std::fs::read_dir(cache.path()).unwrap().count();
    assert_eq!(files(), 1);
    assert_eq!(load_image_folder(root.path(), cache.path()).unwrap(), sets);
    assert_eq!(files(), 1);
    // A changed source file is a new key: decoded again, a second cache file.
    let one = root.path().join("train/one/0000.png");
    std::thread::sleep(std::time::Duration::from_millis(20));
    write_grey_png(&one, &[255; 784], 28);
    let again = load_image_folder(root.path(), cache.path()).unwrap();
    assert_eq!(files(), 2);
    assert_eq!(again.train.image(0), &[255; 784][..]);
}

#[test]
fn colour_tree_loads() {
    let Some(archive) = cifar_archive() else { return };
    let root = tempfile::tempdir().unwrap();
    let jpegs = cifar_jpegs(&archive, &["cat", "dog"], 3);
    for (k, (class, bytes)) in jpegs.iter().enumerate() {
        for split in ["train", "test"] {
            let dir = root.path().join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("{k}.jpg")), bytes).unwrap();
        }
    }
    let cache = tempfile::tempdir().unwrap();
    let sets = load_image_folder(root.path(), cache.path()).unwrap();
    assert_eq!(sets.classes, vec!["cat", "dog"]);
    assert_eq!((sets.train.channels(), sets.train.rows(), sets.train.cols(), sets.train.len()), (3, 32, 32, 6));
    // Channel-major: the first plane of the first image is its red channel, as the image crate decodes it.
    let rgb = image::load_from_memory(&jpegs[0].1).unwrap().into_rgb8();
    let red: Vec<u8> = rgb.pixels().map(|p| p.0[0]).collect();
    assert_eq!(&sets.train.image(0)[..1024], &red[..]);
}

#[test]
fn bad_trees_name_the_file() {
    let cache = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    mnist_tree(root.path());

    // A file that is not an image.
    let bad = root.path().join("test/three/0001.png");
    std::fs::write(&bad, b"this is not a png").unwrap();
    let e = load_image_folder(root.path(), cache.path()).unwrap_err().to_string();
    assert!(e.contains(&bad.display().to_string()) && e.contains("not a readable image"), "{e}");

    // A colour image among grey ones.
    image::RgbImage::new(28, 28).save(&bad).unwrap();
    let e = load_image_folder(root.path(), cache.path()).unwrap_err().to_string();
    assert!(e.contains(&bad.display().to_string()) && e.contains("is 3x28x28") && e.contains("1x28x28"), "{e}");

    // A different size.
    write_grey_png(&bad, &[0; 16 * 16], 16);
    let e = load_image_folder(root.path(), cache.path()).unwrap_err().to_string();
    assert!(e.contains(&bad.display().to_string()) && e.contains("1x16x16"), "{e}");

    // An empty class folder.
    std::fs::remove_dir_all(root.path().join("test/three")).unwrap();
    std::fs::create_dir_all(root.path().join("test/three")).unwrap();
    let e = load_image_folder(root.path(), cache.path()).unwrap_err().to_string();
    assert!(e.contains("test/three") && e.contains("holds no .png/.jpg/.jpeg image"), "{e}");

    // Classes that differ between the splits.
    std::fs::remove_dir_all(root.path().join("test/three")).unwrap();
    let e = load_image_folder(root.path(), cache.path()).unwrap_err().to_string();
    assert!(e.contains("one, seven, three") && e.contains("[one, seven]"), "{e}");

    // No test split at all.
    std::fs::remove_dir_all(root.path().join("test")).unwrap();
    let e = load_image_folder(root.path(), cache.path()).unwrap_err().to_string();
    assert!(e.contains("test") && e.contains("cannot read"), "{e}");
    // Nothing was cached for any of the failures.
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0);
}

/// The whole archive, decoded (release builds only: 60,000 JPEGs) and then read from the cache.
/// The cache is the user's default one (`DTPRUNE_CACHE_DIR` or `~/.cache/dtprune/datasets`), so
/// the CLI's CIFAR-10 test finds it decoded.
#[test]
#[cfg_attr(debug_assertions, ignore = "decodes 60,000 JPEGs; run with --release")]
fn cifar10_archive_loads_and_matches_published_statistics() {
    let Some(archive) = cifar_archive() else { return };
    let cache = dtprune_data::cache::cache_dir();
    let t = std::time::Instant::now();
    let sets = load_cifar10(archive.parent().unwrap(), &cache).unwrap();
    println!("first load (decoded unless cached before): {:.2} s", t.elapsed().as_secs_f64());
    assert_eq!(sets.classes.len(), 10);
    assert_eq!((sets.train.len(), sets.test.len(), sets.train.channels(), sets.train.rows()), (50_000, 10_000, 3, 32));
    // shared/datasets/README.md: Pillow decodes the train set to means 0.4913, 0.4821, 0.4465.
    // The `image` crate's JPEG decoder (zune-jpeg) rounds and upsamples chroma differently:
    // measured here 0.4923, 0.4813, 0.4479, a quarter of a grey level at most.
    let n = Normalization::of(&sets.train);
    for (m, expected) in n.mean.iter().zip([0.4913, 0.4821, 0.4465]) {
        assert!((m - expected).abs() < 2e-3, "{:?}", n.mean);
    }
    // 5,000 train and 1,000 test images per class.
    assert!((0..10u8).all(|c| sets.train.labels().iter().filter(|&&l| l == c).count() == 5000));
    let t = std::time::Instant::now();
    let again = load_cifar10(&archive, &cache).unwrap();
    println!("cached load: {:.2} s", t.elapsed().as_secs_f64());
    assert_eq!(again, sets);
}
