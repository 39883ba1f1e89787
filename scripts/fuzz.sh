#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser of user files (fuzz/: cargo-fuzz + libFuzzer,
# AddressSanitizer). Seeds come from real files: pydicom's test files (every transfer
# syntax voxmark decodes), voxmark's own NIfTI/NRRD/SEG outputs of the phantom, ops and
# colour tables. The stable toolchain runs cargo-fuzz with RUSTC_BOOTSTRAP=1.
#
#   scripts/fuzz.sh smoke                              # what CI runs
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [RUNS_PER_TARGET]
#
# smoke: a fixed number of executions per target from a fixed seed (the same inputs on every
# run; about 20 s a target here, under 2 min in all once built). Otherwise each target runs
# SECONDS (default 20), or RUNS executions when given (e.g. 1000000). Prints one line per
# target: executions, coverage (libFuzzer's cov/ft), crashes. Crash inputs land in
# fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
SECS="${1:-20}"
RUNS="${2:-}"
TARGETS=(image label_map ops_journal color_table)
declare -A SMOKE_RUNS=([image]=3000 [label_map]=30000 [ops_journal]=200000 [color_table]=200000)

if ! command -v cargo-fuzz >/dev/null; then
  cargo install --locked cargo-fuzz@0.13.2
fi
cargo build --bin voxmark
VOX="$PWD/target/debug/voxmark"
# Only the fuzz crate's build needs nightly flags (its own target folder).
export RUSTC_BOOTSTRAP=1
(cd fuzz && cargo fuzz build -O)

# Seeds. The smoke starts from the seeds alone (what CI sees); longer runs keep growing
# fuzz/corpus.
S="$(mktemp -d)"
trap 'rm -rf "$S"' EXIT
if [ "$SECS" = smoke ]; then C="$S/corpus"; else C="$PWD/fuzz/corpus"; fi
mkdir -p "$C"/{image,label_map,ops_journal,color_table}
"$VOX" phantom --size 12,10,8 -o "$S/ph.nii.gz" >/dev/null 2>&1
"$VOX" phantom --size 12,10,6 -o "$S/ct/" >/dev/null 2>&1
"$VOX" convert "$S/ph.nii.gz" "$S/ph.nrrd" >/dev/null 2>&1
"$VOX" convert "$S/ph.nii.gz" "$S/ph.nii" >/dev/null 2>&1
printf '[{"op":"threshold","range":[200,3000],"label":1},{"op":"paint","shape":"sphere","points":[[6,5,4]],"radius_mm":20,"label":2}]' > "$S/ops.json"
"$VOX" apply "$S/ct" --ops "$S/ops.json" --backend cpu --journal "$S/j.jsonl" -o "$S/m.nii.gz" >/dev/null 2>&1
"$VOX" export-seg "$S/m.nii.gz" --image "$S/ct" --format dicom-seg -o "$S/m.seg.dcm" >/dev/null 2>&1
"$VOX" export-seg "$S/m.nii.gz" --image "$S/ct" --format dicom-seg --segmentation-type labelmap -o "$S/lm.seg.dcm" >/dev/null 2>&1
"$VOX" export-seg "$S/m.nii.gz" --image "$S/ct" --format seg-nrrd -o "$S/m.seg.nrrd" >/dev/null 2>&1
cp "$S/ph.nii.gz" "$S/ph.nii" "$S/ph.nrrd" "$C/image/"
cp "$(ls "$S"/ct/*.dcm | head -1)" "$C/image/ct_slice.dcm"
if [ -n "${PYDICOM_TEST_FILES:-}" ] && [ -d "$PYDICOM_TEST_FILES" ]; then
  for f in "$PYDICOM_TEST_FILES"/*.dcm; do
    # Small files only: libFuzzer mutates whole inputs.
    [ "$(stat -c %s "$f")" -le 200000 ] && cp "$f" "$C/image/"
  done
fi
printf 'ObjectType = Image\nNDims = 3\nDimSize = 2 2 2\nElementSpacing = 1 1 2\nOffset = 0 0 0\nTransformMatrix = 1 0 0 0 1 0 0 0 1\nElementType = MET_SHORT\nElementDataFile = LOCAL\n' > "$C/image/small.mha"
head -c 16 /dev/zero >> "$C/image/small.mha"
cp "$S/m.nii.gz" "$S/m.seg.dcm" "$S/lm.seg.dcm" "$S/m.seg.nrrd" "$C/label_map/"
cp "$S/ops.json" "$S/j.jsonl" "$C/ops_journal/"
printf '0 0 0 0 0 0 0 "Clear Label"\n1 255 0 0 1 1 1 "liver"\n' > "$C/color_table/itksnap.txt"
printf '# Color table\n1 liver 255 0 0 255\n2 spleen 0 255 0 255\n' > "$C/color_table/slicer.ctbl"
printf '0  Unknown  0 0 0 0\n2  Left-Cerebral-White-Matter  245 245 245 0\n' > "$C/color_table/fs.txt"
printf '1 Precentral_L 2001\n2 Precentral_R 2002\n' > "$C/color_table/aal.nii.txt"

mkdir -p fuzz/artifacts
printf '%-12s %12s %8s %8s %s\n' target executions cov ft crashes
status=0
for t in "${TARGETS[@]}"; do
  log="$S/$t.log"
  # -seed fixed: the CI smoke explores the same inputs on every run.
  args=(-seed=1 -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=20 -print_final_stats=1
        -artifact_prefix="$PWD/fuzz/artifacts/$t-")
  if [ "$SECS" = smoke ]; then args+=(-runs="${SMOKE_RUNS[$t]}")
  elif [ -n "$RUNS" ]; then args+=(-runs="$RUNS")
  else args+=(-max_total_time="$SECS"); fi
  if (cd fuzz && cargo fuzz run -O "$t" "$C/$t" -- "${args[@]}") >"$log" 2>&1; then
    crashes=0
  else
    crashes=1; status=1
    tail -40 "$log" >&2
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  printf '%-12s %12s %8s %8s %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$crashes"
done
exit $status
