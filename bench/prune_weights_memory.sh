#!/usr/bin/env bash
# Peak resident memory of `dtprune prune-weights` on a generated 1 GiB safetensors file, next to
# PyTorch's own pruning of the same file (with TORCH_PYTHON set).
#
# Usage: bench/prune_weights_memory.sh [WORK_DIR] [RUNS]
#   WORK_DIR (default /tmp/dtprune-pw-bench) receives the generated file, outside the repo.
#   Needs a Python with numpy (the generator): $DTPRUNE_PYTHON, else python3; optional
#   TORCH_PYTHON: a Python with torch and safetensors, for the comparison.
# Prints one line per run: tool, policy, peak RSS (MB), wall seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-/tmp/dtprune-pw-bench}"
runs="${2:-3}"
py="${DTPRUNE_PYTHON:-python3}"
mkdir -p "$work"
big="$work/big.safetensors"

cargo build --release --quiet -p dtprune-cli
bin="${CARGO_TARGET_DIR:-target}/release/dtprune"

if [ ! -f "$big" ]; then
  # 1 GiB: one 512 MiB F32 matrix (a percentile over 134M values), six 64 MiB matrices in
  # F16/BF16/F32, a 128 MiB F32 head, F32 biases and I64 position ids; N(0, 0.02) weights.
  # Written in row blocks, so the generator itself stays small.
  "$py" - "$big" <<'PY'
import json, struct, sys
import numpy as np
path = sys.argv[1]
spec = [("embed.weight", "F32", [131072, 1024])]
for i, dt in enumerate(["F16", "F16", "BF16", "BF16", "F32", "F32"]):
    spec.append((f"layers.{i}.weight", dt, [8192, 4096] if dt != "F32" else [4096, 4096]))
    spec.append((f"layers.{i}.bias", "F32", [spec[-1][2][0]]))
spec += [("lm_head.weight", "F32", [32768, 1024]), ("position_ids", "I64", [1, 4096])]
size = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8}
header, offset = {"__metadata__": {"format": "pt", "generator": "bench/prune_weights_memory.sh"}}, 0
for name, dt, shape in spec:
    n = int(np.prod(shape)) * size[dt]
    header[name] = {"dtype": dt, "shape": shape, "data_offsets": [offset, offset + n]}
    offset += n
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
rng = np.random.default_rng(0)
with open(path + ".part", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    for name, dt, shape in spec:
        if dt == "I64":
            f.write(np.arange(shape[1], dtype="<i8").tobytes()); continue
        rows, cols = shape[0], int(np.prod(shape[1:]))
        block = max(1, (4 << 20) // cols)
        for r in range(0, rows, block):
            x = (rng.standard_normal((min(block, rows - r), cols), dtype=np.float32) * 0.02)
            if dt == "F32": f.write(x.astype("<f4").tobytes())
            elif dt == "F16": f.write(x.astype("<f2").tobytes())
            else: f.write((x.view(np.uint32) >> 16).astype("<u2").tobytes())  # bf16 = top half of f32
import os; os.replace(path + ".part", path)
PY
fi
ls -l "$big"

peak() { # command... -> "peak_MB seconds"
  /usr/bin/time -v "$@" 2> "$work/time.txt" > /dev/null
  awk -F': ' '/Maximum resident set size/ {kb=$2} /Elapsed \(wall clock\)/ {t=$2} END {
    n = split(t, p, ":"); s = (n == 3) ? p[1]*3600 + p[2]*60 + p[3] : p[1]*60 + p[2]; printf "%.0f MB %.1f s\n", kb/1024, s }' "$work/time.txt"
}

for i in $(seq "$runs"); do
  echo "dtprune oneshot 50%     $(peak "$bin" prune-weights "$big" -o "$work/out.safetensors" --sparsity 0.5 --report "$work/report.json" --quiet)"
  echo "dtprune distribution    $(peak "$bin" prune-weights "$big" -o "$work/out.safetensors" --policy distribution --report "$work/report.json" --quiet)"
done
"$py" -c "import json,sys; r=json.load(open(sys.argv[1])); print('last report: %d tensors pruned, sparsity %.4f' % (r['selected_tensors'], r['sparsity_after']))" "$work/report.json"

# The usual Python route, for comparison: PyTorch's own pruning, torch.nn.utils.prune's
# L1Unstructured (per tensor, 50%), on the checkpoint loaded whole with safetensors.torch, saved
# with save_file. Needs torch: $TORCH_PYTHON (skipped when unset). numpy alone cannot: it has no
# bfloat16.
if [ -n "${TORCH_PYTHON:-}" ]; then
  cat > "$work/torch_prune.py" <<'PY'
import sys, torch
from safetensors.torch import load_file, save_file
from torch.nn.utils.prune import L1Unstructured
torch.set_num_threads(2)
t = load_file(sys.argv[1])
for k, v in t.items():
    if v.dim() >= 2 and v.is_floating_point():
        t[k] = v * L1Unstructured(amount=0.5).compute_mask(v, torch.ones_like(v))
save_file(t, sys.argv[2], metadata={"format": "pt"})
PY
  for i in $(seq "$runs"); do
    echo "torch L1Unstructured 50% $(peak "$TORCH_PYTHON" "$work/torch_prune.py" "$big" "$work/out-torch.safetensors")"
  done
fi
rm -f "$work/out.safetensors" "$work/out-torch.safetensors"
