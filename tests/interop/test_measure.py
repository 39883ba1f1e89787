"""`voxmark measure` against a brute-force numpy/scipy reference of the definitions in
crates/qa/src/measure.rs (voxel centres in world mm through the NIfTI affine; RECIST slices across
the axis nearest superior-inferior; long axis = largest in-slice distance, short axis =
largest extent perpendicular to it over pairs within half the smaller in-plane spacing along
it; Feret = largest 3D distance), on real atlas labels (mricron's AAL, and one label's
components) and on analytic ellipsoids (semi-axes known); surface area against
skimage's marching cubes of the same binary mask."""
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial import ConvexHull
from scipy.spatial.distance import cdist
from skimage import measure as skm

from conftest import need

MRICRON = Path("/usr/share/mricron/templates")


def world(aff, ijk):
    return ijk @ aff[:3, :3].T + aff[:3, 3]


def max_dist(p):
    """Largest pairwise distance (hull vertices when there are many points)."""
    if len(p) < 2:
        return 0.0
    if len(p) > 50:
        try:
            p = p[ConvexHull(p).vertices]
        except Exception:  # degenerate (flat) sets: all points
            pass
    return float(cdist(p, p).max())


def reference(aff, mask, img):
    ijk = np.argwhere(mask.transpose(2, 1, 0))[:, ::-1].astype(float)  # i fastest order
    w = world(aff, ijk)
    lin = aff[:3, :3]
    out = {
        "voxels": len(ijk),
        "volume_ml": len(ijk) * abs(np.linalg.det(lin)) / 1000,
        "centroid_ras": w.mean(0),
        "bbox_voxel": [ijk.min(0), ijk.max(0)],
        "max_diameter": max_dist(w),
    }
    vals = img[mask.astype(bool)].astype(float)
    out["intensity"] = dict(mean=vals.mean(), std=vals.std(), min=vals.min(), max=vals.max(),
                            median=np.median(vals))
    # RECIST: axis nearest S (nibabel's aff2axcodes).
    codes = nib.aff2axcodes(aff)
    a = [c in "SI" for c in codes].index(True)
    b, c = [x for x in range(3) if x != a]
    sp = np.sqrt((lin ** 2).sum(0))
    h = min(sp[b], sp[c]) / 2 + 1e-6
    n = np.cross(lin[:, b], lin[:, c])
    n /= np.linalg.norm(n)
    best = None
    for s in np.unique(ijk[:, a]):
        p = w[ijk[:, a] == s]
        if len(p) < 2:
            cand = (0.0, 0.0, int(s))
        else:
            d = cdist(p, p)
            long = d.max()
            i, j = np.argwhere(d >= long - 1e-9)[0]  # the first farthest pair (ties 1e-9 mm)
            u = (p[j] - p[i]) / long
            v = np.cross(u, n)
            v /= np.linalg.norm(v)
            tu, tv = p @ u, p @ v
            ok = np.abs(tu[:, None] - tu[None, :]) <= h
            short = float(np.where(ok, tv[:, None] - tv[None, :], 0).max())
            cand = (float(long), short, int(s))
        if best is None or cand[0] > best[0] + 1e-9 or (
                abs(cand[0] - best[0]) <= 1e-9 and cand[1] > best[1] + 1e-9):
            best = cand
    out["recist"] = dict(axis=a, slice=best[2], long=best[0], short=best[1])
    # Surface: marching cubes at 0.5 on the mask padded by one, vertices through the affine.
    pad = np.pad(mask.astype(np.float32), 1)
    verts, faces, _, _ = skm.marching_cubes(pad, 0.5)
    out["area"] = skm.mesh_surface_area(world(aff, verts - 1.0), faces)
    return out


def check(got, want, area_rel=0.02):
    assert got["voxels"] == want["voxels"]
    assert got["volume_ml"] == pytest.approx(want["volume_ml"], rel=1e-9)
    np.testing.assert_allclose(got["centroid_ras"], want["centroid_ras"], atol=1e-6)
    np.testing.assert_array_equal(got["bbox_voxel"], want["bbox_voxel"])
    for k, v in want["intensity"].items():
        assert got["intensity"][k] == pytest.approx(v, rel=1e-9, abs=1e-9), k
    assert got["max_diameter"]["length_mm"] == pytest.approx(want["max_diameter"], abs=1e-6)
    r, wr = got["recist"], want["recist"]
    assert r["axis"] == wr["axis"]
    assert r["long_axis"]["length_mm"] == pytest.approx(wr["long"], abs=1e-6)
    assert r["short_axis"]["length_mm"] == pytest.approx(wr["short"], abs=1e-6)
    assert r["slice"] == wr["slice"]
    assert got["surface_area_mm2"] == pytest.approx(want["area"], rel=area_rel)


def measure(run, image, labels, *extra):
    p = run("measure", image, "--labels", labels, "--json", *extra)
    return json.loads(p.stdout)["regions"]


def test_atlas_labels_and_components(run, tmp_path):
    atlas = need(MRICRON / "aal.nii.gz")
    img = nib.load(str(atlas))
    lab = np.asarray(img.dataobj).astype(np.int64)
    vals, counts = np.unique(lab[lab > 0], return_counts=True)
    # The largest, the smallest and three in between.
    order = vals[np.argsort(counts)]
    picks = [order[0], order[len(order) // 4], order[len(order) // 2], order[-2], order[-1]]
    got = {r["label"]: r for r in measure(run, atlas, atlas) if "component" not in r}
    assert sorted(got) == sorted(int(v) for v in vals)
    for v in picks:
        check(got[int(v)], reference(img.affine, lab == v, lab), area_rel=0.02)
    # Components of a label with several (6-connected, largest first), as scipy labels them.
    for v in vals:
        comp, n = ndimage.label(lab == v)
        if n >= 2:
            break
    regions = [r for r in measure(run, atlas, atlas, "--label", str(v), "--components")
               if "component" in r]
    sizes = np.bincount(comp.ravel())[1:]
    assert [r["voxels"] for r in regions] == sorted(sizes, reverse=True)
    biggest = np.argmax(sizes) + 1
    check(regions[0], reference(img.affine, comp == biggest, lab), area_rel=0.02)


@pytest.mark.parametrize("spacing,axes", [
    ((0.8, 0.9, 2.0), (30.0, 20.0, 15.0)),
    ((1.0, 1.0, 1.0), (12.0, 25.0, 8.0)),
])
def test_analytic_ellipsoid(run, tmp_path, spacing, axes):
    """An ellipsoid (semi-axes a, b, c along R, A, S) on an anisotropic grid: the reference
    definitions exactly, and the analytic sizes within the voxel tolerance of the docs
    (diameters between voxel centres: within one spacing along the axis (two for the
    short axis, measured between centres on both sides); volume within 3 %)."""
    a, b, c = axes
    dims = [int(2 * r / s) + 8 for r, s in zip(axes, spacing)]
    aff = np.diag([*spacing, 1.0])
    aff[:3, 3] = [-(d - 1) * s / 2 for d, s in zip(dims, spacing)]
    ijk = np.indices(dims).reshape(3, -1).T.astype(float)
    p = world(aff, ijk)
    inside = ((p[:, 0] / a) ** 2 + (p[:, 1] / b) ** 2 + (p[:, 2] / c) ** 2 <= 1).reshape(dims)
    img = nib.Nifti1Image(inside.astype(np.uint8), aff)
    nib.save(img, str(tmp_path / "e.nii.gz"))
    aff = nib.load(str(tmp_path / "e.nii.gz")).affine  # as stored (float32)
    (r,) = measure(run, tmp_path / "e.nii.gz", tmp_path / "e.nii.gz")
    check(r, reference(aff, inside, inside.astype(np.uint8)), area_rel=0.02)
    long_ax, short_ax = max(a, b), min(a, b)
    sp_long = spacing[0] if a >= b else spacing[1]
    sp_short = spacing[1] if a >= b else spacing[0]
    assert abs(r["recist"]["long_axis"]["length_mm"] - 2 * long_ax) <= sp_long
    assert abs(r["recist"]["short_axis"]["length_mm"] - 2 * short_ax) <= 2 * sp_short
    assert abs(r["max_diameter"]["length_mm"] - 2 * max(axes)) <= spacing[int(np.argmax(axes))]
    assert r["volume_ml"] == pytest.approx(4 / 3 * np.pi * a * b * c / 1000, rel=0.03)
