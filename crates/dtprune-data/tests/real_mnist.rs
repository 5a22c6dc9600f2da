//! Loads the real MNIST shipped in `data/mnist` (checksums verified on the way).

use dtprune_data::{default_mnist_dir, load_mnist, DatasetInfo};

#[test]
fn real_mnist_loads_and_verifies() {
    let dir = default_mnist_dir();
    let splits = load_mnist(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        splits.info(),
        DatasetInfo {
            channels: 1,
            rows: 28,
            cols: 28,
            num_classes: 10
        }
    );
    assert_eq!(
        (splits.train.len(), splits.val.len(), splits.test.len()),
        (55_000, 5_000, 10_000)
    );
    assert_eq!(splits.train.len() + splits.val.len(), 60_000);
    assert_eq!(splits.train.images().len(), 55_000 * 784);
    assert_eq!(splits.train.label(0), 5);
    assert_eq!(splits.test.label(0), 7);
}
