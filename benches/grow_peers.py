#!/usr/bin/env python3
"""Region growing, voxmark vs peers, side by side on the same phantom file.

    python benches/grow_peers.py [--size 512,512,512] [--runs 3]

Cases (the issue's): vessel = 1 seed on the helix, [200, 500] HU; body = 1 seed in soft
tissue, [-200, 200] HU; 6-connectivity. Peers: SimpleITK ConnectedThreshold, scikit-image
flood on the thresholded mask, connected-components-3d (threshold + label + select).
voxmark is timed by its own report of the grow alone ("grown in X ms", load excluded), with
`--backend cpu` and, when a real GPU is present, `--backend gpu`.
Needs: SimpleITK, scikit-image, connected-components-3d, nibabel, numpy.
"""
import argparse
import os
import re
import statistics
import subprocess
import tempfile
import time

import cc3d
import nibabel as nib
import numpy as np
import SimpleITK as sitk
from skimage.segmentation import flood

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def median_of(fn, runs):
    fn()
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="512,512,512")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "voxmark"))
    ap.add_argument("--gpu", action="store_true", help="also time voxmark --backend gpu")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "phantom.nii.gz")
        subprocess.run([a.bin, "phantom", "--size", a.size, "-o", src], check=True, capture_output=True)
        data = np.asarray(nib.load(src).dataobj)  # (x, y, z)
        img = sitk.ReadImage(src)
        zyx = sitk.GetArrayViewFromImage(img)
        nx, ny, nz = data.shape

        def seed_near(lo, hi, near):
            idx = np.argwhere((data >= lo) & (data <= hi))
            return tuple(int(x) for x in idx[np.argmin(((idx - np.array(near)) ** 2).sum(1))])

        # The helix passes through (u, v) = (0.36, 0) at every turn.
        cases = [
            ("vessel", seed_near(200, 500, (int(0.68 * nx), ny // 2, nz // 2)), 200, 500),
            ("body", seed_near(-200, 200, (nx // 2, int(0.62 * ny), nz // 2)), -200, 200),
        ]
        print(f"{'case':<8} {'tool':<22} {'voxels':>10} {'median ms':>10}")
        for name, seed, lo, hi in cases:
            rows = []
            for backend in ["cpu"] + (["gpu"] if a.gpu else []):
                ms = []
                count = None
                for _ in range(a.runs):
                    out = os.path.join(d, "g.nii.gz")
                    p = subprocess.run([a.bin, "grow", src, "--seed", ",".join(map(str, seed)), "--lower", str(lo),
                                        "--upper", str(hi), "--backend", backend, "-o", out],
                                       check=True, capture_output=True, text=True)
                    m = re.search(r"(\d+) voxels .* grown in ([0-9.]+) ms", p.stderr)
                    count, t = int(m.group(1)), float(m.group(2))
                    ms.append(t)
                rows.append((f"voxmark {backend}", count, statistics.median(ms)))

            sx = [tuple(seed)]
            n_sitk = int(sitk.GetArrayFromImage(sitk.ConnectedThreshold(img, seedList=sx, lower=lo, upper=hi)).sum())
            rows.append(("SimpleITK", n_sitk, median_of(lambda: sitk.ConnectedThreshold(img, seedList=sx, lower=lo, upper=hi), a.runs)))
            zseed = (seed[2], seed[1], seed[0])

            def sk():
                return flood((zyx >= lo) & (zyx <= hi), zseed, connectivity=1)

            rows.append(("scikit-image flood", int(sk().sum()), median_of(sk, a.runs)))

            def cc():
                labels = cc3d.connected_components((zyx >= lo) & (zyx <= hi), connectivity=6)
                return labels == labels[zseed]

            rows.append(("cc3d", int(cc().sum()), median_of(cc, a.runs)))
            for tool, n, ms in rows:
                print(f"{name:<8} {tool:<22} {n:>10} {ms:>10.1f}")
        print(f"size {a.size}, seeds {[c[1] for c in cases]}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
