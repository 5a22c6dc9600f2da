"""Issue 14 (a): unstructured one-shot pruning of the real all-MiniLM-L6-v2 weights with
`dtprune prune-weights`, measured with sentence-transformers.

For each policy and level: prune model.safetensors, load the pruned model with
sentence-transformers (offline), embed the 3,000 sentiment sentences
(../shared/datasets/sentiment-labelled-sentences), and report
- the mean cosine similarity of pruned vs dense embeddings (per sentence, then averaged),
- a sentiment probe: logistic regression (scikit-learn) trained on the embeddings of a fixed
  2,000-sentence split and tested on the other 1,000, next to the dense model's probe,
- the sparsity actually reached over the pruned tensors (dtprune's report).

Policies: `oneshot` per tensor (-P scope=tensor, the prune-weights default; `encoder`: the same
on the encoder's 36 Linear weights only, embeddings and pooler left dense), `oneshot` with one
global threshold (-P scope=global), and `distribution` (tau = mean|w| + c*std|w| per tensor,
target_sparsity=0) with c bisected until the overall sparsity over the pruned tensors is the
level (the tensors then differ in sparsity: that is the policy).

usage: python bench/minilm_oneshot.py --dtprune target/release/dtprune \
           --weights DIR/model.safetensors [--work /tmp/minilm-bench] [--levels 0.3,0.5,0.7,0.9]
Needs: sentence-transformers, scikit-learn (a venv outside the repo; torch CPU is fine here).
"""
import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "datasets"
MODEL_CFG = SHARED / "models" / "all-MiniLM-L6-v2"


ENCODER = ("--include", "encoder.layer.*.weight", "--exclude", "*LayerNorm*")


def sentences():
    texts, labels = [], []
    for f in sorted((SHARED / "sentiment-labelled-sentences").glob("*_labelled.txt.gz")):
        for line in gzip.open(f, "rt", encoding="utf-8"):
            text, label = line.rstrip("\n").rsplit("\t", 1)
            texts.append(text.strip())
            labels.append(int(label))
    return texts, np.array(labels)


def model_dir(work: Path, name: str, weights: Path) -> Path:
    """A sentence-transformers folder: the shared config + tokenizer, these weights."""
    d = work / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    for f in MODEL_CFG.iterdir():
        if f.name in ("fetch-weights.sh", "README.md"):
            continue
        if f.is_dir():
            shutil.copytree(f, d / f.name)
        elif f.suffix == ".gz":
            with gzip.open(f, "rb") as src, open(d / f.stem, "wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            shutil.copy(f, d / f.name)
    (d / "2_Normalize").mkdir(exist_ok=True)
    os.symlink(weights.resolve(), d / "model.safetensors")
    return d


def embed(d: Path, texts):
    m = SentenceTransformer(str(d), device="cpu")
    return m.encode(texts, batch_size=64, convert_to_numpy=True, normalize_embeddings=True)


def probe(emb, labels, train_idx, test_idx):
    clf = LogisticRegression(max_iter=2000, C=1.0)
    clf.fit(emb[train_idx], labels[train_idx])
    return clf.score(emb[test_idx], labels[test_idx])


def prune(dtprune, weights, out, report, policy, params, select=()):
    cmd = [dtprune, "prune-weights", str(weights), "-o", str(out), "--policy", policy, "--report", str(report), "--quiet", *select]
    for k, v in params.items():
        cmd += ["-P", f"{k}={v}"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return json.load(open(report))


def calibrate_distribution(dtprune, weights, work, level):
    """c such that tau = mean|w| + c*std|w| per tensor prunes `level` of all selected weights."""
    lo, hi = -3.0, 10.0
    out, rep = work / "cal.safetensors", work / "cal.json"
    for _ in range(30):
        c = (lo + hi) / 2
        r = prune(dtprune, weights, out, rep, "distribution", {"c": round(c, 6), "target_sparsity": 0})
        if abs(r["sparsity_after"] - level) < 5e-4:
            break
        lo, hi = (c, hi) if r["sparsity_after"] < level else (lo, c)
    return round(c, 6)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtprune", required=True)
    ap.add_argument("--weights", required=True, type=Path)
    ap.add_argument("--work", default="/tmp/minilm-bench", type=Path)
    ap.add_argument("--levels", default="0.3,0.5,0.7,0.9")
    ap.add_argument("--variants", default="tensor,distribution,global", help="which of: tensor, encoder, distribution, global (in this order)")
    a = ap.parse_args()
    torch.set_num_threads(2)
    a.work.mkdir(parents=True, exist_ok=True)
    texts, labels = sentences()
    idx = np.arange(len(texts))
    train_idx, test_idx = train_test_split(idx, test_size=1000, random_state=0, stratify=labels)

    t = time.time()
    # The dense embeddings are cached in the work folder (keyed by the weights' size and mtime).
    st = a.weights.stat()
    cache = a.work / f"dense-{st.st_size}-{int(st.st_mtime)}.npy"
    if cache.exists():
        dense = np.load(cache)
    else:
        dense = embed(model_dir(a.work, "dense", a.weights), texts)
        np.save(cache, dense)
    dense_probe = probe(dense, labels, train_idx, test_idx)
    print(f"dense: probe accuracy {dense_probe * 100:.2f}% ({len(texts)} sentences, {time.time() - t:.0f} s)", flush=True)

    rows = []
    for level in [float(x) for x in a.levels.split(",")]:
        variants = []
        for v in a.variants.split(","):
            if v == "tensor":
                variants.append(("oneshot (per tensor)", "oneshot", {"sparsity": level, "scope": "tensor"}))
            elif v == "encoder":
                # the encoder's Linear weights only: embeddings, pooler and LayerNorms stay dense
                variants.append(("oneshot (per tensor), encoder only", "oneshot", {"sparsity": level, "scope": "tensor"}, ENCODER))
            elif v == "global":
                variants.append(("oneshot (global)", "oneshot", {"sparsity": level, "scope": "global"}))
            elif v == "distribution":
                c = calibrate_distribution(a.dtprune, a.weights, a.work, level)
                variants.append((f"distribution (c = {c:+.3f})", "distribution", {"c": c, "target_sparsity": 0}))
            else:
                raise SystemExit(f"unknown variant {v}")
        for label, policy, params, *select in variants:
            out = a.work / "pruned.safetensors"
            r = prune(a.dtprune, a.weights, out, a.work / "report.json", policy, params, *select)
            emb = embed(model_dir(a.work, "pruned", out), texts)
            cos = float(np.mean(np.sum(emb * dense, axis=1)))
            acc = probe(emb, labels, train_idx, test_idx)
            row = dict(level=level, policy=label, sparsity=r["sparsity_after"], cosine=cos, probe=acc, dense_probe=dense_probe)
            rows.append(row)
            print(f"{level:.0%} {label:<28} sparsity {r['sparsity_after'] * 100:5.1f}%  mean cosine {cos:.4f}  probe {acc * 100:.2f}% (dense {dense_probe * 100:.2f}%)", flush=True)
    json.dump(rows, open(a.work / "results.json", "w"), indent=1)
    print(f"wrote {a.work / 'results.json'}")


if __name__ == "__main__":
    sys.exit(main())
