"""Intervertebral disc measures: heights along the disc's own axis, nucleus and CSF signal.

A disc's cranio-caudal axis is its thinnest principal axis (the normal of the disc plane, which
bisects the endplates of a wedge-shaped disc). Heights come from a
:class:`~backpheno.imaging.spine.geometry.ChordProfile` along that axis:

* mean height: mean chord over the footprint without its outer 20 % (of the inscribed radius);
* central height: mean chord over cells at least half the inscribed radius from the rim.

The nucleus is the disc's central part: voxels over the central half of the footprint and within
the middle half of the local height. The CSF reference is the canal label in a slab of the disc's
mean height around the disc plane. Their T2 signal ratio is the quantitative Pfirrmann proxy of
Salamat et al. 2016 (SpringerPlus 5:829).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backpheno.imaging.spine.geometry import (
    ChordProfile,
    Frame,
    chord_profile,
    principal_axes,
    world_coords,
)

#: Fraction of the inscribed radius excluded at the rim for the mean height.
MEAN_INNER = 0.2
#: Cells at least this fraction of the inscribed radius from the rim form the centre.
CENTRAL_INNER = 0.5
#: Half-width of the nucleus along the axis, as a fraction of the local height.
NUCLEUS_HALF_HEIGHT = 0.25
#: Largest in-plane distance (mm) of canal voxels from the disc centre used as CSF reference.
CSF_MAX_DISTANCE_MM = 80.0
#: Fewest voxels for a signal mean.
MIN_SIGNAL_VOXELS = 5


@dataclass(frozen=True)
class DiscShape:
    """A disc's frame, chord profile and heights (mm)."""

    frame: Frame
    profile: ChordProfile
    mean_height_mm: float
    central_height_mm: float


def disc_axis(points: np.ndarray) -> np.ndarray:
    """The disc's cranio-caudal axis: its smallest principal axis (world, unit)."""
    return principal_axes(points)[2][:, 0]


def disc_shape(ijk: np.ndarray, affine: np.ndarray) -> DiscShape:
    """Frame, chord profile and heights of a disc label."""
    points = world_coords(affine, ijk)
    frame = Frame.from_axis(points, disc_axis(points))
    profile = chord_profile(ijk, affine, frame)
    return DiscShape(frame, profile, profile.mean_chord(MEAN_INNER),
                     profile.mean_chord(CENTRAL_INNER))


def nucleus_mask(ijk: np.ndarray, affine: np.ndarray, shape: DiscShape) -> np.ndarray:
    """Which disc voxels belong to the nucleus (central footprint, middle of the height)."""
    profile = shape.profile
    ia, ib, t = profile.cells_of(world_coords(affine, ijk))
    central = profile.region(CENTRAL_INNER)[ia, ib]
    middle = 0.5 * (profile.entry[ia, ib] + profile.exit[ia, ib])
    half = NUCLEUS_HALF_HEIGHT * profile.chord[ia, ib]
    with np.errstate(invalid="ignore"):
        return central & (np.abs(t - middle) <= half)


def csf_mask(canal_ijk: np.ndarray, affine: np.ndarray, shape: DiscShape) -> np.ndarray:
    """Which canal voxels lie at the disc's level (a slab of its mean height)."""
    abt = shape.frame.project(world_coords(affine, canal_ijk))
    half = max(0.5 * shape.mean_height_mm, 1.0)
    near = np.hypot(abt[:, 0], abt[:, 1]) <= CSF_MAX_DISTANCE_MM
    return near & (np.abs(abt[:, 2]) <= half)


def signal_mean(image: np.ndarray, ijk: np.ndarray) -> float:
    """Mean image value over voxels (NaN with fewer than :data:`MIN_SIGNAL_VOXELS`)."""
    if len(ijk) < MIN_SIGNAL_VOXELS:
        return float("nan")
    return float(image[ijk[:, 0], ijk[:, 1], ijk[:, 2]].mean())
