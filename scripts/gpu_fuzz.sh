#!/usr/bin/env bash
# Device run for #21 (nothing lost): the edit_ops GPU test binary three times with 8 threads
# (before its tests shared one GPU context it died of a segmentation fault on the H200 after
# reporting ok), then the image fuzz target (scripts/fuzz.sh's, stripped) on all but one of
# the machine's cores in libFuzzer's fork mode for FUZZ_SECS, from the staged corpus.
# Staged by hand: .device/{voxmark,tests/edit_ops,fuzz/image,fuzz/corpus} + .gl in .device.tgz.
set -uo pipefail
STAGE=${STAGE:-.device}
OUT=${OUT:-bench-out}
FUZZ_SECS=${FUZZ_SECS:-420}
mkdir -p "$OUT"
[ -f .device.tgz ] && [ ! -x "$STAGE/voxmark" ] && tar xzf .device.tgz
source "$(dirname "$0")/device_env.sh"
for r in 1 2 3; do
    REQUIRE_GPU=1 timeout 120 "$STAGE/tests/edit_ops" --test-threads 8 > "$OUT/edit_ops_$r.txt" 2>&1
    echo "edit_ops run $r: rc=$? $(grep -E '^test result' "$OUT/edit_ops_$r.txt")"
done | tee "$OUT/tests.txt"
J=$(( $(nproc) - 1 ))
rm -rf /tmp/corpus && mkdir -p /tmp/corpus && cp -r "$STAGE/fuzz/corpus/." /tmp/corpus/
echo "fuzzing with $J workers for $FUZZ_SECS s on $(nproc) cores"
(cd /tmp && timeout $((FUZZ_SECS + 60)) "$root/$STAGE/fuzz/image" -fork="$J" -ignore_crashes=1 \
    -ignore_ooms=1 -ignore_timeouts=1 -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=20 \
    -max_total_time="$FUZZ_SECS" -artifact_prefix="$OUT/image-" /tmp/corpus) > "$OUT/fuzz.log" 2>&1
echo "fuzz rc=$?"
grep -E "^#[0-9]+:" "$OUT/fuzz.log" | tail -3
grep -E "INFO: (exiting|fuzzed)|==ERROR|SUMMARY" "$OUT/fuzz.log" | sort | uniq -c | head
ls -la "$OUT"
