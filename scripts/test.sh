#!/usr/bin/env bash
# The one command that runs voxmark's tests (what .ci/run calls):
# setup, format and lint gates (with and without the desktop GUI), Rust tests (GPU tests on
# lavapipe must not skip), the headless build (no GUI crates, its own tests), and the interop
# tests against nibabel / SimpleITK / dcm2niix / pydicom, and a fuzz smoke of every file parser.
# The project tests run on SQLite and
# on a real PostgreSQL server started here (scripts/pg_server.sh). Benches are type-checked by clippy
# --all-targets (an optimised `cargo bench --no-run` would be a third full build of the crate).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
export REQUIRE_GPU=1 REQUIRE_DATA=1 REQUIRE_PG=1
# A throwaway PostgreSQL server for the project tests (stopped and removed on exit).
source scripts/pg_server.sh

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --workspace --all-targets --no-default-features -- -D warnings
# Every crate's own tests, then the cross-crate scenarios (the root package's tests/).
cargo test --workspace
# The headless build (servers, cluster nodes): no window-system or egui crate in its tree.
if cargo tree --no-default-features -e normal --prefix none | grep -Ei '^(eframe|egui|winit|x11|wayland|glutin|smithay|xkbcommon|accesskit)'; then
  echo "test.sh: the headless build depends on GUI crates (above)" >&2
  exit 1
fi
# The engine crates alone (a server, a browser build) reach no GUI, runtime, database or C
# decoder: tests/layers.rs checks their cargo tree (in the workspace test run above).
# The engine crates (and qa) build for the browser: wasm32, type-checked.
cargo check -p voxmark-volume -p voxmark-gpu -p voxmark-edit -p voxmark-render -p voxmark-qa \
  --target wasm32-unknown-unknown
cargo test --no-default-features -p voxmark-app
cargo test --no-default-features -p voxmark --lib --test cli --test layers
VOXMARK_BIN="$PWD/target/debug/voxmark" python -m pytest tests/interop -q -p no:cacheprovider
# Fuzz smoke: every parser of user files, fixed inputs (scripts/fuzz.sh; longer runs by hand).
bash scripts/fuzz.sh smoke
