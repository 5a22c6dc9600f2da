"""Checks a checkpoint pruned by `dtprune prune-weights` with the Python `safetensors` package and
numpy, independently of dtprune's own reader.

usage: check_pruned.py IN.safetensors OUT.safetensors REPORT.json SPARSITY

- tensor names, order of data, dtypes, shapes and `__metadata__` are those of the input;
- every tensor the report does not list as selected is bit-identical to the input;
- every selected tensor: its threshold tau is the k-th smallest |w| (k = round(SPARSITY * n)),
  the values below tau are exactly the zeros of the output, and every other value is
  bit-identical to the input;
- the report's sparsity figures match what numpy counts.
Exit status 0 and a summary line when everything holds.
"""
import json
import sys

import numpy as np
import safetensors
from safetensors import safe_open


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    # deserialize() returns raw bytes for every dtype (numpy has no bfloat16)
    tensors = {name: t for name, t in safetensors.deserialize(data)}
    with safe_open(path, framework="numpy") as f:
        meta = f.metadata()
    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_len])
    order = sorted((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][0])
    return tensors, meta, order


def as_f32(t):
    raw, dtype = bytes(t["data"]), str(t["dtype"]).lower()
    if dtype in ("f32", "float32"):
        return np.frombuffer(raw, "<f4")
    if dtype in ("f16", "float16"):
        return np.frombuffer(raw, "<f2").astype(np.float32)
    if dtype in ("bf16", "bfloat16"):
        return (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
    raise SystemExit(f"unexpected float dtype {t['dtype']}")


def main():
    src, dst, report_path, sparsity = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    a, meta_a, order_a = load(src)
    b, meta_b, order_b = load(dst)
    report = json.load(open(report_path))
    assert order_a == order_b, "tensor order changed"
    assert meta_a == meta_b, f"metadata changed: {meta_a} -> {meta_b}"
    by_name = {t["name"]: t for t in report["tensors"]}
    assert set(by_name) == set(a), "report does not list every tensor"
    selected = copied = 0
    for name in order_a:
        ta, tb, r = a[name], b[name], by_name[name]
        assert (ta["dtype"], list(ta["shape"])) == (tb["dtype"], list(tb["shape"])), f"{name}: dtype/shape changed"
        if not r["selected"]:
            assert bytes(ta["data"]) == bytes(tb["data"]), f"{name}: not selected but changed"
            copied += 1
            continue
        selected += 1
        x, y = as_f32(ta), as_f32(tb)
        mag, tau = np.abs(x), np.float32(r["threshold"])
        k = int(round(sparsity * x.size))
        if k < x.size:
            kth = np.partition(mag, k)[k]
            assert tau == kth, f"{name}: tau {tau} is not the k-th smallest |w| {kth} (k = {k})"
        below = mag < tau
        assert np.all(y[below] == 0), f"{name}: a value below tau survived"
        assert np.array_equal(np.flatnonzero(y == 0), np.flatnonzero(below | (x == 0))), f"{name}: zeros are not exactly the values below tau"
        size = len(bytes(ta["data"])) // x.size
        ra = np.frombuffer(bytes(ta["data"]), f"V{size}")
        rb = np.frombuffer(bytes(tb["data"]), f"V{size}")
        assert np.array_equal(ra[~below], rb[~below]), f"{name}: a surviving value changed"
        assert abs(r["sparsity_after"] - np.mean(y == 0)) < 1e-12, f"{name}: report's sparsity_after is wrong"
        assert abs(r["sparsity_before"] - np.mean(x == 0)) < 1e-12, f"{name}: report's sparsity_before is wrong"
    assert selected > 0, "nothing was selected"
    print(f"ok: {selected} pruned tensors checked, {copied} copied bit for bit, metadata {meta_b}")


main()
