"""Label-map phantoms with known geometry, rasterised on any voxel grid.

Shapes are defined in world millimetres (RAS) by their centre, cranio-caudal axis and size, and
sampled at voxel centres, so the same anatomy can be drawn at any resolution, voxel order or
obliquity.
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np


def rotation(axis: str, degrees: float) -> np.ndarray:
    """Rotation matrix about the world x (left-right) or y (antero-posterior) axis."""
    th = np.radians(degrees)
    c, s = np.cos(th), np.sin(th)
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    raise ValueError(axis)


@dataclass(frozen=True)
class Cylinder:
    """Elliptic cylinder: centre (mm), rotation of the local frame, semi-axes and height."""

    centre: tuple[float, float, float]
    rot: np.ndarray
    ap: float
    lr: float
    height: float

    @property
    def volume_ml(self) -> float:
        return np.pi * self.ap * self.lr * self.height / 1000.0

    @property
    def axis(self) -> np.ndarray:
        return self.rot @ np.array([0.0, 0.0, 1.0])

    def local(self, xyz: np.ndarray) -> np.ndarray:
        """Coordinates (lr, ap, along-axis) of world points in the cylinder frame."""
        return (xyz - np.asarray(self.centre)) @ self.rot

    def contains(self, xyz: np.ndarray) -> np.ndarray:
        q = self.local(xyz)
        return ((np.abs(q[..., 2]) <= self.height / 2)
                & ((q[..., 0] / self.lr) ** 2 + (q[..., 1] / self.ap) ** 2 <= 1))

    def radius(self, xyz: np.ndarray) -> np.ndarray:
        """Normalised elliptic radius of world points (1 on the wall)."""
        q = self.local(xyz)
        return np.sqrt((q[..., 0] / self.lr) ** 2 + (q[..., 1] / self.ap) ** 2)


def grid(zooms: tuple[float, float, float], fov: tuple[float, float, float] = (90, 90, 90),
         offset: tuple[float, float, float] = (0.31, -0.17, 0.23)) -> tuple[np.ndarray, tuple]:
    """RAS-ordered affine and shape covering ``fov`` mm around the origin (plus ``offset``)."""
    zooms = np.asarray(zooms, float)
    shape = tuple(int(np.ceil(f / z)) for f, z in zip(fov, zooms, strict=True))
    affine = np.diag([*zooms, 1.0])
    affine[:3, 3] = -(np.array(shape) - 1) * zooms / 2 + np.asarray(offset)
    return affine, shape


def world(affine: np.ndarray, shape: tuple) -> np.ndarray:
    """World coordinates of every voxel centre, shape (*shape, 3)."""
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
    return ijk @ affine[:3, :3].T + affine[:3, 3]


def rasterise(shapes: list[tuple[int, Cylinder]], affine: np.ndarray,
              shape: tuple) -> nib.Nifti1Image:
    """A label image with ``value`` wherever each cylinder contains the voxel centre."""
    xyz = world(affine, shape)
    data = np.zeros(shape, np.int16)
    for value, cylinder in shapes:
        data[cylinder.contains(xyz)] = value
    return nib.Nifti1Image(data, affine)


def reorient(image: nib.Nifti1Image, ornt: list[list[int]]) -> nib.Nifti1Image:
    """The same image with its voxels stored in another order (affine updated)."""
    return image.as_reoriented(np.array(ornt, float))


#: Voxel orders to test (nibabel orientation arrays): unchanged, and two permutations with flips
#: (one of them the superior-first order of many sagittal exports).
ORDERS = {
    "as-drawn": [[0, 1], [1, 1], [2, 1]],
    "sagittal-export": [[2, -1], [1, -1], [0, 1]],
    "permuted-flipped": [[1, -1], [2, 1], [0, -1]],
}
