#!/usr/bin/env python3
"""Load-time comparison: voxmark vs SimpleITK vs nibabel on the same phantom files.

    python benches/load_speed.py [--size 512,512,512] [--series-size 512,512,320] [--runs 3]

Writes the files with `voxmark phantom` (a .nii.gz and a DICOM series folder), then times a
full load to an in-memory array for each reader. voxmark is timed as a user runs it
(`voxmark info`: process start + load + min/max), so its numbers include extra work.
Needs: SimpleITK, nibabel, numpy (scripts/setup.sh installs them into .venv).
"""
import argparse
import os
import statistics
import subprocess
import tempfile
import time

import nibabel as nib
import numpy as np
import SimpleITK as sitk

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(fn, runs):
    fn()  # warm-up (page cache)
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), min(ts), max(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="512,512,512")
    ap.add_argument("--series-size", default="512,512,320")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "voxmark"))
    a = ap.parse_args()
    if not os.path.exists(a.bin):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as d:
        gz = os.path.join(d, "phantom.nii.gz")
        series = os.path.join(d, "series") + "/"
        subprocess.run([a.bin, "phantom", "--size", a.size, "-o", gz], check=True, capture_output=True)
        subprocess.run([a.bin, "phantom", "--size", a.series_size, "-o", series], check=True, capture_output=True)

        def vox(p):
            return lambda: subprocess.run([a.bin, "info", "--json", p], check=True, capture_output=True)

        def sitk_series():
            r = sitk.ImageSeriesReader()
            r.SetFileNames(r.GetGDCMSeriesFileNames(series))
            return sitk.GetArrayViewFromImage(r.Execute())

        rows = [
            ("voxmark", f"{a.size} .nii.gz", vox(gz)),
            ("SimpleITK", f"{a.size} .nii.gz", lambda: sitk.GetArrayViewFromImage(sitk.ReadImage(gz))),
            ("nibabel", f"{a.size} .nii.gz", lambda: np.asanyarray(nib.load(gz).dataobj)),
            ("voxmark", f"{a.series_size} DICOM", vox(series)),
            ("SimpleITK", f"{a.series_size} DICOM", sitk_series),
        ]
        print(f"{'reader':<10} {'input':<24} {'median s':>9} {'min s':>7} {'max s':>7}")
        for name, what, fn in rows:
            med, lo, hi = timed(fn, a.runs)
            print(f"{name:<10} {what:<24} {med:9.3f} {lo:7.3f} {hi:7.3f}")
        print(f"machine: {os.cpu_count()} CPUs; SimpleITK {sitk.Version.VersionString()}, nibabel {nib.__version__}")


if __name__ == "__main__":
    main()
