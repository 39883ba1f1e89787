#!/usr/bin/env bash
# Runs voxmark's GPU checks and `voxmark bench` on a machine with a real GPU and no package
# registry: nothing is built there. Stage on a build machine first (scripts/stage_gpu.sh puts
# the release binary, stripped GPU test binaries and the Vulkan loader .debs in .device/ and
# .gl/), copy the repository with them, then run this from the repository root:
#
#     bash scripts/gpu_bench.sh            # tables in $OUT (default bench-out/), printed last
#
# SIZES (default "512x512x512 512x512x1024", CPU and GPU), BIG (default 512x512x2048, GPU
# only, no load) and RUNS (default 5) override.
set -uo pipefail
STAGE=${STAGE:-.device}
OUT=${OUT:-bench-out}
SIZES=${SIZES-"512x512x512 512x512x1024"}
BIG=${BIG-512x512x2048}
RUNS=${RUNS:-5}
mkdir -p "$OUT"
source "$(dirname "$0")/device_env.sh"

{ command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; 
  nproc; "$V" gpu; } 2>&1 | tee "$OUT/gpu.txt"

# GPU == CPU on this card (the same tests CI runs on lavapipe).
if ls "$STAGE"/tests/* >/dev/null 2>&1; then
    for t in "$STAGE"/tests/*; do
        echo "== $(basename "$t")"
        REQUIRE_GPU=1 "$t" --test-threads 4 2>&1 | grep -E "^test |test result|panicked" 
    done > "$OUT/tests.txt" 2>&1
    grep -E "test result|FAILED|panicked" "$OUT/tests.txt"
fi

: > "$OUT/tables.txt"
for size in $SIZES; do
    "$V" bench --phantom "$size" --backend both --runs "$RUNS" --work-dir /tmp \
        --json "$OUT/bench_$size.json" >> "$OUT/tables.txt" 2>> "$OUT/log.txt"
    echo "bench $size: exit $?"
    rm -f /tmp/phantom_*.nii.gz
done
if [ -n "$BIG" ]; then
    "$V" bench --phantom "$BIG" --backend gpu --ops wl,mpr,grow,paint,undo,3d --runs "$RUNS" \
        --json "$OUT/bench_$BIG.json" >> "$OUT/tables.txt" 2>> "$OUT/log.txt"
    echo "bench $BIG (GPU): exit $?"
fi
cat "$OUT/tables.txt"
