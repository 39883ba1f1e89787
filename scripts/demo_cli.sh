#!/usr/bin/env bash
# The command-line tour on a fresh machine: install what is needed, build voxmark, and load real
# volumes exactly — a real MRI from mricron-data and the built-in CT phantom as NIfTI and as
# a DICOM series — printing their geometry and converting them to NIfTI.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
cargo build --release --quiet
VM=target/release/voxmark
OUT="${1:-demo-out}"
mkdir -p "$OUT"
$VM info /usr/share/mricron/templates/ch2better.nii.gz
$VM convert /usr/share/mricron/templates/ch2better.nii.gz "$OUT/ch2better.nii.gz"
$VM phantom --size 256,256,200 -o "$OUT/phantom.nii.gz"
$VM phantom --size 256,256,200 -o "$OUT/phantom-dicom/"
$VM info "$OUT/phantom-dicom"
$VM convert "$OUT/phantom-dicom" "$OUT/phantom-from-dicom.nii.gz"
$VM gpu || echo "(no GPU adapter: loading and conversion do not need one)"
echo "outputs in $OUT/"
