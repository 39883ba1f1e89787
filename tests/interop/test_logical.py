"""`{"op":"logical"}` against set algebra in numpy, on a real atlas (AAL, 116 structures) over
the ch2 MRI on the same grid: each operation with a label of the same map and with a second
label map (the atlas shifted, as another annotator's would be), under editable policies, an
intensity range and a locked label. Voxel for voxel. Also: the journal pins the second map by
absolute path and SHA-256, and a replay after the file changed is refused, naming it."""
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from conftest import need

MRICRON = Path("/usr/share/mricron/templates")
LOCKED = 37


def expected(cur, op, L, M, writable, in_range):
    """The new label map, from the definitions as set algebra: the set of L after the op
    (only voxels in range change), voxels leaving L become 0, voxels joining it take L."""
    Lset = cur == L
    W = writable & ~Lset
    R = in_range
    if op == "union":
        new = Lset | (M & W & R)
    elif op == "intersect":
        new = Lset & (M | ~R)
    elif op == "subtract":
        new = Lset & ~(M & R)
    elif op == "copy":
        new = (Lset & (M | ~R)) | (M & W & R)
    elif op == "invert":
        new = (Lset & ~R) | (W & R)
    return np.where(new, L, np.where(Lset & ~new, 0, cur)).astype(np.uint8)


@pytest.fixture(scope="module")
def atlas():
    img = nib.load(str(need(MRICRON / "aal.nii.gz")))
    ch2 = nib.load(str(need(MRICRON / "ch2.nii.gz")))
    assert np.allclose(img.affine, ch2.affine) and img.shape == ch2.shape
    lab = np.asarray(img.dataobj).astype(np.uint8)
    # Another annotator's map: structures shifted 3 voxels along x, 1 along z.
    second = np.roll(np.roll(lab, 3, axis=0), 1, axis=2)
    return img.affine, lab, second, np.asarray(ch2.dataobj)


CASES = [
    # (operation, label, other (None / int / ("mask", label)), editable, range)
    ("union", 5, 6, "everywhere", None),
    ("union", 5, LOCKED, "everywhere", None),
    ("intersect", 5, 6, "everywhere", None),
    ("subtract", 5, 6, "everywhere", None),
    ("copy", 5, 6, "everywhere", [60, 120]),
    ("invert", 5, None, "empty_only", None),
    ("invert", 5, None, "everywhere", [40, 200]),
    ("union", 5, ("mask", 5), "everywhere", None),
    ("union", 5, ("mask", 5), "empty_only", None),
    ("union", 5, ("mask", 6), {"inside": 6}, None),
    ("intersect", 5, ("mask", 5), "everywhere", None),
    ("subtract", 5, ("mask", 5), "everywhere", [70, 255]),
    ("copy", 5, ("mask", 5), "everywhere", None),
    ("copy", 36, ("mask", 37), "everywhere", None),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}-{c[3]}-{c[4]}")
def test_logical_matches_set_algebra(case, atlas, run, tmp_path):
    op_name, L, other, editable, rng = case
    affine, lab, second, ch2 = atlas
    nib.save(nib.Nifti1Image(lab, affine), str(tmp_path / "start.nii.gz"))
    nib.save(nib.Nifti1Image(second, affine), str(tmp_path / "second.nii.gz"))
    image = MRICRON / "ch2.nii.gz"
    op = {"op": "logical", "operation": op_name, "label": L, "editable": editable}
    if isinstance(other, int):
        op["other"] = other
        M = lab == other
    elif other is not None:
        op["other"] = {"mask": str(tmp_path / "second.nii.gz"), "label": other[1]}
        M = second == other[1]
    else:
        M = np.zeros(lab.shape, bool)
    if rng:
        op["range"] = rng
    ops = [{"op": "set_label", "value": LOCKED, "locked": True}, op]
    (tmp_path / "ops.json").write_text(json.dumps(ops))
    run("apply", image, "--labels", tmp_path / "start.nii.gz", "--ops", tmp_path / "ops.json",
        "--backend", "cpu", "-o", tmp_path / "out.nii.gz")
    got = np.asarray(nib.load(str(tmp_path / "out.nii.gz")).dataobj)

    writable = lab != LOCKED
    if editable == "empty_only":
        writable &= lab == 0
    elif isinstance(editable, dict):
        writable &= lab == editable["inside"]
    in_range = np.ones(lab.shape, bool) if rng is None else (ch2 >= rng[0]) & (ch2 <= rng[1])
    want = expected(lab, op_name, L, M, writable, in_range)
    assert (want != lab).sum() > 0 or op_name in ("subtract",) or other == LOCKED
    np.testing.assert_array_equal(got, want)
    assert (got == LOCKED).sum() == (lab == LOCKED).sum(), "the locked label is untouched"


def test_journal_pins_the_second_map(atlas, run, tmp_path):
    affine, lab, second, _ = atlas
    nib.save(nib.Nifti1Image(lab, affine), str(tmp_path / "start.nii.gz"))
    sec = tmp_path / "second.nii.gz"
    nib.save(nib.Nifti1Image(second, affine), str(sec))
    image = MRICRON / "ch2.nii.gz"
    op = {"op": "logical", "operation": "subtract", "label": 5, "other": {"mask": "second.nii.gz", "label": 5}}
    (tmp_path / "ops.json").write_text(json.dumps([op]))
    journal = tmp_path / "j.jsonl"
    import hashlib
    import os
    cwd = os.getcwd()
    os.chdir(tmp_path)  # the op names the map relative to the working folder
    try:
        run("apply", image, "--labels", "start.nii.gz", "--ops", "ops.json",
            "--journal", journal, "--backend", "cpu", "-o", "out1.nii.gz")
    finally:
        os.chdir(cwd)
    entry = json.loads(journal.read_text().splitlines()[0])
    other = entry["op"]["other"]
    assert other["mask"] == str(sec.resolve())
    assert other["sha256"] == hashlib.sha256(sec.read_bytes()).hexdigest()
    # Replaying the journal (no new ops) gives the same labels while the file is unchanged.
    (tmp_path / "none.json").write_text("[]")
    run("apply", image, "--labels", tmp_path / "start.nii.gz", "--ops", tmp_path / "none.json",
        "--journal", journal, "--backend", "cpu", "-o", tmp_path / "out2.nii.gz")
    a = np.asarray(nib.load(str(tmp_path / "out1.nii.gz")).dataobj)
    b = np.asarray(nib.load(str(tmp_path / "out2.nii.gz")).dataobj)
    np.testing.assert_array_equal(a, b)
    assert ((lab == 5) & ~(a == 5)).sum() > 0
    # After the second map changed, the replay is refused and names the file.
    nib.save(nib.Nifti1Image(lab, affine), str(sec))
    r = run("apply", image, "--labels", tmp_path / "start.nii.gz", "--ops", tmp_path / "none.json",
            "--journal", journal, "--backend", "cpu", "-o", tmp_path / "out3.nii.gz", ok=False)
    assert r.returncode != 0
    assert "second.nii.gz" in r.stderr and "changed since the op was recorded" in r.stderr
    assert not (tmp_path / "out3.nii.gz").exists()
