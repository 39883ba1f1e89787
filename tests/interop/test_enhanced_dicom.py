"""Enhanced multi-frame DICOM: a CT series converted by highdicom into a Legacy Converted
Enhanced CT image (one file, per-frame functional groups) loads exactly as the classic series
does, whatever the frame order; per-frame Pixel Value Transformation is applied frame by
frame (checked against pydicom); two temporal positions become series-like choices, each
loading its own frames."""
import copy
import glob

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.sequence import Sequence
from pydicom.dataset import Dataset

from conftest import apply_ops


@pytest.fixture()
def series(run, tmp_path):
    run("phantom", "--size", "40,36,24", "-o", str(tmp_path / "ct") + "/")
    srcs = [pydicom.dcmread(f) for f in sorted(glob.glob(str(tmp_path / "ct" / "*.dcm")))]
    classic = tmp_path / "classic.nii.gz"
    run("convert", tmp_path / "ct", classic)
    return srcs, nib.load(str(classic))


def enhanced(srcs, order):
    return hd.legacy.LegacyConvertedEnhancedCTImage(
        legacy_datasets=[srcs[i] for i in order], series_instance_uid=hd.UID(),
        series_number=5, sop_instance_uid=hd.UID(), instance_number=1)


def load(run, path, tmp_path, *extra):
    out = tmp_path / "out.nii.gz"
    run("convert", path, out, *extra)
    img = nib.load(str(out))
    return np.asarray(img.dataobj), img.affine


def test_legacy_converted_enhanced_ct_equals_the_classic_series(series, run, tmp_path):
    srcs, classic = series
    rng = np.random.default_rng(5)
    for n, order in enumerate([range(len(srcs)), rng.permutation(len(srcs))]):
        path = tmp_path / f"enh{n}.dcm"
        enhanced(srcs, list(order)).save_as(str(path))
        vals, aff = load(run, path, tmp_path)
        np.testing.assert_array_equal(vals, np.asarray(classic.dataobj))
        np.testing.assert_allclose(aff, classic.affine, atol=1e-9)


def test_per_frame_rescale(series, run, tmp_path):
    srcs, classic = series
    ds = enhanced(srcs, range(len(srcs)))
    for f, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        pvt = Dataset()
        pvt.RescaleSlope = "2"
        pvt.RescaleIntercept = str(-1000 + 3 * f)
        pvt.RescaleType = "HU"
        item.PixelValueTransformationSequence = Sequence([pvt])
    if "PixelValueTransformationSequence" in ds.SharedFunctionalGroupsSequence[0]:
        del ds.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence
    path = tmp_path / "rescaled.dcm"
    ds.save_as(str(path))
    back = pydicom.dcmread(str(path))
    stored = back.pixel_array.astype(np.float64)  # (frames, rows, cols)
    want = np.stack([stored[f] * 2 + (-1000 + 3 * f) for f in range(stored.shape[0])])
    # Slice k is the frame k-th along the slice normal; voxmark's array is (i, j, k).
    iop = np.array(back.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0]
                   .ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    pos = [float(np.dot(normal, np.array(f.PlanePositionSequence[0].ImagePositionPatient, float)))
           for f in back.PerFrameFunctionalGroupsSequence]
    want = want[np.argsort(pos)]
    vals, _ = load(run, path, tmp_path)
    np.testing.assert_array_equal(vals, want.transpose(2, 1, 0))


def test_temporal_positions_are_series_like_choices(series, run, tmp_path):
    srcs, classic = series
    ds = enhanced(srcs, range(len(srcs)))
    n = int(ds.NumberOfFrames)
    items = list(ds.PerFrameFunctionalGroupsSequence)
    both = []
    for t in (1, 2):
        for item in items:
            it = copy.deepcopy(item)
            fc = Dataset()
            fc.TemporalPositionIndex = t
            it.FrameContentSequence = Sequence([fc])
            both.append(it)
    ds.PerFrameFunctionalGroupsSequence = Sequence(both)
    px = ds.pixel_array.astype(np.int16)
    ds.PixelData = np.concatenate([px, px + 100]).astype(np.int16).tobytes()
    ds.NumberOfFrames = 2 * n
    path = tmp_path / "4d.dcm"
    ds.save_as(str(path))
    uid = ds.SeriesInstanceUID
    listing = run("info", path).stdout  # info lists the choices
    assert f"{uid}:-:1" in listing and f"{uid}:-:2" in listing, listing
    r = run("convert", path, tmp_path / "x.nii.gz", ok=False)  # a load asks which
    assert r.returncode == 1 and f"{uid}:-:2" in r.stderr, r.stderr
    first, _ = load(run, path, tmp_path, "--series", f"{uid}:-:1")
    second, _ = load(run, path, tmp_path, "--series", f"{uid}:-:2")
    np.testing.assert_array_equal(first, np.asarray(classic.dataobj))
    np.testing.assert_array_equal(second, np.asarray(classic.dataobj) + 100)


def test_seg_of_an_enhanced_source_references_its_frames(series, run, tmp_path):
    """A SEG made on an enhanced multi-frame image names the source frame of each of its
    frames (ReferencedFrameNumber) and the one source instance once; highdicom maps the SEG's
    pixels onto the source frames, and they are the mask's slices."""
    srcs, _ = series
    order = list(np.random.default_rng(9).permutation(len(srcs)))
    src = tmp_path / "enh.dcm"
    enhanced(srcs, order).save_as(str(src))
    ops = [{"op": "threshold", "range": [200, 3000], "label": 1},
           {"op": "threshold", "range": [-900, -400], "label": 2}]
    mask = tmp_path / "mask.nii.gz"
    apply_ops(run, src, ops, mask)
    out = tmp_path / "seg.dcm"
    run("export-seg", mask, "--image", src, "--format", "dicom-seg", "-o", out)
    ds = pydicom.dcmread(str(out))
    source = pydicom.dcmread(str(src))
    refs = ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence
    assert [r.ReferencedSOPInstanceUID for r in refs] == [source.SOPInstanceUID]
    src_pos = [np.array(f.PlanePositionSequence[0].ImagePositionPatient, float)
               for f in source.PerFrameFunctionalGroupsSequence]
    for f in ds.PerFrameFunctionalGroupsSequence:
        ref = f.DerivationImageSequence[0].SourceImageSequence[0]
        assert ref.ReferencedSOPInstanceUID == source.SOPInstanceUID
        n = int(ref.ReferencedFrameNumber)
        pos = np.array(f.PlanePositionSequence[0].ImagePositionPatient, float)
        np.testing.assert_allclose(pos, src_pos[n - 1], atol=1e-4)
    seg = hd.seg.segread(str(out))
    frames = list(range(1, len(srcs) + 1))
    px = seg.get_pixels_by_source_frame(source.SOPInstanceUID, frames, segment_numbers=[1, 2],
                                        combine_segments=True, skip_overlap_checks=True)
    # Source frame n lies on voxmark's slice k = rank of its position along the normal.
    iop = np.array(source.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0]
                   .ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    k_of = np.argsort(np.argsort([float(np.dot(normal, p)) for p in src_pos]))
    m = np.asarray(nib.load(str(mask)).dataobj)
    assert m.max() == 2
    for n in frames:
        np.testing.assert_array_equal(px[n - 1], m[:, :, k_of[n - 1]].T)
