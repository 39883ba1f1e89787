"""3D Slicer segmentations (`.seg.nrrd`): `voxmark export-seg --format seg-nrrd` writes
Slicer's layout (checked with pynrrd: values, LPS geometry of the image, every Segment key and
extent), and a file in Slicer's layout made here — two layers with overlapping segments,
label values repeated across layers, cropped to the segments' extent — reads back as a label
map on the image's grid by the documented rule; voxmark's own file round-trips identically;
a segmentation on another grid is refused naming both grids."""
import json

import nibabel as nib
import nrrd
import numpy as np
import pytest

from conftest import apply_ops

RAS_FROM_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


@pytest.fixture()
def case(run, tmp_path):
    img = tmp_path / "ph.nii.gz"
    run("phantom", "--size", "40,36,24", "-o", img)
    ops = [{"op": "threshold", "range": [200, 3000], "label": 1},
           {"op": "threshold", "range": [-900, -400], "label": 2},
           {"op": "paint", "shape": "sphere", "points": [[20, 18, 12]], "radius_mm": 60,
            "label": 7, "editable": "empty_only"}]
    mask = tmp_path / "mask.nii.gz"
    apply_ops(run, img, ops, mask)
    return img, mask


def read_map(run, tmp_path, img, labels, name="back.nii.gz"):
    (tmp_path / "none.json").write_text("[]")
    out = tmp_path / name
    run("apply", img, "--labels", labels, "--ops", tmp_path / "none.json", "--backend", "cpu",
        "-o", out)
    return np.asarray(nib.load(str(out)).dataobj), out


def test_export_is_slicers_layout_and_round_trips(case, run, tmp_path):
    img, mask = case
    table = {"labels": [{"value": 1, "name": "bone", "color": [0.9, 0.85, 0.7]},
                        {"value": 2, "name": "lung", "color": [0.2, 0.4, 0.9]},
                        {"value": 9, "name": "empty one", "color": [0.1, 0.1, 0.1]}]}
    (tmp_path / "t.json").write_text(json.dumps(table))
    out = tmp_path / "out.seg.nrrd"
    run("export-seg", mask, "--image", img, "--format", "seg-nrrd", "-o", out,
        "--labels-json", tmp_path / "t.json")
    data, h = nrrd.read(str(out))
    m = np.asarray(nib.load(str(mask)).dataobj)
    np.testing.assert_array_equal(data, m)
    assert h["space"] == "left-posterior-superior" and h["encoding"] == "gzip"
    aff = nib.load(str(img)).affine
    lps = RAS_FROM_LPS @ aff
    np.testing.assert_allclose(h["space directions"], lps[:3, :3].T, atol=1e-12)
    np.testing.assert_allclose(h["space origin"], lps[:3, 3], atol=1e-12)
    assert h["Segmentation_MasterRepresentation"] == "Binary labelmap"
    segs = {}
    n = 0
    while f"Segment{n}_ID" in h:
        segs[int(h[f"Segment{n}_LabelValue"])] = {k: h[f"Segment{n}_{k}"] for k in
                                                   ("ID", "Name", "Layer", "Color", "Extent")}
        n += 1
    assert sorted(segs) == [1, 2, 7, 9]
    assert segs[1]["Name"] == "bone" and segs[2]["Name"] == "lung"
    assert segs[7]["Name"] == "label 7" and segs[9]["Name"] == "empty one"
    assert [float(x) for x in segs[2]["Color"].split()] == pytest.approx([0.2, 0.4, 0.9])
    assert all(s["Layer"] == "0" for s in segs.values())
    for v in (1, 2, 7):
        idx = np.argwhere(m == v)
        lo, hi = idx.min(0), idx.max(0)
        want = f"{lo[0]} {hi[0]} {lo[1]} {hi[1]} {lo[2]} {hi[2]}"
        assert segs[v]["Extent"] == want, v
    assert segs[9]["Extent"] == "0 -1 0 -1 0 -1"
    back, path = read_map(run, tmp_path, img, out)
    np.testing.assert_array_equal(back, m)
    side = json.loads(path.with_name("back.labels.json").read_text())
    names = {t["value"]: t["name"] for t in side["labels"]}
    assert names[1] == "bone" and names[2] == "lung"


def slicer_file(img, tmp_path):
    """A segmentation in Slicer's layout: two layers, overlapping segments, a repeated
    LabelValue, cropped to a box of `img`'s grid. Returns (path, layers, crop lo, crop hi)."""
    aff = nib.load(str(img)).affine
    # Two layers on a crop [5:30, 4:28, 2:20] of the image grid.
    lo, hi = np.array([5, 4, 2]), np.array([30, 28, 20])
    crop = tuple(hi - lo)
    layer0 = np.zeros(crop, np.uint8)
    layer0[2:15, 3:20, 1:10] = 1          # "liver", LabelValue 1
    layer0[16:24, 3:20, 1:16] = 2         # "spleen", LabelValue 2
    layer1 = np.zeros(crop, np.uint8)
    layer1[8:20, 5:12, 4:14] = 1          # "tumor", LabelValue 1 too, overlaps both
    data = np.stack([layer0, layer1])     # (layers, x, y, z)
    lps = RAS_FROM_LPS @ aff
    origin = lps[:3, :3] @ lo + lps[:3, 3]
    header = {
        "type": "uint8", "dimension": 4, "space": "left-posterior-superior",
        "kinds": ["list", "domain", "domain", "domain"], "encoding": "gzip",
        "space directions": np.vstack([[np.nan] * 3, lps[:3, :3].T]),
        "space origin": origin,
        "Segmentation_MasterRepresentation": "Binary labelmap",
        "Segmentation_ReferenceImageExtentOffset": " ".join(map(str, lo)),
    }
    for n, (sid, name, value, layer) in enumerate([("Segment_1", "liver", 1, 0),
                                                   ("Segment_2", "spleen", 2, 0),
                                                   ("Segment_3", "tumor", 1, 1)]):
        header.update({f"Segment{n}_ID": sid, f"Segment{n}_Name": name,
                       f"Segment{n}_LabelValue": str(value), f"Segment{n}_Layer": str(layer),
                       f"Segment{n}_Color": "0.5 0.5 0.5", f"Segment{n}_Extent": "0 1 0 1 0 1"})
    path = tmp_path / "slicer.seg.nrrd"
    nrrd.write(str(path), data, header)
    return path, (layer0, layer1), lo, hi


def test_slicer_layers_overlaps_and_cropping(case, run, tmp_path):
    img, _ = case
    shape = (40, 36, 24)
    path, (layer0, layer1), lo, hi = slicer_file(img, tmp_path)
    got, out = read_map(run, tmp_path, img, path)
    # The rule: unique LabelValues kept (spleen 2); repeated ones (liver, tumor: 1) take the
    # lowest free value in segment order (liver 1, tumor 3); later layers win on overlap.
    want = np.zeros(shape, np.uint8)
    sub = want[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    sub[layer0 == 1] = 1
    sub[layer0 == 2] = 2
    sub[layer1 == 1] = 3
    np.testing.assert_array_equal(got, want)
    side = json.loads(out.with_name("back.labels.json").read_text())
    names = {t["value"]: t["name"] for t in side["labels"]}
    assert names == {1: "liver", 2: "spleen", 3: "tumor"}


def test_a_segmentation_on_another_grid_is_refused(case, run, tmp_path):
    img, mask = case
    data = np.zeros((10, 10, 10), np.uint8)
    data[2:5, 2:5, 2:5] = 1
    path = tmp_path / "other.seg.nrrd"
    nrrd.write(str(path), data, {"space": "left-posterior-superior",
                                 "space directions": np.eye(3) * 0.77,
                                 "space origin": [0.3, 0.1, 0.0], "kinds": ["domain"] * 3,
                                 "Segment0_ID": "s", "Segment0_LabelValue": "1",
                                 "Segment0_Layer": "0"})
    (tmp_path / "none.json").write_text("[]")
    r = run("apply", img, "--labels", path, "--ops", tmp_path / "none.json", "--backend", "cpu",
            "-o", tmp_path / "x.nii.gz", ok=False)
    assert r.returncode == 1 and "other.seg.nrrd" in r.stderr and "grid" in r.stderr, r.stderr


def stl_vertices(path):
    raw = path.read_bytes()
    n = int.from_bytes(raw[80:84], "little")
    rec = np.frombuffer(raw[84:84 + n * 50],
                        dtype=np.dtype([("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")]))
    return rec["v"].reshape(-1, 3).astype(np.float64)


def test_mesh_reads_a_cropped_segmentation(case, run, tmp_path):
    """`mesh` on a cropped .seg.nrrd, alone (its own extent) and placed with `--image`, gives
    the same surface in world mm as the NIfTI label map it reads as."""
    img, _ = case
    path, _, _, _ = slicer_file(img, tmp_path)
    _, back = read_map(run, tmp_path, img, path)
    ref = tmp_path / "ref.stl"
    run("mesh", back, "--label", 3, "-o", ref)
    want = stl_vertices(ref)
    for extra in ([], ["--image", img]):
        out = tmp_path / "seg.stl"
        run("mesh", path, "--label", 3, "-o", out, *extra)
        got = stl_vertices(out)
        assert got.shape == want.shape
        key = lambda v: v[np.lexsort(np.round(v, 3).T[::-1])]
        np.testing.assert_allclose(key(got), key(want), atol=1e-4)
