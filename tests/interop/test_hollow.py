"""`{"op":"hollow"}` against scipy.ndimage binary erosion / dilation with the same ball
(offsets within the thickness in mm, spacing honoured; voxels outside the volume count as
neither side, hence erosion's border_value=1): inside, outside and centred shells on the CT
phantom's lungs (anisotropic voxels) and on a real atlas structure. Voxel for voxel."""
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from conftest import ball_footprint as ball, need

MRICRON = Path("/usr/share/mricron/templates")


def reference(mask, spacing, t, shell):
    r = t / 2 if shell == "centred" else t
    fp = ball(spacing, r)
    inner = mask & ~ndimage.binary_erosion(mask, fp, border_value=1)
    outer = ndimage.binary_dilation(mask, fp) & ~mask
    return {"inside": inner, "outside": outer, "centred": inner | outer}[shell]


def run_hollow(run, tmp_path, image, mask, t, shell):
    aff = nib.load(str(image)).affine
    nib.save(nib.Nifti1Image(mask.astype(np.uint8), aff), str(tmp_path / "start.nii.gz"))
    (tmp_path / "ops.json").write_text(json.dumps(
        [{"op": "hollow", "label": 1, "thickness_mm": t, "shell": shell}]))
    run("apply", image, "--labels", tmp_path / "start.nii.gz", "--ops", tmp_path / "ops.json",
        "--backend", "cpu", "-o", tmp_path / "out.nii.gz")
    return np.asarray(nib.load(str(tmp_path / "out.nii.gz")).dataobj)


@pytest.mark.parametrize("shell", ["inside", "outside", "centred"])
def test_phantom_lungs(shell, run, tmp_path):
    src = tmp_path / "phantom.nii.gz"
    run("phantom", "--size", "80,72,60", "-o", src)  # voxels 5 x 5.6 x 8.3 mm
    img = nib.load(str(src))
    mask = np.asarray(img.dataobj) < -500
    mask &= ndimage.binary_erosion(np.ones_like(mask), iterations=1)  # lungs, not the air
    lungs, n = ndimage.label(mask)
    mask = np.isin(lungs, np.argsort(np.bincount(lungs.ravel()))[-3:-1])
    spacing = [float(z) for z in img.header.get_zooms()]
    got = run_hollow(run, tmp_path, src, mask, 12.0, shell)
    want = reference(mask, spacing, 12.0, shell)
    assert want.sum() > 500
    np.testing.assert_array_equal(got == 1, want)


def test_atlas_structure_centred(run, tmp_path):
    atlas = need(MRICRON / "aal.nii.gz")
    img = nib.load(str(atlas))
    lab = np.asarray(img.dataobj).astype(np.int64)
    vals, counts = np.unique(lab[lab > 0], return_counts=True)
    mask = lab == vals[np.argmax(counts)]
    image = tmp_path / "grid.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros(lab.shape, np.int16), img.affine), str(image))
    got = run_hollow(run, tmp_path, image, mask, 3.0, "centred")
    np.testing.assert_array_equal(got == 1, reference(mask, [1.0, 1.0, 1.0], 3.0, "centred"))
