"""Label colour tables: mricron's atlas tables are picked up beside the mask (opening ch2 with
aal.nii.gz gives AAL's region names and its .nii.lut colours), ITK-SNAP label descriptions,
3D Slicer .ctbl and FreeSurfer LUT lines are read by --label-table, `project init
--label-table` makes the schema, and bad tables get one clear error naming file and line."""
import json
from pathlib import Path

import numpy as np

from conftest import need

MRICRON = Path("/usr/share/mricron/templates")


def table_after_apply(run, tmp_path, image, labels=None, table=None):
    (tmp_path / "none.json").write_text("[]")
    args = ["apply", image, "--ops", tmp_path / "none.json", "--backend", "cpu",
            "-o", tmp_path / "out.nii.gz"]
    if labels:
        args += ["--labels", labels]
    if table:
        args += ["--label-table", table]
    run(*args)
    side = json.loads((tmp_path / "out.labels.json").read_text())
    return {t["value"]: t for t in side["labels"]}


def test_aal_names_and_palette_beside_the_atlas(run, tmp_path):
    aal = need(MRICRON / "aal.nii.gz")
    got = table_after_apply(run, tmp_path, need(MRICRON / "ch2.nii.gz"), labels=aal)
    names = {}
    for line in (MRICRON / "aal.nii.txt").read_text().splitlines():
        parts = line.split()
        if parts:
            names[int(parts[0])] = parts[1]
    lut = np.frombuffer((MRICRON / "aal.nii.lut").read_bytes(), np.uint8).reshape(3, 256)
    assert len(got) == len(names) == 116
    for v, name in names.items():
        assert got[v]["name"] == name
        np.testing.assert_allclose(got[v]["color"], lut[:, v] / 255.0, atol=1e-6)
    assert got[1]["name"] == "Precentral_L"


def test_itksnap_slicer_and_freesurfer_tables(run, tmp_path):
    img = tmp_path / "ph.nii.gz"
    run("phantom", "--size", "20,18,12", "-o", img)
    snap = tmp_path / "snap.txt"
    snap.write_text(
        "################################################\n"
        "# ITK-SnAP Label Description File\n"
        "################################################\n"
        "    0     0    0    0        0  0  0    \"Clear Label\"\n"
        "    1   255    0    0        1  1  1    \"Liver parenchyma\"\n"
        "   12     0  128  255      0.5  1  0    \"Portal vein\"\n")
    got = table_after_apply(run, tmp_path, img, table=snap)
    assert set(got) == {1, 12}
    assert got[1]["name"] == "Liver parenchyma" and got[12]["name"] == "Portal vein"
    np.testing.assert_allclose(got[12]["color"], [0, 128 / 255, 1], atol=1e-6)
    ctbl = tmp_path / "t.ctbl"
    ctbl.write_text("# Color table file\n0 background 0 0 0 0\n3 kidney_left 10 20 30 255\n"
                    "4 kidney_right 40 50 60 255\n")
    got = table_after_apply(run, tmp_path, img, table=ctbl)
    assert got[3]["name"] == "kidney_left"
    np.testing.assert_allclose(got[4]["color"], [40 / 255, 50 / 255, 60 / 255], atol=1e-6)
    fs = tmp_path / "FreeSurferColorLUT.txt"
    fs.write_text("#$Id: FreeSurferColorLUT.txt $\n\n#No. Label Name:    R   G   B   A\n\n"
                  "0   Unknown                 0   0   0   0\n"
                  "2   Left-Cerebral-White-Matter  245 245 245 0\n"
                  "17  Left-Hippocampus        220 216  20 0\n")
    got = table_after_apply(run, tmp_path, img, table=fs)
    assert got[17]["name"] == "Left-Hippocampus"
    np.testing.assert_allclose(got[17]["color"], [220 / 255, 216 / 255, 20 / 255], atol=1e-6)


def test_project_init_from_a_table(run, tmp_path):
    r = run("project", "init", tmp_path / "proj", "--label-table", need(MRICRON / "aal.nii.txt"),
            "--json")
    assert json.loads(r.stdout)["labels"] == 116


def test_bad_tables_are_refused_with_the_line(run, tmp_path):
    img = tmp_path / "ph.nii.gz"
    run("phantom", "--size", "20,18,12", "-o", img)
    (tmp_path / "none.json").write_text("[]")
    for text, words in [("1 a 1 2 3 255\n1 b 4 5 6 255\n", "appears twice"),
                        ("300 big 1 2 3 255\n", "0..=255"),
                        ("2 x 999 0 0 255\n", "colours"),
                        ("# only comments\n", "no labels")]:
        t = tmp_path / "bad.ctbl"
        t.write_text(text)
        r = run("apply", img, "--ops", tmp_path / "none.json", "--label-table", t,
                "--backend", "cpu", "-o", tmp_path / "o.nii.gz", ok=False)
        assert r.returncode == 1 and "bad.ctbl" in r.stderr and words in r.stderr, r.stderr
