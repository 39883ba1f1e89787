"""`{"op":"smooth"}` against scipy.ndimage with the same ball (offsets within radius_mm,
spacing honoured): median = median_filter(mode="constant", cval=0) of the 0/1 mask;
opening / closing = binary_opening / binary_closing where voxels beyond the volume count as
neither side (erosion with border_value=1, dilation with 0). On the noisy CT phantom
(anisotropic voxels) and on a real atlas structure, voxel for voxel; Gaussian against
gaussian_filter + threshold 1/2 (up to voxels whose blur is within rounding of 1/2)."""
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from conftest import ball_footprint as ball, need

MRICRON = Path("/usr/share/mricron/templates")


def reference(mask, spacing, r, method):
    fp = ball(spacing, r)
    if method == "median":
        return ndimage.median_filter(mask.astype(np.uint8), footprint=fp, mode="constant",
                                     cval=0) != 0
    erode = lambda m: ndimage.binary_erosion(m, fp, border_value=1)  # noqa: E731
    dilate = lambda m: ndimage.binary_dilation(m, fp)  # noqa: E731
    return dilate(erode(mask)) if method == "opening" else erode(dilate(mask))


def run_smooth(run, tmp_path, image, mask, r, method):
    aff = nib.load(str(image)).affine
    nib.save(nib.Nifti1Image(mask.astype(np.uint8), aff), str(tmp_path / "start.nii.gz"))
    (tmp_path / "ops.json").write_text(json.dumps(
        [{"op": "smooth", "label": 1, "method": method, "radius_mm": r}]))
    run("apply", image, "--labels", tmp_path / "start.nii.gz", "--ops", tmp_path / "ops.json",
        "--backend", "cpu", "-o", tmp_path / "out.nii.gz")
    return np.asarray(nib.load(str(tmp_path / "out.nii.gz")).dataobj)


@pytest.mark.parametrize("method", ["median", "opening", "closing"])
def test_phantom_noisy_threshold(method, run, tmp_path):
    src = tmp_path / "phantom.nii.gz"
    run("phantom", "--size", "72,64,48", "-o", src)  # voxels 5.6 x 6.3 x 10.4 mm
    img = nib.load(str(src))
    mask = np.asarray(img.dataobj) > 45  # soft tissue's upper noise tail: ragged and specked
    spacing = [float(z) for z in img.header.get_zooms()]
    got = run_smooth(run, tmp_path, src, mask, 12.0, method)
    want = reference(mask, spacing, 12.0, method)
    assert (want != mask).sum() > 200, "smoothing changes something"
    np.testing.assert_array_equal(got == 1, want)


def test_gaussian_against_scipy_gaussian_filter(run, tmp_path):
    """Not discrete: voxmark's taps are scipy's rounded to 1/1024, so voxels whose blur lies
    within rounding of 1/2 may differ — they must be few and all near 1/2."""
    src = tmp_path / "phantom.nii.gz"
    run("phantom", "--size", "72,64,48", "-o", src)
    img = nib.load(str(src))
    mask = np.asarray(img.dataobj) > 45
    spacing = np.array([float(z) for z in img.header.get_zooms()])
    got = run_smooth(run, tmp_path, src, mask, 8.0, "gaussian")
    blur = ndimage.gaussian_filter(mask.astype(np.float64), sigma=8.0 / spacing,
                                   mode="constant", cval=0.0, truncate=4.0)
    want = blur > 0.5
    assert (want != mask).sum() > 200
    differ = (got == 1) != want
    print(f"gaussian: {differ.sum()} of {mask.size} voxels differ from scipy")
    assert differ.sum() <= 0.0005 * mask.size
    assert np.all(np.abs(blur[differ] - 0.5) < 0.01)


@pytest.mark.parametrize("method", ["median", "closing"])
def test_atlas_structure(method, run, tmp_path):
    atlas = need(MRICRON / "aal.nii.gz")
    img = nib.load(str(atlas))
    lab = np.asarray(img.dataobj).astype(np.int64)
    # One AAL structure, on the atlas grid cropped to its box + 6 voxels (affine moved).
    lo = np.maximum(np.argwhere(lab == 7).min(0) - 6, 0)
    hi = np.argwhere(lab == 7).max(0) + 7
    mask = lab[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] == 7
    aff = img.affine.copy()
    aff[:3, 3] = img.affine[:3, :3] @ lo + img.affine[:3, 3]
    image = tmp_path / "grid.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros(mask.shape, np.int16), aff), str(image))
    got = run_smooth(run, tmp_path, image, mask, 2.0, method)
    want = reference(mask, [1.0, 1.0, 1.0], 2.0, method)
    assert (want != mask).sum() > 50
    np.testing.assert_array_equal(got == 1, want)
