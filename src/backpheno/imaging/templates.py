"""The MNI152NLin2009cAsym voxel grid and the offline templates nilearn ships.

fMRIPrep writes standard-space outputs on TemplateFlow's ``MNI152NLin2009cAsym`` grid: at
resolution ``r`` mm the voxel (0, 0, 0) sits at world coordinate (-96, -132, -78) mm and the grid
spans 192 × 228 × 192 mm (97 × 115 × 97 voxels at 2 mm, 193 × 229 × 193 at 1 mm), RAS+ axes.
:func:`mni152_grid` builds that grid for any resolution, and :func:`template_on_grid` resamples
nilearn's bundled MNI152 (ICBM 2009) T1, grey-matter, white-matter and brain-mask templates onto
it (trilinear; the brain mask is nilearn's: T1 template above 0.2 of its maximum). The template
files are read straight from nilearn's package data, so nothing is downloaded and nilearn's heavy
modules are not imported.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import nibabel as nib
import numpy as np
from scipy import ndimage

#: World coordinate (mm) of voxel (0, 0, 0) and extent (mm) of TemplateFlow's grid.
MNI_ORIGIN_MM = (-96.0, -132.0, -78.0)
MNI_EXTENT_MM = (192.0, 228.0, 192.0)

TemplateName = Literal["t1", "gm", "wm", "brain_mask"]


@dataclass(frozen=True)
class Grid:
    """A 3-D voxel grid: shape and voxel-to-world affine (mm)."""

    shape: tuple[int, int, int]
    affine: np.ndarray

    @property
    def voxel_volume_mm3(self) -> float:
        """Volume of one voxel in mm³."""
        return float(abs(np.linalg.det(self.affine[:3, :3])))

    def world_coordinates(self, flat_index: np.ndarray) -> np.ndarray:
        """World coordinates (mm, shape (n, 3)) of voxels given by Fortran-order flat indices."""
        ijk = np.stack(np.unravel_index(flat_index, self.shape, order="F"), axis=1)
        return ijk @ self.affine[:3, :3].T + self.affine[:3, 3]


def mni152_grid(resolution_mm: float) -> Grid:
    """TemplateFlow's MNI152NLin2009cAsym grid at an isotropic resolution.

    Parameters
    ----------
    resolution_mm : float
        Voxel size in mm (1 and 2 give fMRIPrep's ``res-1`` / ``res-2`` grids exactly).

    Returns
    -------
    Grid
    """
    if resolution_mm <= 0:
        raise ValueError(f"resolution_mm must be positive, got {resolution_mm}")
    shape = tuple(int(np.floor(extent / resolution_mm + 1e-9)) + 1 for extent in MNI_EXTENT_MM)
    affine = np.diag([resolution_mm, resolution_mm, resolution_mm, 1.0])
    affine[:3, 3] = MNI_ORIGIN_MM
    return Grid(shape, affine)  # type: ignore[arg-type]


#: Files of the ICBM 2009a MNI152 templates bundled in nilearn's ``datasets/data`` folder.
_TEMPLATE_FILES = {
    "t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}
#: nilearn's ``load_mni152_brain_mask`` threshold on the max-normalised T1 template.
BRAIN_MASK_THRESHOLD = 0.2


def template_file(name: str) -> Path:
    """Path of a template file shipped with nilearn (found without importing nilearn)."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("nilearn is not installed")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / _TEMPLATE_FILES[name]
    if not path.is_file():
        raise FileNotFoundError(f"nilearn template {path} not found")
    return path


@lru_cache(maxsize=16)
def _template_cached(name: str, resolution_mm: float) -> np.ndarray:
    source_name = "t1" if name == "brain_mask" else name
    source = nib.load(str(template_file(source_name)))
    data = np.asarray(source.dataobj, dtype=np.float32)
    data /= data.max()  # stored as uint8; nilearn rescales every template to 0..1
    grid = mni152_grid(resolution_mm)
    # target voxel -> source voxel
    mapping = np.linalg.inv(source.affine) @ grid.affine
    resampled = ndimage.affine_transform(data, mapping[:3, :3], offset=mapping[:3, 3],
                                         output_shape=grid.shape, order=1, mode="constant",
                                         cval=0.0)
    if name == "brain_mask":
        resampled = (resampled > BRAIN_MASK_THRESHOLD).astype(np.float32)
    resampled = resampled.astype(np.float32)
    resampled.setflags(write=False)
    return resampled


def template_on_grid(name: TemplateName, resolution_mm: float) -> nib.Nifti1Image:
    """One of nilearn's offline MNI152 templates resampled to :func:`mni152_grid`.

    Parameters
    ----------
    name : {"t1", "gm", "wm", "brain_mask"}
        T1 intensity, grey- or white-matter probability (0..1), or the binary brain mask.
    resolution_mm : float
        Target isotropic voxel size.

    Returns
    -------
    Nifti1Image
        float32 image (``uint8`` for the mask) on the MNI152NLin2009cAsym grid. Results are cached
        per process.
    """
    if name not in ("t1", "gm", "wm", "brain_mask"):
        raise ValueError(f"unknown template {name!r}")
    data = _template_cached(name, float(resolution_mm))
    grid = mni152_grid(resolution_mm)
    if name == "brain_mask":
        return nib.Nifti1Image((data > 0).astype(np.uint8), grid.affine)
    if name in ("gm", "wm"):
        data = np.clip(data, 0.0, 1.0)
    return nib.Nifti1Image(np.array(data, dtype=np.float32), grid.affine)
