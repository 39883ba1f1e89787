"""NIfTI-2 (540-byte header, 64-bit dims, f64 geometry) and `.hdr`/`.img` pairs (NIfTI-1 and
NIfTI-2), written by nibabel in both byte orders, compressed or not: voxmark's affine equals
nibabel's exactly (f64 — NIfTI-2 geometry needs no rounding) and every value equals; an axis
longer than NIfTI-1's 32767 is written as NIfTI-2 and nibabel reads it back exactly; a pair
without its image file is refused."""
import json

import nibabel as nib
import numpy as np
import pytest


def affine():
    a, b = 0.31, -0.17
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    m = np.eye(4)
    m[:3, :3] = rz @ rx @ np.diag([0.712345678901, 1.30000000001, 2.1])
    m[:3, 3] = [-12.123456789012, 30.25, 7.000000001]
    return m


def voxmark_view(run, path, tmp_path):
    info = json.loads(run("info", "--json", path).stdout)
    out = tmp_path / "v.nii.gz"
    run("convert", path, out)
    return np.array(info["world_from_voxel"]), np.asarray(nib.load(str(out)).dataobj)


@pytest.mark.parametrize("kind", ["nifti2", "nifti2-pair", "nifti1-pair"])
@pytest.mark.parametrize("ext", ["", ".gz"])
@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("dtype", ["i2", "f4", "u1", "f8"])
def test_nibabel_files(kind, ext, order, dtype, run, tmp_path):
    rng = np.random.default_rng(4)
    data = (rng.normal(0, 500, (9, 7, 5)) if dtype[0] == "f"
            else rng.integers(0, 120, (9, 7, 5))).astype(order + dtype)
    cls, suffix = {"nifti2": (nib.Nifti2Image, ".nii"), "nifti2-pair": (nib.Nifti2Pair, ".hdr"),
                   "nifti1-pair": (nib.Nifti1Pair, ".hdr")}[kind]
    img = cls(data, affine())
    img.header.set_data_dtype(data.dtype)
    path = tmp_path / f"img{suffix}{ext}"
    nib.save(img, str(path))
    back = nib.load(str(path))
    aff, vals = voxmark_view(run, path, tmp_path)
    if kind == "nifti1-pair":
        np.testing.assert_allclose(aff, back.affine, rtol=0, atol=1e-12)
    else:
        np.testing.assert_array_equal(aff, back.affine)  # exact: f64 geometry
    want = np.asarray(back.dataobj)
    if dtype == "f8":
        np.testing.assert_allclose(vals, want, rtol=1e-6)
    else:
        np.testing.assert_array_equal(vals, want)


def test_long_axis_is_written_as_nifti2(run, tmp_path):
    data = np.arange(40000 * 2, dtype=np.int16).reshape(40000, 2, 1) % 1000
    src = tmp_path / "long.nii"
    nib.save(nib.Nifti2Image(data, affine()), str(src))
    out = tmp_path / "out.nii.gz"
    run("convert", src, out)
    img = nib.load(str(out))
    assert isinstance(img, nib.Nifti2Image) and img.header.sizeof_hdr == 540
    np.testing.assert_array_equal(img.affine, nib.load(str(src)).affine)
    np.testing.assert_array_equal(np.asarray(img.dataobj), data)


def test_pair_without_its_image_is_refused(run, tmp_path):
    path = tmp_path / "lonely.hdr"
    nib.save(nib.Nifti1Pair(np.zeros((3, 3, 3), np.int16), np.eye(4)), str(path))
    (tmp_path / "lonely.img").unlink()
    r = run("info", path, ok=False)
    assert r.returncode == 1 and "lonely" in r.stderr and ".img" in r.stderr, r.stderr
