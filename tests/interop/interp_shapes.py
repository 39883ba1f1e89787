"""Analytic shapes with known truth for fill-between-slices tests (x, y, z arrays, 1 mm)."""
import numpy as np

SHAPE = (96, 96, 120)


def _grid():
    return np.meshgrid(*[np.arange(n, dtype=np.float64) for n in SHAPE], indexing="ij")


def _capsules(segments, r):
    """Union of tubes of radius r around line segments (a, b)."""
    x, y, z = _grid()
    p = np.stack([x, y, z], -1)
    out = np.zeros(SHAPE, bool)
    for a, b in segments:
        a, b = np.array(a, float), np.array(b, float)
        ab = b - a
        t = np.clip(((p - a) @ ab) / (ab @ ab), 0, 1)
        d = p - (a + t[..., None] * ab)
        out |= (d ** 2).sum(-1) <= r * r
    return out


def sphere():
    x, y, z = _grid()
    return (x - 47.5) ** 2 + (y - 46) ** 2 + (z - 60) ** 2 <= 32 ** 2


def ellipsoid():
    x, y, z = _grid()
    return ((x - 48) / 38) ** 2 + ((y - 47) / 22) ** 2 + ((z - 60) / 50) ** 2 <= 1


def tilted_cylinder():
    return _capsules([((25, 35, 10), (70, 60, 110))], 9)


def y_branch():
    return _capsules([((48, 48, 8), (48, 48, 60)), ((48, 48, 60), (18, 44, 112)),
                      ((48, 48, 60), (78, 52, 112))], 7)


def moving_blob():
    # Moves 1.6 voxels per slice: key slices 10 apart do not overlap.
    return _capsules([((12, 40, 20), (84, 56, 65))], 6)


SHAPES = {"sphere": sphere, "ellipsoid": ellipsoid, "tilted_cylinder": tilted_cylinder,
          "y_branch": y_branch, "moving_blob": moving_blob}


def keyed(truth, step):
    """The truth on every `step`-th axial slice from its first slice (what an annotator draws)."""
    zs = np.flatnonzero(truth.any(axis=(0, 1)))
    out = np.zeros(truth.shape, np.uint8)
    for z in range(zs[0], zs[-1] + 1, step):
        out[:, :, z] = truth[:, :, z]
    return out


def dice(a, b):
    a, b = a != 0, b != 0
    return 2.0 * (a & b).sum() / (a.sum() + b.sum())
