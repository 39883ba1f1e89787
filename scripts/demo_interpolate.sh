#!/usr/bin/env bash
# Fill between slices on the phantom's aorta, as a user does it: the intensity-limited brush
# (a 12 mm disc taking only 200..500 HU) clicked on the aorta on 8 axial key slices, then
# `interpolate` fills the 167 slices between. Prints the Dice of the key slices alone and of
# the filled tube against the aorta's voxels in the same slab (a connected threshold from a
# seed on the aorta), and writes a screenshot of the shell (the 3D pane shows the tube).
#   bash scripts/demo_interpolate.sh [OUT]   (after scripts/setup.sh; the screenshot needs Xvfb)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release --quiet
VM=target/release/voxmark
OUT="${1:-demo-out}"
mkdir -p "$OUT"
$VM phantom --size 256,256,200 -o "$OUT/phantom.nii.gz"
# The aorta's centre: normalised (0.05, 0.2) of the 256×256 slice → voxel (133.9, 153.1).
python3 - "$OUT" <<'PY'
import json, sys
keys = [15 + 25 * n for n in range(8)]
ops = [{"op": "paint", "shape": "disc", "plane": "axial", "slice": k,
        "points": [[133.9, 153.1, k]], "radius_mm": 12, "label": 1, "range": [200, 500]}
       for k in keys]
json.dump(ops, open(f"{sys.argv[1]}/aorta_keys.json", "w"))
json.dump([{"op": "interpolate", "label": 1, "axis": "axial"}],
          open(f"{sys.argv[1]}/aorta_fill.json", "w"))
json.dump([{"op": "grow", "seeds": [[134, 153, 100]], "lower": 200, "upper": 500, "label": 1,
            "roi": [110, 130, 15, 158, 176, 190]}], open(f"{sys.argv[1]}/aorta_truth.json", "w"))
PY
$VM apply "$OUT/phantom.nii.gz" --ops "$OUT/aorta_keys.json" --backend cpu -o "$OUT/aorta_keys.nii.gz"
time $VM apply "$OUT/phantom.nii.gz" --labels "$OUT/aorta_keys.nii.gz" --ops "$OUT/aorta_fill.json" \
  --backend cpu -o "$OUT/aorta.nii.gz"
$VM apply "$OUT/phantom.nii.gz" --ops "$OUT/aorta_truth.json" --backend cpu -o "$OUT/aorta_truth.nii.gz"
echo "key slices alone vs the aorta:"; $VM compare "$OUT/aorta_truth.nii.gz" "$OUT/aorta_keys.nii.gz" | sed -n 3,4p
echo "filled tube vs the aorta:"; $VM compare "$OUT/aorta_truth.nii.gz" "$OUT/aorta.nii.gz" | sed -n 3,4p
if command -v xvfb-run >/dev/null; then
  xvfb-run -a -s "-screen 0 1600x1000x24" $VM view "$OUT/phantom.nii.gz" --labels "$OUT/aorta.nii.gz" \
    --screenshot "$OUT/aorta.png" --frames 20 && echo "screenshot: $OUT/aorta.png"
fi
