"""Fill between slices (`{"op":"interpolate"}`) against ITK's MorphologicalContourInterpolator
(Albu et al. 2008; PyPI itk-morphologicalcontourinterpolation) on analytic shapes with known
truth: spheres, an ellipsoid, a tilted cylinder, a Y-branch and a blob moving faster than its
own width between key slices, keyed every 3rd, 5th and 10th axial slice. voxmark's Dice against
the truth must be at least ITK's on every case; key slices never change."""
import json

import nibabel as nib
import numpy as np
import pytest

from interp_shapes import SHAPES, dice, keyed

itk = pytest.importorskip("itk")


def itk_interpolate(k):
    img = itk.GetImageFromArray(np.ascontiguousarray(k.transpose(2, 1, 0)))
    return itk.GetArrayFromImage(itk.morphological_contour_interpolator(img, axis=2)).transpose(2, 1, 0)


def voxmark_interpolate(run, tmp_path, k, affine=np.eye(4), axis="axial"):
    nib.save(nib.Nifti1Image(np.zeros(k.shape, np.int16), affine), str(tmp_path / "img.nii.gz"))
    nib.save(nib.Nifti1Image(k.astype(np.uint8), affine), str(tmp_path / "keys.nii.gz"))
    (tmp_path / "ops.json").write_text(json.dumps([{"op": "interpolate", "label": 1, "axis": axis}]))
    run("apply", tmp_path / "img.nii.gz", "--labels", tmp_path / "keys.nii.gz", "--ops",
        tmp_path / "ops.json", "--backend", "cpu", "-o", tmp_path / "out.nii.gz")
    out = nib.load(str(tmp_path / "out.nii.gz"))
    np.testing.assert_allclose(out.affine, affine, atol=1e-6)
    return np.asarray(out.dataobj)


def test_dice_at_least_itk_on_every_shape_and_spacing(run, tmp_path):
    rows = []
    for name, make in SHAPES.items():
        truth = make()
        for step in (3, 5, 10):
            k = keyed(truth, step)
            ours = voxmark_interpolate(run, tmp_path, k)
            ref = itk_interpolate(k)
            zs = np.flatnonzero(k.any(axis=(0, 1)))
            for z in zs:  # key slices are never changed
                np.testing.assert_array_equal(ours[:, :, z], k[:, :, z])
            assert not ours[:, :, : zs[0]].any() and not ours[:, :, zs[-1] + 1:].any()
            rows.append((name, step, dice(ours, truth), dice(ref, truth), dice(k, truth)))
    print("\nshape            every  voxmark  ITK MCI  keys only")
    for r in rows:
        print(f"{r[0]:16s} {r[1]:5d}  {r[2]:.4f}   {r[3]:.4f}   {r[4]:.4f}")
    for name, step, ours, ref, _ in rows:
        assert ours >= ref, f"{name} every {step}: voxmark Dice {ours:.4f} < ITK {ref:.4f}"
        assert ours > 0.89, f"{name} every {step}: Dice {ours:.4f}"


def test_coronal_axis_on_an_oblique_permuted_grid(run, tmp_path):
    """The view axis is the one the viewer shows: with a permuted, oblique affine the coronal
    normal is voxel axis 0 here; the fill must run along it and equal the axial result of the
    same shape transposed."""
    truth = SHAPES["tilted_cylinder"]()
    k = keyed(truth, 5)
    axial = voxmark_interpolate(run, tmp_path, k)
    # Voxel axes (i, j, k) = (A/P, R/L, S/I): a coronal view's normal is voxel axis 0.
    perm = np.transpose(k, (2, 0, 1))
    c, s = np.cos(0.1), np.sin(0.1)
    aff = np.array([[0, 1.0, 0, 0], [1.0, 0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1]])
    rot = np.array([[c, -s, 0, 0], [s, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    aff = rot @ aff
    got = voxmark_interpolate(run, tmp_path, perm, affine=aff, axis="coronal")
    np.testing.assert_array_equal(got, np.transpose(axial, (2, 0, 1)))
