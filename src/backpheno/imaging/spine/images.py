"""Reading spine images: canonical orientation, shared grids, fat-fraction scale."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from backpheno.errors import InputError

#: A file path or an image already in memory.
Image = str | Path | nib.spatialimages.SpatialImage
#: Largest difference between two affines still treated as the same grid (mm).
GRID_TOLERANCE_MM = 1e-3


def load_canonical(image: str | Path | nib.spatialimages.SpatialImage,
                   what: str = "image") -> nib.Nifti1Image:
    """Load a 3-D image and reorient it to the closest RAS+ voxel order.

    Parameters
    ----------
    image : str, Path or nibabel image
        A NIfTI file or an image already in memory.
    what : str
        Words naming the image in error messages (``"sagittal label map"``).

    Raises
    ------
    InputError
        If the file is missing, unreadable, not 3-D or has a singular affine.
    """
    path = None
    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.is_file():
            raise InputError(f"{what} not found", file=path)
        try:
            image = nib.load(path)
        except Exception as err:  # nibabel raises several types for unreadable files
            raise InputError(f"cannot read {what} ({err})", file=path) from None
    shape = image.shape
    if len(shape) == 4 and shape[3] == 1:
        image = image.slicer[..., 0]
    if len(image.shape) != 3:
        raise InputError(f"{what} must be 3-D, got shape {shape}", file=path)
    if abs(np.linalg.det(image.affine[:3, :3])) < 1e-9:
        raise InputError(f"{what} has a singular affine", file=path)
    return nib.as_closest_canonical(image)


def check_same_grid(a: nib.spatialimages.SpatialImage, b: nib.spatialimages.SpatialImage,
                    file_a: str | Path | None, file_b: str | Path | None) -> None:
    """Raise InputError unless two images share shape and affine."""
    if a.shape[:3] != b.shape[:3] or not np.allclose(a.affine, b.affine, atol=GRID_TOLERANCE_MM):
        raise InputError(
            f"not on the same voxel grid as {file_a}: shapes {a.shape[:3]} vs {b.shape[:3]}, "
            f"affines differ by up to {np.abs(a.affine - b.affine).max():.4g} mm; resample the "
            "label map to its image first",
            file=file_b,
        )


def file_name(image: Image | None) -> str | None:
    if image is None:
        return None
    if isinstance(image, (str, Path)):
        return str(image)
    name = image.get_filename() if hasattr(image, "get_filename") else None
    return str(name) if name else "<in-memory image>"


def companion(image: Image | None, reference: nib.spatialimages.SpatialImage,
               reference_file: str | None, what: str) -> np.ndarray | None:
    """A second image on the label map's grid, as float data (None if not given)."""
    if image is None:
        return None
    loaded = load_canonical(image, what)
    check_same_grid(reference, loaded, reference_file, file_name(image))
    return np.asarray(loaded.dataobj, dtype=np.float32)


def as_fraction(values: np.ndarray, file: str | None) -> np.ndarray:
    """Check a fat-fraction map is on a 0..1 scale and clip noise outside it."""
    high = float(np.nanpercentile(values, 99.9))
    if high > 1.5:
        raise InputError(f"fat-fraction values reach {high:.3g}; expected F/(F+W) in 0..1 "
                         "(set fat_fraction_scale = 0.01 for maps in percent)", file=file)
    return np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0)
