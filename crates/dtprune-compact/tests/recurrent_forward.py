#!/usr/bin/env python3
"""Checks a compacted recurrent run (lstm/gru) with tools outside dtprune.

Usage: recurrent_forward.py RUN_DIR [--tol 1e-4]

1. numpy: reads compact.safetensors by PyTorch's nn.LSTM / nn.GRU names (one single-layer
   module per layer: rnn.L.weight_ih_l0 [G*H, in], weight_hh_l0, bias_ih_l0, bias_hh_l0; gates
   i,f,g,o or r,z,n) and fc.weight/fc.bias, runs PyTorch's equations on the reference sequences
   (reference.safetensors: frames [N,T,F], lengths [N]), takes each sequence's output at its
   last valid frame, and compares with dtprune's `logits`.
2. onnxruntime (if model.onnx / compact.onnx exist): runs them on the same frames (every frame
   valid: the graphs take no lengths) and compares with `dense_full_logits` / `full_logits`;
   with the `onnx` package installed each file first passes onnx.checker (full_check).

Exits 1 on any logit beyond tol * max(1, |logit|) or any argmax difference, 2 on unreadable input.
"""
import argparse
import sys

import numpy as np
from forward_check import check_onnx, compare, load_run


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def numpy_forward(weights, doc, frames, lengths):
    x = frames.astype(np.float64)
    for layer in doc["layers"]:
        name, h = layer["name"], layer["hidden_size"]
        w_ih, w_hh = weights[f"{name}.weight_ih_l0"].astype(np.float64), weights[f"{name}.weight_hh_l0"].astype(np.float64)
        b_ih, b_hh = weights[f"{name}.bias_ih_l0"].astype(np.float64), weights[f"{name}.bias_hh_l0"].astype(np.float64)
        n, t, _ = x.shape
        state, cell = np.zeros((n, h)), np.zeros((n, h))
        out = np.zeros((n, t, h))
        for step in range(t):
            gx = x[:, step] @ w_ih.T + b_ih
            gh = state @ w_hh.T + b_hh
            if doc["cell"] == "lstm":
                a = gx + gh
                i, f, g, o = sigmoid(a[:, :h]), sigmoid(a[:, h:2 * h]), np.tanh(a[:, 2 * h:3 * h]), sigmoid(a[:, 3 * h:])
                cell = f * cell + i * g
                state = o * np.tanh(cell)
            else:
                r = sigmoid(gx[:, :h] + gh[:, :h])
                z = sigmoid(gx[:, h:2 * h] + gh[:, h:2 * h])
                cand = np.tanh(gx[:, 2 * h:] + r * gh[:, 2 * h:])
                state = (1 - z) * cand + z * state
            out[:, step] = state
        x = out
    last = x[np.arange(len(lengths)), lengths.astype(np.int64) - 1]
    fc = doc["classifier"]["name"]
    return last @ weights[f"{fc}.weight"].astype(np.float64).T + weights[f"{fc}.bias"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    doc, weights, ref = load_run(a.run, "dtprune-compact-recurrent")
    ok = compare(f"numpy {np.__version__} {doc['cell']}", numpy_forward(weights, doc, ref["frames"], ref["lengths"]), ref["logits"], a.tol, "sequences")
    ok &= check_onnx(a.run, ref, ("dense_full_logits", "full_logits"), lambda sess: {sess.get_inputs()[0].name: ref["frames"]}, a.tol, "sequences")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
