"""`voxmark compare` and `consensus` against independent implementations on real atlases.

Overlap: SimpleITK LabelOverlapMeasuresImageFilter (Dice, Jaccard) and label voting
(LabelVotingImageFilter, undecided -> 0). Surface distances: a scipy reference written from
the MONAI / DeepMind definitions (surface = voxels with a face neighbour outside, exact EDT
with spacing, numpy percentile), and SimpleITK's HausdorffDistanceImageFilter on the
surface voxels for the maximum. The atlases are perturbed the way annotators disagree:
a label shifted by a voxel, one dilated, one eroded, one painted over, one deleted.
"""
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from conftest import need

TEMPLATES = Path("/usr/share/mricron/templates")


def perturb(data):
    out = data.copy()
    labels = [int(v) for v in np.unique(data) if v != 0]
    l_shift, l_dil, l_ero, l_del = labels[2], labels[5], labels[9], labels[-1]
    m = data == l_shift
    out[m] = 0
    out[np.roll(m, 1, axis=2) & (out == 0)] = l_shift
    out[ndimage.binary_dilation(data == l_dil, iterations=2) & (out == 0)] = l_dil
    er = data == l_ero
    out[er & ~ndimage.binary_erosion(er)] = 0
    c = np.argwhere(data == labels[1]).mean(0).round().astype(int)
    out[c[0] - 4:c[0] + 4, c[1] - 3:c[1] + 5, c[2] - 2:c[2] + 2] = labels[1]
    out[data == l_del] = 0
    return out


def surface(m):
    # Face neighbours outside the mask, the volume's border counting as outside.
    return m & ~ndimage.binary_erosion(m, border_value=0)


def reference(a, b, label, spacing, tol):
    ma, mb = a == label, b == label
    if not ma.any() or not mb.any():
        return None
    # Crop to the union's box plus one voxel of background (the surfaces are all inside).
    idx = np.argwhere(ma | mb)
    lo, hi = np.maximum(idx.min(0) - 1, 0), idx.max(0) + 2
    box = tuple(slice(l, h) for l, h in zip(lo, hi))
    ma, mb = ma[box], mb[box]
    sa, sb = surface(ma), surface(mb)
    d_ab = ndimage.distance_transform_edt(~sb, sampling=spacing)[sa]
    d_ba = ndimage.distance_transform_edt(~sa, sampling=spacing)[sb]
    both = np.concatenate([d_ab, d_ba])
    return {
        "hausdorff_mm": max(d_ab.max(), d_ba.max()),
        "hausdorff95_mm": max(np.percentile(d_ab, 95), np.percentile(d_ba, 95)),
        "assd_mm": both.mean(),
        "surface_dice": float((both <= tol).sum()) / both.size,
    }


@pytest.mark.parametrize("atlas", ["aal.nii.gz", "brodmann.nii.gz"])
def test_compare_agrees_with_simpleitk_and_scipy(atlas, run, tmp_path):
    src = need(TEMPLATES / atlas)
    img = nib.load(str(src))
    a = np.asarray(img.dataobj).astype(np.uint8)
    b = perturb(a)
    bp = tmp_path / "b.nii.gz"
    nib.save(nib.Nifti1Image(b, img.affine, img.header), str(bp))
    tol = 1.5
    out = run("compare", src, bp, "--json", "--tolerance-mm", tol).stdout
    got = {r["label"]: r for r in json.loads(out)["labels"]}
    # Overlap vs SimpleITK.
    sa, sb = sitk.ReadImage(str(src), sitk.sitkUInt8), sitk.ReadImage(str(bp), sitk.sitkUInt8)
    f = sitk.LabelOverlapMeasuresImageFilter()
    f.Execute(sa, sb)
    spacing = img.header.get_zooms()[:3]
    present = sorted((set(np.unique(a)) | set(np.unique(b))) - {0})
    assert sorted(got) == [int(x) for x in present]
    checked_hd = 0
    for label in present:
        r = got[int(label)]
        in_a, in_b = (a == label).any(), (b == label).any()
        if in_a and in_b:
            assert r["dice"] == pytest.approx(f.GetDiceCoefficient(int(label)), abs=1e-12)
            assert r["iou"] == pytest.approx(f.GetJaccardCoefficient(int(label)), abs=1e-12)
        ref = reference(a, b, label, spacing, tol)
        if ref is None:
            assert r["hausdorff_mm"] is None and r["dice"] == 0.0
            assert r["empty"] == ("a" if not in_a else "b")
            continue
        for k, v in ref.items():
            assert r[k] == pytest.approx(v, abs=1e-9), (label, k)
        # The maximum again, by SimpleITK on the surface voxels.
        if checked_hd < 4 and ref["hausdorff_mm"] > 0:
            ia = sitk.GetImageFromArray(surface(a == label).astype(np.uint8).transpose(2, 1, 0))
            ib = sitk.GetImageFromArray(surface(b == label).astype(np.uint8).transpose(2, 1, 0))
            for im in (ia, ib):
                im.SetSpacing([float(s) for s in spacing])
            h = sitk.HausdorffDistanceImageFilter()
            h.Execute(ia, ib)
            assert r["hausdorff_mm"] == pytest.approx(h.GetHausdorffDistance(), abs=1e-6)
            checked_hd += 1
        vol = float(np.prod(spacing)) / 1000.0
        assert r["volume_a_ml"] == pytest.approx((a == label).sum() * vol)
    # Identical maps agree perfectly.
    same = json.loads(run("compare", src, src, "--json").stdout)
    assert same["mean"]["mean_dice"] == 1.0 and same["mean"]["mean_hausdorff95_mm"] == 0.0


def test_consensus_matches_simpleitk_label_voting(run, tmp_path):
    src = need(TEMPLATES / "aal.nii.gz")
    img = nib.load(str(src))
    a = np.asarray(img.dataobj).astype(np.uint8)
    maps = [a, perturb(a), np.roll(a, 1, axis=0), perturb(np.roll(a, -1, axis=1))]
    paths = []
    for n, m in enumerate(maps):
        p = tmp_path / f"m{n}.nii.gz"
        nib.save(nib.Nifti1Image(m, img.affine, img.header), str(p))
        paths.append(p)
    for k in (2, 3, 4):
        out = tmp_path / f"c{k}.nii.gz"
        run("consensus", *paths[:k], "--method", "majority", "-o", out)
        got = np.asarray(nib.load(str(out)).dataobj)
        f = sitk.LabelVotingImageFilter()
        f.SetLabelForUndecidedPixels(0)
        want = sitk.GetArrayFromImage(
            f.Execute([sitk.ReadImage(str(p), sitk.sitkUInt8) for p in paths[:k]])
        ).transpose(2, 1, 0)
        assert np.array_equal(got, want), k
        assert np.allclose(nib.load(str(out)).affine, img.affine)


def test_different_grids_are_an_error_naming_both(run, tmp_path):
    """A map moved by half a voxel is refused, naming both files, the origin component that
    differs, by how much and the tolerance; one moved by whole voxels is the same voxel
    centres and is compared where its voxels are in the world."""
    src = need(TEMPLATES / "aal.nii.gz")
    img = nib.load(str(src))
    a = np.asarray(img.dataobj).astype(np.uint8)
    moved = tmp_path / "moved.nii.gz"
    aff = img.affine.copy()
    aff[0, 3] += 0.5
    nib.save(nib.Nifti1Image(a, aff), str(moved))
    p = run("compare", src, moved, ok=False)
    assert p.returncode != 0
    assert "different grid" in p.stderr and "aal.nii.gz" in p.stderr and "moved.nii.gz" in p.stderr
    assert "0.500 mm in R" in p.stderr and "tolerance 0.001000 mm" in p.stderr, p.stderr
    # Two whole voxels along i: the same voxel centres, shifted.
    aff = img.affine.copy()
    aff[0, 3] += 2.0 * aff[0, 0]
    nib.save(nib.Nifti1Image(a, aff), str(moved))
    p = run("compare", src, moved, "--labels", "1,2", "--json")
    assert "voxel for voxel" in p.stderr, p.stderr
    rows = json.loads(p.stdout)
    rows = rows["labels"] if isinstance(rows, dict) else rows
    shifted = np.zeros_like(a)
    shifted[2:] = a[:-2]
    for r in rows:
        x, y = a == r["label"], shifted == r["label"]
        want = 2.0 * (x & y).sum() / (x.sum() + y.sum())
        assert abs(r["dice"] - want) < 1e-9, (r, want)


def read_stl(path):
    raw = Path(path).read_bytes()
    n = int.from_bytes(raw[80:84], "little")
    rec = np.frombuffer(raw[84:84 + n * 50], dtype=np.dtype([("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")]))
    return rec["v"].astype(np.float64)


@pytest.mark.parametrize("frame", ["ras", "lps"])
def test_mesh_matches_scikit_image_marching_cubes(frame, run, tmp_path):
    from skimage import measure

    src = need(TEMPLATES / "aal.nii.gz")
    img = nib.load(str(src))
    a = np.asarray(img.dataobj)
    label = int(np.unique(a)[5])
    out = tmp_path / "m.stl"
    run("mesh", src, "--label", label, "--frame", frame, "-o", out)
    tri = read_stl(out)
    # scikit-image on the same mask (padded so border labels close), mapped to world by the
    # file's affine.
    m = np.pad((a == label).astype(np.float32), 1)
    verts, faces, _, _ = measure.marching_cubes(m, 0.5)
    verts = nib.affines.apply_affine(img.affine, verts - 1.0)
    if frame == "lps":
        verts[:, :2] *= -1
    ref = verts[faces]
    area = lambda t: 0.5 * np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1).sum()
    vol = lambda t: np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2])).sum() / 6.0
    assert np.allclose(tri.reshape(-1, 3).min(0), ref.reshape(-1, 3).min(0), atol=1e-4)
    assert np.allclose(tri.reshape(-1, 3).max(0), ref.reshape(-1, 3).max(0), atol=1e-4)
    assert area(tri) == pytest.approx(area(ref), rel=0.01)
    assert abs(vol(tri)) == pytest.approx(abs(vol(ref)), rel=0.01)
    assert vol(tri) > 0, "facets face outward"
