"""Segmentations from other tools on reoriented grids (issue 33).

A SEG or `.seg.nrrd` made on a DICOM series opens on that series, on dcm2niix's NIfTI of it
(rows flipped) and on a permuted-axes copy made with nibabel, equal voxel for voxel to the
reference reoriented by nibabel (`ornt_transform` + `apply_orientation` between the affines,
the series' computed here from its pydicom headers). Writers: highdicom, pydicom/pynrrd-built
files and voxmark's own. A deflated SEG (pydicom) and an RLE one (highdicom) equal their
uncompressed twins; highdicom reads voxmark's LABELMAP with only the real segments
(PixelPaddingValue marks the background); `--resample nearest` equals SimpleITK's
nearest-neighbour resampling; a grid that shares no voxel centre with the image is refused
naming both grids; the overlap warning counts voxels."""
import json
import shutil
import subprocess

import highdicom as hd
import nibabel as nib
import nrrd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation, ornt_transform
from pydicom.sr.codedict import codes

from conftest import have_dcm2niix
from test_dicom_seg import (TABLE, ct, dice_rows, highdicom_seg,  # noqa: F401 (ct: fixture)
                            one_case_project)

RAS_FROM_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def series_affine(srcs):
    """The series' voxel (column, row, slice) to RAS world, from its DICOM headers."""
    r, c = np.array(srcs[0].ImageOrientationPatient, float).reshape(2, 3)
    n = np.cross(r, c)
    row_mm, col_mm = map(float, srcs[0].PixelSpacing)
    p0 = np.array(srcs[0].ImagePositionPatient, float)
    p1 = np.array(srcs[-1].ImagePositionPatient, float)
    a = np.eye(4)
    a[:3, 0], a[:3, 1] = r * col_mm, c * row_mm
    a[:3, 2] = n * np.dot(p1 - p0, n) / (len(srcs) - 1)
    a[:3, 3] = p0
    return RAS_FROM_LPS @ a


def reoriented(labels, affine, target):
    """`labels` (on `affine`) on the target image's voxel order, by nibabel; checks that
    the voxel centres are the same points (the premise of a lossless reorientation)."""
    ornt = ornt_transform(io_orientation(affine), io_orientation(target.affine))
    out = apply_orientation(labels, ornt)
    moved = affine @ inv_ornt_aff(ornt, labels.shape)
    assert out.shape == target.shape[:3]
    np.testing.assert_allclose(moved, target.affine, atol=1e-3)
    return out


@pytest.fixture()
def grids(ct, run, tmp_path):
    """The series, dcm2niix's NIfTI of it, and a permuted, flipped copy made with nibabel."""
    if not have_dcm2niix():
        pytest.skip("dcm2niix not installed")
    image, mask, srcs = ct
    p = subprocess.run(["dcm2niix", "-z", "y", "-f", "d2n", "-o", str(tmp_path), str(image)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    nii = tmp_path / "d2n.nii.gz"
    d2n = nib.load(str(nii))
    perm = tmp_path / "perm.nii.gz"
    nib.save(d2n.as_reoriented(np.array([[2, 1], [0, -1], [1, 1]])), str(perm))
    aff = series_affine(srcs)
    m = np.asarray(nib.load(str(mask)).dataobj).astype(np.uint8)
    # voxmark's own mask of the series is on the series' grid as computed here.
    np.testing.assert_allclose(nib.load(str(mask)).affine, aff, atol=1e-3)
    return {"image": image, "mask": mask, "srcs": srcs, "m": m, "aff": aff,
            "nii": nii, "perm": perm}


def convert(run, tmp_path, seg, image, name, *extra):
    out = tmp_path / name
    r = run("convert", seg, out, "--image", image, *extra)
    return np.asarray(nib.load(str(out)).dataobj), r.stderr


def test_segs_open_on_the_series_its_nifti_and_a_permuted_copy(grids, run, tmp_path):
    g = grids
    m, aff = g["m"], g["aff"]
    # Writers: voxmark (labels 1, 2, 7), highdicom BINARY (segments 1..3), highdicom LABELMAP.
    ours = tmp_path / "ours.dcm"
    run("export-seg", g["mask"], "--image", g["image"], "--format", "dicom-seg", "-o", ours,
        "--labels-json", tmp_path / "t.json")
    k_first = m.transpose(2, 1, 0)
    hd_bin = tmp_path / "hd_bin.dcm"
    pixels = np.stack([k_first == v for v in (1, 2, 7)], axis=-1).astype(np.uint8)
    highdicom_seg(g["srcs"], pixels, "BINARY", ["bone", "lung", "tumour"]).save_as(str(hd_bin))
    hd_lm = tmp_path / "hd_lm.dcm"
    lm = np.select([k_first == 1, k_first == 2, k_first == 7], [1, 2, 3], 0).astype(np.uint8)
    highdicom_seg(g["srcs"], lm, "LABELMAP", ["bone", "lung", "tumour"]).save_as(str(hd_lm))
    renumbered = np.select([m == 1, m == 2, m == 7], [1, 2, 3], 0).astype(np.uint8)
    for seg, want in ((ours, m), (hd_bin, renumbered), (hd_lm, renumbered)):
        got, err = convert(run, tmp_path, seg, g["image"], "on_series.nii.gz")
        np.testing.assert_array_equal(got, want)
        assert "voxel for voxel" not in err, err
        for target in (g["nii"], g["perm"]):
            img = nib.load(str(target))
            got, err = convert(run, tmp_path, seg, target, "on_target.nii.gz")
            np.testing.assert_array_equal(got, reoriented(want, aff, img))
            assert "voxel for voxel" in err, err
            assert np.allclose(nib.load(str(tmp_path / "on_target.nii.gz")).affine, img.affine,
                               atol=1e-4)


def test_nifti_masks_across_orientations_compare_and_save(grids, run, tmp_path):
    """A NIfTI mask on the permuted grid against the series' mask and a SEG: Dice 1 without
    resampling; `project save` of it stores the mask on the case's own grid."""
    g = grids
    m, aff = g["m"], g["aff"]
    perm_img = nib.load(str(g["perm"]))
    perm_mask = tmp_path / "perm_mask.nii.gz"
    nib.save(nib.Nifti1Image(reoriented(m, aff, perm_img), perm_img.affine), str(perm_mask))
    for args in ((g["mask"], perm_mask), (perm_mask, g["mask"])):
        r = run("compare", *args, "--json")
        rows = json.loads(r.stdout)
        rows = rows["labels"] if isinstance(rows, dict) else rows
        assert sorted(x["label"] for x in rows) == [1, 2, 7]
        assert all(abs(x["dice"] - 1.0) < 1e-12 for x in rows), rows
        assert "voxel for voxel" in r.stderr
    seg = tmp_path / "s.dcm"
    run("export-seg", g["mask"], "--image", g["image"], "--format", "dicom-seg", "-o", seg)
    r = run("compare", perm_mask, seg, "--json")
    rows = dice_rows(r.stdout)
    assert all(abs(x["dice"] - 1.0) < 1e-12 for x in rows), rows

    proj, case = one_case_project(run, tmp_path, g["image"])
    r = run("project", "save", proj, case, "--annotator", "ann", "--mask", perm_mask,
            "--data-root", g["image"].parent)
    assert "voxel for voxel" in r.stderr, r.stderr
    got = tmp_path / "got.nii.gz"
    run("project", "get", proj, case, "--annotator", "ann", "-o", got)
    stored = nib.load(str(got))
    np.testing.assert_array_equal(np.asarray(stored.dataobj), m)
    np.testing.assert_allclose(stored.affine, aff, atol=1e-3)


def test_seg_nrrd_over_a_row_flipped_ct(grids, run, tmp_path):
    """A `.seg.nrrd` written by pynrrd on the series' grid with its rows reversed, and
    voxmark's own on dcm2niix's NIfTI, open on the series voxel for voxel."""
    g = grids
    m, aff = g["m"], g["aff"]
    lps = RAS_FROM_LPS @ aff
    flipped = m[:, ::-1, :]
    origin = lps @ np.array([0, m.shape[1] - 1, 0, 1.0])
    dirs = np.stack([lps[:3, 0], -lps[:3, 1], lps[:3, 2]])
    header = {"type": "uint8", "dimension": 3, "space": "left-posterior-superior",
              "space directions": dirs, "space origin": origin[:3],
              "kinds": ["domain"] * 3, "encoding": "gzip"}
    for n, (v, name) in enumerate(((1, "bone"), (2, "lung"), (7, "tumour"))):
        header.update({f"Segment{n}_ID": f"Segment_{n}", f"Segment{n}_Name": name,
                       f"Segment{n}_LabelValue": str(v), f"Segment{n}_Layer": "0",
                       f"Segment{n}_Color": "0.5 0.5 0.5"})
    path = tmp_path / "flipped.seg.nrrd"
    nrrd.write(str(path), flipped, header)
    got, err = convert(run, tmp_path, path, g["image"], "a.nii.gz")
    np.testing.assert_array_equal(got, m)
    assert "voxel for voxel" in err and "axis j reversed" in err, err
    for target in (g["nii"], g["perm"]):
        got, _ = convert(run, tmp_path, path, target, "t.nii.gz")
        np.testing.assert_array_equal(got, reoriented(m, aff, nib.load(str(target))))
    # voxmark's own seg.nrrd on dcm2niix's NIfTI, read onto the series.
    on_nii = tmp_path / "on_nii.nii.gz"
    run("convert", path, on_nii, "--image", g["nii"])
    ours = tmp_path / "ours.seg.nrrd"
    run("export-seg", on_nii, "--image", g["nii"], "--format", "seg-nrrd", "-o", ours)
    got, _ = convert(run, tmp_path, ours, g["image"], "b.nii.gz")
    np.testing.assert_array_equal(got, m)


def test_deflated_and_rle_segs_equal_their_uncompressed_twins(ct, run, tmp_path):
    image, mask, srcs = ct
    m = np.asarray(nib.load(str(mask)).dataobj).transpose(2, 1, 0)
    pixels = np.stack([m == 1, m == 7], axis=-1).astype(np.uint8)
    plain = tmp_path / "plain.dcm"
    highdicom_seg(srcs, pixels, "BINARY", ["a", "b"]).save_as(str(plain))
    ds = pydicom.dcmread(str(plain))
    ds.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
    deflated = tmp_path / "deflated.dcm"
    ds.save_as(str(deflated), enforce_file_format=True)
    assert pydicom.dcmread(str(deflated)).file_meta.TransferSyntaxUID == \
        pydicom.uid.DeflatedExplicitVRLittleEndian
    assert deflated.stat().st_size < plain.stat().st_size
    want, _ = convert(run, tmp_path, plain, image, "plain.nii.gz")
    assert want.any()
    got, _ = convert(run, tmp_path, deflated, image, "deflated.nii.gz")
    np.testing.assert_array_equal(got, want)

    lm = np.select([m == 1, m == 2, m == 7], [1, 2, 3], 0).astype(np.uint8)
    for ts, name in ((pydicom.uid.ExplicitVRLittleEndian, "lm.dcm"),
                     (pydicom.uid.RLELossless, "lm_rle.dcm")):
        seg = hd.seg.Segmentation(
            source_images=srcs, pixel_array=lm,
            segmentation_type=hd.seg.SegmentationTypeValues.LABELMAP,
            segment_descriptions=[hd.seg.SegmentDescription(
                segment_number=n + 1, segment_label=s,
                segmented_property_category=codes.SCT.Tissue,
                segmented_property_type=codes.SCT.Tissue,
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL)
                for n, s in enumerate(("bone", "lung", "tumour"))],
            series_instance_uid=hd.UID(), series_number=2, sop_instance_uid=hd.UID(),
            instance_number=1, manufacturer="test", manufacturer_model_name="test",
            software_versions="1", device_serial_number="1", transfer_syntax_uid=ts)
        seg.save_as(str(tmp_path / name))
    assert pydicom.dcmread(str(tmp_path / "lm_rle.dcm")).file_meta.TransferSyntaxUID == \
        pydicom.uid.RLELossless
    want, _ = convert(run, tmp_path, tmp_path / "lm.dcm", image, "lm.nii.gz")
    np.testing.assert_array_equal(want, lm.transpose(2, 1, 0))
    got, _ = convert(run, tmp_path, tmp_path / "lm_rle.dcm", image, "lm_rle.nii.gz")
    np.testing.assert_array_equal(got, want)


def test_labelmap_background_is_pixel_padding_value(ct, run, tmp_path):
    """highdicom lists only the real segments of voxmark's LABELMAP; a file without
    PixelPaddingValue (voxmark's earlier ones) is still read the same."""
    image, mask, _ = ct
    out = tmp_path / "lm.dcm"
    run("export-seg", mask, "--image", image, "--format", "dicom-seg", "--segmentation-type",
        "labelmap", "-o", out, "--labels-json", tmp_path / "t.json")
    ds = pydicom.dcmread(str(out))
    assert ds.PixelPaddingValue == 0
    bg = [s for s in ds.SegmentSequence if s.SegmentNumber == 0]
    assert len(bg) == 1
    code = bg[0].SegmentedPropertyTypeCodeSequence[0]
    assert (code.CodeValue, code.CodingSchemeDesignator) == ("125040", "DCM")
    seg = hd.seg.segread(str(out))
    # (highdicom 0.28's `number_of_segments` subtracts the background a second time, for
    # its own LABELMAPs too; `segment_numbers` is the list it means.)
    assert list(seg.segment_numbers) == [1, 2, 3]
    m = np.asarray(nib.load(str(mask)).dataobj)
    got, _ = convert(run, tmp_path, out, image, "a.nii.gz")
    np.testing.assert_array_equal(got, m)
    del ds.PixelPaddingValue
    old = tmp_path / "old.dcm"
    ds.save_as(str(old))
    got, _ = convert(run, tmp_path, old, image, "b.nii.gz")
    np.testing.assert_array_equal(got, m)


def test_overlap_warning_counts_voxels(ct, run, tmp_path):
    image, _, srcs = ct
    shape = (len(srcs), 36, 40)
    a = np.zeros(shape, bool)
    b = np.zeros(shape, bool)
    c = np.zeros(shape, bool)
    a[2:8, 5:15, 5:15] = True
    b[4:10, 10:20, 10:20] = True
    c[5:6, 0:36, 12:13] = True
    several = int(((a.astype(int) + b + c) >= 2).sum())
    overwrites = int((a & b).sum() + (c & (a | b)).sum())
    assert several != overwrites  # the two counts differ for this layout
    seg = tmp_path / "ov.dcm"
    highdicom_seg(srcs, np.stack([a, b, c], -1).astype(np.uint8), "BINARY",
                  ["a", "b", "c"]).save_as(str(seg))
    _, err = convert(run, tmp_path, seg, image, "ov.nii.gz")
    assert f"{several} voxels belong to several segments" in err, err


def test_resample_nearest_equals_simpleitk(run, tmp_path):
    """A label map on a rotated, differently spaced grid: refused naming the rotation; with
    --resample nearest equal to SimpleITK's nearest-neighbour resampling, and the round
    trip it reports equal to SimpleITK's."""
    lab = np.zeros((40, 44, 36), np.uint8)
    ii, jj, kk = np.meshgrid(*[np.arange(n) for n in lab.shape], indexing="ij")
    lab[(ii - 18) ** 2 + (jj - 20) ** 2 + (kk - 16) ** 2 < 12 ** 2] = 1
    lab[(ii - 25) ** 2 + (jj - 24) ** 2 + (kk - 20) ** 2 < 6 ** 2] = 2
    la = np.diag([1.0, 1.0, 1.2, 1.0])
    la[:3, 3] = [-20.0, -22.0, -18.0]
    lab_path = tmp_path / "lab.nii.gz"
    nib.save(nib.Nifti1Image(lab, la), str(lab_path))
    t = np.deg2rad(7.0)
    rot = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    ia = np.eye(4)
    ia[:3, :3] = rot @ np.diag([1.37, 1.29, 1.51])
    ia[:3, 3] = [-17.31, -19.77, -16.13]
    img_path = tmp_path / "img.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((30, 34, 28), np.int16), ia), str(img_path))
    (tmp_path / "none.json").write_text("[]")
    out = tmp_path / "out.nii.gz"
    args = ("apply", img_path, "--labels", lab_path, "--ops", tmp_path / "none.json",
            "--backend", "cpu", "-o", out)
    r = run(*args, ok=False)
    assert r.returncode == 1 and "different grid" in r.stderr and "7.000°" in r.stderr, r.stderr
    assert "--resample nearest" in r.stderr and "lab.nii.gz" in r.stderr
    r = run(*args, "--resample", "nearest")
    got = np.asarray(nib.load(str(out)).dataobj)
    s_lab, s_img = sitk.ReadImage(str(lab_path)), sitk.ReadImage(str(img_path))
    ref = sitk.Resample(s_lab, s_img, sitk.Transform(), sitk.sitkNearestNeighbor, 0,
                        sitk.sitkUInt8)
    want = sitk.GetArrayFromImage(ref).transpose(2, 1, 0)
    assert (want != 0).sum() > 1000
    np.testing.assert_array_equal(got, want)
    back = sitk.Resample(ref, s_lab, sitk.Transform(), sitk.sitkNearestNeighbor, 0,
                         sitk.sitkUInt8)
    changed = int((sitk.GetArrayFromImage(back).transpose(2, 1, 0) != lab).sum())
    labelled = int((lab != 0).sum())
    assert f"{changed} of its {labelled} labelled voxels change label" in r.stderr, r.stderr


def test_grids_sharing_no_voxel_are_refused_naming_both(run, tmp_path):
    lab = np.zeros((10, 10, 10), np.uint8)
    lab[2:5, 2:5, 2:5] = 1
    img = np.zeros((10, 10, 10), np.int16)
    nib.save(nib.Nifti1Image(img, np.eye(4)), str(tmp_path / "img.nii.gz"))
    far = np.eye(4)
    far[:3, 3] = [500.0, 0.0, 0.0]
    nib.save(nib.Nifti1Image(lab, far), str(tmp_path / "far.nii.gz"))
    (tmp_path / "none.json").write_text("[]")
    for extra in ((), ("--resample", "nearest")):
        r = run("apply", tmp_path / "img.nii.gz", "--labels", tmp_path / "far.nii.gz", "--ops",
                tmp_path / "none.json", "-o", tmp_path / "o.nii.gz", *extra, ok=False)
        assert r.returncode == 1 and "far.nii.gz" in r.stderr, r.stderr
        assert "shares no voxel centre" in r.stderr or "do not overlap" in r.stderr, r.stderr
        assert "label map: 10×10×10 voxels" in r.stderr and "image: 10×10×10 voxels" in r.stderr
        assert "(R, A, S) = (500.000, 0.000000, 0.000000)" in r.stderr, r.stderr
    assert not (tmp_path / "o.nii.gz").exists()
    # A shift of 1.5 µm: the component, the amount and the tolerance are named.
    near = np.eye(4)
    near[:3, 3] = [0.0, 0.0015, 0.0]
    nib.save(nib.Nifti1Image(lab, near), str(tmp_path / "near.nii.gz"))
    r = run("apply", tmp_path / "img.nii.gz", "--labels", tmp_path / "near.nii.gz", "--ops",
            tmp_path / "none.json", "-o", tmp_path / "o.nii.gz", ok=False)
    assert "0.0015" in r.stderr and "mm in A" in r.stderr and "tolerance 0.001000 mm" in r.stderr, \
        r.stderr


def test_seg_info_convert_alone_and_as_an_image(ct, run, tmp_path):
    image, mask, srcs = ct
    seg = tmp_path / "s.dcm"
    run("export-seg", mask, "--image", image, "--format", "dicom-seg", "-o", seg,
        "--labels-json", tmp_path / "t.json")
    r = run("info", seg)
    assert "DICOM segmentation (BINARY)" in r.stdout and "bone" in r.stdout, r.stdout
    assert f"references series {srcs[0].SeriesInstanceUID} ({len(srcs)} instances)" in r.stdout
    j = json.loads(run("info", seg, "--json").stdout)
    ds = pydicom.dcmread(str(seg))
    assert j["frames"] == ds.NumberOfFrames and j["format"] == "dicom-seg"
    assert [s["name"] for s in j["segments"]] == ["bone", "Liver", "tumour"]
    assert [s["label_value"] for s in j["segments"]] == [1, 2, 7]
    # On its own grid (the frames'): every labelled voxel at the world point it has on the
    # series, nothing else labelled.
    own = tmp_path / "own.nii.gz"
    run("convert", seg, own)
    o = nib.load(str(own))
    ref = nib.load(str(mask))
    ol, rl = np.asarray(o.dataobj), np.asarray(ref.dataobj)
    for v in (1, 2, 7):
        pw = nib.affines.apply_affine(o.affine, np.argwhere(ol == v))
        rw = nib.affines.apply_affine(ref.affine, np.argwhere(rl == v))
        assert len(pw) == len(rw) > 0
        np.testing.assert_allclose(np.sort(pw.round(3), axis=0), np.sort(rw.round(3), axis=0),
                                   atol=1e-3)
    # Given where an image is expected: said what it is.
    (tmp_path / "none.json").write_text("[]")
    r = run("apply", seg, "--ops", tmp_path / "none.json", "-o", tmp_path / "x.nii.gz", ok=False)
    assert r.returncode == 1 and "segmentation" in r.stderr and "--labels" in r.stderr, r.stderr


def dcmqi_meta(path, names):
    """dcmqi's segmentation metadata for labels 1.. named `names`."""
    code = {"CodeValue": "85756007", "CodingSchemeDesignator": "SCT", "CodeMeaning": "Tissue"}
    path.write_text(json.dumps({
        "ContentCreatorName": "Reader1", "ClinicalTrialSeriesID": "1",
        "ClinicalTrialTimePointID": "1", "SeriesDescription": "dcmqi", "SeriesNumber": "300",
        "InstanceNumber": "1", "BodyPartExamined": "CHEST", "ContentLabel": "SEG",
        "ContentDescription": "dcmqi", "ClinicalTrialCoordinatingCenterName": "test",
        "segmentAttributes": [[{
            "labelID": v, "SegmentLabel": n, "SegmentDescription": n,
            "SegmentAlgorithmType": "MANUAL", "SegmentedPropertyCategoryCodeSequence": code,
            "SegmentedPropertyTypeCodeSequence": code, "recommendedDisplayRGBValue": [200, 80, 60]}
            for v, n in names]]}))
    return path


def dcmqi(tool, *args):
    exe = shutil.which(tool)
    assert exe, f"{tool} (PyPI dcmqi) is not installed: scripts/setup.sh installs it"
    p = subprocess.run([exe, *map(str, args)], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    return p


def test_dcmqi_segs_open_on_the_series_its_nifti_and_a_permuted_copy(grids, run, tmp_path):
    """dcmqi's itkimage2segimage (Slicer's converter), BINARY and LABELMAP, deflated as
    `--compress deflate` writes them, opens exactly on all three grids."""
    g = grids
    m, aff = g["m"], g["aff"]
    renumbered = np.select([m == 1, m == 2, m == 7], [1, 2, 3], 0).astype(np.uint8)
    meta = dcmqi_meta(tmp_path / "meta.json", [(1, "bone"), (2, "lung"), (7, "tumour")])
    for kind in ("binary", "labelmap"):
        seg = tmp_path / f"dcmqi_{kind}.dcm"
        dcmqi("itkimage2segimage", "--inputImageList", g["mask"], "--inputDICOMDirectory",
              g["image"], "--outputDICOM", seg, "--inputMetadata", meta,
              "--compress", "deflate", "--segmentationType", kind)
        assert pydicom.dcmread(str(seg)).file_meta.TransferSyntaxUID == \
            pydicom.uid.DeflatedExplicitVRLittleEndian
        got, _ = convert(run, tmp_path, seg, g["image"], "a.nii.gz")
        np.testing.assert_array_equal(got, renumbered)
        for target in (g["nii"], g["perm"]):
            got, err = convert(run, tmp_path, seg, target, "b.nii.gz")
            np.testing.assert_array_equal(got, reoriented(renumbered, aff,
                                                          nib.load(str(target))))


def test_dcmqi_reads_ours_with_only_the_real_segments(ct, run, tmp_path):
    """segimage2itkimage reads voxmark's BINARY and LABELMAP SEGs voxel for voxel on the
    series' geometry, listing bone, Liver and tumour — no Background segment."""
    image, mask, _ = ct
    m = np.asarray(nib.load(str(mask)).dataobj)
    want = np.select([m == 1, m == 2, m == 7], [1, 2, 3], 0)
    for kind in ("binary", "labelmap"):
        seg = tmp_path / f"{kind}.dcm"
        run("export-seg", mask, "--image", image, "--format", "dicom-seg",
            "--segmentation-type", kind, "-o", seg, "--labels-json", tmp_path / "t.json")
        out = tmp_path / f"dq_{kind}"
        out.mkdir()
        dcmqi("segimage2itkimage", "--inputDICOM", seg, "--outputDirectory", out,
              "--outputType", "nifti", "--mergeSegments")
        meta = json.loads((out / "meta.json").read_text())
        names = [s["SegmentLabel"] for s in meta["segmentAttributes"][0]]
        assert names == ["bone", "Liver", "tumour"], names
        merged = list(out.glob("*.nii.gz"))
        assert len(merged) == 1, merged
        img = nib.load(str(merged[0]))
        np.testing.assert_array_equal(np.asarray(img.dataobj), want)
        np.testing.assert_allclose(img.affine, nib.load(str(mask)).affine, atol=1e-3)
