#!/usr/bin/env python3
"""Times ONNX models in onnxruntime the way `dtprune bench` times its own networks.

Usage:
  onnxruntime_bench.py --model dense=run/model.onnx --model compact=run/compact.onnx \
      [--batches 1,128,1000] [--threads 2] [--warmup 3] [--repeats 15] [--min-sample-ms 2] [--seed 0]

`dtprune bench --run DIR` calls this (the script is built into the binary) with the run's two
ONNX exports and its own thread count, when `$DTPRUNE_PYTHON` (default python3) can import
onnxruntime. It can also be run by hand on any ONNX file whose inputs' first axis is the batch:
float32 inputs get random values, an int64 input random ids — below each table's rows where the
model's metadata `dtprune.id_rows` lists them (a tabular model's categorical columns), else in
[0, 100) (token ids: every text model dtprune writes has a larger vocabulary) — and a float
input named `mask` ones (every position a real token, the case `dtprune bench` times for its
own Transformer).

Method, matching dtprune's bench: one session per model (CPU provider, all graph optimisations,
`intra_op_num_threads` = --threads, `inter_op_num_threads` = 1, sequential execution); per batch
size, random inputs in [-0.5, 1.5), `warmup` untimed calls, then `repeats` timed samples, each
looping the call until it lasts at least --min-sample-ms; the median, min and max of the
per-call time are reported. Calls go through an IOBinding with the input and output bound
once, the lowest-overhead path of the Python API (no per-call input conversion or output
allocation), so the time is the runtime's and not numpy's.

Prints one JSON object: {"onnxruntime": version, "threads": T, "results": [{"model", "batch",
"median_s", "min_s", "max_s"}, ...]}.
"""
import argparse
import json
import sys
import time

import numpy as np
import onnxruntime as ort


def session(path, threads):
    o = ort.SessionOptions()
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 1
    o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])


def random_input(inp, n, rng, id_rows):
    shape = [n] + [int(d) for d in inp.shape[1:]]
    if inp.type == "tensor(int64)" and id_rows is not None:
        # One id per table, each below its table's rows (a tabular model's metadata).
        return rng.integers(0, np.array(id_rows, np.int64), shape, dtype=np.int64)
    if inp.type == "tensor(int64)":
        return rng.integers(0, 100, shape, dtype=np.int64)
    if inp.name == "mask":
        return np.ones(shape, np.float32)
    return (rng.random(shape, dtype=np.float32) * 2.0 - 0.5).astype(np.float32)


def time_batch(sess, n, a, rng):
    (out,) = sess.get_outputs()
    y = np.empty([n] + [int(d) for d in out.shape[1:]], np.float32)
    b = sess.io_binding()
    rows = sess.get_modelmeta().custom_metadata_map.get("dtprune.id_rows")
    id_rows = json.loads(rows) if rows else None
    inputs = [(inp.name, random_input(inp, n, rng, id_rows)) for inp in sess.get_inputs()]
    for name, x in inputs:
        b.bind_cpu_input(name, x)
    b.bind_output(out.name, "cpu", 0, np.float32, list(y.shape), y.ctypes.data)
    for _ in range(a.warmup):
        sess.run_with_iobinding(b)
    t = time.perf_counter()
    sess.run_with_iobinding(b)
    once = max(time.perf_counter() - t, 1e-7)
    reps = int(min(10_000, max(1, np.ceil(a.min_sample_ms * 1e-3 / once))))
    samples = []
    for _ in range(max(1, a.repeats)):
        t = time.perf_counter()
        for _ in range(reps):
            sess.run_with_iobinding(b)
        samples.append((time.perf_counter() - t) / reps)
    samples.sort()
    return {"median_s": samples[len(samples) // 2], "min_s": samples[0], "max_s": samples[-1]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", required=True, help="LABEL=PATH.onnx")
    ap.add_argument("--batches", default="1,128,1000")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--min-sample-ms", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    try:
        batches = [int(b) for b in a.batches.split(",")]
        models = [m.split("=", 1) for m in a.model]
        if any(len(m) != 2 for m in models) or any(b < 1 for b in batches) or a.threads < 1:
            raise ValueError("--model needs LABEL=PATH, batches and threads must be >= 1")
    except ValueError as e:
        print(f"onnxruntime_bench.py: {e}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(a.seed)
    results = []
    for label, path in models:
        sess = session(path, a.threads)
        for n in batches:
            results.append({"model": label, "batch": n, **time_batch(sess, n, a, rng)})
    print(json.dumps({"onnxruntime": ort.__version__, "threads": a.threads, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
