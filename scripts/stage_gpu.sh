#!/usr/bin/env bash
# Stages what scripts/gpu_bench.sh and scripts/gpu_fastpath.sh need on a GPU machine without
# a package registry: .device/voxmark (release, stripped), .device/voxmark-old (OLD=path: an
# earlier binary for before/after tables), .device/tests/* (GPU test binaries, stripped) and
# .gl/*.deb (the Vulkan/GL loaders, amd64), and all of it as .device.tgz (what a device run
# carries). All git-ignored.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
mkdir -p .device/tests .gl
strip -o .device/voxmark target/release/voxmark
rm -f .device/voxmark-old
[ -n "${OLD:-}" ] && strip -o .device/voxmark-old "$OLD"
rm -f .device/tests/*
# Each GPU test binary, from the crate that holds it (tests/ are the cross-crate ones).
tests=()
for t in edit_gpu edit_ops region_grow gpu_harness render_gpu render_3d shell soak; do
    for f in tests/"$t".rs crates/*/tests/"$t".rs; do
        [ -f "$f" ] || continue
        case "$f" in
            crates/*) tests+=(-p "voxmark-$(echo "$f" | cut -d/ -f2)" --test "$t") ;;
            *) tests+=(-p voxmark --test "$t") ;;
        esac
    done
done
cargo test --release --no-run "${tests[@]}" --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["executable"])' \
    | while read -r exe; do strip -o ".device/tests/$(basename "$exe" | sed 's/-[0-9a-f]*$//')" "$exe"; done
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
    o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    mkdir -p /tmp/amd64/partial
    apt-get $o update >/dev/null
    (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
tar czf .device.tgz .device .gl
du -sh .device .gl .device.tgz
