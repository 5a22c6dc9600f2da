#!/usr/bin/env python3
"""Runs a dtprune ONNX export in onnxruntime and checks it against dtprune's own logits.

Usage: onnxruntime_forward.py MODEL.onnx REFERENCE.safetensors [--logits NAME] [--tol 1e-4]

REFERENCE.safetensors is what `dtprune compact --reference N` writes: `pixels` u8 [N, ...input]
and logits f32 [N, classes] (`logits`: the compact model's, `dense_logits`: the masked-dense
model's). The pixels are preprocessed with the formula the ONNX file itself records in its
metadata (`dtprune.preprocess`), so the check also proves the file describes its input.
If the `onnx` package is installed, the file first passes `onnx.checker.check_model(full_check)`.

Exits 1 if any logit differs by more than tol * max(1, |logit|) or any argmax differs, 2 on
unreadable input. Prints `max abs diff`, `argmax agree: True/False` and the runtime's version.
"""
import argparse
import json
import sys

import numpy as np
import onnxruntime as ort
from safetensors.numpy import load_file


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("reference")
    ap.add_argument("--logits", default="logits")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    try:
        ref = load_file(a.reference)
        pixels, want = ref["pixels"], ref[a.logits]
    except Exception as e:  # noqa: BLE001 - any unreadable input is exit 2
        print(f"{a.reference}: {e}", file=sys.stderr)
        return 2
    try:
        import onnx  # optional: the official validator
    except ImportError:
        onnx = None
    if onnx is not None:
        onnx.checker.check_model(onnx.load(a.model), full_check=True)
        print(f"onnx.checker {onnx.__version__}: ok")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(a.model, opts, providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    p = json.loads(meta["dtprune.preprocess"])
    # mean/std: one number, or one per input channel (axis 1 of [N, C, H, W]).
    def per_channel(v):
        v = np.asarray(v, np.float32)
        return v.reshape((1, -1) + (1,) * (pixels.ndim - 2)) if v.ndim == 1 else v
    x = ((pixels.astype(np.float32) * np.float32(p["scale"]) - per_channel(p["mean"])) / per_channel(p["std"])).astype(np.float32)
    (inp,) = sess.get_inputs()
    (out,) = sess.get_outputs()
    got = sess.run([out.name], {inp.name: x})[0]
    if got.shape != want.shape:
        print(f"logits shape {got.shape} vs dtprune's {want.shape}")
        return 1
    diff = np.abs(got - want)
    bound = a.tol * np.maximum(1.0, np.abs(want))
    agree = bool((got.argmax(1) == want.argmax(1)).all())
    print(f"onnxruntime {ort.__version__}: {meta.get('dtprune.model')} {meta.get('dtprune.variant')}, "
          f"{len(x)} images, input {inp.name} {inp.shape}, max abs diff {diff.max():.3e}, argmax agree: {agree}")
    return 0 if agree and (diff <= bound).all() else 1


if __name__ == "__main__":
    sys.exit(main())
