#!/bin/sh
# One benchmark sitting against onnxruntime (BENCHMARKS.md, issue 15): re-compact each run (the
# storage choice is timed on this machine now; reference logits of N test images; int8 model), then
# ROUNDS rounds of `dtprune bench` on every run, and optionally a second binary once (e.g. the build
# of main before a change) on the same files.
#
#   DTPRUNE=target/release/dtprune DTPRUNE_PYTHON=venv/bin/python \
#     bench/onnxruntime_sitting.sh OUT_DIR RUN_DIR... [-- OTHER_DTPRUNE]
#
# Writes OUT_DIR/<run>-compact.txt, <run>-new-<round>.txt, <run>-old.txt and log.txt (time and load
# average of every step: a sitting is only worth its load).
set -eu
out=$1; shift
mkdir -p "$out"
dtprune=${DTPRUNE:-target/release/dtprune}
rounds=${ROUNDS:-3}
reference=${REFERENCE:-10000}
runs=""; other=""
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then other=$2; break; fi
  runs="$runs $1"; shift
done
stamp() { echo "== $1 $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/log.txt"; }
for r in $runs; do
  stamp "$r compact"
  "$dtprune" compact --run "$r" --reference "$reference" --quantize int8 > "$out/$(basename "$r")-compact.txt" 2>&1
done
i=1
while [ $i -le "$rounds" ]; do
  for r in $runs; do
    stamp "$r round $i"
    "$dtprune" bench --run "$r" --batch 1,128,1000 > "$out/$(basename "$r")-new-$i.txt" 2>&1
  done
  i=$((i + 1))
done
if [ -n "$other" ]; then
  for r in $runs; do
    stamp "$r other binary"
    "$other" bench --run "$r" --batch 1,128,1000 > "$out/$(basename "$r")-old.txt" 2>&1
  done
fi
stamp done
