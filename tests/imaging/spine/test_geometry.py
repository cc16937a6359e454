"""Phantoms of known geometry: heights along a level's own axis, volumes, voxel-order invariance."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from backpheno.imaging.spine import measure_sagittal, scheme_from_mapping
from backpheno.imaging.spine.geometry import Frame, chord_profile, principal_axes, world_coords

from .phantoms import ORDERS, Cylinder, grid, rasterise, reorient, rotation, world

DISC = scheme_from_mapping({1: "L4-L5"}, name="phantom-disc")
HEIGHT, AP, LR = 10.0, 18.0, 23.0
#: Realistic sagittal voxels (in-plane about 1 mm, thick left-right slices) and isotropic ones.
ZOOMS = {"iso1": (1.0, 1.0, 1.0), "sag-0.9x0.9x3": (3.0, 0.9, 0.9),
         "sag-0.8x1.0x2.5": (2.5, 0.8, 1.0)}


def _disc_image(zooms, tilt_axis: str, tilt: float) -> tuple[nib.Nifti1Image, Cylinder]:
    disc = Cylinder((1.3, -0.7, 0.4), rotation(tilt_axis, tilt), AP, LR, HEIGHT)
    affine, shape = grid(zooms, fov=(70, 70, 60))
    return rasterise([(1, disc)], affine, shape), disc


@pytest.mark.parametrize("zooms", list(ZOOMS.values()), ids=list(ZOOMS))
@pytest.mark.parametrize("tilt_axis", ["x", "y"], ids=["sagittal-tilt", "coronal-tilt"])
@pytest.mark.parametrize("tilt", [0.0, 10.0, 20.0, 30.0])
def test_tilted_disc_height_and_volume(zooms, tilt_axis, tilt):
    image, disc = _disc_image(zooms, tilt_axis, tilt)
    results = {}
    for name, ornt in ORDERS.items():
        row = measure_sagittal(reorient(image, ornt), scheme=DISC).levels.loc["L4-L5"]
        results[name] = row
        assert row["status"] == "ok"
        assert abs(row["mean_height_mm"] - HEIGHT) <= 0.5, (name, row["mean_height_mm"])
        assert abs(row["central_height_mm"] - HEIGHT) <= 0.5, (name, row["central_height_mm"])
        assert abs(row["volume_ml"] / disc.volume_ml - 1) <= 0.02, (name, row["volume_ml"])
        assert abs(row["tilt_deg"] - tilt) <= 1.5
    # identical anatomy, different voxel order: identical numbers
    reference = results["as-drawn"]
    for row in results.values():
        for key in ("volume_ml", "mean_height_mm", "central_height_mm", "tilt_deg"):
            assert row[key] == pytest.approx(reference[key], abs=1e-6)


def test_same_disc_at_different_resolutions_agrees():
    heights = []
    for zooms in ZOOMS.values():
        image, _ = _disc_image(zooms, "x", 25.0)
        heights.append(measure_sagittal(image, scheme=DISC).levels.loc["L4-L5", "mean_height_mm"])
    assert max(heights) - min(heights) < 0.5


def test_oblique_grid_measures_the_same_disc():
    """A rotated voxel grid (oblique acquisition) sees the same physical disc."""
    disc = Cylinder((0.0, 0.0, 0.0), rotation("x", 15.0), AP, LR, HEIGHT)
    affine, shape = grid((1.0, 0.9, 0.9), fov=(70, 70, 60))
    tilt = np.eye(4)
    tilt[:3, :3] = rotation("y", 12.0) @ rotation("x", -20.0)
    oblique = tilt @ affine
    row = measure_sagittal(rasterise([(1, disc)], oblique, shape), scheme=DISC).levels.loc["L4-L5"]
    assert abs(row["mean_height_mm"] - HEIGHT) <= 0.5
    assert abs(row["volume_ml"] / disc.volume_ml - 1) <= 0.02
    assert abs(row["tilt_deg"] - 15.0) <= 1.5


def test_chord_profile_of_a_box_is_exact():
    """Axis-aligned box of 12 x 20 x 30 voxels (1 mm): every chord along z is exactly 30 mm."""
    ijk = np.argwhere(np.ones((12, 20, 30), bool))
    affine = np.eye(4)
    points = world_coords(affine, ijk)
    frame = Frame.from_axis(points, principal_axes(points)[2][:, 2])
    profile = chord_profile(ijk, affine, frame, grid_step=0.5, ray_step=0.1)
    assert profile.mean_chord(0.0) == pytest.approx(30.0, abs=0.1)
    assert profile.footprint_area_mm2 == pytest.approx(12 * 20, rel=0.1)


def test_wedge_disc_central_height_is_height_at_the_centre():
    """A lordotic wedge (endplates 12° apart): heights are measured along the bisector."""
    affine, shape = grid((1.0, 0.9, 0.9), fov=(70, 70, 60))
    pts = world(affine, shape)
    lower_n = rotation("x", 14.0) @ [0, 0, 1.0]
    upper_n = rotation("x", 26.0) @ [0, 0, 1.0]
    bisector = (lower_n + upper_n) / np.linalg.norm(lower_n + upper_n)
    floor, roof = -5.0 * bisector, 5.0 * bisector
    footprint = Cylinder((0, 0, 0), rotation("x", 20.0), AP, LR, 40.0)
    inside = (((pts - floor) @ lower_n >= 0) & ((roof - pts) @ upper_n >= 0)
              & (footprint.radius(pts) <= 1))
    image = nib.Nifti1Image(inside.astype(np.int16), affine)
    row = measure_sagittal(image, scheme=DISC).levels.loc["L4-L5"]
    assert abs(row["central_height_mm"] - 10.0) <= 0.5
    assert abs(row["tilt_deg"] - 20.0) <= 1.5
