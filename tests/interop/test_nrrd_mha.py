"""NRRD and MetaImage images: geometry and values exactly as SimpleITK (ITK's NrrdImageIO and
MetaImageIO) reads them, on files SimpleITK writes (oblique, anisotropic, signed/unsigned,
float, compressed or not, attached or detached); NRRD variants pynrrd writes (every space,
encodings raw/gzip/ascii, both endians, detached headers, no space at all) and hand-written
ones (byte skip, line skip, LIST and %d data files, a size-1 list axis); voxmark's own NRRD
output read back by pynrrd and SimpleITK; and bad files refused with one clear error."""
import json
from pathlib import Path

import nibabel as nib
import nrrd
import numpy as np
import pytest
import SimpleITK as sitk

from conftest import apply_ops, sitk_affine_ras

RAS_FROM_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def info_affine(run, path):
    p = run("info", "--json", path)
    return np.array(json.loads(p.stdout)["world_from_voxel"])


def values(run, path, tmp_path):
    out = tmp_path / "values.nii.gz"
    run("convert", path, out)
    img = nib.load(str(out))
    return np.asarray(img.dataobj), img.affine




def oblique_image(pixel, seed):
    rng = np.random.default_rng(seed)
    if pixel in (sitk.sitkFloat32, sitk.sitkFloat64):
        arr = rng.normal(0, 300, (7, 9, 11))
    elif pixel == sitk.sitkUInt8:
        arr = rng.integers(0, 256, (7, 9, 11))
    elif pixel in (sitk.sitkUInt16, sitk.sitkUInt32):
        arr = rng.integers(0, 60000, (7, 9, 11))
    else:
        arr = rng.integers(-3000, 3000, (7, 9, 11))
    img = sitk.GetImageFromArray(arr)
    img = sitk.Cast(img, pixel)
    a, b = 0.3, -0.2
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    img.SetDirection(tuple((rz @ rx).flatten()))
    img.SetSpacing((0.7, 1.3, 2.1))
    img.SetOrigin((-12.5, 30.25, 7.0))
    return img


PIXELS = {
    "int16": sitk.sitkInt16,
    "uint8": sitk.sitkUInt8,
    "uint16": sitk.sitkUInt16,
    "int32": sitk.sitkInt32,
    "uint32": sitk.sitkUInt32,
    "float32": sitk.sitkFloat32,
    "float64": sitk.sitkFloat64,
}


@pytest.mark.parametrize("ext", [".nrrd", ".nhdr", ".mha", ".mhd"])
@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("pixel", list(PIXELS))
def test_files_simpleitk_writes(ext, compress, pixel, run, tmp_path):
    src = tmp_path / f"img{ext}"
    sitk.WriteImage(oblique_image(PIXELS[pixel], 1), str(src), useCompression=compress)
    back = sitk.ReadImage(str(src))
    np.testing.assert_allclose(info_affine(run, src), sitk_affine_ras(back), rtol=0, atol=1e-12)
    got, affine = values(run, src, tmp_path)
    want = sitk.GetArrayFromImage(back).transpose(2, 1, 0)
    if pixel == "float64":
        np.testing.assert_allclose(got, want, rtol=1e-6)
    else:
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(affine, sitk_affine_ras(back), atol=1e-5)


SPACES = {
    "right-anterior-superior": np.eye(4),
    "left-anterior-superior": np.diag([-1.0, 1.0, 1.0, 1.0]),
    "left-posterior-superior": RAS_FROM_LPS,
    # Not anatomical: taken as LPS, as ITK does.
    "scanner-xyz": RAS_FROM_LPS,
    "3D-right-handed": RAS_FROM_LPS,
}


@pytest.mark.parametrize("space", list(SPACES))
@pytest.mark.parametrize("encoding", ["raw", "gzip", "ascii"])
@pytest.mark.parametrize("endian", ["little", "big"])
@pytest.mark.parametrize("detached", [False, True])
def test_pynrrd_variants(space, encoding, endian, detached, run, tmp_path):
    rng = np.random.default_rng(2)
    data = rng.integers(-2000, 2000, (6, 5, 4)).astype(np.int16)
    dirs = np.array([[0.0, 0.9, 0.1], [-1.1, 0.0, 0.2], [0.0, 0.3, 2.5]])
    origin = np.array([10.5, -20.25, 3.0])
    header = {"space": space, "space directions": dirs, "space origin": origin,
              "kinds": ["domain"] * 3, "encoding": encoding, "endian": endian}
    path = tmp_path / ("img.nhdr" if detached else "img.nrrd")
    nrrd.write(str(path), data, header, detached_header=detached)
    m = np.eye(4)
    m[:3, :3] = dirs.T
    m[:3, 3] = origin
    want = SPACES[space] @ m
    np.testing.assert_allclose(info_affine(run, path), want, atol=1e-12)
    got, _ = values(run, path, tmp_path)
    np.testing.assert_array_equal(got, data)


def test_no_space_spacings_and_axis_mins(run, tmp_path):
    data = np.arange(24, dtype=np.uint16).reshape(4, 3, 2)
    path = tmp_path / "plain.nrrd"
    nrrd.write(str(path), data, {"spacings": [0.5, 2.0, 3.0], "axis mins": [1.0, -2.0, 0.0],
                                 "centers": ["cell", "node", "cell"], "encoding": "raw"})
    back = sitk.ReadImage(str(path))
    np.testing.assert_allclose(info_affine(run, path), sitk_affine_ras(back), atol=1e-12)
    got, _ = values(run, path, tmp_path)
    np.testing.assert_array_equal(got, data)


def write_text(path, header, body=b""):
    path.write_bytes(header.encode() + body)


def test_skips_lists_patterns_and_a_list_axis(run, tmp_path):
    data = np.arange(2 * 3 * 4, dtype="<i2").reshape(4, 3, 2)  # (z, y, x) C order
    raw = data.tobytes()
    geom = ("space: left-posterior-superior\nspace directions: (1,0,0) (0,1,0) (0,0,1)\n"
            "space origin: (0,0,0)\n")
    want = data.transpose(2, 1, 0)
    # Attached data after two junk lines and 5 junk bytes.
    p = tmp_path / "skip.nrrd"
    write_text(p, "NRRD0004\ntype: short\ndimension: 3\nsizes: 2 3 4\nendian: little\n"
               "encoding: raw\nline skip: 2\nbyte skip: 5\n" + geom + "\n",
               b"junk one\njunk two\nxxxxx" + raw)
    np.testing.assert_array_equal(values(run, p, tmp_path)[0], want)
    # Detached, byte skip -1 (the data is the end of the file).
    (tmp_path / "tail.raw").write_bytes(b"HEADERJUNK" + raw)
    p = tmp_path / "tail.nhdr"
    write_text(p, "NRRD0004\ntype: short\ndimension: 3\nsizes: 2 3 4\nendian: little\n"
               "encoding: raw\nbyte skip: -1\ndata file: tail.raw\n" + geom)
    np.testing.assert_array_equal(values(run, p, tmp_path)[0], want)
    # One file per slice: LIST and a %03d pattern.
    for k in range(4):
        (tmp_path / f"slice{k:03d}.raw").write_bytes(data[k].tobytes())
    p = tmp_path / "list.nhdr"
    write_text(p, "NRRD0004\ntype: short\ndimension: 3\nsizes: 2 3 4\nendian: little\n"
               "encoding: raw\n" + geom + "data file: LIST\n"
               + "".join(f"slice{k:03d}.raw\n" for k in range(4)))
    np.testing.assert_array_equal(values(run, p, tmp_path)[0], want)
    p = tmp_path / "pattern.nhdr"
    write_text(p, "NRRD0004\ntype: short\ndimension: 3\nsizes: 2 3 4\nendian: little\n"
               "encoding: raw\n" + geom + "data file: slice%03d.raw 0 3 1\n")
    np.testing.assert_array_equal(values(run, p, tmp_path)[0], want)
    # A leading list axis of size 1 (a one-layer segmentation) is dropped.
    p = tmp_path / "layer.nrrd"
    write_text(p, "NRRD0004\ntype: short\ndimension: 4\nsizes: 1 2 3 4\nendian: little\n"
               "encoding: raw\nkinds: list domain domain domain\n"
               "space: left-posterior-superior\n"
               "space directions: none (1,0,0) (0,1,0) (0,0,1)\nspace origin: (0,0,0)\n\n", raw)
    np.testing.assert_array_equal(values(run, p, tmp_path)[0], want)


@pytest.mark.parametrize("out", ["out.nrrd", "out.nhdr"])
def test_voxmark_writes_nrrd_slicer_and_itk_read(out, run, tmp_path):
    src = tmp_path / "ph.nii.gz"
    run("phantom", "--size", "20,18,12", "-o", src)
    img = nib.load(str(src))
    path = tmp_path / out
    run("convert", src, path)
    data, h = nrrd.read(str(path))
    np.testing.assert_array_equal(data, np.asarray(img.dataobj))
    assert h["space"] == "left-posterior-superior"
    assert list(h["kinds"]) == ["domain"] * 3
    lps = RAS_FROM_LPS @ img.affine
    np.testing.assert_allclose(h["space directions"], lps[:3, :3].T, atol=1e-12)
    np.testing.assert_allclose(h["space origin"], lps[:3, 3], atol=1e-12)
    back = sitk.ReadImage(str(path))
    np.testing.assert_allclose(sitk_affine_ras(back), img.affine, atol=1e-9)
    # And voxmark reads its own file back on the same grid.
    np.testing.assert_allclose(info_affine(run, path), img.affine, atol=1e-12)


BAD = {
    "truncated.nrrd": ("NRRD0004\ntype: short\ndimension: 3\nsizes: 4 4 4\nendian: little\n"
                       "encoding: raw\n\n", b"\x00" * 10, "truncated"),
    "bomb.nrrd": ("NRRD0004\ntype: double\ndimension: 3\nsizes: 4000 4000 4000\n"
                  "endian: little\nencoding: gzip\n\n", b"\x1f\x8b\x08\x00" + b"\x00" * 20,
                  "cannot hold"),
    "textbomb.nrrd": ("NRRD0004\ntype: double\ndimension: 3\nsizes: 4000 4000 4000\n"
                      "encoding: ascii\n\n", b"1 2 3\n", "truncated"),
    "bz2.nrrd": ("NRRD0004\ntype: short\ndimension: 3\nsizes: 2 2 2\nendian: little\n"
                 "encoding: bzip2\n\n", b"BZh9", "bzip2"),
    "type.nrrd": ("NRRD0004\ntype: quaternion\ndimension: 3\nsizes: 2 2 2\nencoding: raw\n\n",
                  b"", "unknown NRRD type"),
    "sizes.nrrd": ("NRRD0004\ntype: short\ndimension: 3\nsizes: 2 2\nendian: little\n"
                   "encoding: raw\n\n", b"", "sizes"),
    "vector.nrrd": ("NRRD0004\ntype: uchar\ndimension: 4\nsizes: 3 2 2 2\nencoding: raw\n"
                    "kinds: RGB-color domain domain domain\n\n", b"\x00" * 24, "not spatial"),
    "trunc.mha": ("ObjectType = Image\nNDims = 3\nDimSize = 4 4 4\nElementType = MET_SHORT\n"
                  "ElementDataFile = LOCAL\n", b"\x00" * 10, "truncated"),
    "channels.mha": ("ObjectType = Image\nNDims = 3\nDimSize = 2 2 2\n"
                     "ElementNumberOfChannels = 3\nElementType = MET_UCHAR\n"
                     "ElementDataFile = LOCAL\n", b"\x00" * 24, "channels"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_files_get_one_clear_error(name, run, tmp_path):
    header, body, words = BAD[name]
    p = tmp_path / name
    write_text(p, header, body)
    r = run("info", p, ok=False)
    assert r.returncode == 1, r.stderr
    assert name in r.stderr and words in r.stderr, r.stderr
    assert "panicked" not in r.stderr


def test_metaimage_list_and_pattern_data_files(run, tmp_path):
    data = np.arange(2 * 3 * 4, dtype="<i2").reshape(4, 3, 2)  # (z, y, x)
    for k in range(4):
        (tmp_path / f"s{k:02d}.raw").write_bytes(data[k].tobytes())
    head = ("ObjectType = Image\nNDims = 3\nDimSize = 2 3 4\nElementType = MET_SHORT\n"
            "ElementSpacing = 1 1 1\n")
    want = data.transpose(2, 1, 0)
    p = tmp_path / "list.mhd"
    p.write_text(head + "ElementDataFile = LIST\n" + "".join(f"s{k:02d}.raw\n" for k in range(4)))
    np.testing.assert_array_equal(values(run, p, tmp_path)[0], want)
    p = tmp_path / "pattern.mhd"
    p.write_text(head + "ElementDataFile = s%02d.raw 0 3 1\n")
    np.testing.assert_array_equal(values(run, p, tmp_path)[0], want)
    p = tmp_path / "down.mhd"
    p.write_text(head + "ElementDataFile = s%02d.raw 3 0 -1\n")
    r = run("info", p, ok=False)
    assert r.returncode == 1 and "bad range" in r.stderr, r.stderr


@pytest.mark.parametrize("ext", [".mha", ".nrrd"])
def test_label_maps_in_itk_formats(ext, run, tmp_path):
    """A label map SimpleITK writes as MetaImage or NRRD is taken by `--labels` on the image's
    grid and meshed on its own grid, as the same NIfTI mask is."""
    img = tmp_path / "ph.nii.gz"
    run("phantom", "--size", "24,20,16", "-o", img)
    ops = [{"op": "threshold", "range": [200, 3000], "label": 3}]
    mask = tmp_path / "mask.nii.gz"
    apply_ops(run, img, ops, mask)
    other = tmp_path / f"mask{ext}"
    sitk.WriteImage(sitk.Cast(sitk.ReadImage(str(mask)), sitk.sitkUInt8), str(other), True)
    (tmp_path / "none.json").write_text("[]")
    back = tmp_path / "back.nii.gz"
    run("apply", img, "--labels", other, "--ops", tmp_path / "none.json", "--backend", "cpu",
        "-o", back)
    np.testing.assert_array_equal(np.asarray(nib.load(str(back)).dataobj),
                                  np.asarray(nib.load(str(mask)).dataobj))
    run("mesh", mask, "--label", 3, "-o", tmp_path / "a.stl")
    run("mesh", other, "--label", 3, "-o", tmp_path / "b.stl")
    a, b = ((tmp_path / n).read_bytes() for n in ("a.stl", "b.stl"))
    tri = lambda r: np.frombuffer(r[84:], np.dtype([("f", "<f4", 12), ("a", "<u2")]))["f"]
    assert len(a) == len(b) and len(a) > 84
    np.testing.assert_allclose(tri(a), tri(b), atol=1e-3)
