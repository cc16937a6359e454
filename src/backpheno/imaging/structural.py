"""Grey-matter volumes from fMRIPrep's probability maps, and FreeSurfer ``*.stats`` readers.

Regional grey-matter volume (:func:`regional_gm_volume`) is the sum of the GM probability over a
region's voxels times the voxel volume, in mL. On fMRIPrep's standard-space maps
(``space-MNI152NLin2009cAsym_label-GM_probseg``) the values are *template-space* volumes: the maps
are resampled, not Jacobian-modulated, so they measure grey-matter probability ("density") in a
fixed template region rather than native volume. Use native-space maps (no ``space`` entity) with
a native-space atlas, or FreeSurfer's ``aseg.stats`` (:func:`read_aseg_stats`), for native
volumes. The intracranial volume proxy (:func:`tiv_proxy_ml`) is the sum of the GM, WM and CSF
probabilities when all three maps exist, else the volume of a brain mask.

FreeSurfer readers follow the documented ``mri_segstats`` / ``mris_anatomical_stats`` formats:
``# Measure <name>, <short>, <description>, <value>, <unit>`` lines (FreeSurfer 6's
``mris_anatomical_stats`` drops the comma after ``CortexVol``; that line is read too) and a
``# ColHeaders`` line naming the columns of the table that follows. Features built from them:
:mod:`backpheno.imaging.freesurfer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from backpheno.errors import InputError
from backpheno.imaging.atlas import Atlas
from backpheno.imaging.parcellate import label_regions, sphere_regions


def regional_gm_volume(gm_probseg: nib.Nifti1Image, atlas: Atlas,
                       file: str | Path | None = None) -> pd.Series:
    """Grey-matter volume of every atlas region, mL.

    The atlas is put on the probability map's grid as the parcellation does (nearest-neighbour
    resampling of a label image; spheres by world distance). Regions outside the map's field of
    view get 0 mL and should be flagged by the caller.

    Parameters
    ----------
    gm_probseg : Nifti1Image
        3-D grey-matter probability (0..1).
    atlas : Atlas
    file : path, optional
        Named in errors.

    Returns
    -------
    Series
        Indexed by region name.
    """
    data = _probability(gm_probseg, file)
    regions = _regions_on(atlas, gm_probseg.shape[:3], gm_probseg.affine)
    flat = data.ravel(order="F")
    voxel_ml = abs(np.linalg.det(gm_probseg.affine[:3, :3])) / 1000.0
    sums = np.array([flat[regions.members(i)].sum(dtype=np.float64)
                     for i in range(regions.n_regions)])
    return pd.Series(sums * voxel_ml, index=atlas.names, dtype=float)


def total_volume_ml(probseg: nib.Nifti1Image, file: str | Path | None = None) -> float:
    """Sum of a probability map times the voxel volume, mL."""
    data = _probability(probseg, file)
    return float(data.sum(dtype=np.float64) * abs(np.linalg.det(probseg.affine[:3, :3])) / 1000)


def tiv_proxy_ml(gm: nib.Nifti1Image | None = None, wm: nib.Nifti1Image | None = None,
                 csf: nib.Nifti1Image | None = None,
                 brain_mask: nib.Nifti1Image | None = None) -> tuple[float, str]:
    """Total intracranial volume proxy, mL, and how it was obtained.

    GM + WM + CSF probability sums when all three are given; otherwise the volume of
    ``brain_mask``; otherwise NaN.
    """
    if gm is not None and wm is not None and csf is not None:
        return (total_volume_ml(gm) + total_volume_ml(wm) + total_volume_ml(csf),
                "sum of GM, WM and CSF probability maps")
    if brain_mask is not None:
        mask = np.asarray(brain_mask.dataobj) > 0
        volume = mask.sum() * abs(np.linalg.det(brain_mask.affine[:3, :3])) / 1000.0
        return float(volume), "brain mask volume"
    return np.nan, "no tissue maps or brain mask"


@dataclass(frozen=True)
class FreeSurferStats:
    """A parsed FreeSurfer stats file.

    Attributes
    ----------
    measures : DataFrame
        One row per ``# Measure`` line: ``name``, ``short_name``, ``description``, ``value``,
        ``unit``.
    table : DataFrame
        The structure table with the ``# ColHeaders`` columns.
    header : dict
        Other ``# key value`` header lines (``hemi``, ``subjectname``, ...).
    """

    measures: pd.DataFrame
    table: pd.DataFrame
    header: dict[str, str]

    def measure(self, name: str) -> float:
        """Value of one measure by short name (``eTIV``, ``MeanThickness``) or unique name."""
        hit = self.measures[self.measures["short_name"] == name]
        if hit.empty:
            hit = self.measures[self.measures["name"] == name]
            if len(hit) > 1:
                raise KeyError(f"{name} names several measures; use the short name")
        if hit.empty:
            raise KeyError(name)
        return float(hit["value"].iloc[0])


def read_freesurfer_stats(path: str | Path) -> FreeSurferStats:
    """Read a FreeSurfer ``aseg.stats``, ``wmparc.stats`` or ``?h.aparc*.stats`` file.

    Raises
    ------
    InputError
        If the file is missing, has no ``# ColHeaders`` line, or a table row does not match it.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("FreeSurfer stats file not found", file=path)
    measures, header, columns, rows = [], {}, None, []
    for number, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(),
                                 start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            body = line.lstrip("#").strip()
            if body.startswith("Measure "):
                parts = [p.strip() for p in body[len("Measure "):].split(",")]
                if len(parts) == 4 and " " in parts[1]:
                    # FreeSurfer 6 writes "Cortex, CortexVol Total cortical ..." (comma missing)
                    parts[1:2] = parts[1].split(" ", 1)
                if len(parts) < 5:
                    raise InputError(f"line {number}: malformed Measure line", file=path)
                try:
                    value = float(parts[-2])
                except ValueError:
                    raise InputError(f"line {number}: non-numeric measure value {parts[-2]!r}",
                                     file=path) from None
                measures.append({"name": parts[0], "short_name": parts[1],
                                 "description": ", ".join(parts[2:-2]), "value": value,
                                 "unit": parts[-1]})
            elif body.startswith("ColHeaders"):
                columns = body.split()[1:]
            elif " " in body:
                key, _, value = body.partition(" ")
                header.setdefault(key, value.strip())
            continue
        if columns is None:
            raise InputError(f"line {number}: table row before the # ColHeaders line", file=path)
        fields = line.split()
        if len(fields) != len(columns):
            raise InputError(f"line {number}: {len(fields)} fields, header has {len(columns)}",
                             file=path)
        rows.append(fields)
    if columns is None:
        raise InputError("no # ColHeaders line: not a FreeSurfer stats table", file=path)
    table = pd.DataFrame(rows, columns=columns)
    for column in table.columns:
        converted = pd.to_numeric(table[column], errors="coerce")
        if converted.notna().all():
            table[column] = converted
    return FreeSurferStats(pd.DataFrame(measures, columns=["name", "short_name", "description",
                                                           "value", "unit"]), table, header)


def read_aseg_stats(path: str | Path) -> FreeSurferStats:
    """Read ``aseg.stats`` and check it has ``StructName`` and ``Volume_mm3`` columns."""
    stats = read_freesurfer_stats(path)
    missing = {"StructName", "Volume_mm3"} - set(stats.table.columns)
    if missing:
        raise InputError(f"not an aseg.stats table: missing columns {sorted(missing)}", file=path)
    return stats


def read_aparc_stats(path: str | Path) -> FreeSurferStats:
    """Read ``?h.aparc*.stats`` and check its cortical-parcellation columns."""
    stats = read_freesurfer_stats(path)
    missing = {"StructName", "SurfArea", "GrayVol", "ThickAvg"} - set(stats.table.columns)
    if missing:
        raise InputError(f"not an aparc.stats table: missing columns {sorted(missing)}",
                         file=path)
    return stats


def aseg_volumes_ml(stats: FreeSurferStats) -> pd.Series:
    """Structure volumes from ``aseg.stats`` in mL, indexed by ``StructName``."""
    table = stats.table
    return pd.Series(table["Volume_mm3"].to_numpy(float) / 1000.0,
                     index=table["StructName"].astype(str).tolist(), dtype=float)


def _probability(img: nib.Nifti1Image, file: str | Path | None) -> np.ndarray:
    if len(img.shape) != 3:
        raise InputError(f"a probability map must be 3-D, got shape {img.shape}", file=file)
    data = np.asarray(img.dataobj, dtype=np.float32)
    if not np.all(np.isfinite(data)):
        raise InputError("probability map holds NaN or infinite values", file=file)
    if data.min() < -1e-3 or data.max() > 1 + 1e-3:
        raise InputError(f"probability map values outside 0..1 (min {data.min():.3g}, max "
                         f"{data.max():.3g})", file=file)
    return np.clip(data, 0.0, 1.0)


def _regions_on(atlas: Atlas, shape, affine):
    if atlas.kind == "labels":
        return label_regions(atlas.labels_img, atlas.regions["label"].tolist(), atlas.names,
                             shape, affine)
    coords = atlas.regions[["x", "y", "z"]].to_numpy(float)
    return sphere_regions(coords, atlas.regions["radius_mm"].to_numpy(float), atlas.names, shape,
                          affine)
