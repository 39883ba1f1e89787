#!/usr/bin/env bash
# Times the training-set export and the QA report on synthetic projects (release build):
#   export: N CT cases of 512x512x300 (the phantom; default N=100), two annotators per case
#           approved (majority and STAPLE), exported to nnU-Net, then re-exported (incremental);
#   report: over the N CT cases, and over 1,000 small cases (64x64x48, two annotators each).
# Usage: scripts/bench_export.sh [N] [WORKDIR]   (needs ~0.2 GB of disk per case;
#        ONLY_REPORT_1000=1 runs the 1,000-case report part alone, SKIP_REPORT_1000=1 skips it)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100}
W=${2:-$(mktemp -d)}
VX=${VOXMARK_BIN:-target/release/voxmark}
[ -x "$VX" ] || cargo build --release --quiet
mkdir -p "$W/data" "$W/masks"
t() { local s=$(date +%s.%N); "$@" >/dev/null; python3 -c "print(f'{$(date +%s.%N) - $s:.1f}')"; }
# fill PROJECT DATA_ROOT MASK_PREFIX: alice and bob save MASK_PREFIX{alice,bob}.nii.gz on every
# case, submit, and lead approves.
fill() {
  local cases
  cases=$("$VX" project cases "$1" --json | python3 -c 'import json,sys; print(",".join(sorted({r["case"] for r in json.load(sys.stdin)})))')
  for who in alice bob; do
    "$VX" project assign "$1" --annotator "$who" --cases "$cases" >/dev/null
    for c in ${cases//,/ }; do
      "$VX" project save "$1" "$c" --annotator "$who" --mask "$3$who.nii.gz" --data-root "$2" >/dev/null
      "$VX" project submit "$1" "$c" --annotator "$who" >/dev/null
      "$VX" project approve "$1" "$c" --annotator "$who" --by lead >/dev/null
    done
  done
}
python3 - "$W" <<'PY'
import sys, json
json.dump({"labels": [{"value": 1, "name": "body", "color": [0.9, 0.4, 0.3]},
                      {"value": 2, "name": "bone", "color": [0.9, 0.9, 0.8]}]},
          open(sys.argv[1] + "/schema.json", "w"))
PY
if [ -z "${ONLY_REPORT_1000:-}" ]; then
echo "bench_export: $N cases in $W"
if [ ! -f "$W/data/ct000.nii.gz" ]; then
  "$VX" phantom -o "$W/data/ct000.nii.gz" --size 512,512,300 >/dev/null
fi
for i in $(seq 1 $((N - 1))); do
  f=$(printf "%s/data/ct%03d.nii.gz" "$W" "$i")
  [ -f "$f" ] || ln "$W/data/ct000.nii.gz" "$f"
done
P="$W/proj"
rm -rf "$P" "$W/out"
"$VX" project init "$P" --schema "$W/schema.json" --name bench --annotators-per-case 2 >/dev/null
"$VX" project add-cases "$P" "$W/data" --data-root "$W/data" >/dev/null
# Two masks (thresholds differ), made once with voxmark grow; every case reuses them.
for who in alice bob; do
  t=$([ $who = alice ] && echo -200 || echo 10)
  [ -f "$W/masks/$who.nii.gz" ] || "$VX" grow "$W/data/ct000.nii.gz" --seed 256,256,150 --lower=$t --upper 3000 -o "$W/masks/$who.nii.gz" >/dev/null
done
fill "$P" "$W/data" "$W/masks/"
CORES=$(nproc)
rm -rf "$W/out-j1"
echo "export nnunet, majority, $N cases, --jobs 1: $(t "$VX" project export "$P" --format nnunet -o "$W/out-j1" --channel-name CT --data-root "$W/data" --jobs 1) s"
echo "export nnunet, majority, $N cases, $CORES jobs: $(t "$VX" project export "$P" --format nnunet -o "$W/out" --channel-name CT --data-root "$W/data") s"
echo "re-export (nothing changed):               $(t "$VX" project export "$P" --format nnunet -o "$W/out" --channel-name CT --data-root "$W/data") s"
echo "export monai, STAPLE, $N cases, $CORES jobs: $(t "$VX" project export "$P" --format monai -o "$W/out-monai" --consensus staple --channel-name CT --data-root "$W/data") s"
echo "report over $N cases (thumbnails), --jobs 1: $(t "$VX" project report "$P" -o "$W/report.html" --data-root "$W/data" --jobs 1) s"
echo "report over $N cases (thumbnails), $CORES jobs: $(t "$VX" project report "$P" -o "$W/report.html" --data-root "$W/data") s"
fi
[ -n "${SKIP_REPORT_1000:-}" ] && exit 0
# Report at scale: 1,000 small cases (64x64x48 phantom), two annotators each, all approved.
R="$W/proj-report"
D="$W/data-small"
rm -rf "$R"
mkdir -p "$D"
[ -f "$D/s0000.nii.gz" ] || "$VX" phantom -o "$D/s0000.nii.gz" --size 64,64,48 >/dev/null
for i in $(seq 1 999); do
  f=$(printf "%s/s%04d.nii.gz" "$D" "$i")
  [ -f "$f" ] || ln "$D/s0000.nii.gz" "$f"
done
for who in alice bob; do
  t=$([ $who = alice ] && echo -200 || echo 10)
  "$VX" grow "$D/s0000.nii.gz" --seed 32,32,24 --lower=$t --upper 3000 -o "$W/masks/small-$who.nii.gz" >/dev/null 2>&1
done
"$VX" project init "$R" --schema "$W/schema.json" --name report --annotators-per-case 2 >/dev/null
"$VX" project add-cases "$R" "$D" --data-root "$D" >/dev/null
fill "$R" "$D" "$W/masks/small-"
echo "report over 1000 cases x 2 annotators (64x64x48), --jobs 1: $(t "$VX" project report "$R" -o "$W/report-1000.html" --data-root "$D" --jobs 1) s"
echo "report over 1000 cases x 2 annotators (64x64x48), $(nproc) jobs: $(t "$VX" project report "$R" -o "$W/report-1000.html" --data-root "$D") s"
if [ -d "$W/out" ]; then du -sh "$W/out" | sed 's/^/export size: /'; fi
