"""`{"op":"scissors"}` against an independent rasteriser: scikit-image's `draw.polygon`
(pixel centres inside the polygon) extruded with numpy, on an image whose voxel axes are the
viewer's (identity affine: axial u, v = i, j; coronal i, k; sagittal j, k), with vertices off
the voxel grid so no centre lies on an edge."""
import json

import nibabel as nib
import numpy as np
import pytest
from skimage.draw import polygon

SHAPE = (40, 36, 30)
AXES = {"axial": (0, 1, 2), "coronal": (0, 2, 1), "sagittal": (1, 2, 0)}


def run_ops(run, tmp_path, ops, start):
    rng = np.random.default_rng(3)
    img = rng.integers(-100, 400, SHAPE).astype(np.int16)
    nib.save(nib.Nifti1Image(img, np.eye(4)), str(tmp_path / "img.nii.gz"))
    nib.save(nib.Nifti1Image(start, np.eye(4)), str(tmp_path / "start.nii.gz"))
    (tmp_path / "ops.json").write_text(json.dumps(ops))
    run("apply", tmp_path / "img.nii.gz", "--labels", tmp_path / "start.nii.gz", "--ops",
        tmp_path / "ops.json", "--backend", "cpu", "-o", tmp_path / "out.nii.gz")
    return img, np.asarray(nib.load(str(tmp_path / "out.nii.gz")).dataobj)


def cut_mask(plane, pts, region, depth):
    u, v, n = AXES[plane]
    pts = np.array(pts)
    rr, cc = polygon(pts[:, 0], pts[:, 1], shape=(SHAPE[u], SHAPE[v]))
    m2 = np.zeros((SHAPE[u], SHAPE[v]), bool)
    m2[rr, cc] = True
    if region == "outside":
        m2 = ~m2
    keep = np.zeros(SHAPE[n], bool)
    lo, hi = depth if depth else (0, SHAPE[n] - 1)
    keep[lo:hi + 1] = True
    m3 = m2[:, :, None] & keep[None, None, :]  # axes (u, v, n)
    return np.moveaxis(m3, [0, 1, 2], [u, v, n])


@pytest.mark.parametrize("plane", ["axial", "coronal", "sagittal"])
def test_scissors_fill_and_erase_match_an_independent_rasteriser(plane, run, tmp_path):
    u, v, n = AXES[plane]
    pts = [[2.3, 3.6], [SHAPE[u] - 4.4, 1.7], [SHAPE[u] * 0.6 + 0.3, SHAPE[v] - 2.2],
           [4.7, SHAPE[v] * 0.5 + 0.4]]
    start = np.zeros(SHAPE, np.uint8)
    start[5:30, 4:30, 3:25] = 2
    start[10:14, 10:14, 10:14] = 3
    # Fill inside over a depth range, only where empty and in an intensity range.
    ops = [{"op": "scissors", "plane": plane, "points": pts, "region": "inside",
            "action": "fill", "label": 1, "depth": [4, 20], "range": [0, 250],
            "editable": "empty_only"}]
    img, got = run_ops(run, tmp_path, ops, start)
    want = start.copy()
    sel = cut_mask(plane, pts, "inside", (4, 20)) & (start == 0) & (img >= 0) & (img <= 250)
    want[sel] = 1
    assert sel.sum() > 300
    np.testing.assert_array_equal(got, want)
    # Erase label 2 outside the polygon through the whole volume (label 3 stays).
    ops = [{"op": "scissors", "plane": plane, "points": pts, "region": "outside",
            "action": "erase", "label": 2}]
    _, got = run_ops(run, tmp_path, ops, start)
    want = start.copy()
    want[cut_mask(plane, pts, "outside", None) & (start == 2)] = 0
    assert (want != start).sum() > 500
    np.testing.assert_array_equal(got, want)
