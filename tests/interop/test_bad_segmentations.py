"""Bad segmentation and image files get one clear error naming the file (exit status 1, no
panic, nothing allocated for what the file cannot hold): DICOM SEGs with truncated pixels or
lying frame counts, .seg.nrrd files with impossible layers or values, NIfTI-2 headers that
promise more than the file holds or end early."""
import struct

import nibabel as nib
import numpy as np
import pydicom
import pytest

from conftest import apply_ops


@pytest.fixture()
def made(run, tmp_path):
    img = tmp_path / "ph.nii.gz"
    run("phantom", "--size", "24,20,10", "-o", img)
    mask = tmp_path / "m.nii.gz"
    apply_ops(run, img, [{"op": "threshold", "range": [200, 3000], "label": 2}], mask)
    seg = tmp_path / "good.dcm"
    run("export-seg", mask, "--image", img, "--format", "dicom-seg", "-o", seg)
    segn = tmp_path / "good.seg.nrrd"
    run("export-seg", mask, "--image", img, "--format", "seg-nrrd", "-o", segn)
    (tmp_path / "none.json").write_text("[]")
    return img, seg, segn


def refused(run, tmp_path, img, labels, words):
    r = run("apply", img, "--labels", labels, "--ops", tmp_path / "none.json",
            "--backend", "cpu", "-o", tmp_path / "o.nii.gz", ok=False)
    assert r.returncode == 1, r.stderr
    assert labels.name in r.stderr and words in r.stderr and "panicked" not in r.stderr, r.stderr


def test_bad_dicom_segs(made, run, tmp_path):
    img, seg, _ = made
    ds = pydicom.dcmread(str(seg))
    short = tmp_path / "short.dcm"
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 3]
    ds.save_as(str(short))
    refused(run, tmp_path, img, short, "truncated")
    ds = pydicom.dcmread(str(seg))
    ds.NumberOfFrames = int(ds.NumberOfFrames) + 1000000
    lying = tmp_path / "lying.dcm"
    ds.save_as(str(lying))
    refused(run, tmp_path, img, lying, "per-frame functional groups")
    ds = pydicom.dcmread(str(seg))
    ds.PerFrameFunctionalGroupsSequence[0].SegmentIdentificationSequence[0].ReferencedSegmentNumber = 9
    wrong = tmp_path / "wrongseg.dcm"
    ds.save_as(str(wrong))
    refused(run, tmp_path, img, wrong, "not in the Segment Sequence")


def test_bad_seg_nrrds(made, run, tmp_path):
    img, _, segn = made
    text = segn.read_bytes()
    head, body = text.split(b"\n\n", 1)
    for name, old, new, words in [
        ("layer.seg.nrrd", b"Segment0_Layer:=0", b"Segment0_Layer:=5", "layer 5"),
        ("value.seg.nrrd", b"Segment0_LabelValue:=2", b"Segment0_LabelValue:=two", "LabelValue"),
    ]:
        p = tmp_path / name
        assert old in head
        p.write_bytes(head.replace(old, new) + b"\n\n" + body)
        refused(run, tmp_path, img, p, words)
    p = tmp_path / "cut.seg.nrrd"
    p.write_bytes(head + b"\n\n" + body[:10])
    refused(run, tmp_path, img, p, "corrupt")


def test_bad_nifti2_headers(run, tmp_path):
    good = tmp_path / "g.nii"
    nib.save(nib.Nifti2Image(np.zeros((4, 4, 4), np.int16), np.eye(4)), str(good))
    raw = bytearray(good.read_bytes())
    bomb = bytearray(raw)
    struct.pack_into("<8q", bomb, 16, 3, 2**30, 2**30, 2**30, 1, 1, 1, 1)
    p = tmp_path / "bomb.nii"
    p.write_bytes(bytes(bomb))
    r = run("info", p, ok=False)
    assert r.returncode == 1 and "bomb.nii" in r.stderr and "panicked" not in r.stderr, r.stderr
    p = tmp_path / "cut.nii"
    p.write_bytes(bytes(raw[:400]))
    r = run("info", p, ok=False)
    assert r.returncode == 1 and "cut.nii" in r.stderr and "540" in r.stderr, r.stderr
