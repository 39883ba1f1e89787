#!/usr/bin/env bash
# Device check for the desktop shell and the editing engine on a real GPU (staged with
# scripts/stage_gpu.sh; nothing is built here): the shell's interaction tests (offscreen,
# no display needed) and the other GPU tests, whole shell frames at 512³ and 512x512x1024
# (`voxmark bench --ops frame`), and islands on a 512³ label map (GPU and CPU sessions).
set -uo pipefail
STAGE=${STAGE:-.device}
OUT=${OUT:-bench-out}
RUNS=${RUNS:-10}
mkdir -p "$OUT"
source "$(dirname "$0")/device_env.sh"
"$V" gpu 2>&1 | head -3 | tee "$OUT/gpu.txt"
for t in "$STAGE"/tests/*; do
    echo "== $(basename "$t")"
    REQUIRE_GPU=1 timeout 120 "$t" --test-threads 4 2>&1 | grep -E "test result|panicked|FAILED"
done 2>&1 | tee "$OUT/tests.txt"
for size in 512x512x512 512x512x1024; do
    "$V" bench --phantom "$size" --ops frame --backend gpu --runs "$RUNS" --work-dir /tmp 2>>"$OUT/log.txt" \
        | tee -a "$OUT/frames.txt"
    rm -f /tmp/phantom_*.nii.gz /tmp/phantom_*.labels.nii.gz*
done
"$V" phantom --size 512,512,512 -o /tmp/p.nii.gz 2>>"$OUT/log.txt"
cat > /tmp/islands.json <<'JSON'
[{"op": "threshold", "range": [150, 4000], "label": 1},
 {"op": "islands", "label": 1, "keep_largest": false, "min_voxels": 1000},
 {"op": "undo"},
 {"op": "islands", "label": 1, "keep_largest": true}]
JSON
for b in gpu cpu; do
    echo "== islands 512^3, $b session"
    "$V" apply /tmp/p.nii.gz --ops /tmp/islands.json --backend "$b" -o "/tmp/l_$b.nii.gz" 2>&1 | grep -E "^op|editing"
done | tee "$OUT/islands.txt"
cmp /tmp/l_gpu.nii.gz /tmp/l_cpu.nii.gz && echo "islands: GPU and CPU masks identical" | tee -a "$OUT/islands.txt"
