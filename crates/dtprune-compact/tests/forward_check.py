"""What the outside checks of the model families share (`recurrent_forward.py`,
`transformer_forward.py`, `tabular_forward.py`): reading a compacted run, comparing logits, and
running the run's two ONNX exports in onnxruntime (after onnx.checker, when the `onnx` package
is installed). Imported from the scripts' own folder."""
import json
import os
import sys

import numpy as np
from safetensors.numpy import load_file


def load_run(run, fmt):
    """compact.json, compact.safetensors and reference.safetensors of `run`; exits 2 when one is
    unreadable or compact.json is not of format `fmt`."""
    try:
        doc = json.load(open(os.path.join(run, "compact.json")))
        weights = load_file(os.path.join(run, "compact.safetensors"))
        ref = load_file(os.path.join(run, "reference.safetensors"))
    except Exception as e:  # noqa: BLE001 - any unreadable input is exit 2
        print(f"{run}: {e}", file=sys.stderr)
        sys.exit(2)
    if doc.get("format") != fmt:
        print(f"{run}/compact.json is not a {fmt} model", file=sys.stderr)
        sys.exit(2)
    return doc, weights, ref


def compare(label, got, want, tol, items):
    """True when every logit is within tol * max(1, |want|) and every argmax agrees."""
    diff = np.abs(got - want)
    agree = bool((got.argmax(1) == want.argmax(1)).all())
    ok = agree and bool((diff <= tol * np.maximum(1.0, np.abs(want))).all())
    print(f"{label}: {len(want)} {items}, max abs diff {diff.max():.3e}, argmax agree: {agree}")
    return ok


def check_onnx(run, ref, wants, feeds, tol, items):
    """Runs model.onnx and compact.onnx of `run` on `feeds(session)` and compares with
    ref[wants[0]] and ref[wants[1]]; a missing file or onnxruntime is a printed skip."""
    try:
        import onnxruntime as ort
    except ImportError:
        ort = None
    ok = True
    for onnx_file, want in zip(["model.onnx", "compact.onnx"], wants):
        path = os.path.join(run, onnx_file)
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
        got = sess.run(None, feeds(sess))[0]
        ok &= compare(f"onnxruntime {ort.__version__} {onnx_file}", got, ref[want], tol, items)
    return ok
