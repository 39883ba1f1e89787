#!/usr/bin/env bash
# The soak (tests/soak.rs, ignored in CI's default run): a long randomized editing session
# with saves, simulated crashes and recovery, memory sampled; writes docs/soak/<backend>.json
# and prints the report.
#
#     bash scripts/soak.sh              # CPU session, 100,000 ops on 256³
#     SOAK_BACKEND=gpu bash scripts/soak.sh
#
# SOAK_OPS, SOAK_SIZE, SOAK_SEED, SOAK_SAVE_EVERY, SOAK_CRASH_EVERY, SOAK_UNDO_MIB,
# SOAK_OVERHEAD_MIB and SOAK_SECONDS override (tests/soak.rs). With a staged test binary
# (scripts/stage_gpu.sh) on a GPU machine: STAGE=.device bash scripts/soak.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export SOAK_BACKEND=${SOAK_BACKEND:-cpu}
mkdir -p docs/soak
export SOAK_REPORT=${SOAK_REPORT:-$PWD/docs/soak/$SOAK_BACKEND.json}
if [ -n "${STAGE:-}" ]; then
    REQUIRE_GPU=1 "$STAGE/tests/soak" --ignored --nocapture
else
    source scripts/env.sh
    REQUIRE_GPU=1 cargo test --release --test soak -- --ignored --nocapture
fi
