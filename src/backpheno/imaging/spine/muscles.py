"""Paraspinal muscle measures from an axial label map and a Dixon fat-fraction map.

Slices are the planes of the label map's first two (RAS-canonical) array axes, i.e. the axial
acquisition plane, however the file orders its voxels. For each muscle:

* cross-sectional area (mm²): labelled voxels × in-plane voxel area, averaged over the slices
  in which the muscle appears;
* fat fraction: mean F/(F+W) of the map inside the muscle (clipped to 0..1);
* lean (functional) CSA: CSA × (1 − fat fraction), the fat-free area;
* left-right asymmetry (:func:`~backpheno.imaging.spine.extractor.muscle_feature_values`):
  100 |L − R| / mean(L, R) of the CSA and |L − R| of the fat fraction.

A muscle touching the in-plane image border is cut by the field of view and is left out. Left
muscles must lie to the patient's left of their right partners (RAS x), else the labels or the
affine are wrong and an InputError says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from backpheno.errors import InputError
from backpheno.imaging.spine.features import MUSCLE_MEASURES, muscle_pairs
from backpheno.imaging.spine.geometry import (
    slice_area_mm2,
    touches_edge,
    voxel_volume_mm3,
    world_coords,
)
from backpheno.imaging.spine.images import Image, as_fraction, companion, file_name, load_canonical
from backpheno.imaging.spine.labels import LabelScheme, load_scheme
from backpheno.imaging.spine.qc import QCLog
from backpheno.imaging.spine.settings import SpineSettings

#: Columns of the per-muscle table.
MUSCLE_COLUMNS = ("status", "n_voxels", "n_slices", "volume_ml", "csa_mm2", "max_csa_mm2",
                  "fat_fraction", "lean_csa_mm2", "centroid_x", "centroid_y", "centroid_z")


@dataclass
class MuscleResult:
    """Per-muscle measures of one axial label map.

    Attributes
    ----------
    muscles : DataFrame
        One row per requested muscle with the columns of :data:`MUSCLE_COLUMNS` (areas mm²,
        volume mL, fat fraction 0..1, centroid world mm).
    per_slice : DataFrame
        Area (mm²) of every muscle in every slice; ``s_mm`` is the slice's superior coordinate
        at the image centre.
    qc : DataFrame
        item, status, reason.
    scheme : LabelScheme
        The label scheme that named the labels.
    """

    muscles: pd.DataFrame
    per_slice: pd.DataFrame
    qc: pd.DataFrame
    scheme: LabelScheme


def measure_muscles(labels: Image, fat_fraction: Image | None = None, *,
                    scheme: str | dict | LabelScheme | None = None,
                    settings: SpineSettings | None = None,
                    dseg_tsv: str | Path | None = None) -> MuscleResult:
    """Measure paraspinal muscles on an axial label map.

    Parameters
    ----------
    labels : str, Path or nibabel image
        Axial muscle label map.
    fat_fraction : str, Path or nibabel image, optional
        Dixon fat-fraction map F/(F+W) on the same grid; without it, fat fractions and lean
        areas are missing.
    scheme : str, mapping or LabelScheme, optional
        Overrides ``settings.axial_scheme``.
    settings : SpineSettings, optional
        Which muscles to report and the fat-fraction scale.
    dseg_tsv : str or Path, optional
        The dataset's lookup table when the scheme is ``"dseg"``.

    Raises
    ------
    InputError
        Unreadable files, mismatched grids, unknown label values, or left and right swapped.
    """
    settings = settings or SpineSettings()
    scheme = load_scheme(settings.axial_scheme if scheme is None else scheme, dseg_tsv)
    label_file = file_name(labels)
    label_img = load_canonical(labels, "axial muscle label map")
    ff = companion(fat_fraction, label_img, label_file, "axial fat-fraction map")
    if ff is not None:
        ff = as_fraction(ff * settings.fat_fraction_scale, file_name(fat_fraction))
    data = np.asanyarray(label_img.dataobj)
    structures = scheme.split(data, file=label_file)
    affine = label_img.affine
    check_laterality({n: world_coords(affine, v).mean(axis=0)
                      for n, v in structures.voxels.items()}, label_file)

    area = slice_area_mm2(affine)
    centre = (np.array(data.shape[:2]) - 1) / 2
    s_mm = [float((affine @ [*centre, k, 1])[2]) for k in range(data.shape[2])]
    per_slice = pd.DataFrame({"s_mm": s_mm}, index=pd.RangeIndex(data.shape[2], name="slice"))
    qc = QCLog()
    rows = {}
    for muscle in settings.muscles:
        ijk = structures.voxels.get(muscle)
        counts = np.bincount(ijk[:, 2], minlength=data.shape[2]) if ijk is not None else None
        per_slice[muscle] = np.nan if counts is None else counts * area
        rows[muscle] = _muscle_row(muscle, ijk, counts, area, affine, data.shape, ff, qc)
    table = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=MUSCLE_COLUMNS)
    table.index.name = "muscle"
    return MuscleResult(table, per_slice, qc.frame(), scheme)


def check_laterality(centroids: dict[str, np.ndarray], file: str | None = None) -> None:
    """Raise InputError if a ``*_left`` muscle lies to the right of its ``*_right`` partner."""
    for base in muscle_pairs(list(centroids)):
        left, right = centroids[f"{base}_left"][0], centroids[f"{base}_right"][0]
        if left >= right:
            raise InputError(
                f"{base}_left (centroid x = {left:.1f} mm) is not to the patient's left of "
                f"{base}_right (x = {right:.1f} mm, RAS): left and right labels are swapped or "
                "the affine's left-right axis is flipped",
                file=file,
            )


def _muscle_row(muscle: str, ijk: np.ndarray | None, counts: np.ndarray | None, area: float,
                affine: np.ndarray, shape: tuple, ff: np.ndarray | None,
                qc: QCLog) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(MUSCLE_COLUMNS, np.nan)
    row.update(status="missing", n_voxels=0, n_slices=0)
    if ijk is None or len(ijk) == 0:
        qc.add(muscle, "missing", "not labelled")
        return row
    centroid = world_coords(affine, ijk).mean(axis=0)
    row.update(n_voxels=len(ijk), n_slices=int((counts > 0).sum()), centroid_x=centroid[0],
               centroid_y=centroid[1], centroid_z=centroid[2])
    if touches_edge(ijk, shape, axes=(0, 1)):
        row["status"] = "flagged"
        qc.add(muscle, "flagged",
               "label touches the in-plane image edge (cut by the field of view)")
        return row
    present = counts[counts > 0]
    row.update(status="ok", volume_ml=len(ijk) * voxel_volume_mm3(affine) / 1000.0,
               csa_mm2=float(present.mean() * area), max_csa_mm2=float(present.max() * area))
    spec = MUSCLE_MEASURES["csa_mm2"]
    if not spec.valid_min <= row["csa_mm2"] <= spec.valid_max:
        qc.add(muscle, "flagged", f"implausible csa_mm2 = {row['csa_mm2']:.0f} mm2 (plausible "
               f"{spec.valid_min:g}-{spec.valid_max:g})")
        row.update(status="flagged", csa_mm2=np.nan, max_csa_mm2=np.nan, volume_ml=np.nan)
        return row
    if ff is None:
        qc.add(muscle, "missing", "no fat-fraction map: fat fraction and lean CSA not measured")
        return row
    row["fat_fraction"] = float(ff[ijk[:, 0], ijk[:, 1], ijk[:, 2]].mean())
    row["lean_csa_mm2"] = row["csa_mm2"] * (1.0 - row["fat_fraction"])
    return row
