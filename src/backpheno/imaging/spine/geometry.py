"""Geometry in physical space: canonical images, level frames and heights along a level's axis.

Everything here works in world millimetres (the image affine), never in voxel steps, so the same
anatomy gives the same numbers whatever the voxel order, the voxel size or the slice direction.

A structure's height is measured with a :class:`ChordProfile`: rays parallel to the structure's
own cranio-caudal axis are cast through a regular grid (``grid_step`` mm) laid in the plane
perpendicular to that axis, and the length of each ray inside the label (a voxel counts as its
full box; samples every ``ray_step`` mm) is the local height. Summaries over the footprint (the
grid cells any ray hits) then give the mean height (cells away from the rim) and the central
height (cells near the middle).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: World direction "superior" in RAS+ coordinates (nibabel's world frame).
SUPERIOR = np.array([0.0, 0.0, 1.0])
#: Samples per chunk when casting rays (bounds memory to about 50 MB).
_CHUNK_SAMPLES = 1_500_000


def voxel_volume_mm3(affine: np.ndarray) -> float:
    """Volume of one voxel (mm³)."""
    return float(abs(np.linalg.det(affine[:3, :3])))


def slice_area_mm2(affine: np.ndarray) -> float:
    """Area of one voxel face in the plane of array axes 0 and 1 (mm²)."""
    return float(np.linalg.norm(np.cross(affine[:3, 0], affine[:3, 1])))


def world_coords(affine: np.ndarray, ijk: np.ndarray) -> np.ndarray:
    """World coordinates (mm) of voxel centres ``ijk`` (n, 3)."""
    return ijk @ affine[:3, :3].T + affine[:3, 3]


def touches_edge(ijk: np.ndarray, shape: tuple[int, ...],
                 axes: tuple[int, ...] = (0, 1, 2)) -> bool:
    """Whether any voxel lies on the first or last index of one of ``axes``."""
    return any(ijk[:, ax].min() == 0 or ijk[:, ax].max() == shape[ax] - 1 for ax in axes)


def largest_component(ijk: np.ndarray) -> tuple[np.ndarray, float]:
    """Keep the largest 26-connected component of a voxel set.

    Returns
    -------
    ijk : ndarray
        Voxels of the largest component.
    dropped : float
        Fraction of the voxels that were in other components.
    """
    mask, lo = _crop(ijk)
    labelled, n = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    if n <= 1:
        return ijk, 0.0
    sizes = np.bincount(labelled.ravel())[1:]
    keep = np.argwhere(labelled == 1 + int(np.argmax(sizes))) + lo
    return keep, 1.0 - len(keep) / len(ijk)


def principal_axes(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centroid, eigenvalues (ascending, mm²) and eigenvectors (columns) of a point cloud."""
    centroid = points.mean(axis=0)
    values, vectors = np.linalg.eigh(np.cov((points - centroid).T))
    return centroid, values, vectors


def orient_superior(axis: np.ndarray) -> np.ndarray:
    """Unit vector along ``axis`` pointing to the superior half-space."""
    axis = np.asarray(axis, float)
    axis = axis / np.linalg.norm(axis)
    return -axis if axis @ SUPERIOR < 0 else axis


@dataclass(frozen=True)
class Frame:
    """A level's own frame: origin (mm), cranio-caudal ``axis`` and in-plane ``e1``, ``e2``."""

    origin: np.ndarray
    axis: np.ndarray
    e1: np.ndarray
    e2: np.ndarray

    @classmethod
    def from_axis(cls, points: np.ndarray, axis: np.ndarray) -> Frame:
        """Frame at the centroid of ``points``; ``e1`` is their widest in-plane direction."""
        origin = points.mean(axis=0)
        axis = orient_superior(axis)
        helper = np.eye(3)[int(np.argmin(np.abs(axis)))]
        u = np.cross(axis, helper)
        u /= np.linalg.norm(u)
        v = np.cross(axis, u)
        rel = points - origin
        plane = np.stack([rel @ u, rel @ v], axis=1)
        _, vecs = np.linalg.eigh(np.cov(plane.T))
        major = vecs[:, -1]
        e1 = major[0] * u + major[1] * v
        e1 /= np.linalg.norm(e1)
        if e1[np.argmax(np.abs(e1))] < 0:
            e1 = -e1
        return cls(origin, axis, e1, np.cross(axis, e1))

    def project(self, points: np.ndarray) -> np.ndarray:
        """Coordinates (a along e1, b along e2, t along axis) of world points, mm."""
        rel = points - self.origin
        return np.stack([rel @ self.e1, rel @ self.e2, rel @ self.axis], axis=1)


@dataclass(frozen=True)
class ChordProfile:
    """Lengths of a structure along its axis on a grid in the perpendicular plane.

    Attributes
    ----------
    frame : Frame
    a, b : ndarray
        Grid coordinates (mm) along ``frame.e1`` and ``frame.e2``.
    chord : ndarray
        Length inside the structure of the ray through each grid cell, shape (len(a), len(b)), mm.
    entry, exit : ndarray
        Axis coordinate (mm) of the first and last inside sample of each ray (NaN: no hit).
    edge_distance : ndarray
        Distance (mm) of each footprint cell to the footprint's rim (0 outside).
    grid_step, ray_step : float
        Grid spacing and sampling step along the rays, mm.
    """

    frame: Frame
    a: np.ndarray
    b: np.ndarray
    chord: np.ndarray
    entry: np.ndarray
    exit: np.ndarray
    edge_distance: np.ndarray
    grid_step: float
    ray_step: float

    @property
    def footprint(self) -> np.ndarray:
        """Cells whose ray hits the structure."""
        return self.chord > 0

    @property
    def depth(self) -> float:
        """Largest distance of a footprint cell to the rim (mm): the inscribed radius."""
        return float(self.edge_distance.max()) if self.edge_distance.size else 0.0

    @property
    def footprint_area_mm2(self) -> float:
        """Area of the footprint in the plane perpendicular to the axis (mm²)."""
        return float(self.footprint.sum() * self.grid_step**2)

    def region(self, inner: float) -> np.ndarray:
        """Footprint cells at least ``inner`` × :attr:`depth` away from the rim."""
        return self.footprint & (self.edge_distance >= inner * self.depth)

    def mean_chord(self, inner: float) -> float:
        """Mean chord (mm) over :meth:`region` (NaN if empty)."""
        cells = self.region(inner)
        return float(self.chord[cells].mean()) if cells.any() else float("nan")

    def cells_of(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Grid cell indices (ia, ib) and axis coordinate t of world points."""
        abt = self.frame.project(points)
        ia = np.rint((abt[:, 0] - self.a[0]) / self.grid_step).astype(int)
        ib = np.rint((abt[:, 1] - self.b[0]) / self.grid_step).astype(int)
        return np.clip(ia, 0, len(self.a) - 1), np.clip(ib, 0, len(self.b) - 1), abt[:, 2]


def chord_profile(ijk: np.ndarray, affine: np.ndarray, frame: Frame, grid_step: float = 0.5,
                  ray_step: float = 0.2) -> ChordProfile:
    """Cast rays along ``frame.axis`` through the voxel set ``ijk`` (voxels as boxes).

    Parameters
    ----------
    ijk : ndarray
        Voxel indices of the structure, shape (n, 3).
    affine : ndarray
        Voxel-to-world affine of the image the indices refer to.
    frame : Frame
        The structure's frame; rays run along ``frame.axis``.
    grid_step, ray_step : float
        Spacing of the rays in the perpendicular plane and of the samples along a ray (mm).
    """
    abt = frame.project(world_coords(affine, ijk))
    lin = affine[:3, :3]
    pads = [0.5 * np.abs(direction @ lin).sum() for direction in (frame.e1, frame.e2, frame.axis)]
    a = _grid(abt[:, 0].min() - pads[0], abt[:, 0].max() + pads[0], grid_step)
    b = _grid(abt[:, 1].min() - pads[1], abt[:, 1].max() + pads[1], grid_step)
    t = _grid(abt[:, 2].min() - pads[2], abt[:, 2].max() + pads[2], ray_step)

    # crop the voxel grid to a box holding every sample, so no index needs clipping
    directions = np.stack([frame.e1, frame.e2, frame.axis])
    corners = np.array([[u, v, w] for u in (a[0], a[-1]) for v in (b[0], b[-1])
                        for w in (t[0], t[-1])]) @ directions + frame.origin
    inv = np.linalg.inv(affine)
    corner_vox = corners @ inv[:3, :3].T + inv[:3, 3]
    lo = np.floor(np.minimum(corner_vox.min(axis=0), ijk.min(axis=0))).astype(int) - 1
    hi = np.ceil(np.maximum(corner_vox.max(axis=0), ijk.max(axis=0))).astype(int) + 1
    shape = hi - lo + 1
    mask = np.zeros(shape, bool)
    rel = ijk - lo
    mask[rel[:, 0], rel[:, 1], rel[:, 2]] = True
    flat_mask = mask.ravel()
    strides = (int(shape[1] * shape[2]), int(shape[2]), 1)
    base = (inv[:3, :3] @ frame.origin + inv[:3, 3] - lo).astype(np.float32)
    steps = (inv[:3, :3] @ directions.T).astype(np.float32)  # column d: voxel step per mm

    chord = np.zeros((len(a), len(b)))
    entry = np.full((len(a), len(b)), np.nan)
    exit_ = np.full((len(a), len(b)), np.nan)
    a32, b32, t32 = (x.astype(np.float32) for x in (a, b, t))
    rows = max(1, _CHUNK_SAMPLES // max(1, len(b) * len(t)))
    for start in range(0, len(a), rows):
        ar = a32[start:start + rows]
        flat = np.zeros((len(ar), len(b), len(t)), np.int64)
        for dim in range(3):
            coord = (ar[:, None, None] * steps[dim, 0]
                     + (b32[:, None] * steps[dim, 1] + t32[None, :] * steps[dim, 2]
                        + base[dim])[None])
            np.rint(coord, out=coord)
            flat += coord.astype(np.int64) * strides[dim]
        inside = flat_mask[flat]
        hit = inside.any(axis=2)
        chord[start:start + rows] = inside.sum(axis=2) * ray_step
        first = np.argmax(inside, axis=2)
        last = len(t) - 1 - np.argmax(inside[:, :, ::-1], axis=2)
        entry[start:start + rows] = np.where(hit, t[first], np.nan)
        exit_[start:start + rows] = np.where(hit, t[last], np.nan)
    footprint = np.pad(chord > 0, 1)
    edge = ndimage.distance_transform_edt(footprint, sampling=grid_step)[1:-1, 1:-1]
    return ChordProfile(frame, a, b, chord, entry, exit_, edge, grid_step, ray_step)


def _grid(lo: float, hi: float, step: float) -> np.ndarray:
    """Multiples of ``step`` covering [lo, hi] (a grid symmetric about the frame origin)."""
    return np.arange(np.floor(lo / step), np.ceil(hi / step) + 1) * step


def _crop(ijk: np.ndarray, pad: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Boolean mask of the voxel set in its bounding box with ``pad`` empty voxels around."""
    lo = ijk.min(axis=0) - pad
    size = ijk.max(axis=0) - lo + 1 + pad
    mask = np.zeros(size, bool)
    rel = ijk - lo
    mask[rel[:, 0], rel[:, 1], rel[:, 2]] = True
    return mask, lo
