#!/usr/bin/env python3
"""Check TensorBoard event files written by dtprune-report with the real `tensorboard` package.

usage: tb_check.py TB_DIR HISTORY_JSONL [--histogram TAG:STEP:NUM:SUM ...]

Loads TB_DIR with EventAccumulator (which validates the TFRecord framing and CRCs while
reading) and checks that every scalar the history implies is there, at step = epoch, with the
value from history.jsonl (to float32 precision), and that the listed histograms exist.
Exit codes: 0 ok, 1 mismatch, 3 the tensorboard package is not importable.
"""
import json
import math
import sys

try:
    from tensorboard.backend.event_processing import event_accumulator as ea
except ImportError as exc:  # the Rust test turns this into a skip or a CI failure
    print(f"tensorboard not importable: {exc}", file=sys.stderr)
    sys.exit(3)


def expected_scalars(rec):
    """Mirror of dtprune_report::tb::epoch_scalars for the tags the issue requires."""
    out = {}
    for tag, key in [("train/loss", "train_loss"), ("val/loss", "val_loss"),
                     ("val/accuracy", "val_accuracy"), ("sparsity/global", "sparsity")]:
        if rec.get(key) is not None:
            out[tag] = rec[key]
    for name, t in (rec.get("tensors") or {}).items():
        for prefix, key in [("threshold", "threshold"), ("sparsity", "sparsity"),
                            ("abs_mean", "abs_mean")]:
            if t.get(key) is not None:
                out[f"{prefix}/{name}"] = t[key]
    return out


def close(a, b):
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    tb_dir, history = argv[1], argv[2]
    hists = []
    rest = argv[3:]
    while rest:
        if rest[0] != "--histogram" or len(rest) < 2:
            print(f"bad arguments: {rest}", file=sys.stderr)
            return 2
        tag, step, num, total = rest[1].rsplit(":", 3)
        hists.append((tag, int(step), float(num), float(total)))
        rest = rest[2:]

    acc = ea.EventAccumulator(tb_dir, size_guidance={ea.SCALARS: 0, ea.HISTOGRAMS: 0})
    acc.Reload()
    errors = []
    # EventAccumulator parses "brain.Event:2" into the number 2.0.
    if acc.file_version != 2.0:
        errors.append(f"file_version is {acc.file_version!r}, want 2.0 (brain.Event:2)")
    tags = set(acc.Tags()["scalars"])
    checked = 0
    with open(history) as f:
        records = [json.loads(line) for line in f if line.strip()]
    if not records:
        errors.append("history has no records")
    for rec in records:
        for tag, value in expected_scalars(rec).items():
            if tag not in tags:
                errors.append(f"missing scalar tag {tag}")
                tags.add(tag)  # report once
                continue
            points = [e for e in acc.Scalars(tag) if e.step == rec["epoch"]]
            if len(points) != 1:
                errors.append(f"{tag}: {len(points)} points at step {rec['epoch']}, want 1")
            elif not close(points[0].value, value):
                errors.append(f"{tag} step {rec['epoch']}: {points[0].value} != {value}")
            else:
                checked += 1
    htags = set(acc.Tags()["histograms"])
    for tag, step, num, total in hists:
        if tag not in htags:
            errors.append(f"missing histogram {tag}")
            continue
        events = [e for e in acc.Histograms(tag) if e.step == step]
        if len(events) != 1:
            errors.append(f"histogram {tag}: {len(events)} events at step {step}")
            continue
        h = events[0].histogram_value
        if h.num != num or not close(h.sum, total) or len(h.bucket) != len(h.bucket_limit):
            errors.append(f"histogram {tag}: num={h.num} sum={h.sum} buckets={len(h.bucket)}")
        elif sum(h.bucket) != num:
            errors.append(f"histogram {tag}: bucket counts sum to {sum(h.bucket)}, not {num}")
        else:
            checked += 1
    if errors:
        for e in errors:
            print("MISMATCH:", e)
        return 1
    print(f"OK: {checked} values checked in {len(tags)} scalar tags, {len(htags)} histogram tags")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
