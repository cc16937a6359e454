"""Per-level measures of a lumbar-like phantom stack: bodies, discs, canal, signal and QC."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from backpheno.errors import InputError
from backpheno.imaging.spine import SpineSettings, measure_sagittal, scheme_from_mapping
from backpheno.imaging.spine.sagittal import LEVEL_COLUMNS, LEVELS

from .phantoms import Cylinder, grid, rotation, world

BODY_H, DISC_H, AP, LR = 25.0, 10.0, 16.0, 22.0
NUCLEUS, ANNULUS, MARROW, CSF, TISSUE = 600.0, 250.0, 450.0, 1000.0, 100.0
NAMES = {1: "L2", 2: "L3", 3: "L4", 4: "L5", 5: "L2-L3", 6: "L3-L4", 7: "L4-L5", 8: "canal"}
SCHEME = scheme_from_mapping(NAMES, name="phantom-stack")


def _stack(tilt: float = 12.0, zooms=(3.0, 1.0, 1.0), posterior_arch: bool = False,
           discs: bool = True, canal: bool = True, fov=(84, 130, 170)):
    """Label map, T2 image, fat-fraction map and the cylinders of a four-level stack."""
    rot = rotation("x", tilt)
    axis = rot @ [0.0, 0.0, 1.0]
    anterior = rot @ [0.0, 1.0, 0.0]
    step = BODY_H + DISC_H
    bodies = {name: Cylinder(tuple((1.5 - k) * step * axis), rot, AP, LR, BODY_H)
              for k, name in enumerate(("L2", "L3", "L4", "L5"))}
    disc_cyl = {name: Cylinder(tuple((1.0 - k) * step * axis), rot, AP, LR, DISC_H)
                for k, name in enumerate(("L2-L3", "L3-L4", "L4-L5"))}
    canal_cyl = Cylinder(tuple(-(AP + 3.0 + 7.0) * anterior), rot, 7.0, 10.0, 200.0)
    affine, shape = grid(zooms, fov=fov)
    pts = world(affine, shape)
    labels = np.zeros(shape, np.int16)
    t2 = np.full(shape, TISSUE)
    ff = np.zeros(shape)
    value = {n: v for v, n in NAMES.items()}
    if canal:
        inside = canal_cyl.contains(pts)
        labels[inside], t2[inside] = value["canal"], CSF
    for name, body in bodies.items():
        inside = body.contains(pts)
        if posterior_arch:
            q = body.local(pts)
            arch = ((q[..., 1] < -AP + 1.0) & (q[..., 1] > -AP - 30.0)
                    & (np.abs(q[..., 0]) <= 14.0) & (np.abs(q[..., 2]) <= BODY_H / 2 - 4.0))
            if canal:
                arch &= ~canal_cyl.contains(pts)
            inside |= arch
        labels[inside], t2[inside], ff[inside] = value[name], MARROW, 0.3
    if discs:
        for name, disc in disc_cyl.items():
            inside = disc.contains(pts)
            q = disc.local(pts)
            nucleus = inside & (disc.radius(pts) <= 0.6) & (np.abs(q[..., 2]) <= 0.3 * DISC_H)
            labels[inside], t2[inside] = value[name], ANNULUS
            t2[nucleus] = NUCLEUS
    return (nib.Nifti1Image(labels, affine), nib.Nifti1Image(t2.astype(np.float32), affine),
            nib.Nifti1Image(ff.astype(np.float32), affine), bodies, disc_cyl)


@pytest.fixture(scope="module")
def stack():
    return _stack()


def test_levels_table_layout(stack):
    labels, t2, *_ = stack
    result = measure_sagittal(labels, t2, scheme=SCHEME)
    assert list(result.levels.index) == list(LEVELS)
    assert list(result.levels.columns) == list(LEVEL_COLUMNS)
    assert result.levels.loc["L1", "status"] == "missing"
    assert {"item", "status", "reason"} <= set(result.qc.columns)


def test_bodies_and_discs_heights_volumes(stack):
    labels, t2, ff, bodies, discs = stack
    levels = measure_sagittal(labels, t2, ff, scheme=SCHEME).levels
    for name, body in bodies.items():
        row = levels.loc[name]
        assert abs(row["height_mm"] - BODY_H) <= 0.5, (name, row["height_mm"])
        assert abs(row["volume_ml"] / body.volume_ml - 1) <= 0.02
        assert abs(row["tilt_deg"] - 12.0) <= 1.5
        assert row["axis_source"] == "discs"
        assert row["fat_fraction"] == pytest.approx(0.3, abs=1e-4)
    for name, disc in discs.items():
        row = levels.loc[name]
        assert abs(row["mean_height_mm"] - DISC_H) <= 0.5
        assert abs(row["volume_ml"] / disc.volume_ml - 1) <= 0.02
        assert row["height_index"] == pytest.approx(DISC_H / BODY_H, abs=0.025)


def test_nucleus_to_csf_ratio_and_degenerated_flag(stack):
    labels, t2, *_ = stack
    levels = measure_sagittal(labels, t2, scheme=SCHEME,
                              settings=SpineSettings(degeneration_threshold=0.65)).levels
    for disc in ("L2-L3", "L3-L4", "L4-L5"):
        assert levels.loc[disc, "csf_ratio"] == pytest.approx(NUCLEUS / CSF, abs=1e-3)
        assert levels.loc[disc, "csf_signal"] == pytest.approx(CSF)
        assert levels.loc[disc, "degenerated"] == 1.0
    relaxed = measure_sagittal(labels, t2, scheme=SCHEME,
                               settings=SpineSettings(degeneration_threshold=0.5)).levels
    assert (relaxed.loc[["L2-L3", "L3-L4", "L4-L5"], "degenerated"] == 0.0).all()


def test_height_index_upper_reference(stack):
    labels, t2, *_ = stack
    levels = measure_sagittal(labels, t2, scheme=SCHEME,
                              settings=SpineSettings(height_index_reference="upper")).levels
    expected = levels.loc["L3-L4", "mean_height_mm"] / levels.loc["L3", "height_mm"]
    assert levels.loc["L3-L4", "height_index"] == pytest.approx(expected)


def test_whole_vertebra_labels_are_reduced_to_the_body():
    labels, t2, _, bodies, _ = _stack(posterior_arch=True)
    body_only = measure_sagittal(labels, t2, scheme=SCHEME).levels  # arch counted as body
    whole = measure_sagittal(labels, t2, scheme=SCHEME,
                             settings=SpineSettings(vertebra_extent="whole")).levels
    for name in ("L3", "L4"):
        assert body_only.loc[name, "volume_ml"] > 1.2 * bodies[name].volume_ml
        assert abs(whole.loc[name, "height_mm"] - BODY_H) <= 0.5
        assert abs(whole.loc[name, "volume_ml"] / bodies[name].volume_ml - 1) <= 0.03


def test_bodies_without_discs_use_their_endplates():
    """Vertebral-body-only labels (no discs): the axis comes from the bodies' own endplates."""
    labels, t2, _, bodies, _ = _stack(tilt=22.0, discs=False)
    levels = measure_sagittal(labels, t2, scheme=SCHEME).levels
    for name in bodies:
        assert levels.loc[name, "axis_source"] == "spine"
        assert abs(levels.loc[name, "height_mm"] - BODY_H) <= 0.5
        assert abs(levels.loc[name, "tilt_deg"] - 22.0) <= 2.0


def test_missing_inputs_give_nan_with_reasons(stack):
    labels, *_ = stack
    result = measure_sagittal(labels, scheme=SCHEME)
    assert np.isnan(result.levels.loc["L3-L4", "csf_ratio"])
    reasons = result.qc.set_index("item")["reason"]
    assert "no T2w image" in " ".join(reasons[reasons.index == "L3-L4"])
    assert "not labelled" in " ".join(reasons[reasons.index == "L1-L2"])
    assert np.isnan(result.levels.loc["L1-L2", "mean_height_mm"])


def test_disc_touching_the_edge_is_flagged():
    labels, t2, *_ = _stack(fov=(40, 130, 170))  # left-right coverage narrower than the discs
    result = measure_sagittal(labels, t2, scheme=SCHEME)
    row = result.levels.loc["L3-L4"]
    assert row["status"] == "flagged" and np.isnan(row["mean_height_mm"])
    flagged = result.qc[(result.qc["item"] == "L3-L4") & (result.qc["status"] == "flagged")]
    assert "edge" in flagged["reason"].iloc[0]


def test_implausible_size_is_flagged():
    affine, shape = grid((1.0, 1.0, 1.0), fov=(60, 60, 60))
    tiny = Cylinder((0, 0, 0), np.eye(3), 3.0, 3.0, 2.0)
    pts = world(affine, shape)
    image = nib.Nifti1Image(tiny.contains(pts).astype(np.int16), affine)
    result = measure_sagittal(image, scheme={1: "L4-L5"})
    assert np.isnan(result.levels.loc["L4-L5", "volume_ml"])
    assert "implausible volume_ml" in " ".join(result.qc["reason"])


def test_a_handful_of_voxels_is_flagged_not_measured():
    data = np.zeros((30, 30, 30), np.int16)
    data[10:12, 10:12, 10:13] = 1
    result = measure_sagittal(nib.Nifti1Image(data, np.eye(4)), scheme={1: "L4-L5"})
    assert result.levels.loc["L4-L5", "status"] == "flagged"
    assert "too few to measure" in " ".join(result.qc["reason"])


def test_detached_fragments_are_ignored_and_noted(stack):
    labels, t2, *_ = stack
    data = np.asarray(labels.dataobj).copy()
    clean = measure_sagittal(labels, t2, scheme=SCHEME).levels.loc["L3-L4", "volume_ml"]
    data[1:6, 2:8, 2:8] = 6  # a stray blob of the L3-L4 label in a corner
    noisy = measure_sagittal(nib.Nifti1Image(data, labels.affine), t2, scheme=SCHEME)
    assert noisy.levels.loc["L3-L4", "volume_ml"] == pytest.approx(clean)
    assert "detached fragments" in " ".join(noisy.qc["reason"])


def test_partial_values_are_flagged(stack):
    labels, t2, *_ = stack
    scheme = scheme_from_mapping(NAMES, partial=frozenset({2}))
    result = measure_sagittal(labels, t2, scheme=scheme)
    assert result.levels.loc["L3", "status"] == "flagged"
    assert np.isnan(result.levels.loc["L3", "height_mm"])
    assert "partially visible" in " ".join(result.qc["reason"])


def test_wrong_level_order_is_an_input_error(stack):
    labels, t2, *_ = stack
    swapped = dict(NAMES)
    swapped[2], swapped[3] = "L4", "L3"
    with pytest.raises(InputError, match="out of cranio-caudal order"):
        measure_sagittal(labels, t2, scheme=swapped)


def test_transitional_l6_leaves_lumbosacral_levels_out(stack):
    labels, t2, *_ = stack
    names = {1: "L4", 2: "L5", 3: "L6", 4: "S1", 5: "L4-L5", 6: "L5-L6", 7: "L5-S1",
             8: "canal"}
    result = measure_sagittal(labels, t2, scheme=names)
    assert result.levels.loc["L5-S1", "status"] == "flagged"
    assert np.isnan(result.levels.loc["L5-S1", "mean_height_mm"])
    assert "transitional" in " ".join(result.qc["reason"])
    assert result.levels.loc["L4-L5", "status"] == "ok"


def test_fat_fraction_scale_and_percent_maps(stack):
    labels, t2, ff, *_ = stack
    percent = nib.Nifti1Image(np.asarray(ff.dataobj) * 100, ff.affine)
    with pytest.raises(InputError, match="fat_fraction_scale"):
        measure_sagittal(labels, t2, percent, scheme=SCHEME)
    levels = measure_sagittal(labels, t2, percent, scheme=SCHEME,
                              settings=SpineSettings(fat_fraction_scale=0.01)).levels
    assert levels.loc["L3", "fat_fraction"] == pytest.approx(0.3, abs=1e-4)


def test_image_on_another_grid_is_an_input_error(stack):
    labels, t2, *_ = stack
    moved = nib.Nifti1Image(np.asarray(t2.dataobj), t2.affine @ np.diag([1, 1, 1.1, 1]))
    with pytest.raises(InputError, match="same voxel grid"):
        measure_sagittal(labels, moved, scheme=SCHEME)
