#!/usr/bin/env python3
"""Checks a compacted Transformer run with tools outside dtprune.

Usage: transformer_forward.py RUN_DIR [--tol 1e-4]

1. numpy: reads compact.safetensors by the trainer's names (token/position embedding tables,
   blocks.L.{attention_norm,ffn_norm}.{gamma,beta}, blocks.L.attention.{query,key,value},
   attention_output, ffn_in, ffn_out, norm, fc; PyTorch [out, in] layout) and compact.json
   (heads, head_dim, the norms' original width), runs the pre-norm encoder in float64 on the
   reference texts (reference.safetensors: ids [N,T], mask [N,T]) and compares with dtprune's
   `logits`. The norms divide by the original width and count each removed stream dimension
   as a zero; padding keys are masked; the pool is the mean over real tokens.
2. onnxruntime (if model.onnx / compact.onnx exist): runs them on the same ids and mask and
   compares with `dense_logits` / `logits`; with the `onnx` package installed each file first
   passes onnx.checker (full_check).

Exits 1 on any logit beyond tol * max(1, |logit|) or any argmax difference, 2 on unreadable input.
"""
import argparse
import math
import sys

import numpy as np
from forward_check import check_onnx, compare, load_run

erf = np.vectorize(math.erf)


def stream_norm(x, gamma, beta, width, eps):
    kept = x.shape[-1]
    mean = x.sum(-1, keepdims=True) / width
    c = x - mean
    var = ((c * c).sum(-1, keepdims=True) + (width - kept) * mean * mean) / width
    return c / np.sqrt(var + eps) * gamma + beta


def numpy_forward(w, spec, ids, mask):
    f = {k: v.astype(np.float64) for k, v in w.items()}
    lin = lambda x, name: x @ f[f"{name}.weight"].T + f[f"{name}.bias"]
    width, eps = spec["norm_width"], spec["norm_eps"]
    norm = lambda x, name: stream_norm(x, f[f"{name}.gamma"], f[f"{name}.beta"], width, eps)
    n, t = ids.shape
    x = f["token_embedding.weight"][ids] + f["position_embedding.weight"][None, :t]
    key_bias = (1.0 - mask.astype(np.float64))[:, None, None, :] * -1e9
    for b in spec["blocks"]:
        p, h, hd = b["name"], b["heads"], b["head_dim"]
        y = norm(x, f"{p}.attention_norm")
        split = lambda z: z.reshape(n, t, h, hd).transpose(0, 2, 1, 3)
        q, k, v = (split(lin(y, f"{p}.attention.{s}")) for s in ("query", "key", "value"))
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd) + key_bias
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(0, 2, 1, 3).reshape(n, t, h * hd)
        x = x + lin(ctx, f"{p}.attention_output")
        y = lin(norm(x, f"{p}.ffn_norm"), f"{p}.ffn_in")
        x = x + lin(y * 0.5 * (1.0 + erf(y / math.sqrt(2.0))), f"{p}.ffn_out")
    x = norm(x, "norm")
    m = mask.astype(np.float64)[:, :, None]
    pooled = (x * m).sum(1) / m.sum(1)
    return lin(pooled, "fc")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    doc, weights, ref = load_run(a.run, "dtprune-compact-transformer")
    ok = compare(f"numpy {np.__version__}", numpy_forward(weights, doc["spec"], ref["ids"], ref["mask"]), ref["logits"], a.tol, "texts")
    ok &= check_onnx(a.run, ref, ("dense_logits", "logits"), lambda sess: {"ids": ref["ids"], "mask": ref["mask"]}, a.tol, "texts")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
