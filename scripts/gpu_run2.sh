#!/usr/bin/env bash
# Device run 2 of the GPU fast path (see scripts/gpu_fastpath.sh): GPU tests incl. the
# undo-across-a-save test, the bench after workspace pooling / parallel stroke lowering /
# box-copy reuse, and the GPU soak at 256³ (time-limited).
set -uo pipefail
STAGE=${STAGE:-.device}
OUT=${OUT:-bench-out}
mkdir -p "$OUT"
[ -f .device.tgz ] && [ ! -x "$STAGE/voxmark" ] && tar xzf .device.tgz
source "$(dirname "$0")/device_env.sh"
for t in edit_gpu edit_ops shell; do
    REQUIRE_GPU=1 timeout 120 "$STAGE/tests/$t" --test-threads 8 2>&1 \
        | grep -E "test result|panicked|FAILED" | sed "s/^/$t: /"
done 2>&1 | tee "$OUT/tests.txt"
timeout 150 "$V" bench --phantom 512x512x512 --backend gpu --ops wl,grow,paint,undo,cleanup --runs 7 \
    --work-dir /tmp --json "$OUT/new_512.json" > "$OUT/tables.txt" 2>> "$OUT/log.txt"
timeout 150 "$V" bench --phantom 512x512x1000 --backend gpu --ops grow,paint,undo,cleanup,frame --runs 5 \
    --work-dir /tmp --json "$OUT/new_1000.json" >> "$OUT/tables.txt" 2>> "$OUT/log.txt"
cat "$OUT/tables.txt"
SOAK_BACKEND=gpu SOAK_SECONDS=${SOAK_SECONDS:-240} SOAK_REPORT="$OUT/soak_gpu.json" \
    REQUIRE_GPU=1 timeout 330 "$STAGE/tests/soak" --ignored --nocapture 2>&1 | tail -25
