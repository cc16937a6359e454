"""Reading and checking the files of one fMRIPrep BOLD run before any long work starts.

Each check raises :class:`~backpheno.errors.InputError` naming the file and the problem: a
missing file, an image that is not 4-D, a repetition time missing from the sidecar, a brain mask
on another grid than the BOLD series. NaN voxels are found during the single pass over the data
(:func:`backpheno.imaging.parcellate.extract_signals`) and reported by the caller.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np

from backpheno.errors import InputError
from backpheno.imaging.parcellate import same_grid


def open_bold(bold: str | Path | nib.Nifti1Image,
              participant: str | None = None, session: str | None = None) -> nib.Nifti1Image:
    """Open a 4-D BOLD series lazily (``.nii.gz`` streams through one kept-open gzip handle).

    Raises
    ------
    InputError
        If the file is missing or unreadable, or the image is not 4-D with at least 3 volumes.
    """
    where = {"participant": participant, "session": session}
    if isinstance(bold, nib.spatialimages.SpatialImage):
        img, path = bold, None
    else:
        path = Path(bold)
        if not path.is_file():
            raise InputError("BOLD file not found", file=path, **where)
        try:
            img = nib.load(str(path), keep_file_open=True)
        except Exception as err:  # nibabel raises several unrelated exception types
            raise InputError(f"cannot read BOLD image ({err})", file=path, **where) from None
    if len(img.shape) != 4:
        raise InputError(f"expected a 4-D BOLD series, got a {len(img.shape)}-D image of shape "
                         f"{img.shape}", file=path, **where)
    if img.shape[3] < 3:
        raise InputError(f"BOLD series has {img.shape[3]} volumes; at least 3 are needed",
                         file=path, **where)
    if not np.issubdtype(img.get_data_dtype(), np.number):
        raise InputError(f"BOLD data type {img.get_data_dtype()} is not numeric", file=path,
                         **where)
    return img


def sidecar_path(bold_path: str | Path) -> Path:
    """The BIDS JSON sidecar beside a ``.nii``/``.nii.gz`` file."""
    path = Path(bold_path)
    name = path.name
    for suffix in (".nii.gz", ".nii"):
        if name.endswith(suffix):
            return path.with_name(name[: -len(suffix)] + ".json")
    return path.with_suffix(".json")


def read_repetition_time(sidecar: str | Path, participant: str | None = None,
                         session: str | None = None) -> float:
    """``RepetitionTime`` (s) from a BIDS JSON sidecar.

    Raises
    ------
    InputError
        If the sidecar is missing or unreadable, or has no positive ``RepetitionTime``.
    """
    path = Path(sidecar)
    where = {"participant": participant, "session": session, "file": path}
    if not path.is_file():
        raise InputError("BOLD sidecar JSON not found (it must give RepetitionTime)", **where)
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"sidecar is not valid JSON ({err})", **where) from None
    value = meta.get("RepetitionTime") if isinstance(meta, dict) else None
    if value is None:
        raise InputError("RepetitionTime missing from the sidecar", **where)
    try:
        t_r = float(value)
    except (TypeError, ValueError):
        raise InputError(f"RepetitionTime is not a number ({value!r})", **where) from None
    if not np.isfinite(t_r) or t_r <= 0 or t_r > 30:
        raise InputError(f"RepetitionTime {t_r} s is not a plausible repetition time", **where)
    return t_r


def load_mask(mask: str | Path | nib.Nifti1Image, bold: nib.Nifti1Image,
              bold_file: str | Path | None = None, participant: str | None = None,
              session: str | None = None) -> np.ndarray:
    """A 3-D brain mask as a boolean array on the BOLD grid.

    Raises
    ------
    InputError
        If the file is missing or unreadable, is not 3-D, is empty, or its grid (shape and
        affine) differs from the BOLD series'.
    """
    where = {"participant": participant, "session": session}
    if isinstance(mask, nib.spatialimages.SpatialImage):
        img, path = mask, None
    else:
        path = Path(mask)
        if not path.is_file():
            raise InputError("brain mask not found", file=path, **where)
        try:
            img = nib.load(str(path))
        except Exception as err:  # nibabel raises several unrelated exception types
            raise InputError(f"cannot read brain mask ({err})", file=path, **where) from None
    shape = img.shape[:3] if len(img.shape) == 4 and img.shape[3] == 1 else img.shape
    if len(shape) != 3:
        raise InputError(f"brain mask must be 3-D, got shape {img.shape}", file=path, **where)
    if not same_grid(shape, img.affine, bold.shape, bold.affine):
        raise InputError(
            f"brain mask grid (shape {tuple(shape)}, voxel {_voxel(img.affine)} mm) differs from "
            f"the BOLD grid (shape {tuple(bold.shape[:3])}, voxel {_voxel(bold.affine)} mm)"
            f"{f' of {Path(bold_file).name}' if bold_file else ''}", file=path, **where)
    data = np.asarray(img.dataobj).reshape(shape) > 0
    if not data.any():
        raise InputError("brain mask is empty", file=path, **where)
    return data


def _voxel(affine: np.ndarray) -> str:
    sizes = np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(axis=0))
    return "x".join(f"{s:g}" for s in np.round(sizes, 3))
