"""Vertebral body measures: the body's own axis, isolating the body, height, fat fraction.

The cranio-caudal axis of a vertebral body is the mean normal of planes fitted to its two
endplates (:func:`endplate_axis`), found iteratively from a first guess: the mean normal of its
adjacent discs (``"discs"``), else the local spine direction through the centroids of the
neighbouring levels (``"spine"``), else the scanner's superior axis (``"scanner"``). The
principal axes of a body are no help: its height and depth are too alike.

Whole-vertebra labels (body plus posterior elements, as TotalSpineSeg, SPINEPS and SPIDER write
them) are reduced to the body: the voxels that project, along the body axis, onto the footprint
of an adjacent disc (widened by :data:`BODY_MARGIN_MM`). The pedicles, laminae and processes lie
behind the disc footprint and drop out.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from backpheno.imaging.spine.geometry import (
    SUPERIOR,
    Frame,
    chord_profile,
    orient_superior,
    world_coords,
)

#: Widening (mm) of the adjacent disc footprints when cutting the body out of a whole vertebra.
BODY_MARGIN_MM = 2.0
#: Refinements of a body axis by fitting its endplates.
ENDPLATE_ITERATIONS = 2
#: Depth (mm) below the body surface that fat-fraction voxels must lie (partial volume).
FAT_FRACTION_EROSION_MM = 2.0


def initial_axis(disc_axes: list[np.ndarray],
                 spine_direction: np.ndarray | None) -> tuple[np.ndarray, str]:
    """First guess of a body's cranio-caudal axis and where it came from.

    Parameters
    ----------
    disc_axes : list of ndarray
        Axes of the measured adjacent discs.
    spine_direction : ndarray or None
        Direction between the centroids of the neighbouring levels.

    Returns
    -------
    axis : ndarray
        Unit vector pointing superior.
    source : str
        ``"discs"`` (mean adjacent disc normal), ``"spine"`` (local spine direction) or
        ``"scanner"`` (superior axis of the scanner).
    """
    if disc_axes:
        return orient_superior(np.sum([orient_superior(a) for a in disc_axes], axis=0)), "discs"
    if spine_direction is not None:
        return orient_superior(spine_direction), "spine"
    return SUPERIOR.copy(), "scanner"


def endplate_axis(ijk: np.ndarray, affine: np.ndarray, axis: np.ndarray,
                  iterations: int = ENDPLATE_ITERATIONS) -> np.ndarray:
    """Refine a body axis to the mean normal of planes fitted to its two endplates.

    Rays along the current axis enter the body through the inferior endplate and leave it
    through the superior one; a plane is fitted (least squares, outliers beyond 3 robust SDs
    dropped) to each set of points over the central 80 % of the footprint. The new axis is the
    mean of the two plane normals; a few iterations converge.
    """
    points = world_coords(affine, ijk)
    for _ in range(iterations):
        frame = Frame.from_axis(points, axis)
        profile = chord_profile(ijk, affine, frame, grid_step=1.0, ray_step=0.25)
        cells = profile.region(0.2)
        if cells.sum() < 10:
            return axis
        aa, bb = np.meshgrid(profile.a, profile.b, indexing="ij")
        normals = [_plane_normal(aa[cells], bb[cells], surface[cells], profile.ray_step)
                   for surface in (profile.entry, profile.exit)]
        local = np.sum(normals, axis=0)
        axis = orient_superior(local[0] * frame.e1 + local[1] * frame.e2 + local[2] * frame.axis)
    return axis


def _plane_normal(a: np.ndarray, b: np.ndarray, t: np.ndarray, resolution: float) -> np.ndarray:
    """Unit normal (frame coordinates, t component positive) of a robust plane fit.

    Points further than 3 robust SDs (at least 3 × ``resolution``, the sampling step of ``t``)
    from a first least-squares plane are dropped before the final fit.
    """
    design = np.column_stack([np.ones_like(a), a, b])
    coef, *_ = np.linalg.lstsq(design, t, rcond=None)
    residual = t - design @ coef
    scale = 1.4826 * np.median(np.abs(residual - np.median(residual)))
    keep = np.abs(residual) <= 3 * max(scale, resolution)
    if keep.sum() >= 3:
        coef, *_ = np.linalg.lstsq(design[keep], t[keep], rcond=None)
    normal = np.array([-coef[1], -coef[2], 1.0])
    return normal / np.linalg.norm(normal)


def isolate_body(ijk: np.ndarray, affine: np.ndarray, disc_ijks: list[np.ndarray],
                 axis: np.ndarray, margin_mm: float = BODY_MARGIN_MM) -> np.ndarray:
    """Voxels of a whole-vertebra label that lie over an adjacent disc's footprint.

    Parameters
    ----------
    ijk : ndarray
        Voxels of the whole vertebra.
    affine : ndarray
        Voxel-to-world affine.
    disc_ijks : list of ndarray
        Voxels of the adjacent discs (at least one).
    axis : ndarray
        The body's cranio-caudal axis; footprints are projections along it.
    margin_mm : float
        Widening of the footprints.
    """
    points = world_coords(affine, ijk)
    keep = np.zeros(len(ijk), bool)
    for disc in disc_ijks:
        frame = Frame.from_axis(world_coords(affine, disc), axis)
        profile = chord_profile(disc, affine, frame)
        step = profile.grid_step
        pad = int(np.ceil(margin_mm / step)) + 1
        footprint = np.pad(profile.footprint, pad)
        near = ndimage.distance_transform_edt(~footprint, sampling=step) <= margin_mm
        abt = frame.project(points)
        ia = np.rint((abt[:, 0] - profile.a[0]) / step).astype(int) + pad
        ib = np.rint((abt[:, 1] - profile.b[0]) / step).astype(int) + pad
        inside = (ia >= 0) & (ia < near.shape[0]) & (ib >= 0) & (ib < near.shape[1])
        keep[inside] |= near[ia[inside], ib[inside]]
    return ijk[keep]


def interior_voxels(ijk: np.ndarray, affine: np.ndarray,
                    depth_mm: float = FAT_FRACTION_EROSION_MM) -> np.ndarray:
    """Voxels whose centre lies at least ``depth_mm`` inside the voxel set (physical erosion)."""
    lo = ijk.min(axis=0) - 1
    mask = np.zeros(ijk.max(axis=0) - lo + 2, bool)
    rel = ijk - lo
    mask[rel[:, 0], rel[:, 1], rel[:, 2]] = True
    zooms = np.linalg.norm(affine[:3, :3], axis=0)
    depth = ndimage.distance_transform_edt(mask, sampling=zooms)
    return ijk[depth[rel[:, 0], rel[:, 1], rel[:, 2]] >= depth_mm]
