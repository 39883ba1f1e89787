#!/usr/bin/env bash
# Device check for the GPU fast path (strokes, undo, clean-up ops, grow, window/level) on a
# real GPU, with nothing built there. Stage first (`bash scripts/stage_gpu.sh`, with
# OLD=path/to/an/earlier/voxmark for a before/after table on the same card), carry
# .device.tgz, then run this from the repository root:
#
#     bash scripts/gpu_fastpath.sh         # tables in $OUT (default bench-out/)
#
# 1. GPU == CPU tests on this card (edit_gpu, region_grow, gpu_harness, shell).
# 2. `voxmark bench` at 512³ on the GPU and CPU paths (paint, undo, clean-up, grow, window/
#    level), the same cases with the earlier binary when staged, and islands through
#    `apply` with both binaries.
# 3. 512×512×1000: the GPU path and the shell's stroke-to-pixel and undo frames.
# 4. Window/level workgroup shapes (VOXMARK_WL_WORKGROUP).
set -uo pipefail
STAGE=${STAGE:-.device}
OUT=${OUT:-bench-out}
RUNS=${RUNS:-5}
mkdir -p "$OUT"
[ -f .device.tgz ] && [ ! -x "$STAGE/voxmark" ] && tar xzf .device.tgz
source "$(dirname "$0")/device_env.sh"
OLD="$STAGE/voxmark-old"
{ command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  nproc; "$V" gpu; } 2>&1 | tee "$OUT/gpu.txt"

for t in edit_gpu region_grow gpu_harness shell; do
    [ -x "$STAGE/tests/$t" ] || continue
    REQUIRE_GPU=1 timeout 150 "$STAGE/tests/$t" --test-threads 8 2>&1 \
        | grep -E "test result|panicked|FAILED" | sed "s/^/$t: /"
done 2>&1 | tee "$OUT/tests.txt"

bench() { # binary, label, args...
    local bin=$1 name=$2; shift 2
    echo "== $name" >> "$OUT/tables.txt"
    timeout 240 "$bin" bench --runs "$RUNS" --work-dir /tmp "$@" >> "$OUT/tables.txt" 2>> "$OUT/log.txt"
    echo "$name: exit $?"
}
: > "$OUT/tables.txt"
bench "$V" "new 512^3 gpu+cpu" --phantom 512x512x512 --backend both --ops wl,grow,paint,undo,cleanup \
    --json "$OUT/new_512.json"
[ -x "$OLD" ] && bench "$OLD" "old 512^3 gpu" --phantom 512x512x512 --backend gpu --ops wl,grow,paint,undo \
    --json "$OUT/old_512.json"

"$V" phantom --size 512,512,512 -o /tmp/p512.nii.gz 2>> "$OUT/log.txt"
cat > /tmp/islands.json <<'JSON'
[{"op": "threshold", "range": [150, 4000], "label": 1},
 {"op": "islands", "label": 1, "keep_largest": false, "min_voxels": 1000},
 {"op": "undo"},
 {"op": "islands", "label": 1, "keep_largest": true},
 {"op": "undo"},
 {"op": "redo"}]
JSON
for bin in "$V" "$OLD"; do
    [ -x "$bin" ] || continue
    for b in gpu cpu; do
        echo "== islands 512^3, $b session, $(basename "$bin")"
        timeout 120 "$bin" apply /tmp/p512.nii.gz --ops /tmp/islands.json --backend "$b" \
            -o "/tmp/l_$b.nii.gz" 2>&1 | grep -E "^op|editing"
    done
    cmp /tmp/l_gpu.nii.gz /tmp/l_cpu.nii.gz && echo "islands: GPU and CPU masks identical"
done 2>&1 | tee "$OUT/islands.txt"

bench "$V" "new 512x512x1000 gpu" --phantom 512x512x1000 --backend gpu --ops grow,paint,undo,cleanup,frame \
    --json "$OUT/new_1000.json"
for wg in 8,8,4 32,4,2 64,4,1 16,16,1 4,8,8; do
    echo "== wl workgroup $wg" >> "$OUT/wl.txt"
    VOXMARK_WL_WORKGROUP=$wg timeout 60 "$V" bench --phantom 512x512x512 --backend gpu --ops wl \
        --runs "$RUNS" 2>/dev/null | grep "window/level volume" >> "$OUT/wl.txt"
done
cat "$OUT/tables.txt" "$OUT/wl.txt"
