"""Markups files: what `voxmark markups edit` writes is valid against 3D Slicer's published
Markups JSON schema (tests/data/markups, jsonschema draft 7), in LPS as Slicer writes, with
Slicer's measurements; it reads back to the same markups; a file laid out as Slicer 5 writes
it (point list, RAS and LPS, an ROI) reads with the right RAS positions; the ML export's voxel
coordinates and box voxel ranges agree with nibabel's inverse affine."""
import json
from pathlib import Path

import jsonschema
import nibabel as nib
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "tests/data/markups/markups-schema-v1.0.3.json").read_text())

EDITS = [
    {"action": "add", "markup": {"id": 0, "kind": "point", "points": [[10.5, -20.25, 30.0]],
                                 "name": "carina", "label": 3}},
    {"action": "add", "markup": {"id": 0, "kind": "point", "points": [[-40.0, 5.0, -12.5]]}},
    {"action": "add", "markup": {"id": 0, "kind": "line",
                                 "points": [[0.0, 0.0, 0.0], [30.0, 40.0, 0.0]]}},
    {"action": "add", "markup": {"id": 0, "kind": "box",
                                 "points": [[-30.0, -25.0, -10.0], [20.0, 35.0, 22.0]],
                                 "name": "lesion box", "label": 1}},
    {"action": "add", "markup": {"id": 0, "kind": "polyline",
                                 "points": [[0, 0, 0], [10, 0, 0], [10, 10, 0], [10, 10, 10]]}},
    {"action": "add", "markup": {"id": 0, "kind": "closed_curve",
                                 "points": [[0, 0, 5], [40, 0, 5], [40, 30, 5], [0, 30, 5]]}},
    {"action": "add", "markup": {"id": 0, "kind": "angle",
                                 "points": [[10, 0, 0], [0, 0, 0], [5, 10, 10]]}},
    {"action": "move_point", "id": 3, "index": 1, "to": [30.0, 40.0, 120.0]},
    {"action": "delete", "id": 2},
]


def make(run, tmp_path):
    (tmp_path / "edits.json").write_text(json.dumps(EDITS))
    f = tmp_path / "m.mrk.json"
    run("markups", "edit", f, "--edits", tmp_path / "edits.json", "--author", "tester")
    return f


def test_written_file_is_schema_valid_slicer_json(run, tmp_path):
    f = make(run, tmp_path)
    doc = json.loads(f.read_text())
    jsonschema.Draft7Validator(SCHEMA).validate(doc)
    types = [m["type"] for m in doc["markups"]]
    assert types == ["Fiducial", "Line", "ROI", "Curve", "ClosedCurve", "Angle"]
    assert all(m["coordinateSystem"] == "LPS" for m in doc["markups"])
    # LPS = RAS with x and y negated.
    assert doc["markups"][0]["controlPoints"][0]["position"] == [-10.5, 20.25, 30.0]
    line = doc["markups"][1]
    a, b = (np.array(p["position"]) for p in line["controlPoints"])
    (length,) = [m["value"] for m in line["measurements"] if m["name"] == "length"]
    assert length == pytest.approx(np.linalg.norm(b - a)) and length == pytest.approx(130.0)
    roi = doc["markups"][2]
    assert roi["center"] == [5.0, -5.0, 6.0] and roi["size"] == [50.0, 60.0, 32.0]
    (angle,) = [m["value"] for m in doc["markups"][5]["measurements"]]
    u, v = np.array([10.0, 0, 0]), np.array([5.0, 10, 10])
    assert angle == pytest.approx(np.degrees(np.arccos(u @ v / np.linalg.norm(u) / np.linalg.norm(v))))
    area = [m["value"] for m in doc["markups"][4]["measurements"] if m["name"] == "area"]
    assert area == [pytest.approx(1200.0)]
    # A file that breaks the schema is caught by the validator (the check can fail).
    bad = json.loads(json.dumps(doc))
    bad["markups"][0]["coordinateSystem"] = "XYZ"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(SCHEMA).validate(bad)


def test_round_trip_and_ml_export(run, tmp_path):
    f = make(run, tmp_path)
    again = tmp_path / "again.mrk.json"
    run("markups", "export", f, "--format", "slicer", "-o", again)
    first = json.loads(run("markups", "show", f, "--json").stdout)
    second = json.loads(run("markups", "show", again, "--json").stdout)
    assert first == second
    kinds = [m["kind"] for m in first["markups"]]
    assert kinds == ["point", "line", "box", "polyline", "closed_curve", "angle"]
    assert [m["id"] for m in first["markups"]] == [1, 3, 4, 5, 6, 7]
    assert first["markups"][0]["label"] == 3 and first["markups"][0]["author"] == "tester"

    ct = tmp_path / "ct.nii.gz"
    run("phantom", "--size", "64,60,40", "-o", ct)
    aff = nib.load(str(ct)).affine
    inv = np.linalg.inv(aff)
    ml = tmp_path / "ml.json"
    run("markups", "export", f, "--image", ct, "-o", ml)
    doc = json.loads(ml.read_text())
    assert doc["image"]["dims"] == list(nib.load(str(ct)).shape)
    for m in doc["markups"]:
        ras = np.array(m["points_ras_mm"], float)
        vox = ras @ inv[:3, :3].T + inv[:3, 3]
        np.testing.assert_allclose(m["points_voxel"], vox, atol=1e-6)
    (box,) = [m for m in doc["markups"] if m["kind"] == "box"]
    # Voxels whose centres lie in the box, by brute force over the grid.
    ijk = np.indices(nib.load(str(ct)).shape).reshape(3, -1).T
    w = ijk @ aff[:3, :3].T + aff[:3, 3]
    lo, hi = np.array([-30.0, -25.0, -10.0]), np.array([20.0, 35.0, 22.0])
    inside = ijk[np.all((w >= lo - 1e-6) & (w <= hi + 1e-6), axis=1)]
    assert box["box_voxel"]["min"] == inside.min(0).tolist()
    assert box["box_voxel"]["max"] == inside.max(0).tolist()


def test_reads_what_slicer_writes(run, tmp_path):
    """A point list (several control points, one undefined) in LPS, a line in RAS, an ROI."""
    doc = {
        "@schema": "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/"
                   "Markups/Resources/Schema/markups-schema-v1.0.3.json#",
        "markups": [
            {"type": "Fiducial", "coordinateSystem": "LPS", "coordinateUnits": "mm",
             "locked": False, "labelFormat": "%N-%d", "controlPoints": [
                 {"id": "1", "label": "F-1", "position": [1.0, 2.0, 3.0],
                  "positionStatus": "defined"},
                 {"id": "2", "label": "F-2", "position": [-4.0, 5.5, 6.0],
                  "positionStatus": "defined"},
                 {"id": "3", "label": "F-3", "positionStatus": "undefined"}],
             "display": {"visibility": True, "color": [0.4, 1.0, 1.0]}},
            {"type": "Line", "name": "L", "coordinateSystem": "RAS",
             "controlPoints": [{"position": [0, 0, 0]}, {"position": [0, 3, 4]}],
             "measurements": [{"name": "length", "enabled": True, "value": 5.0,
                               "units": "mm"}]},
            {"type": "ROI", "name": "R", "coordinateSystem": "LPS", "roiType": "Box",
             "center": [10.0, 20.0, 30.0], "size": [4.0, 6.0, 8.0],
             "orientation": [1, 0, 0, 0, 1, 0, 0, 0, 1],
             "controlPoints": [{"position": [10.0, 20.0, 30.0]}]},
        ]}
    jsonschema.Draft7Validator(SCHEMA).validate(doc)
    f = tmp_path / "slicer.mrk.json"
    f.write_text(json.dumps(doc))
    got = json.loads(run("markups", "show", f, "--json").stdout)["markups"]
    assert [(m["kind"], m["name"]) for m in got] == [
        ("point", "F-1"), ("point", "F-2"), ("line", "L"), ("box", "R")]
    assert got[0]["points"] == [[-1.0, -2.0, 3.0]]
    assert got[1]["points"] == [[4.0, -5.5, 6.0]]
    assert got[2]["measurements"][0]["value"] == pytest.approx(5.0)
    assert got[3]["points"] == [[-12.0, -23.0, 26.0], [-8.0, -17.0, 34.0]]
    # A rotated ROI is refused naming the file and the markup.
    doc["markups"][2]["orientation"] = [0, -1, 0, 1, 0, 0, 0, 0, 1]
    f.write_text(json.dumps(doc))
    p = run("markups", "show", f, ok=False)
    assert p.returncode != 0 and "slicer.mrk.json" in p.stderr and "markup 3" in p.stderr


def test_apply_journals_markups_through_a_crash(run, voxmark, tmp_path):
    """Markup ops in `voxmark apply`: saved beside the mask as schema-valid .mrk.json; after
    a crash (abort, nothing saved) the journal brings them back on the next run."""
    import os
    import subprocess
    ct = tmp_path / "ct.nii.gz"
    run("phantom", "--size", "48,44,30", "-o", ct)
    j, out = tmp_path / "m.journal.jsonl", tmp_path / "m.nii.gz"
    point = {"op": "markup", "action": "add",
             "markup": {"id": 0, "kind": "point", "points": [[1, 2, 3]], "name": "p"}}
    line = {"op": "markup", "action": "add",
            "markup": {"id": 0, "kind": "line", "points": [[0, 0, 0], [10, 0, 0]]}}
    ops1 = [point, line, {"op": "threshold", "range": [200, 3000], "label": 1},
            {"op": "markup", "action": "move_point", "id": 2, "index": 1, "to": [0, 30, 40]}]
    (tmp_path / "ops1.json").write_text(json.dumps(ops1))
    run("apply", ct, "--ops", tmp_path / "ops1.json", "--journal", j, "-o", out)
    doc = json.loads((tmp_path / "m.mrk.json").read_text())
    jsonschema.Draft7Validator(SCHEMA).validate(doc)
    assert [m["type"] for m in doc["markups"]] == ["Fiducial", "Line"]
    (length,) = [m["value"] for m in doc["markups"][1]["measurements"]]
    assert length == pytest.approx(50.0)
    # Then: a box, the point deleted, two undos; the process dies before saving.
    box = {"op": "markup", "action": "add",
           "markup": {"id": 0, "kind": "box", "points": [[0, 0, 0], [5, 6, 7]]}}
    ops2 = [box, {"op": "markup", "action": "delete", "id": 1}, {"op": "undo"},
            {"op": "undo"}]
    (tmp_path / "ops2.json").write_text(json.dumps(ops2))
    p = subprocess.run([voxmark, "apply", str(ct), "--labels", str(out), "--ops",
                        str(tmp_path / "ops2.json"), "--journal", str(j), "-o", str(out)],
                       capture_output=True, text=True,
                       env={**os.environ, "VOXMARK_CRASH_AFTER_OPS": "4"})
    assert p.returncode != 0
    assert json.loads((tmp_path / "m.mrk.json").read_text())["markups"][0]["type"] == "Fiducial"
    (tmp_path / "none.json").write_text("[]")
    run("apply", ct, "--labels", out, "--ops", tmp_path / "none.json", "--journal", j,
        "-o", out)
    got = json.loads(run("markups", "show", tmp_path / "m.mrk.json", "--json").stdout)
    # Undo, undo: the delete undone (point back), then the box add undone.
    assert [(m["kind"], m["id"]) for m in got["markups"]] == [("point", 1), ("line", 2)]
    assert got["markups"][1]["points"] == [[0.0, 0.0, 0.0], [0.0, 30.0, 40.0]]
