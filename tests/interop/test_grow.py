"""`voxmark grow` against SimpleITK (ConnectedThreshold 6/26, ConfidenceConnected) and a
scipy.ndimage reference for 18-connectivity, voxel for voxel, on real MRI and the CT phantom."""
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from conftest import need

MRICRON = Path("/usr/share/mricron/templates")


def sitk_connected(path, seeds, lo, hi, conn):
    img = sitk.ReadImage(str(path))
    c = (sitk.ConnectedThresholdImageFilter.FaceConnectivity if conn == 6
         else sitk.ConnectedThresholdImageFilter.FullConnectivity)
    r = sitk.ConnectedThreshold(img, seedList=[tuple(int(x) for x in s) for s in seeds],
                                lower=lo, upper=hi, replaceValue=1, connectivity=c)
    return np.transpose(sitk.GetArrayFromImage(r), (2, 1, 0)).astype(bool)


def scipy_connected(data, seeds, lo, hi, conn, roi=None):
    inside = (data >= lo) & (data <= hi)
    if roi is not None:
        box = np.zeros_like(inside)
        box[roi[0]:roi[3] + 1, roi[1]:roi[4] + 1, roi[2]:roi[5] + 1] = True
        inside &= box
    structure = ndimage.generate_binary_structure(3, {6: 1, 18: 2, 26: 3}[conn])
    labels, _ = ndimage.label(inside, structure=structure)
    keep = {labels[tuple(s)] for s in seeds} - {0}
    return np.isin(labels, list(keep))


def grow(run, tmp_path, src, seeds, *args):
    out = tmp_path / "g.nii.gz"
    seed_args = [a for s in seeds for a in ("--seed", ",".join(map(str, s)))]
    p = run("grow", src, *seed_args, *args, "--backend", "cpu", "-o", out)
    img = nib.load(str(out))
    return np.asarray(img.dataobj), img, p.stderr


@pytest.fixture(scope="module")
def phantom(tmp_path_factory, voxmark):
    import subprocess
    p = tmp_path_factory.mktemp("ph") / "p.nii.gz"
    subprocess.run([voxmark, "phantom", "--size", "96,96,80", "-o", str(p)], check=True, capture_output=True)
    return p


def pick(data, lo, hi, near):
    """The in-range voxel closest to `near` (deterministic seed choice)."""
    idx = np.argwhere((data >= lo) & (data <= hi))
    return tuple(idx[np.argmin(((idx - np.array(near)) ** 2).sum(1))])


CASES = [
    ("ch2", [(95, 130, (110, 120, 100))], "white matter"),
    ("ch2better", [(100, 140, (200, 200, 200)), (40, 90, (150, 185, 158))], "wm / gm"),
]


@pytest.mark.parametrize("name", ["ch2", "ch2better"])
@pytest.mark.parametrize("conn", [6, 18, 26])
def test_connected_threshold_matches_references(name, conn, run, tmp_path):
    src = need(MRICRON / f"{name}.nii.gz")
    data = np.asarray(nib.load(str(src)).dataobj)
    for lo, hi, near in [c for n, cs, _ in CASES if n == name for c in cs]:
        seeds = [pick(data, lo, hi, near), pick(data, lo, hi, tuple(np.array(near) + 15))]
        ours, img, _ = grow(run, tmp_path, src, seeds, "--lower", lo, "--upper", hi, "--connectivity", conn)
        assert ours.shape == data.shape and ours.dtype == np.uint8
        np.testing.assert_allclose(img.affine, nib.load(str(src)).affine, atol=1e-6)
        ref = sitk_connected(src, seeds, lo, hi, conn) if conn != 18 else scipy_connected(data, seeds, lo, hi, 18)
        assert ref.sum() > 1000
        np.testing.assert_array_equal(ours != 0, ref)


@pytest.mark.parametrize("conn", [6, 18, 26])
def test_phantom_vessel_body_and_roi(conn, phantom, run, tmp_path):
    data = np.asarray(nib.load(str(phantom)).dataobj)
    v = pick(data, 250, 350, (30, 48, 20))
    b = pick(data, -20, 100, (48, 48, 40))
    for seeds, lo, hi, roi in [([v], 200, 500, None), ([b], -200, 200, None), ([b, v], -200, 500, (10, 12, 5, 80, 70, 60))]:
        extra = ["--roi", ",".join(map(str, roi))] if roi else []
        ours, _, _ = grow(run, tmp_path, phantom, seeds, "--lower", lo, "--upper", hi,
                          "--connectivity", conn, "--label", 7, *extra)
        assert set(np.unique(ours)) <= {0, 7}
        if conn == 18 or roi:
            ref = scipy_connected(data, seeds, lo, hi, conn, roi)
        else:
            ref = sitk_connected(phantom, seeds, lo, hi, conn)
        np.testing.assert_array_equal(ours != 0, ref)


@pytest.mark.parametrize("name,seed_range", [("ch2", (95, 130, (110, 120, 100))), ("phantom", (-850, -750, (65, 40, 52)))])
def test_auto_range_matches_confidence_connected(name, seed_range, phantom, run, tmp_path):
    src = phantom if name == "phantom" else need(MRICRON / "ch2.nii.gz")
    data = np.asarray(nib.load(str(src)).dataobj)
    lo, hi, near = seed_range
    seed = pick(data, lo, hi, near)
    ours, _, err = grow(run, tmp_path, src, [seed], "--auto", "--multiplier", 2.5, "--iterations", 4, "--radius", 1)
    ref = sitk.ConfidenceConnected(sitk.ReadImage(str(src)), seedList=[tuple(int(x) for x in seed)],
                                   numberOfIterations=4, multiplier=2.5, initialNeighborhoodRadius=1, replaceValue=1)
    ref = np.transpose(sitk.GetArrayFromImage(ref), (2, 1, 0)).astype(bool)
    assert "auto range" in err
    assert ref.sum() > 100
    np.testing.assert_array_equal(ours != 0, ref)


def test_bad_requests(run, phantom, tmp_path):
    out = tmp_path / "x.nii.gz"
    for args, needle in [
        (["--seed", "500,1,1", "--lower", "0", "--upper", "1"], "outside the volume"),
        (["--seed", "1,1,1", "--lower", "5", "--upper", "1"], "above"),
        (["--seed", "1,1,1", "--lower", "0", "--upper", "1", "--connectivity", "8"], "connectivity"),
        (["--seed", "1,1,1", "--lower", "0", "--upper", "1", "--series", "1.2.3"], "no series"),
    ]:
        p = run("grow", phantom, *args, "-o", out, ok=False)
        if needle:
            assert p.returncode != 0 and needle in p.stderr, p.stderr
        assert not out.exists()
    p = run("grow", phantom, "--seed", "0,0,0", "--lower", "200", "--upper", "500", "-o", out)
    assert "outside the range" in p.stderr and "empty" in p.stderr
    assert np.asarray(nib.load(str(out)).dataobj).sum() == 0
