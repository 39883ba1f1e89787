#!/usr/bin/env bash
# The one command that runs voxmark's tests (what .ci/run calls):
# setup, format and lint gates, Rust tests (GPU tests on lavapipe must not skip),
# benches compiled, and the interop tests against nibabel / SimpleITK / dcm2niix / pydicom.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
export REQUIRE_GPU=1 REQUIRE_DATA=1

cargo fmt --check
cargo clippy --all-targets -- -D warnings
cargo test
cargo bench --no-run
VOXMARK_BIN="$PWD/target/debug/voxmark" python -m pytest tests/interop -q -p no:cacheprovider
