#!/usr/bin/env bash
# Installs everything voxmark's build, tests and examples need on a fresh Debian machine
# (idempotent; quick when already done):
#   apt: Mesa lavapipe (software Vulkan) + loader, Xvfb, cmake/g++ (CharLS for JPEG-LS),
#        mricron-data (real MRI + atlases), dcm2niix (independent DICOM reader),
#        postgresql (a throwaway server for the project tests, scripts/pg_server.sh),
#        libssl-dev + pkg-config (TLS to PostgreSQL), openssl (the test server's certificates)
#        chromium (headless: renders the QA report in a test)
#   .venv: pydicom (+ JPEG 2000 / JPEG-LS plugins), SimpleITK, nibabel, numpy, scipy,
#          scikit-image, connected-components-3d (peers in benches/), pytest,
#          itk-morphologicalcontourinterpolation, itk-growcut (fill between slices and
#          grow-from-seeds references), pynrrd (NRRD reference), highdicom and dcmqi (DICOM SEG references)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(mesa-vulkan-drivers libvulkan1 xvfb xauth libx11-6 libxcursor1 libxrandr2 libxi6 libxkbcommon-x11-0 cmake g++ mricron-data dcm2niix python3-venv postgresql libssl-dev pkg-config openssl chromium)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; install Rust from https://rustup.rs first" >&2
  exit 1
fi
# The engine crates are checked for the browser target (no native decoder, database or
# runtime may creep in below io).
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  echo "setup: adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown >/dev/null
fi

PY_PACKAGES=(pydicom SimpleITK nibabel numpy scipy scikit-image connected-components-3d pytest pylibjpeg pylibjpeg-openjpeg pyjpegls itk-morphologicalcontourinterpolation itk-growcut pynrrd highdicom dcmqi jsonschema openapi-spec-validator)
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import pydicom, SimpleITK, nibabel, numpy, scipy, skimage, cc3d, pytest, pylibjpeg, openjpeg, jpeg_ls, importlib.metadata as m; m.version('itk-morphologicalcontourinterpolation'); m.version('itk-growcut'); m.version('pynrrd'); m.version('highdicom'); m.version('dcmqi'); m.version('jsonschema'); m.version('openapi-spec-validator')" 2>/dev/null; then
  echo "setup: installing Python test packages into .venv"
  .venv/bin/pip install -q --disable-pip-version-check "${PY_PACKAGES[@]}"
fi
