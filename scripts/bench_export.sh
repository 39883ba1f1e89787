#!/usr/bin/env bash
# Times the training-set export and the QA report on synthetic projects (release build):
#   export: N CT cases of 512x512x300 (the phantom; default N=100), two annotators per case
#           approved (majority and STAPLE), exported to nnU-Net, then re-exported (incremental);
#   report: `voxmark project bench` fills 1,000 cases x 5 annotators x 3 rounds, then
#           `project report` over it.
# Usage: scripts/bench_export.sh [N] [WORKDIR]   (needs ~0.2 GB of disk per case)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100}
W=${2:-$(mktemp -d)}
VX=${VOXMARK_BIN:-target/release/voxmark}
[ -x "$VX" ] || cargo build --release --quiet
mkdir -p "$W/data" "$W/masks"
echo "bench_export: $N cases in $W"
if [ ! -f "$W/data/ct000.nii.gz" ]; then
  "$VX" phantom -o "$W/data/ct000.nii.gz" --size 512,512,300 >/dev/null
fi
for i in $(seq 1 $((N - 1))); do
  f=$(printf "%s/data/ct%03d.nii.gz" "$W" "$i")
  [ -f "$f" ] || ln "$W/data/ct000.nii.gz" "$f"
done
python3 - "$W" <<'PY'
import sys, json
json.dump({"labels": [{"value": 1, "name": "body", "color": [0.9, 0.4, 0.3]},
                      {"value": 2, "name": "bone", "color": [0.9, 0.9, 0.8]}]},
          open(sys.argv[1] + "/schema.json", "w"))
PY
P="$W/proj"
rm -rf "$P" "$W/out"
"$VX" project init "$P" --schema "$W/schema.json" --name bench --annotators-per-case 2 >/dev/null
"$VX" project add-cases "$P" "$W/data" --data-root "$W/data" >/dev/null
# Two masks (thresholds differ), made once with voxmark grow; every case reuses them.
for who in alice bob; do
  t=$([ $who = alice ] && echo 200 || echo 260)
  [ -f "$W/masks/$who.nii.gz" ] || "$VX" grow "$W/data/ct000.nii.gz" --seed 256,256,150 --lower $t --upper 3000 -o "$W/masks/$who.nii.gz" >/dev/null
done
cases=$("$VX" project cases "$P" --json | python3 -c 'import json,sys; print(",".join(sorted({r["case"] for r in json.load(sys.stdin)})))')
for who in alice bob; do
  "$VX" project assign "$P" --annotator "$who" --cases "$cases" >/dev/null
  for c in ${cases//,/ }; do
    "$VX" project save "$P" "$c" --annotator "$who" --mask "$W/masks/$who.nii.gz" --data-root "$W/data" >/dev/null
    "$VX" project submit "$P" "$c" --annotator "$who" >/dev/null
    "$VX" project approve "$P" "$c" --annotator "$who" --by lead >/dev/null
  done
done
t() { local s=$(date +%s.%N); "$@" >/dev/null; python3 -c "print(f'{$(date +%s.%N) - $s:.1f}')"; }
echo "export nnunet, majority, $N cases:        $(t "$VX" project export "$P" --format nnunet -o "$W/out" --channel-name CT --data-root "$W/data") s"
echo "re-export (nothing changed):               $(t "$VX" project export "$P" --format nnunet -o "$W/out" --channel-name CT --data-root "$W/data") s"
echo "export monai, STAPLE, $N cases:           $(t "$VX" project export "$P" --format monai -o "$W/out-monai" --consensus staple --channel-name CT --data-root "$W/data") s"
echo "report over $N cases (thumbnails):        $(t "$VX" project report "$P" -o "$W/report.html" --data-root "$W/data") s"
R="$W/proj-report"
rm -rf "$R"
"$VX" project bench "$R" --cases 1000 --annotators 5 --rounds 3 --runs 1 >/dev/null
echo "report over 1000 cases x 5 annotators:    $(t "$VX" project report "$R" -o "$W/report-1000.html") s"
du -sh "$W/out" | sed 's/^/export size: /'
