#!/usr/bin/env python3
"""voxmark and its peers side by side, on the same phantom file, in one table.

    python benches/peers.py [--size 512x512x512] [--runs 5] [--backend both] [--json OUT]

1. Runs `voxmark bench` (release build) on the built-in phantom, keeping the phantom file.
2. Runs the same cases with the Python tools people use today, on that file and with the
   seeds, ranges and strokes voxmark used (read from its JSON):
   - load:          nibabel, SimpleITK
   - window/level:  numpy (float arithmetic, and a uint8 lookup table)
   - MPR frame:     scipy.ndimage.map_coordinates (linear) on the same coronal plane, 512x512
   - grow:          SimpleITK ConnectedThreshold, scikit-image flood, connected-components-3d
                    (threshold + label + keep the seeds' components), scipy.ndimage.label
   - paint:         numpy, one sphere per stamp (bounding-box slices + distance test)
   - undo:          numpy, restore the stroke's bounding box from a saved copy
   - interpolate:   ITK MorphologicalContourInterpolator (itk-morphologicalcontourinterpolation)
                    on the same key slices (the liver-size ellipsoid every 5th axial slice);
                    one call on a tiny image first, so ITK's ~20 s wrapper loading is not timed
   - grow-cut:      ITK FastGrowCut (itk-growcut) with the same seeds on the same phantom
                    (whole volume; its update after a stroke is a second Update() with the
                    stroke added, which ITK also runs incrementally)
   (3D rendering has no peer here: VTK is not among the pinned packages.)
3. Prints one table: operation, size, tool, median / min / max ms, voxels/s.

Needs the .venv of scripts/setup.sh (SimpleITK, scikit-image, connected-components-3d,
nibabel, numpy, scipy). Timings: one warm-up, then --runs runs; nothing is asserted.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import cc3d
import nibabel as nib
import numpy as np
import SimpleITK as sitk
from scipy import ndimage
from skimage.segmentation import flood

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(fn, runs):
    fn()
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1e3)
    return ts


def row(op, size, tool, ts, voxels, note=""):
    med = statistics.median(ts)
    return {
        "op": op, "size": size, "backend": tool, "median_ms": med, "min_ms": min(ts),
        "max_ms": max(ts), "voxels_per_s": voxels / (med / 1e3) if med > 0 else 0.0,
        "note": note,
    }


def si(v):
    for s, d in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= d:
            return f"{v / d:.2f} {s}" if s == "G" else f"{v / d:.1f} {s}"
    return f"{v:.0f} "


def table(rows):
    head = ["operation", "size", "tool", "median ms", "min ms", "max ms", "voxels/s", "result"]
    cells = [[r["op"], r["size"], r["backend"], f"{r['median_ms']:.2f}", f"{r['min_ms']:.2f}",
              f"{r['max_ms']:.2f}", si(r["voxels_per_s"]), r.get("note", "")] for r in rows]
    w = [max(len(str(c[k])) for c in cells + [head]) for k in range(len(head))]
    def line(c):
        return "| " + " | ".join(
            (str(x).rjust(w[k]) if 3 <= k <= 6 else str(x).ljust(w[k])) for k, x in enumerate(c)
        ) + " |"
    out = [line(head), "|-" + "-|-".join("-" * n for n in w) + "-|"]
    out += [line(c) for c in cells]
    return "\n".join(out)


def grow_peers(data, img, p, runs, size, name):
    """data: (x, y, z) int16; img: the SimpleITK image of the same file."""
    seeds = [tuple(s) for s in p["seeds"]]
    lo, hi = p["lower"], p["upper"]
    n = data.size
    rows = []

    def sitk_grow():
        f = sitk.ConnectedThresholdImageFilter()
        f.SetLower(lo)
        f.SetUpper(hi)
        f.SetSeedList([tuple(int(v) for v in s) for s in seeds])
        f.SetReplaceValue(1)
        return f.Execute(img)

    def sk_grow():
        mask = (data >= lo) & (data <= hi)
        out = np.zeros(mask.shape, bool)
        for s in seeds:
            if mask[s] and not out[s]:
                out |= flood(mask, s, connectivity=1)
        return out

    def cc3d_grow():
        mask = ((data >= lo) & (data <= hi)).astype(np.uint8)
        lab = cc3d.connected_components(mask, connectivity=6)
        keep = [lab[s] for s in seeds if lab[s] != 0]
        return np.isin(lab, keep)

    def scipy_grow():
        mask = (data >= lo) & (data <= hi)
        lab, _ = ndimage.label(mask)
        keep = [lab[s] for s in seeds if lab[s] != 0]
        return np.isin(lab, keep)

    for tool, fn in (("SimpleITK", sitk_grow), ("scikit-image", sk_grow),
                     ("cc3d", cc3d_grow), ("scipy.ndimage", scipy_grow)):
        result = {}
        def run():
            result["m"] = fn()
        ts = timed(run, runs)
        m = result["m"]
        # Keep the SimpleITK image alive while its array view is read.
        count = np.count_nonzero(sitk.GetArrayViewFromImage(m) if isinstance(m, sitk.Image) else m)
        rows.append(row(name, size, tool, ts, n, f"{int(count)} voxels"))
    return rows


def interpolate_peer(r, size, runs):
    """ITK's morphological contour interpolation of the key slices voxmark's row describes."""
    import itk
    p = r["params"]
    dims = [int(x) for x in size.split("x")]
    c, s = np.array(p["ellipsoid"]["centre"]), np.array(p["ellipsoid"]["semi_axes"])
    ii, jj, kk = np.ogrid[:dims[0], :dims[1], :dims[2]]
    ell = ((ii - c[0]) / s[0]) ** 2 + ((jj - c[1]) / s[1]) ** 2 + ((kk - c[2]) / s[2]) ** 2 <= 1
    keep = np.zeros(dims[p["axis"]], bool)
    keep[p["first"]::p["every"]] = True
    shape = [1, 1, 1]
    shape[p["axis"]] = -1
    keys = (ell & keep.reshape(shape)).astype(np.uint8)
    img = itk.GetImageFromArray(np.ascontiguousarray(keys.transpose(2, 1, 0)))
    axis = p["axis"]
    itk.morphological_contour_interpolator(itk.GetImageFromArray(np.zeros((8, 8, 8), np.uint8)), axis=axis)
    out = [None]

    def run():
        out[0] = itk.morphological_contour_interpolator(img, axis=axis)
    ts = timed(run, max(1, min(runs, 3)))
    filled = int((itk.GetArrayFromImage(out[0]) != 0).sum() - keys.sum())
    return row(r["op"], size, "ITK MCI", ts, r["voxels"], f"{filled} voxels filled")


def grow_cut_peer(r, data, size):
    """ITK FastGrowCut with the seeds voxmark's row lists: first run, then the update."""
    import itk
    p = r["params"]
    seeds = np.zeros(data.shape, np.uint8)
    for x, y, z, l in p["seeds"]:
        seeds[x, y, z] = l
    later = seeds.copy()
    for x, y, z, l in p["later"]:
        later[x, y, z] = l
    img_t = itk.Image[itk.SS, 3]
    seg_t = itk.Image[itk.UC, 3]
    tiny = itk.FastGrowCut[img_t, seg_t].New()
    tiny.SetInput(itk.GetImageFromArray(np.zeros((4, 4, 4), np.int16)))
    tiny.SetSeedImage(itk.GetImageFromArray(np.ones((4, 4, 4), np.uint8)))
    tiny.Update()
    img = itk.GetImageFromArray(np.ascontiguousarray(data.transpose(2, 1, 0).astype(np.int16)))
    f = itk.FastGrowCut[img_t, seg_t].New()
    f.SetInput(img)
    f.SetSeedImage(itk.GetImageFromArray(np.ascontiguousarray(seeds.transpose(2, 1, 0))))
    t = time.perf_counter()
    f.Update()
    first = (time.perf_counter() - t) * 1e3
    f.SetSeedImage(itk.GetImageFromArray(np.ascontiguousarray(later.transpose(2, 1, 0))))
    t = time.perf_counter()
    f.Update()
    upd = (time.perf_counter() - t) * 1e3
    n = data.size
    return [row(r["op"], size, "ITK FastGrowCut", [first], n),
            row("grow-cut update after one stroke", size, "ITK FastGrowCut", [upd], n)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="512x512x512")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--backend", default="both", choices=["gpu", "cpu", "both"])
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "voxmark"))
    ap.add_argument("--json", help="write all rows here")
    a = ap.parse_args()
    if not os.path.exists(a.bin):
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as d:
        vj = os.path.join(d, "voxmark.json")
        cmd = [a.bin, "bench", "--phantom", a.size, "--runs", str(a.runs), "--backend",
               a.backend, "--work-dir", d, "--json", vj,
               "--ops", "load,wl,mpr,grow,paint,undo,interpolate,grow-cut"]
        print("+ " + " ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(vj) as f:
            vox = json.load(f)
        src = vox["input"]
        size = a.size
        rows = [dict(r, backend=f"voxmark {r['backend']}") for r in vox["rows"]]
        peer = []
        # load
        n = None
        ts = timed(lambda: np.asarray(nib.load(src).dataobj), min(a.runs, 3))
        data = np.asarray(nib.load(src).dataobj)
        n = data.size
        peer.append(row("load", size, "nibabel", ts, n))
        ts = timed(lambda: sitk.GetArrayFromImage(sitk.ReadImage(src)), min(a.runs, 3))
        peer.append(row("load", size, "SimpleITK", ts, n))
        img = sitk.ReadImage(src)
        # window/level (centre 40, width 400, DICOM linear VOI)
        c, w = 40.0, 400.0

        def wl_float(v):
            y = ((v.astype(np.float32) - (c - 0.5)) / (w - 1) + 0.5) * 255.0
            return np.clip(np.floor(y + 0.5), 0, 255).astype(np.uint8)
        vmin = int(data.min())
        lut = wl_float(np.arange(vmin, int(data.max()) + 1))
        peer.append(row("window/level volume", size, "numpy float", timed(lambda: wl_float(data), a.runs), n))
        peer.append(row("window/level volume", size, "numpy LUT", timed(lambda: lut[data - vmin], a.runs), n))
        k = data.shape[2] // 2
        peer.append(row("window/level one slice", size, "numpy float",
                        timed(lambda: wl_float(data[:, :, k]), a.runs), data.shape[0] * data.shape[1]))
        # MPR: coronal plane through the middle, 512x512, linear
        nx, ny, nz = data.shape
        xs = np.linspace(0, nx - 1, 512, dtype=np.float32)
        zs = np.linspace(0, nz - 1, 512, dtype=np.float32)
        gx, gz = np.meshgrid(xs, zs, indexing="xy")
        coords = np.stack([gx, np.full_like(gx, ny // 2), gz])
        peer.append(row("MPR frame 512x512", size, "scipy map_coordinates",
                        timed(lambda: ndimage.map_coordinates(data, coords, order=1), a.runs), 512 * 512))
        # grow, with voxmark's seeds and ranges
        done = set()
        for r in vox["rows"]:
            if r["op"].startswith("grow ") and r.get("params") and r["op"] not in done:
                done.add(r["op"])
                peer += grow_peers(data, img, r["params"], a.runs, size, r["op"])
        # paint and undo, with voxmark's strokes
        sp = np.array(nib.load(src).header.get_zooms()[:3], dtype=np.float64)
        labels = np.zeros(data.shape, np.uint8)
        for r in vox["rows"]:
            if not r["op"].startswith("paint") or not r.get("params") or r["backend"] != "cpu":
                continue
            st = r["params"]
            pts = np.array(st["points"])
            rad = st["radius_mm"]
            rv = np.ceil(rad / sp).astype(int)

            def paint():
                for p in pts:
                    c0 = np.round(p).astype(int)
                    lo = np.maximum(c0 - rv, 0)
                    hi = np.minimum(c0 + rv + 1, data.shape)
                    ii, jj, kk = np.ogrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
                    d2 = ((ii - p[0]) * sp[0]) ** 2 + ((jj - p[1]) * sp[1]) ** 2 + ((kk - p[2]) * sp[2]) ** 2
                    labels[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]][d2 <= rad * rad] = 1
            ts = timed(paint, a.runs)
            peer.append(row(r["op"], size, "numpy", ts, r["voxels"]))
            if rad >= 30:
                lo = np.maximum(np.floor(pts.min(0) - rv).astype(int), 0)
                hi = np.minimum(np.ceil(pts.max(0) + rv + 1).astype(int), data.shape)
                box = (slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(lo[2], hi[2]))
                saved = labels[box].copy()

                def undo():
                    labels[box] = saved
                peer.append(row("undo 20-stamp stroke r=30 mm", size, "numpy box copy",
                                timed(undo, a.runs), r["voxels"]))
        for r in vox["rows"]:
            if r["op"].startswith("interpolate liver") and r["backend"] == "cpu":
                peer.append(interpolate_peer(r, size, a.runs))
            if r["op"].startswith("grow-cut 3 labels") and r["backend"] == "cpu":
                peer.extend(grow_cut_peer(r, data, size))
        order = {}
        for r in rows + peer:
            order.setdefault(r["op"], len(order))
        allrows = sorted(rows + peer, key=lambda r: order[r["op"]])
        print(f"\nvoxmark vs peers, phantom {size}")
        print(f"cpu: {vox['cpu']}")
        if vox.get("gpu"):
            print(f"gpu: {vox['gpu']}")
        print()
        print(table(allrows))
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"voxmark": vox, "peers": peer}, f, indent=1)


if __name__ == "__main__":
    main()
    # ITK's and SimpleITK's SWIG wrappers loaded in one process abort in interpreter teardown
    # ("malloc_consolidate(): unaligned fastbin chunk"): everything is printed and written
    # by now, so leave without the teardown.
    sys.stdout.flush()
    os._exit(0)
