#!/usr/bin/env python3
"""TensorFlow reference for `dtprune bench train`: the same models, data split and recipe.

Trains LeNet-300-100 or LeNet-5 (the Caffe variant dtprune uses) on the built-in MNIST with
Keras, Adam lr 1e-3, batch 128, on the first 55,000 training images with the last 5,000 as
validation (evaluated at each epoch end, as dtprune does), and prints seconds per epoch and
images per second. The first epoch includes graph tracing; the figure to compare is the median
of the later ones.

    python3 -m venv venv && venv/bin/pip install tensorflow-cpu
    venv/bin/python bench/tensorflow_reference.py --model lenet5 --epochs 3

Run it in the same sitting as `dtprune bench train --model M`: the machine is shared and noisy,
so only figures measured together compare.
"""

import argparse
import gzip
import os
import statistics
import sys
import time

import numpy as np

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "mnist")


def read_idx(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def model(name, tf):
    layers = tf.keras.layers
    if name == "lenet300":
        return tf.keras.Sequential([
            layers.Input((28, 28, 1)),
            layers.Flatten(),
            layers.Dense(300, activation="relu"),
            layers.Dense(100, activation="relu"),
            layers.Dense(10),
        ])
    if name == "lenet5":
        # Caffe's LeNet: no activation after the convolutions.
        return tf.keras.Sequential([
            layers.Input((28, 28, 1)),
            layers.Conv2D(20, 5),
            layers.MaxPooling2D(2),
            layers.Conv2D(50, 5),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(500, activation="relu"),
            layers.Dense(10),
        ])
    sys.exit(f"unknown model `{name}`; valid: lenet300, lenet5")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lenet5")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    if args.epochs < 2:
        sys.exit("--epochs must be at least 2: the first epoch includes tracing")

    import tensorflow as tf

    tf.keras.utils.set_random_seed(42)
    images = read_idx("train-images-idx3-ubyte.gz").astype(np.float32)[..., None] / 255.0
    labels = read_idx("train-labels-idx1-ubyte.gz").astype(np.int64)
    train_x, train_y = images[:-5000], labels[:-5000]
    val_x, val_y = images[-5000:], labels[-5000:]

    net = model(args.model, tf)
    net.compile(
        optimizer=tf.keras.optimizers.Adam(1e-3),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )

    class EpochTimer(tf.keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

    timer = EpochTimer()
    before, wall = os.times(), time.perf_counter()
    net.fit(train_x, train_y, batch_size=args.batch_size, epochs=args.epochs, shuffle=True,
            validation_data=(val_x, val_y), callbacks=[timer], verbose=0)
    after, wall = os.times(), time.perf_counter() - wall
    cores = (after.user - before.user + after.system - before.system) / wall
    later = statistics.median(timer.seconds[1:])
    print(f"tensorflow {tf.__version__}, model {args.model}, batch {args.batch_size}, "
          f"{args.epochs} epochs, {os.cpu_count()} cpus")
    print("s/epoch each: " + ", ".join(f"{s:.3f}" for s in timer.seconds))
    print(f"s/epoch (median after the first): {later:.3f}   images/s: {len(train_x) / later:.0f}   "
          f"cores used: {cores:.2f}")
    _, val_acc = net.evaluate(val_x, val_y, verbose=0)
    print(f"val accuracy: {val_acc:.4f}")


if __name__ == "__main__":
    main()
