"""From project to training set, checked against the tools that read it.

- STAPLE against SimpleITK's MultiLabelSTAPLEImageFilter on a real atlas (mricron's AAL)
  perturbed three ways, as annotators disagree.
- A 20-case project (10 phantom CT cases, 10 real MRI cases: mricron's ch2 with AAL
  structures as the labels) exported to nnU-Net v2's raw layout and checked with the rules of
  nnU-Net's `verify_dataset_integrity` (transcribed below from nnunetv2/experiment_planning/
  verify_dataset_integrity.py, reading with SimpleITK as its SimpleITKIO does; nnU-Net itself
  needs torch, which CI does not install), and to MONAI's datalist, resolved the way
  `monai.data.load_decathlon_datalist` resolves it (transcribed from
  monai/data/decathlon_datalist.py).
- The QA report rendered by headless Chromium (Debian's `chromium`) to a PNG.
"""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from conftest import data_required, need
from test_qa import TEMPLATES, perturb


def test_staple_matches_simpleitk_multilabel_staple(run, tmp_path):
    src = need(TEMPLATES / "aal.nii.gz")
    img = nib.load(str(src))
    # A 40-slice slab keeps SimpleITK's single-threaded EM to seconds.
    a = np.asarray(img.dataobj).astype(np.uint8)[:, :, 50:90]
    aff = img.affine.copy()
    aff[:3, 3] += aff[:3, 2] * 50
    maps = [perturb(a), np.roll(a, 1, axis=0), perturb(np.roll(a, -1, axis=1))]
    paths = []
    for n, m in enumerate(maps):
        p = tmp_path / f"m{n}.nii.gz"
        nib.save(nib.Nifti1Image(m, aff), str(p))
        paths.append(p)
    out = tmp_path / "staple.nii.gz"
    got_json = json.loads(run("consensus", *paths, "--method", "staple", "-o", out, "--json").stdout)
    got = np.asarray(nib.load(str(out)).dataobj)

    f = sitk.MultiLabelSTAPLEImageFilter()
    f.SetLabelForUndecidedPixels(0)
    f.SetTerminationUpdateThreshold(1e-5)
    want = sitk.GetArrayFromImage(
        f.Execute([sitk.ReadImage(str(p), sitk.sitkUInt8) for p in paths])
    ).transpose(2, 1, 0)
    agree = float((got == want).mean())
    assert agree >= 0.999, agree
    assert np.allclose(nib.load(str(out)).affine, aff)

    # Per-annotator estimates: SimpleITK's confusion matrices are (T+1) x T, row = the
    # label the annotator wrote, column = the true label; voxmark's are T x T.
    t = got_json["label_count"]
    for k, ann in enumerate(got_json["annotators"]):
        theirs = np.asarray(f.GetConfusionMatrix(k)).reshape(t + 1, t)[:t]
        ours = np.asarray(ann["confusion"])
        assert np.abs(ours - theirs).max() < 1e-3, (k, np.abs(ours - theirs).max())
        # Sensitivity per label is the diagonal.
        for perf in ann["labels"]:
            lab = perf["label"]
            assert abs(perf["sensitivity"] - theirs[lab, lab]) < 1e-3


# --- nnU-Net's integrity rules -------------------------------------------------------------

def nnunet_identifiers(folder, file_ending):
    files = sorted(os.listdir(os.path.join(folder, "imagesTr")))
    ids = sorted({f[: -(len(file_ending) + 5)] for f in files if f.endswith(file_ending)})
    return ids, files


def verify_dataset_integrity(folder):
    """nnU-Net v2's checks (verify_dataset_integrity.py), with SimpleITK as the reader."""
    ds = json.load(open(os.path.join(folder, "dataset.json")))
    for k in ["labels", "channel_names", "numTraining", "file_ending"]:
        assert k in ds, f"dataset.json lacks {k}"
    fe = ds["file_ending"]
    ids, files = nnunet_identifiers(folder, fe)
    assert len(ids) == ds["numTraining"], (len(ids), ds["numTraining"])
    labelfiles = [f for f in os.listdir(os.path.join(folder, "labelsTr")) if f.endswith(fe)]
    label_ids = [f[: -len(fe)] for f in labelfiles]
    missing = [i for i in ids if i not in label_ids]
    assert not missing, f"cases without labels: {missing}"
    expected = sorted(v for v in ds["labels"].values())
    assert all(np.ediff1d(expected) == 1), f"labels not consecutive: {expected}"
    nchan = len(ds["channel_names"])
    for i in ids:
        imgs = [f for f in files if re.fullmatch(re.escape(i) + r"_\d{4}" + re.escape(fe), f)]
        assert len(imgs) == nchan, (i, imgs)
        im = sitk.ReadImage(os.path.join(folder, "imagesTr", imgs[0]))
        seg = sitk.ReadImage(os.path.join(folder, "labelsTr", i + fe))
        a_im, a_seg = sitk.GetArrayFromImage(im), sitk.GetArrayFromImage(seg)
        assert not np.isnan(a_im).any() and not np.isnan(a_seg).any(), i
        found = np.unique(a_seg)
        assert set(found.tolist()) <= set(expected), (i, found, expected)
        assert a_im.shape == a_seg.shape, i
        assert np.allclose(im.GetSpacing(), seg.GetSpacing()), i
        assert np.allclose(im.GetOrigin(), seg.GetOrigin()), i
        assert np.allclose(im.GetDirection(), seg.GetDirection()), i
        # NibabelIO's check, too: the same affine.
        ni = nib.load(os.path.join(folder, "imagesTr", imgs[0]))
        ns = nib.load(os.path.join(folder, "labelsTr", i + fe))
        assert np.allclose(ni.affine, ns.affine), i
    return ds, ids


# --- MONAI's datalist loader ---------------------------------------------------------------

def load_decathlon_datalist(path, is_segmentation=True, key="training", base_dir=None):
    """monai.data.load_decathlon_datalist without torch: same path resolution."""
    path = Path(path)
    data = json.load(open(path))
    if key not in data:
        raise ValueError(f"{key} not in {path}")
    items = data[key]
    base = base_dir if base_dir is not None else path.parent

    def compute(elem, check):
        def join(item):
            r = os.path.normpath(os.path.join(base, item))
            return f"{item}" if check and not os.path.exists(r) else r
        if isinstance(elem, (str, os.PathLike)):
            return join(elem)
        if isinstance(elem, list) and all(isinstance(e, (str, os.PathLike)) for e in elem):
            return [join(e) for e in elem]
        return elem

    for it in items:
        for k, v in it.items():
            it[k] = compute(v, not (k == "image" or (is_segmentation and k == "label")))
    return items


SCHEMA = {"labels": [
    {"value": 3, "name": "structure-a", "color": [0.9, 0.3, 0.2]},
    {"value": 7, "name": "structure-b", "color": [0.2, 0.8, 0.3]},
]}


@pytest.fixture(scope="module")
def project20(run, tmp_path_factory):
    """A 20-case project: 10 phantom CT, 10 MRI (ch2 + AAL), two annotators on half."""
    ch2 = need(TEMPLATES / "ch2.nii.gz")
    aal = need(TEMPLATES / "aal.nii.gz")
    tmp = tmp_path_factory.mktemp("p20")
    data = tmp / "data"
    data.mkdir()
    masks = {}
    ch2_img = nib.load(str(ch2))
    aal_a = np.asarray(nib.load(str(aal)).dataobj).astype(np.uint8)
    for i in range(10):
        ph = data / f"ct{i:02}.nii.gz"
        run("phantom", "-o", ph, "--size", f"{40 + i},36,{12 + i % 3}")
        v = np.asarray(nib.load(str(ph)).dataobj)
        for who, t in (("alice", 0), ("bob", 40)):
            m = np.where(v > 300 + t, 7, np.where(v > -100 + t, 3, 0)).astype(np.uint8)
            masks[(f"ct{i:02}", who)] = (m, nib.load(str(ph)).affine)
        mr = data / f"mr{i:02}.nii.gz"
        # Each MRI case a slightly different crop of ch2 (real T1 intensities).
        z0 = 40 + 3 * i
        sub = np.asarray(ch2_img.dataobj)[:, :, z0:z0 + 30]
        aff = ch2_img.affine.copy()
        aff[:3, 3] += aff[:3, 2] * z0
        nib.save(nib.Nifti1Image(sub, aff), str(mr))
        lab = aal_a[:, :, z0:z0 + 30]
        base = np.where(np.isin(lab, [37, 38]), 3, np.where(np.isin(lab, [71, 72]), 7, 0)).astype(np.uint8)
        masks[(f"mr{i:02}", "alice")] = (base, aff)
        masks[(f"mr{i:02}", "bob")] = (np.roll(base, 1, axis=0), aff)
    schema = tmp / "schema.json"
    schema.write_text(json.dumps(SCHEMA))
    proj = tmp / "proj"
    run("project", "init", proj, "--schema", schema, "--name", "brain and body", "--annotators-per-case", "2")
    run("project", "add-cases", proj, data, "--data-root", data)
    cases = sorted({c for c, _ in masks})
    for who in ("alice", "bob"):
        mine = cases if who == "alice" else cases[::2]
        run("project", "assign", proj, "--annotator", who, "--cases", ",".join(mine))
        for c in mine:
            m, aff = masks[(c, who)]
            p = tmp / f"{c}-{who}.nii.gz"
            nib.save(nib.Nifti1Image(m, aff), str(p))
            run("project", "save", proj, c, "--annotator", who, "--mask", p, "--data-root", data)
            run("project", "submit", proj, c, "--annotator", who)
            run("project", "approve", proj, c, "--annotator", who, "--by", "lead")
    return {"proj": proj, "data": data, "masks": masks, "cases": cases, "tmp": tmp}


def test_nnunet_export_passes_nnunets_integrity_rules(run, project20, tmp_path):
    p = project20
    out = tmp_path / "raw"
    run("project", "export", p["proj"], "--format", "nnunet", "-o", out, "--dataset-id", "42",
        "--channel-name", "MRI", "--data-root", p["data"], "--include-partial")
    folder = out / "Dataset042_brain_and_body"
    ds, ids = verify_dataset_integrity(str(folder))
    assert ds["labels"] == {"background": 0, "structure-a": 1, "structure-b": 2}
    assert ids == p["cases"]
    remap = np.zeros(256, np.uint8)
    remap[3], remap[7] = 1, 2
    for c in p["cases"]:
        src = nib.load(str(p["data"] / f"{c}.nii.gz"))
        im = nib.load(str(folder / "imagesTr" / f"{c}_0000.nii.gz"))
        assert np.allclose(im.affine, src.affine, atol=1e-5), c
        assert np.array_equal(np.asarray(im.dataobj), np.asarray(src.dataobj)), c
        lab = np.asarray(nib.load(str(folder / "labelsTr" / f"{c}.nii.gz")).dataobj)
        a = p["masks"][(c, "alice")][0]
        if c in p["cases"][::2]:
            b = p["masks"][(c, "bob")][0]
            # Two annotators, majority: the voxels they agree on.
            want = np.where(a == b, a, 0)
        else:
            want = a
        assert np.array_equal(lab, remap[want]), c
    man = json.load(open(folder / "voxmark-manifest.json"))
    assert set(man["cases"]) == set(p["cases"])
    assert man["label_map"] == {"3": 1, "7": 2}


def test_monai_datalist_loads_the_way_monai_reads_it(run, project20, tmp_path):
    p = project20
    out = tmp_path / "monai"
    run("project", "export", p["proj"], "--format", "monai", "-o", out, "--folds", "5",
        "--channel-name", "MRI", "--data-root", p["data"], "--include-partial")
    items = load_decathlon_datalist(out / "datalist.json")
    assert len(items) == 20
    folds = [it["fold"] for it in items]
    assert sorted(set(folds)) == [0, 1, 2, 3, 4] and all(folds.count(f) == 4 for f in range(5))
    for it in items:
        assert os.path.isabs(it["image"]) and os.path.isfile(it["image"]), it
        assert os.path.isfile(it["label"]), it
        im, lab = nib.load(it["image"]), nib.load(it["label"])
        assert im.shape == lab.shape and np.allclose(im.affine, lab.affine)
    # Deterministic: a second export into another folder deals the same folds.
    out2 = tmp_path / "monai2"
    run("project", "export", p["proj"], "--format", "monai", "-o", out2, "--folds", "5",
        "--channel-name", "MRI", "--data-root", p["data"], "--include-partial")
    assert json.load(open(out2 / "datalist.json"))["training"] == json.load(open(out / "datalist.json"))["training"]


def chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if data_required():
            raise AssertionError("REQUIRE_DATA=1 but chromium is missing (apt install chromium)")
        pytest.skip("chromium not installed")
    return exe


def test_report_renders_in_headless_chromium(run, project20, tmp_path):
    exe = chromium()
    p = project20
    html = tmp_path / "report.html"
    rep = json.loads(run("project", "report", p["proj"], "-o", html, "--data-root", p["data"], "--json").stdout)
    # The MRI cases disagree by a shifted label: they are the flagged ones, with pictures.
    assert rep["flagged"], rep["notes"]
    assert all(f["with_image"] for f in rep["flagged"])
    assert {a["name"] for a in rep["annotators"]} == {"alice", "bob"}
    page = html.read_text()
    assert page.count("<svg") >= 4 and "data:image/png;base64," in page
    assert "http://" not in page.replace("http://www.w3.org", "") and "<script" not in page

    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'chrome-profile'}"]
    png = tmp_path / "report.png"
    r = subprocess.run([exe, *flags, f"--screenshot={png}", "--window-size=1300,3000",
                        "--hide-scrollbars", html.as_uri()], capture_output=True, text=True, timeout=120)
    assert png.is_file(), r.stderr[-2000:]
    shot = np.asarray(Image.open(png).convert("RGB"))
    # The plots' colours are on the page: the status lines, the bars.
    colours = {tuple(int(x) for x in c) for c in shot.reshape(-1, 3)[::7]}
    for want in [(44, 160, 44), (31, 119, 180)]:
        assert any(all(abs(a - b) <= 2 for a, b in zip(c, want)) for c in colours), want
    dom = subprocess.run([exe, *flags, "--dump-dom", html.as_uri()], capture_output=True,
                         text=True, timeout=120).stdout
    assert dom.count("<svg") >= 4 and "Flagged cases" in dom
    if os.environ.get("VOXMARK_ARTIFACTS"):
        shutil.copy(png, Path(os.environ["VOXMARK_ARTIFACTS"]) / "qa-report.png")
        shutil.copy(html, Path(os.environ["VOXMARK_ARTIFACTS"]) / "qa-report.html")


@pytest.mark.parametrize("fmt", ["seg-nrrd", "dicom-seg"])
def test_segmentation_layouts(fmt, run, project20, tmp_path):
    """`project export --format seg-nrrd|dicom-seg`: per case a Slicer segmentation beside the
    image as NRRD, or a DICOM SEG (these NIfTI sources: its own frame of reference), with the
    schema's values, names and the same majority fusion as the training layouts; both read
    back onto the case's image as the fused labels; the schema as ITK-SNAP and Slicer tables."""
    import nrrd
    p = project20
    out = tmp_path / fmt
    run("project", "export", p["proj"], "--format", fmt, "-o", out, "--data-root", p["data"],
        "--include-partial")
    (tmp_path / "none.json").write_text("[]")
    for c in p["cases"]:
        a = p["masks"][(c, "alice")][0]
        want = np.where(a == p["masks"][(c, "bob")][0], a, 0) if c in p["cases"][::2] else a
        src = p["data"] / f"{c}.nii.gz"
        label = out / c / ("label.seg.nrrd" if fmt == "seg-nrrd" else "seg.dcm")
        if fmt == "seg-nrrd":
            data, h = nrrd.read(str(label))
            assert np.array_equal(data, want), c
            names = {h[f"Segment{n}_LabelValue"]: h[f"Segment{n}_Name"]
                     for n in range(2) if f"Segment{n}_ID" in h}
            assert names == {"3": "structure-a", "7": "structure-b"}, names
            img, _ = nrrd.read(str(out / c / "image.nrrd"))
            assert np.array_equal(img, np.asarray(nib.load(str(src)).dataobj)), c
        back = tmp_path / "back.nii.gz"
        run("apply", src, "--labels", label, "--ops", tmp_path / "none.json", "--backend", "cpu",
            "-o", back)
        assert np.array_equal(np.asarray(nib.load(str(back)).dataobj), want), c
    assert (out / "labels.txt").is_file() and (out / "labels.ctbl").is_file()


@pytest.mark.parametrize("fmt", ["nnunet", "dicom-seg"])
def test_parallel_export_writes_what_a_serial_one_writes(fmt, run, project20, tmp_path):
    """`--jobs 2` (the cores of a CI machine) and `--jobs 1` write the same files byte for byte
    and the same manifest (but its time stamp), with STAPLE fusion; a re-run with two workers
    finds every case unchanged."""
    p = project20
    outs = {}
    for jobs in (1, 2):
        out = tmp_path / f"j{jobs}"
        r = run("project", "export", p["proj"], "--format", fmt, "-o", out, "--data-root",
                p["data"], "--include-partial", "--consensus", "staple", "--jobs", jobs,
                "--channel-name", "MRI", "--json")
        assert len(json.loads(r.stdout)["written"]) == len(p["cases"])
        outs[jobs] = out
    files = lambda d: sorted(f.relative_to(d) for f in d.rglob("*") if f.is_file())
    assert files(outs[1]) == files(outs[2]) and len(files(outs[1])) > len(p["cases"])
    for f in files(outs[1]):
        a, b = (outs[1] / f).read_bytes(), (outs[2] / f).read_bytes()
        if f.name == "voxmark-manifest.json":
            ma, mb = json.loads(a), json.loads(b)
            ma.pop("exported_at"), mb.pop("exported_at")
            if fmt == "dicom-seg":  # a SEG's new UIDs make its file hash differ per run
                for m in (ma, mb):
                    for c in m["cases"].values():
                        c.pop("label_sha256")
            assert ma == mb
        elif fmt == "dicom-seg" and f.suffix == ".dcm":
            # New SOP/series UIDs and times per run; the frames and segments are the same.
            import pydicom
            da, db = pydicom.dcmread(str(outs[1] / f)), pydicom.dcmread(str(outs[2] / f))
            assert da.PixelData == db.PixelData, f
            assert [s.SegmentLabel for s in da.SegmentSequence] == \
                [s.SegmentLabel for s in db.SegmentSequence]
        else:
            assert a == b, f
    r = run("project", "export", p["proj"], "--format", fmt, "-o", outs[2], "--data-root",
            p["data"], "--include-partial", "--consensus", "staple", "--jobs", 2,
            "--channel-name", "MRI", "--json")
    assert json.loads(r.stdout)["unchanged"] == len(p["cases"])
