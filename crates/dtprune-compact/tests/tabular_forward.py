#!/usr/bin/env python3
"""Checks a compacted tabular run with tools outside dtprune.

Usage: tabular_forward.py RUN_DIR [--tol 1e-4]

1. numpy: reads compact.safetensors by the trainer's names (embeddings.T.weight [rows, dim],
   hidden.L.weight / out.weight in PyTorch [out, in] layout, their biases) and compact.json
   (the tables, the numeric columns, the hidden widths), runs the model in float64 on the
   reference rows (reference.safetensors: ids [N, tables], numeric [N, numeric]) — each table's
   row for its column's id, concatenated in column order, then the numeric columns, then
   linear + relu layers and the classifier — and compares with dtprune's `logits`.
2. onnxruntime (if model.onnx / compact.onnx exist): runs them on the same ids and numeric
   columns and compares with `dense_logits` / `logits`; with the `onnx` package installed each
   file first passes onnx.checker (full_check).

Exits 1 on any logit beyond tol * max(1, |logit|) or any argmax difference, 2 on unreadable input.
"""
import argparse
import json
import os
import sys

import numpy as np
from safetensors.numpy import load_file


def numpy_forward(w, spec, ids, numeric):
    f = {k: v.astype(np.float64) for k, v in w.items()}
    parts = [f[f"embeddings.{t}.weight"][ids[:, t]] for t in range(len(spec["tables"]))]
    x = np.concatenate(parts + [numeric.astype(np.float64)], axis=1)
    for l in range(len(spec["hidden"])):
        x = np.maximum(x @ f[f"hidden.{l}.weight"].T + f[f"hidden.{l}.bias"], 0.0)
    return x @ f["out.weight"].T + f["out.bias"]


def compare(label, got, want, tol):
    diff = np.abs(got - want)
    agree = bool((got.argmax(1) == want.argmax(1)).all())
    ok = agree and bool((diff <= tol * np.maximum(1.0, np.abs(want))).all())
    print(f"{label}: {len(want)} rows, max abs diff {diff.max():.3e}, argmax agree: {agree}")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    try:
        doc = json.load(open(os.path.join(a.run, "compact.json")))
        weights = load_file(os.path.join(a.run, "compact.safetensors"))
        ref = load_file(os.path.join(a.run, "reference.safetensors"))
    except Exception as e:  # noqa: BLE001 - any unreadable input is exit 2
        print(f"{a.run}: {e}", file=sys.stderr)
        return 2
    if doc.get("format") != "dtprune-compact-tabular":
        print(f"{a.run}/compact.json is not a tabular compact model", file=sys.stderr)
        return 2
    ok = compare(f"numpy {np.__version__}", numpy_forward(weights, doc["spec"], ref["ids"], ref["numeric"]), ref["logits"], a.tol)
    try:
        import onnxruntime as ort
    except ImportError:
        ort = None
    for onnx_file, want in [("model.onnx", "dense_logits"), ("compact.onnx", "logits")]:
        path = os.path.join(a.run, onnx_file)
        if ort is None or not os.path.isfile(path):
            print(f"{onnx_file}: not checked (no onnxruntime or no file)")
            continue
        try:
            import onnx  # optional: the official validator
            onnx.checker.check_model(onnx.load(path), full_check=True)
            print(f"onnx.checker {onnx.__version__} {onnx_file}: ok")
        except ImportError:
            pass
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        feeds = {"ids": ref["ids"], "numeric": ref["numeric"]}
        got = sess.run(None, {i.name: feeds[i.name] for i in sess.get_inputs()})[0]
        ok &= compare(f"onnxruntime {ort.__version__} {onnx_file}", got, ref[want], a.tol)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
