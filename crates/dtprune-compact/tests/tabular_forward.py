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
import sys

import numpy as np
from forward_check import check_onnx, compare, load_run


def numpy_forward(w, spec, ids, numeric):
    f = {k: v.astype(np.float64) for k, v in w.items()}
    parts = [f[f"embeddings.{t}.weight"][ids[:, t]] for t in range(len(spec["tables"]))]
    x = np.concatenate(parts + [numeric.astype(np.float64)], axis=1)
    for l in range(len(spec["hidden"])):
        x = np.maximum(x @ f[f"hidden.{l}.weight"].T + f[f"hidden.{l}.bias"], 0.0)
    return x @ f["out.weight"].T + f["out.bias"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    doc, weights, ref = load_run(a.run, "dtprune-compact-tabular")
    ok = compare(f"numpy {np.__version__}", numpy_forward(weights, doc["spec"], ref["ids"], ref["numeric"]), ref["logits"], a.tol, "rows")
    ok &= check_onnx(a.run, ref, ("dense_logits", "logits"), lambda sess: {i.name: {"ids": ref["ids"], "numeric": ref["numeric"]}[i.name] for i in sess.get_inputs()}, a.tol, "rows")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
