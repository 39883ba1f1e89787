"""DICOM Segmentation objects: `voxmark export-seg --format dicom-seg` on a CT series is read
by highdicom (the reference OHIF's and PACS tools' reading follows) with every voxel, every
frame's position (the source slice's own ImagePositionPatient) and the references to the
source series checked, and every element re-read by pydicom in strict validation mode;
a NIfTI source gets its own frame of reference; a SEG written by highdicom (an independent
writer) is read by voxmark; voxmark's own SEG comes back identical; a SEG on another grid is
refused."""
import glob
import json

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.sr.codedict import codes
from skimage.color import rgb2lab

from conftest import apply_ops

TABLE = {"labels": [{"value": 1, "name": "bone", "color": [0.9, 0.85, 0.7]},
                    {"value": 2, "name": "Liver", "color": [0.8, 0.3, 0.2]},
                    {"value": 7, "name": "tumour", "color": [0.1, 0.9, 0.2]}]}


@pytest.fixture()
def ct(run, tmp_path):
    run("phantom", "--size", "40,36,24", "-o", str(tmp_path / "ct") + "/")
    ops = [{"op": "threshold", "range": [200, 3000], "label": 1},
           {"op": "threshold", "range": [-900, -400], "label": 2},
           {"op": "paint", "shape": "sphere", "points": [[20, 18, 12]], "radius_mm": 60,
            "label": 7, "editable": "empty_only"}]
    mask = tmp_path / "mask.nii.gz"
    apply_ops(run, tmp_path / "ct", ops, mask)
    (tmp_path / "t.json").write_text(json.dumps(TABLE))
    srcs = [pydicom.dcmread(f) for f in glob.glob(str(tmp_path / "ct" / "*.dcm"))]
    normal = np.cross(*np.array(srcs[0].ImageOrientationPatient, float).reshape(2, 3))
    srcs.sort(key=lambda d: float(np.dot(normal, np.array(d.ImagePositionPatient, float))))
    return tmp_path / "ct", mask, srcs


def highdicom_seg(srcs, pixels, kind, names):
    """A SEG written by highdicom's own Segmentation class (an independent writer)."""
    descs = [hd.seg.SegmentDescription(
        segment_number=n + 1, segment_label=name,
        segmented_property_category=codes.SCT.Tissue, segmented_property_type=codes.SCT.Tissue,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL)
        for n, name in enumerate(names)]
    return hd.seg.Segmentation(
        source_images=srcs, pixel_array=pixels,
        segmentation_type=getattr(hd.seg.SegmentationTypeValues, kind),
        segment_descriptions=descs, series_instance_uid=hd.UID(), series_number=2,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="test",
        manufacturer_model_name="test", software_versions="1", device_serial_number="1")


def dice_rows(stdout):
    """The per-label rows of `compare --json`."""
    rows = json.loads(stdout)
    return rows["labels"] if isinstance(rows, dict) else rows


def one_case_project(run, tmp_path, image):
    """A project (schema bone 1, lung 2, tumour 7) whose one case, `image`, is assigned to
    annotator "ann"; returns the project folder and the case id."""
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"labels": [
        {"value": v, "name": n, "color": [0.5, 0.5, 0.5]}
        for v, n in ((1, "bone"), (2, "lung"), (7, "tumour"))]}))
    proj = tmp_path / "proj"
    run("project", "init", proj, "--schema", schema)
    run("project", "add-cases", proj, image, "--data-root", image.parent)
    case = json.loads(run("project", "cases", proj, "--json").stdout)[0]["case"]
    run("project", "assign", proj, "--annotator", "ann", "--cases", case)
    return proj, case


def read_back(run, tmp_path, image, labels):
    (tmp_path / "none.json").write_text("[]")
    out = tmp_path / "back.nii.gz"
    run("apply", image, "--labels", labels, "--ops", tmp_path / "none.json", "--backend", "cpu",
        "-o", out)
    return np.asarray(nib.load(str(out)).dataobj), out


def strict_read(path):
    old = pydicom.config.settings.reading_validation_mode
    pydicom.config.settings.reading_validation_mode = pydicom.config.RAISE
    try:
        ds = pydicom.dcmread(str(path))
        ds.walk(lambda d, e: e.value)  # every element parsed under strict validation
        return ds
    finally:
        pydicom.config.settings.reading_validation_mode = old


def test_ct_series_seg_read_by_highdicom(ct, run, tmp_path):
    image, mask, srcs = ct
    out = tmp_path / "seg.dcm"
    run("export-seg", mask, "--image", image, "--format", "dicom-seg", "-o", out,
        "--labels-json", tmp_path / "t.json", "--semiautomatic", "7", "--author", "Ann Otator")
    ds = strict_read(out)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4" and ds.Modality == "SEG"
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.StudyInstanceUID == srcs[0].StudyInstanceUID
    assert ds.FrameOfReferenceUID == srcs[0].FrameOfReferenceUID
    assert ds.SeriesInstanceUID != srcs[0].SeriesInstanceUID
    assert ds.PatientID == srcs[0].PatientID
    ref = ds.ReferencedSeriesSequence[0]
    assert ref.SeriesInstanceUID == srcs[0].SeriesInstanceUID
    assert {r.ReferencedSOPInstanceUID for r in ref.ReferencedInstanceSequence} == \
        {d.SOPInstanceUID for d in srcs}

    seg = hd.seg.segread(str(out))
    assert seg.segmentation_type == hd.seg.SegmentationTypeValues.BINARY
    assert seg.number_of_segments == 3
    by_label = {s.SegmentLabel: s for s in seg.SegmentSequence}
    assert set(by_label) == {"bone", "Liver", "tumour"}
    assert by_label["tumour"].SegmentAlgorithmType == "SEMIAUTOMATIC"
    assert by_label["bone"].SegmentAlgorithmType == "MANUAL"
    assert by_label["Liver"].SegmentedPropertyTypeCodeSequence[0].CodeValue == "10200004"
    assert by_label["tumour"].SegmentedPropertyTypeCodeSequence[0].CodeValue == "108369006"
    assert by_label["bone"].SegmentedPropertyTypeCodeSequence[0].CodeValue == "272673000"
    for t in TABLE["labels"]:
        s = by_label[t["name"]]
        lab = rgb2lab(np.array([[t["color"]]]))[0, 0]
        want = [lab[0] / 100 * 65535, (lab[1] + 128) / 255 * 65535, (lab[2] + 128) / 255 * 65535]
        np.testing.assert_allclose(s.RecommendedDisplayCIELabValue, want, atol=70)

    m = np.asarray(nib.load(str(mask)).dataobj)
    uids = [d.SOPInstanceUID for d in srcs]
    numbers = {s.SegmentLabel: s.SegmentNumber for s in seg.SegmentSequence}
    value_of = {t["name"]: t["value"] for t in TABLE["labels"]}
    arr = seg.get_pixels_by_source_instance(
        uids, segment_numbers=[numbers[n] for n in ("bone", "Liver", "tumour")],
        combine_segments=False)
    for c, name in enumerate(("bone", "Liver", "tumour")):
        # highdicom: (instances, rows, cols) = (k, j, i); voxmark's mask is (i, j, k).
        np.testing.assert_array_equal(arr[..., c], (m == value_of[name]).transpose(2, 1, 0))
    # Every frame sits exactly where its source slice is.
    ipp_of = {d.SOPInstanceUID: [float(x) for x in d.ImagePositionPatient] for d in srcs}
    for f in ds.PerFrameFunctionalGroupsSequence:
        src = f.DerivationImageSequence[0].SourceImageSequence[0]
        assert src.ReferencedSOPClassUID == srcs[0].SOPClassUID
        pos = [float(x) for x in f.PlanePositionSequence[0].ImagePositionPatient]
        assert pos == ipp_of[src.ReferencedSOPInstanceUID]
    assert ds.NumberOfFrames == sum(
        int((m == v).any(axis=(0, 1)).sum()) for v in (1, 2, 7))

    back, out_nii = read_back(run, tmp_path, image, out)
    np.testing.assert_array_equal(back, m)
    side = json.loads(out_nii.with_name("back.labels.json").read_text())
    assert {t["value"]: t["name"] for t in side["labels"]} == {1: "bone", 2: "Liver", 7: "tumour"}


def test_nifti_source_gets_its_own_frame_of_reference(run, tmp_path):
    img = tmp_path / "ph.nii.gz"
    run("phantom", "--size", "30,28,16", "-o", img)
    mask = tmp_path / "m.nii.gz"
    apply_ops(run, img, [{"op": "threshold", "range": [200, 3000], "label": 3}], mask)
    out = tmp_path / "seg.dcm"
    r = run("export-seg", mask, "--image", img, "--format", "dicom-seg", "-o", out)
    assert "not DICOM" in r.stderr
    ds = strict_read(out)
    assert "ReferencedSeriesSequence" not in ds and ds.FrameOfReferenceUID
    aff = np.diag([-1.0, -1.0, 1.0, 1.0]) @ nib.load(str(img)).affine
    seg = hd.seg.segread(str(out))
    assert seg.number_of_segments == 1
    m = np.asarray(nib.load(str(mask)).dataobj)
    for f in ds.PerFrameFunctionalGroupsSequence:
        pos = np.array([float(x) for x in f.PlanePositionSequence[0].ImagePositionPatient])
        k = np.linalg.solve(aff[:3, :3], pos - aff[:3, 3])
        assert np.allclose(k[:2], 0, atol=1e-4) and abs(k[2] - round(k[2])) < 1e-4
    back, _ = read_back(run, tmp_path, img, out)
    np.testing.assert_array_equal(back, m)


def test_seg_written_by_highdicom_is_read(ct, run, tmp_path):
    image, mask, srcs = ct
    m = np.asarray(nib.load(str(mask)).dataobj).transpose(2, 1, 0)  # (k, j, i)
    pixels = np.stack([(m == 1), (m == 7)], axis=-1).astype(np.uint8)
    path = tmp_path / "hd.dcm"
    highdicom_seg(srcs, pixels, "BINARY", ["first", "second"]).save_as(str(path))
    back, out = read_back(run, tmp_path, image, path)
    want = np.zeros(m.shape, np.uint8)
    want[m == 1] = 1
    want[m == 7] = 2
    np.testing.assert_array_equal(back, want.transpose(2, 1, 0))
    side = json.loads(out.with_name("back.labels.json").read_text())
    assert {t["value"]: t["name"] for t in side["labels"]} == {1: "first", 2: "second"}


def test_a_seg_on_another_grid_is_refused(ct, run, tmp_path):
    image, mask, _ = ct
    out = tmp_path / "seg.dcm"
    run("export-seg", mask, "--image", image, "--format", "dicom-seg", "-o", out)
    other = tmp_path / "other.nii.gz"
    run("phantom", "--size", "40,36,20", "-o", other)
    (tmp_path / "none.json").write_text("[]")
    r = run("apply", other, "--labels", out, "--ops", tmp_path / "none.json", "--backend", "cpu",
            "-o", tmp_path / "x.nii.gz", ok=False)
    assert r.returncode == 1 and "seg.dcm" in r.stderr and "grid" in r.stderr, r.stderr


def test_labelmap_seg_both_ways(ct, run, tmp_path):
    """LABELMAP (Supplement 243): voxmark's is read by highdicom voxel for voxel and comes
    back identical; highdicom's is read by voxmark (segment numbers as labels)."""
    image, mask, srcs = ct
    out = tmp_path / "lm.dcm"
    run("export-seg", mask, "--image", image, "--format", "dicom-seg", "--segmentation-type",
        "labelmap", "-o", out, "--labels-json", tmp_path / "t.json")
    ds = strict_read(out)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.7" and ds.BitsAllocated == 8
    m = np.asarray(nib.load(str(mask)).dataobj)
    assert ds.NumberOfFrames == int((m != 0).any(axis=(0, 1)).sum())
    seg = hd.seg.segread(str(out))
    assert seg.segmentation_type == hd.seg.SegmentationTypeValues.LABELMAP
    numbers = {s.SegmentLabel: s.SegmentNumber for s in seg.SegmentSequence}
    value_of = {t["name"]: t["value"] for t in TABLE["labels"]}
    uids = [d.SOPInstanceUID for d in srcs]
    arr = seg.get_pixels_by_source_instance(
        uids, segment_numbers=[numbers[n] for n in ("bone", "Liver", "tumour")],
        combine_segments=False)
    for c, name in enumerate(("bone", "Liver", "tumour")):
        np.testing.assert_array_equal(arr[..., c], (m == value_of[name]).transpose(2, 1, 0))
    back, _ = read_back(run, tmp_path, image, out)
    np.testing.assert_array_equal(back, m)

    px = np.zeros((len(srcs), 36, 40), np.uint8)
    px[3:6, 5:9, 5:9] = 1
    px[10:12, 10:20, 10:20] = 2
    path = tmp_path / "hd_lm.dcm"
    highdicom_seg(srcs, px, "LABELMAP", ["s1", "s2"]).save_as(str(path))
    back, _ = read_back(run, tmp_path, image, path)
    np.testing.assert_array_equal(back, px.transpose(2, 1, 0))


def test_segmentations_in_compare_consensus_and_project_save(ct, run, tmp_path):
    """The commands that take label maps without an image read SEGs and .seg.nrrd files
    onto `--image`'s grid; `project save --mask` reads them onto the case's image."""
    image, mask, _ = ct
    seg = tmp_path / "seg.dcm"
    run("export-seg", mask, "--image", image, "--format", "dicom-seg", "-o", seg)
    segn = tmp_path / "m.seg.nrrd"
    run("export-seg", mask, "--image", image, "--format", "seg-nrrd", "-o", segn)
    r = run("compare", mask, seg, "--image", image, "--json")
    rows = dice_rows(r.stdout)
    assert rows and all(abs(x["dice"] - 1.0) < 1e-12 for x in rows), rows
    # Without --image the SEG's frames are placed on the NIfTI mask's grid.
    r = run("compare", seg, mask, "--json")
    rows = dice_rows(r.stdout)
    assert rows and all(abs(x["dice"] - 1.0) < 1e-12 for x in rows), rows
    out = tmp_path / "cons.nii.gz"
    run("consensus", seg, segn, mask, "--image", image, "-o", out)
    m = np.asarray(nib.load(str(mask)).dataobj)
    np.testing.assert_array_equal(np.asarray(nib.load(str(out)).dataobj), m)

    proj, case = one_case_project(run, tmp_path, image)
    run("project", "save", proj, case, "--annotator", "ann", "--mask", seg,
        "--data-root", image.parent)
    got = tmp_path / "got.nii.gz"
    run("project", "get", proj, case, "--annotator", "ann", "-o", got)
    np.testing.assert_array_equal(np.asarray(nib.load(str(got)).dataobj), m)


def test_mesh_reads_a_seg_on_its_source_grid(ct, run, tmp_path):
    """`mesh` of a SEG's segment on `--image`'s grid is the NIfTI mask's mesh, triangle for
    triangle;
    without `--image` it asks for one."""
    image, mask, _ = ct
    seg = tmp_path / "seg.dcm"
    run("export-seg", mask, "--image", image, "--format", "dicom-seg", "-o", seg)
    for label in (1, 7):
        run("mesh", mask, "--label", label, "-o", tmp_path / "ref.stl")
        run("mesh", seg, "--label", label, "--image", image, "-o", tmp_path / "seg.stl")
        ref, got = (tmp_path / "ref.stl").read_bytes(), (tmp_path / "seg.stl").read_bytes()
        assert len(got) > 84 and len(got) == len(ref), label
        # The same triangles in the same order; the series' affine and the NIfTI's (float32
        # sform) differ in the last bits.
        tri = lambda b: np.frombuffer(b[84:], np.dtype([("f", "<f4", 12), ("a", "<u2")]))["f"]
        np.testing.assert_allclose(tri(got), tri(ref), atol=1e-3)
    # Without --image: on the grid the SEG's frames define (as dcmqi's segimage2itkimage),
    # the same surface in world space.
    for label in (1, 7):
        run("mesh", mask, "--label", label, "-o", tmp_path / "ref.stl")
        run("mesh", seg, "--label", label, "-o", tmp_path / "own.stl")
        ref, got = (tmp_path / "ref.stl").read_bytes(), (tmp_path / "own.stl").read_bytes()
        tri = lambda b: np.frombuffer(b[84:], np.dtype([("f", "<f4", 12), ("a", "<u2")]))["f"]
        key = lambda t: np.sort(np.round(t.reshape(-1, 3), 3).view([("", "<f4")] * 3).ravel())
        assert len(got) == len(ref), label
        np.testing.assert_allclose(key(tri(got)).view("<f4"), key(tri(ref)).view("<f4"), atol=2e-3)
