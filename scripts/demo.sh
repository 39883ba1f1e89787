#!/usr/bin/env bash
# The main job on a fresh machine: install what is needed, build voxmark and open the
# annotation window — on the built-in CT phantom, or on the image given as arguments, e.g.
#
#     bash scripts/demo.sh /usr/share/mricron/templates/ch2.nii.gz
#     bash scripts/demo.sh CT_FOLDER/ --labels mask.nii.gz
#
# Without a display (a server, CI) it runs the same window under Xvfb, writes a screenshot
# to demo-out/view.png and exits.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
cargo build --release --quiet
VM=target/release/voxmark
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    exec "$VM" view "$@"
fi
mkdir -p demo-out
echo "no display: rendering the window under Xvfb to demo-out/view.png"
xvfb-run -a -s "-screen 0 1600x1000x24" "$VM" view "$@" --screenshot demo-out/view.png --frames 5
echo "wrote demo-out/view.png"
