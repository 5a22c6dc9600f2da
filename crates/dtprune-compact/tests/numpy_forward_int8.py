#!/usr/bin/env python3
"""Runs a dtprune int8 compact model in plain numpy, without dtprune, and checks dtprune's logits.

Usage: numpy_forward_int8.py RUN_DIR REFERENCE.safetensors [--tol 1e-4]

Reads RUN_DIR/compact.json (graph and its `quantization` record), the int8 weights file it names
(`compact-int8.safetensors`: int8 codes, per-channel scales, activation scales and zero points)
and REFERENCE (`pixels` u8 [N, ...input], `logits` f32 [N, classes] computed by dtprune's int8
model). The arithmetic follows the documented scheme in float32 where dtprune uses float32 and
exact integers for the products, so the logits should agree to rounding. Exits 1 on a mismatch,
2 on unreadable input.
"""
import json
import os
import sys

import numpy as np
from safetensors.numpy import load_file

F = np.float32


def codes(t, name, layer_rec, shape2):
    """The layer's int8 codes as an int64 [out, in*kh*kw] matrix."""
    rows, cols = shape2
    if layer_rec["storage"] == "dense":
        return t[name + ".weight"].astype(np.int64).reshape(rows, cols)
    indptr = t[name + ".weight.indptr"].astype(np.int64)
    delta = t[name + ".weight.delta"].astype(np.int64)
    data = t[name + ".weight.data"].astype(np.int64)
    steps = np.cumsum(delta + 1)
    base = np.concatenate([[0], steps])[indptr[:-1]]
    col = steps - np.repeat(base, np.diff(indptr)) - 1
    w = np.zeros((rows, cols), np.int64)
    w[np.repeat(np.arange(rows), np.diff(indptr)), col] = data  # filler entries write code 0
    return w


def act_params(x, t, name):
    if name + ".input.scale" in t:
        return F(t[name + ".input.scale"][0]), F(t[name + ".input.zero_point"][0])
    lo, hi = min(F(x.min()), F(0)), max(F(x.max()), F(0))
    span = F(hi - lo)
    if not span > 0:
        return F(1), F(0)
    scale = F(span / F(127))
    return scale, F(np.clip(np.rint(F(-lo) / scale), 0, 127))


def quantize(x, scale, zp):
    inv = F(F(1) / scale)
    return np.rint(np.clip(x.astype(F) * inv + zp, F(0), F(127))).astype(np.int64)


def conv_int(xq, w, stride, padding, zp):
    """Exact integer convolution of the codes minus the zero point (padding is the code of 0)."""
    n, c, h, wd = xq.shape
    o, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, padding
    xp = np.pad(xq - int(zp), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    out = np.zeros((n, o, oh, ow), np.int64)
    for dy in range(kh):
        for dx in range(kw):
            patch = xp[:, :, dy:dy + sh * (oh - 1) + 1:sh, dx:dx + sw * (ow - 1) + 1:sw]
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, dy, dx])
    return out


def dequant(acc_minus_z, wsum, zp, t, name, sx):
    """dtprune's float32 formula: s·acc + (b − s·(z·Σw)), with acc the raw code sum."""
    sw = t[name + ".weight.scale"].astype(F)
    b = t[name + ".bias"].astype(F)
    s = (sw * sx).astype(F)
    off = (b - s * (F(zp) * wsum.astype(F))).astype(F)
    acc = (acc_minus_z + int(zp) * wsum.reshape((1, -1) + (1,) * (acc_minus_z.ndim - 2))).astype(F)
    shape = (1, -1) + (1,) * (acc.ndim - 2)
    return (s.reshape(shape) * acc + off.reshape(shape)).astype(F)


def maxpool2d(x, kernel, stride):
    n, c, h, w = x.shape
    (kh, kw), (sh, sw) = kernel, stride
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.full((n, c, oh, ow), -np.inf, F)
    for dy in range(kh):
        for dx in range(kw):
            out = np.maximum(out, x[:, :, dy:dy + sh * (oh - 1) + 1:sh, dx:dx + sw * (ow - 1) + 1:sw])
    return out


def forward(doc, t, pixels):
    q = doc["quantization"]
    recs = {l["name"]: l for l in q["layers"]}
    p = doc.get("preprocess")
    x = pixels.astype(F)
    if p is not None:
        x = (x * F(p["scale"]) - F(p["mean"])) / F(p["std"])
    x = x.reshape([pixels.shape[0]] + list(doc["input"]))
    for layer in doc["layers"]:
        op = layer["op"]
        if op in ("conv2d", "linear"):
            name = layer["name"]
            rec = recs[name]
            if rec["storage"] == "f32":
                raise ValueError(f"{name}: f32 layers inside an int8 model are not handled by this script")
            ws = layer["storage"]["weight_shape"]
            rows, cols = ws[0], int(np.prod(ws[1:]))
            w = codes(t, name, rec, (rows, cols))
            wsum = w.sum(1)
            sx, zp = act_params(x, t, name)
            xq = quantize(x, sx, zp)
            if op == "linear":
                acc = (xq - int(zp)) @ w.T
            else:
                acc = conv_int(xq, w.reshape(ws), layer.get("stride", [1, 1]), layer.get("padding", [0, 0]), zp)
            x = dequant(acc, wsum, zp, t, name, sx)
        elif op == "maxpool2d":
            x = maxpool2d(x, layer["kernel"], layer.get("stride") or layer["kernel"])
        elif op == "relu":
            x = np.maximum(x, F(0))
        elif op == "flatten":
            x = x.reshape(x.shape[0], -1)
        else:
            raise ValueError(f"unsupported op {op}")
    return x


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    run, reference = argv[1], argv[2]
    tol = float(argv[argv.index("--tol") + 1]) if "--tol" in argv else 1e-4
    try:
        with open(os.path.join(run, "compact.json")) as f:
            doc = json.load(f)
        t = load_file(os.path.join(run, doc["quantization"]["file"]))
        ref = load_file(reference)
    except Exception as e:  # noqa: BLE001 - report any unreadable input
        print(f"cannot read int8 model in {run}: {e}", file=sys.stderr)
        return 2
    logits = forward(doc, t, ref["pixels"]).astype(np.float64)
    want = ref["logits"].astype(np.float64)
    if logits.shape != want.shape:
        print(f"shape mismatch: numpy {logits.shape} vs dtprune {want.shape}", file=sys.stderr)
        return 1
    diff = float(np.max(np.abs(logits - want))) if want.size else 0.0
    agree = bool(np.all(logits.argmax(1) == want.argmax(1)))
    print(f"{doc['model']} int8 ({doc['quantization']['activations']}): {want.shape[0]} samples, max |numpy - dtprune| = {diff:.3e}, argmax agree: {agree}")
    return 0 if diff <= tol and agree else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
