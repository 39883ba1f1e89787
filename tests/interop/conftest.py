import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def sitk_affine_ras(img):
    """A SimpleITK image's voxel-to-world matrix in voxmark's RAS world (ITK's is LPS)."""
    import numpy as np

    d = np.array(img.GetDirection()).reshape(3, 3)
    a = np.eye(4)
    a[:3, :3] = d @ np.diag(img.GetSpacing())
    a[:3, 3] = img.GetOrigin()
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ a


def apply_ops(run, image, ops, mask):
    """`voxmark apply` of `ops` (a list of op dicts, written to `ops.json` beside `mask`) on
    `image` with the CPU backend, writing the label map `mask`."""
    ops_file = Path(mask).with_name("ops.json")
    ops_file.write_text(json.dumps(ops))
    return run("apply", image, "--ops", ops_file, "--backend", "cpu", "-o", mask)


@pytest.fixture(scope="session")
def voxmark() -> str:
    exe = os.environ.get("VOXMARK_BIN", str(ROOT / "target" / "debug" / "voxmark"))
    if not Path(exe).exists():
        subprocess.run(["cargo", "build", "--quiet"], cwd=ROOT, check=True)
    return exe


@pytest.fixture(scope="session")
def run(voxmark):
    def _run(*args, ok=True):
        p = subprocess.run([voxmark, *map(str, args)], capture_output=True, text=True)
        if ok and p.returncode != 0:
            raise AssertionError(f"voxmark {' '.join(map(str, args))} failed:\n{p.stderr}")
        return p

    return _run


def ball_footprint(spacing, r):
    """The ball voxmark's morphology uses: offsets within r mm (spacing honoured), centre in."""
    import numpy as np
    n = [int(np.floor(r / s)) for s in spacing]
    g = np.meshgrid(*[np.arange(-k, k + 1) * s for k, s in zip(n, spacing)], indexing="ij")
    return sum(x * x for x in g) <= r * r


def data_required() -> bool:
    return os.environ.get("REQUIRE_DATA") == "1"


def need(path: Path) -> Path:
    if not path.exists():
        if data_required():
            raise AssertionError(f"REQUIRE_DATA=1 but {path} is missing")
        pytest.skip(f"{path} not installed")
    return path


def have_dcm2niix() -> bool:
    if shutil.which("dcm2niix"):
        return True
    if data_required():
        raise AssertionError("REQUIRE_DATA=1 but dcm2niix is missing (apt install dcm2niix)")
    return False


_exit_status = {"code": 0}


def pytest_sessionfinish(session, exitstatus):
    _exit_status["code"] = int(exitstatus)


def pytest_unconfigure(config):
    # ITK's and SimpleITK's SWIG wrappers loaded in one process abort in interpreter teardown
    # ("malloc_consolidate(): unaligned fastbin chunk detected", exit 134) after every test
    # and the summary are done: leave with pytest's own status, without that teardown.
    import sys
    if "itk" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status["code"])
