#!/usr/bin/env python3
"""Runs a dtprune compact model in plain numpy, without dtprune, and checks dtprune's logits.

Usage: numpy_forward.py RUN_DIR [--tol 1e-4]

Reads RUN_DIR/compact.json (graph, shapes, storage per layer), RUN_DIR/compact.safetensors
(dense weights, or CSR as NAME.weight.indptr/indices/data) and RUN_DIR/reference.safetensors
(`pixels` u8 [N, ...input], `logits` f32 [N, classes] as computed by dtprune). Exits 1 if any
logit differs by more than the tolerance or any argmax differs, 2 on unreadable input.
The forward pass runs in float64, so it is a reference for dtprune's float32 kernels.
"""
import json
import os
import sys

import numpy as np
from safetensors.numpy import load_file


def layer_weight(tensors, name, storage):
    """The weight in PyTorch layout, dense (CSR expanded without scipy)."""
    if storage["format"] == "dense":
        return tensors[name + ".weight"].astype(np.float64)
    if storage["format"] != "csr":
        raise ValueError(f"{name}: unknown storage {storage['format']}")
    indptr = tensors[name + ".weight.indptr"].astype(np.int64)
    indices = tensors[name + ".weight.indices"].astype(np.int64)
    data = tensors[name + ".weight.data"].astype(np.float64)
    rows, cols = storage["csr_shape"]
    w = np.zeros((rows, cols), np.float64)
    w[np.repeat(np.arange(rows), np.diff(indptr)), indices] = data
    return w.reshape(storage["weight_shape"])


def conv2d(x, w, b, stride, padding):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    out = np.zeros((n, o, oh, ow), np.float64)
    for dy in range(kh):
        for dx in range(kw):
            patch = xp[:, :, dy:dy + sh * (oh - 1) + 1:sh, dx:dx + sw * (ow - 1) + 1:sw]
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, dy, dx])
    return out + b[None, :, None, None]


def maxpool2d(x, kernel, stride):
    n, c, h, w = x.shape
    (kh, kw), (sh, sw) = kernel, stride
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.full((n, c, oh, ow), -np.inf)
    for dy in range(kh):
        for dx in range(kw):
            out = np.maximum(out, x[:, :, dy:dy + sh * (oh - 1) + 1:sh, dx:dx + sw * (ow - 1) + 1:sw])
    return out


def forward(doc, tensors, pixels):
    p = doc.get("preprocess")
    x = pixels.astype(np.float32)
    if p is not None:
        # The same float32 formula as dtprune, then float64 for the layers.
        x = (x * np.float32(p["scale"]) - np.float32(p["mean"])) / np.float32(p["std"])
    x = x.astype(np.float64).reshape([pixels.shape[0]] + list(doc["input"]))
    for layer in doc["layers"]:
        op = layer["op"]
        if op == "conv2d":
            w = layer_weight(tensors, layer["name"], layer["storage"])
            b = tensors[layer["name"] + ".bias"].astype(np.float64)
            x = conv2d(x, w, b, layer.get("stride", [1, 1]), layer.get("padding", [0, 0]))
        elif op == "linear":
            w = layer_weight(tensors, layer["name"], layer["storage"])
            b = tensors[layer["name"] + ".bias"].astype(np.float64)
            x = x @ w.T + b
        elif op == "maxpool2d":
            x = maxpool2d(x, layer["kernel"], layer.get("stride") or layer["kernel"])
        elif op == "relu":
            x = np.maximum(x, 0.0)
        elif op == "flatten":
            x = x.reshape(x.shape[0], -1)  # C-order: PyTorch's (C, H, W) feature order
        else:
            raise ValueError(f"unsupported op {op}")
    return x


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    run = argv[1]
    tol = float(argv[argv.index("--tol") + 1]) if "--tol" in argv else 1e-4
    try:
        with open(os.path.join(run, "compact.json")) as f:
            doc = json.load(f)
        tensors = load_file(os.path.join(run, "compact.safetensors"))
        ref = load_file(os.path.join(run, "reference.safetensors"))
    except Exception as e:  # noqa: BLE001 - report any unreadable input
        print(f"cannot read compact model in {run}: {e}", file=sys.stderr)
        return 2
    logits = forward(doc, tensors, ref["pixels"])
    want = ref["logits"].astype(np.float64)
    if logits.shape != want.shape:
        print(f"shape mismatch: numpy {logits.shape} vs dtprune {want.shape}", file=sys.stderr)
        return 1
    diff = float(np.max(np.abs(logits - want))) if want.size else 0.0
    agree = bool(np.all(logits.argmax(1) == want.argmax(1)))
    print(f"{doc['model']}: {want.shape[0]} samples, max |numpy - dtprune| = {diff:.3e}, argmax agree: {agree}")
    return 0 if diff <= tol and agree else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
