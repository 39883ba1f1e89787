"""Independent writer of DICOM test series (pydicom), used by the interop tests.

Each case is written by code that shares nothing with voxmark: geometry is given as
ImageOrientationPatient / ImagePositionPatient / PixelSpacing exactly as a scanner would,
file names are shuffled, InstanceNumbers are scrambled, and `truth()` returns the world
position of every voxel straight from DICOM PS3.3 C.7.6.2.1.1.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


@dataclass
class Case:
    name: str
    rows: int
    cols: int
    nslices: int
    row_cos: tuple  # direction of increasing column index (i)
    col_cos: tuple  # direction of increasing row index (j)
    pixel_spacing: tuple  # (between rows, between columns) mm
    first_ipp: tuple
    step: tuple  # IPP difference between consecutive slices (LPS mm)
    unsigned: bool = False
    intercept: float = 0.0
    slope: float = 1.0
    modality: str = "CT"
    implicit: bool = False
    instance_order: str = "random"  # or "reverse" or "forward"
    seed: int = 1
    series_uid: str = field(default_factory=generate_uid)
    description: str = ""

    def stored(self) -> np.ndarray:
        """Stored values, shape (slices, rows, cols)."""
        rng = np.random.default_rng(self.seed)
        k, j, i = np.meshgrid(
            np.arange(self.nslices), np.arange(self.rows), np.arange(self.cols), indexing="ij"
        )
        # A pattern that differs along every axis so any flip or transposition shows.
        base = (i * 3 + j * 17 + k * 101) % 900
        noise = rng.integers(0, 50, size=base.shape)
        vals = base + noise
        if self.unsigned:
            return vals.astype(np.uint16)
        return (vals - 450).astype(np.int16)

    def ipp(self, k: int) -> np.ndarray:
        return np.array(self.first_ipp) + k * np.array(self.step)

    def truth_lps(self, i, j, k) -> np.ndarray:
        """World (LPS) position of voxel centres, PS3.3 C.7.6.2.1.1."""
        x = np.array(self.row_cos)
        y = np.array(self.col_cos)
        dr, dc = self.pixel_spacing
        return self.ipp(k) + i * dc * x + j * dr * y


def write(case: Case, folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    data = case.stored()
    rng = random.Random(case.seed)
    order = list(range(case.nslices))
    if case.instance_order == "random":
        rng.shuffle(order)
    elif case.instance_order == "reverse":
        order.reverse()
    names = [f"{rng.getrandbits(40):010x}" for _ in range(case.nslices)]
    study = generate_uid()
    frame = generate_uid()
    sop_class = CT_STORAGE if case.modality == "CT" else MR_STORAGE
    for k in range(case.nslices):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = sop_class
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ImplicitVRLittleEndian if case.implicit else ExplicitVRLittleEndian
        path = os.path.join(folder, names[k])
        ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = case.series_uid
        ds.FrameOfReferenceUID = frame
        ds.Modality = case.modality
        ds.PatientName = "INTEROP^" + case.name
        ds.PatientID = "interop"
        ds.SeriesDescription = case.description or case.name
        ds.SeriesNumber = 1
        ds.InstanceNumber = order[k] + 1
        ds.ImageOrientationPatient = [f"{v:.10f}"[:16] for v in (*case.row_cos, *case.col_cos)]
        ds.ImagePositionPatient = [f"{v:.6f}"[:16] for v in case.ipp(k)]
        ds.PixelSpacing = [f"{v:.6f}" for v in case.pixel_spacing]
        ds.SliceThickness = "9.99"  # deliberately wrong: spacing must come from positions
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = case.rows
        ds.Columns = case.cols
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0 if case.unsigned else 1
        ds.RescaleIntercept = f"{case.intercept:g}"
        ds.RescaleSlope = f"{case.slope:g}"
        ds.WindowCenter = "40"
        ds.WindowWidth = "400"
        ds.PixelData = data[k].tobytes()
        ds.save_as(path, enforce_file_format=True)


def unit(v):
    v = np.array(v, dtype=float)
    return tuple(v / np.linalg.norm(v))


def cases() -> list[Case]:
    # Oblique: rotate the axial frame by 25 deg about z and 12 deg about x.
    a, b = np.radians(25), np.radians(12)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    r = rx @ rz
    row, col = unit(r[:, 0]), unit(r[:, 1])
    normal = np.cross(row, col)
    return [
        Case("oblique_aniso", rows=24, cols=32, nslices=14, row_cos=row, col_cos=col,
             pixel_spacing=(0.7, 0.9), first_ipp=(-40.5, 12.25, 80.0),
             step=tuple(2.5 * normal), modality="MR", seed=2),
        Case("ct_unsigned", rows=30, cols=28, nslices=20, row_cos=(1, 0, 0), col_cos=(0, 1, 0),
             pixel_spacing=(0.75, 0.75), first_ipp=(-100.0, -120.0, -300.0),
             step=(0, 0, 1.25), unsigned=True, intercept=-1024, seed=3, implicit=True),
        Case("against_normal", rows=20, cols=22, nslices=16, row_cos=(1, 0, 0), col_cos=(0, 1, 0),
             pixel_spacing=(1.1, 1.1), first_ipp=(10.0, 20.0, 50.0), step=(0, 0, -3.0),
             instance_order="forward", seed=4),
        Case("sagittal", rows=26, cols=18, nslices=12, row_cos=(0, 1, 0), col_cos=(0, 0, -1),
             pixel_spacing=(1.2, 0.8), first_ipp=(-30.0, -50.0, 60.0), step=(2.0, 0, 0),
             modality="MR", instance_order="reverse", seed=5),
    ]


def two_series_folder(folder: str) -> list[Case]:
    cs = [
        Case("first", rows=16, cols=16, nslices=6, row_cos=(1, 0, 0), col_cos=(0, 1, 0),
             pixel_spacing=(1.0, 1.0), first_ipp=(0, 0, 0), step=(0, 0, 2.0), seed=6),
        Case("second", rows=12, cols=14, nslices=9, row_cos=(1, 0, 0), col_cos=(0, 0, -1),
             pixel_spacing=(0.5, 0.5), first_ipp=(5, 5, 5), step=(0, 1.5, 0), modality="MR", seed=7),
    ]
    for c in cs:
        write(c, folder)  # both series in the same folder, names interleaved
    return cs


def tilted(folder: str) -> Case:
    """Gantry tilt: the slice step is not parallel to the normal."""
    t = np.radians(15)
    c = Case("gantry_tilt", rows=20, cols=20, nslices=10, row_cos=(1, 0, 0),
             col_cos=(0, 1, 0), pixel_spacing=(0.8, 0.8), first_ipp=(0, 0, 0),
             step=(0, 2.0 * np.sin(t), 2.0 * np.cos(t)), seed=8)
    write(c, folder)
    return c


if __name__ == "__main__":
    import sys

    out = sys.argv[1]
    for c in cases():
        write(c, os.path.join(out, c.name))
    two_series_folder(os.path.join(out, "two_series"))
    tilted(os.path.join(out, "gantry_tilt"))
    print("wrote", out)
