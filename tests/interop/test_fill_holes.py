"""`{"op":"fill_holes"}` against scipy.ndimage.binary_fill_holes (default structuring
element: the complement 6-connected in 3D, 4-connected in 2D), in 3D and slice by slice along
each view's normal, on a real atlas label (aal's structures have holes and tunnels) and on
the CT phantom's soft tissue (holes: lungs, vessels, bone). Voxel for voxel."""
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from conftest import need

MRICRON = Path("/usr/share/mricron/templates")
# With an identity-like affine (RAS): axial slices are normal to voxel axis 2, coronal to 1,
# sagittal to 0.
NORMAL = {"axial": 2, "coronal": 1, "sagittal": 0}


def reference(mask, per_slice):
    if per_slice is None:
        return ndimage.binary_fill_holes(mask)
    a = NORMAL[per_slice]
    out = np.zeros_like(mask)
    for k in range(mask.shape[a]):
        idx = [slice(None)] * 3
        idx[a] = k
        out[tuple(idx)] = ndimage.binary_fill_holes(mask[tuple(idx)])
    return out


def carve(mask, n, seed):
    """Cavities: n small cubes cut out deep inside the mask (3D holes with known truth)."""
    deep = ndimage.binary_erosion(mask, iterations=3)
    pts = np.argwhere(deep)
    rng = np.random.default_rng(seed)
    out = mask.copy()
    for p in pts[rng.choice(len(pts), n, replace=False)]:
        out[p[0] - 1:p[0] + 2, p[1] - 1:p[1] + 2, p[2] - 1:p[2] + 2] = False
    return out


def run_fill(run, tmp_path, image, labels, label, per_slice):
    nib.save(nib.Nifti1Image(labels.astype(np.uint8), nib.load(str(image)).affine),
             str(tmp_path / "start.nii.gz"))
    op = {"op": "fill_holes", "label": label}
    if per_slice:
        op["per_slice"] = per_slice
    (tmp_path / "ops.json").write_text(json.dumps([op]))
    run("apply", image, "--labels", tmp_path / "start.nii.gz", "--ops", tmp_path / "ops.json",
        "--backend", "cpu", "-o", tmp_path / "out.nii.gz")
    return np.asarray(nib.load(str(tmp_path / "out.nii.gz")).dataobj)


@pytest.mark.parametrize("per_slice", [None, "axial", "coronal", "sagittal"])
def test_phantom_soft_tissue(per_slice, run, tmp_path):
    src = tmp_path / "phantom.nii.gz"
    run("phantom", "--size", "80,72,60", "-o", src)
    data = np.asarray(nib.load(str(src)).dataobj)
    mask = carve((data >= -200) & (data < 150), 12, 1)
    got = run_fill(run, tmp_path, src, mask.astype(np.uint8), 1, per_slice)
    want = reference(mask, per_slice)
    assert (want & ~mask).sum() > 100, "there are holes to fill"
    np.testing.assert_array_equal(got == 1, want)


@pytest.mark.parametrize("per_slice", [None, "axial"])
def test_atlas_structure(per_slice, run, tmp_path):
    atlas = need(MRICRON / "aal.nii.gz")
    img = nib.load(str(atlas))
    lab = np.asarray(img.dataobj).astype(np.int64)
    # The largest structure, relabelled 1; everything else 0.
    vals, counts = np.unique(lab[lab > 0], return_counts=True)
    mask = carve(lab == vals[np.argmax(counts)], 8, 2)
    # A voxmark image on the atlas grid.
    image = tmp_path / "grid.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros(lab.shape, np.int16), img.affine), str(image))
    got = run_fill(run, tmp_path, image, mask.astype(np.uint8), 1, per_slice)
    want = reference(mask, per_slice)
    assert (want & ~mask).sum() >= 8 * 27
    np.testing.assert_array_equal(got == 1, want)
