"""Reading and checking the files of one fMRIPrep BOLD run before any long work starts.

Each check raises :class:`~backpheno.errors.InputError` naming the file and the problem: a
missing file, an image that is not 4-D, no repetition time anywhere, a brain mask on another grid
than the BOLD series. :func:`repetition_time` takes the repetition time from the configuration,
the JSON sidecar or the NIfTI header, in that order. NaN voxels are found during the single pass
over the data (:func:`backpheno.imaging.parcellate.extract_signals`) and reported by the caller.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
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


#: Relative difference between the sidecar's and the header's repetition time that is flagged.
TR_TOLERANCE = 0.01
#: NIfTI ``xyzt_units`` time codes → seconds per unit.
_TIME_UNITS = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6}


@dataclass(frozen=True)
class RepetitionTime:
    """The repetition time used for a run, where it came from and what the QC row says.

    ``source`` is ``"configured"``, ``"sidecar"`` or ``"header"``; ``flagged`` is true when the
    sidecar and the NIfTI header disagree by more than :data:`TR_TOLERANCE`.
    """

    seconds: float
    source: str
    note: str
    flagged: bool = False


def repetition_time(img: nib.Nifti1Image, bold_path: str | Path | None,
                    override: float | None = None, participant: str | None = None,
                    session: str | None = None) -> RepetitionTime:
    """Repetition time (s): ``override``, else the JSON sidecar, else the NIfTI header.

    The header value is ``pixdim[4]`` in its ``xyzt_units`` time unit (seconds when the unit is
    unknown). A sidecar and a header that disagree by more than 1 % are flagged.

    Raises
    ------
    InputError
        If no source gives a plausible value (0 < TR <= 30 s), naming the sidecar looked for
        and the header value, with the settings that fix it.
    """
    where = {"participant": participant, "session": session}
    header, header_text = header_repetition_time(img)
    if override is not None:
        if not 0 < override <= 30:
            raise InputError(f"configured repetition time {override} s is not plausible "
                             "(0 < TR <= 30 s)", file=bold_path, **where)
        return RepetitionTime(float(override), "configured",
                              f"TR {override:g} s as configured (header: {header_text})")
    sidecar = sidecar_path(bold_path) if bold_path is not None else None
    if sidecar is not None and sidecar.is_file():
        value = read_repetition_time(sidecar, participant, session, required=False)
        if value is not None:
            if header is not None and abs(header - value) > TR_TOLERANCE * value:
                return RepetitionTime(value, "sidecar", (
                    f"TR {value:g} s from {sidecar.name}; the NIfTI header says {header_text} "
                    f"(differs by more than {TR_TOLERANCE:.0%}); the sidecar is used"), True)
            return RepetitionTime(value, "sidecar", f"TR {value:g} s from {sidecar.name}")
        looked = f"{sidecar.name} has no RepetitionTime"
    else:
        looked = (f"no sidecar {sidecar.name}" if sidecar is not None
                  else "no sidecar (image given in memory)")
    if header is None:
        raise InputError(f"no repetition time: {looked} and the NIfTI header gives none "
                         f"({header_text}); pass --tr or set brain.t_r",
                         file=sidecar or bold_path, **where)
    return RepetitionTime(header, "header", f"TR {header:g} s from the NIfTI header "
                                            f"({header_text}); {looked}")


def header_repetition_time(img: nib.Nifti1Image) -> tuple[float | None, str]:
    """``pixdim[4]`` in seconds (``None`` when absent or implausible) and how it reads."""
    try:
        value = float(img.header["pixdim"][4])
        unit = img.header.get_xyzt_units()[1]
    except (KeyError, TypeError, IndexError, ValueError):
        return None, "no pixdim[4]"
    text = f"pixdim[4] = {value:g} {unit}"
    seconds = float(f"{value * _TIME_UNITS.get(unit, 1.0):.6g}")  # float32 header: 6 digits
    if not np.isfinite(seconds) or seconds <= 0:
        return None, text
    if seconds > 30:
        return None, f"{text}, not a plausible repetition time"
    return seconds, text


def read_repetition_time(sidecar: str | Path, participant: str | None = None,
                         session: str | None = None, required: bool = True) -> float | None:
    """``RepetitionTime`` (s) from a BIDS JSON sidecar (``None`` if absent and not required).

    Raises
    ------
    InputError
        If the sidecar is missing or unreadable, or its ``RepetitionTime`` is not a plausible
        positive number (or is absent while ``required``).
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
        if not required:
            return None
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
