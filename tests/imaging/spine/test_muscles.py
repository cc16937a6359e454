"""Paraspinal muscle phantoms: cross-sectional area, fat fraction, lean area, asymmetry, QC."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from backpheno.errors import InputError
from backpheno.imaging.spine import SpineSettings, measure_muscles
from backpheno.imaging.spine.extractor import muscle_feature_values

from .phantoms import ORDERS, grid, reorient, rotation

NAMES = {1: "multifidus_left", 2: "multifidus_right", 3: "erector_spinae_left",
         4: "erector_spinae_right", 5: "psoas_left", 6: "psoas_right"}
#: Centre (x, y) and semi-axes (mm) of each ellipse; RAS: right is +x.
ELLIPSES = {1: (-18, -45, 11, 18), 2: (18, -45, 12, 18), 3: (-52, -42, 20, 19),
            4: (52, -42, 20, 19), 5: (-40, 14, 15, 16), 6: (40, 14, 15, 16)}
FAT = {1: 0.20, 2: 0.10, 3: 0.15, 4: 0.15, 5: 0.05, 6: 0.05}


def _axial(zooms=(0.9, 0.9, 5.0), affine_tilt: float = 0.0, fov=(200, 170, 50)):
    """Muscle labels and fat fraction; ellipses are drawn in each slice's own plane."""
    base, shape = grid(zooms, fov=fov)
    affine = base
    if affine_tilt:
        tilt = np.eye(4)
        tilt[:3, :3] = rotation("x", affine_tilt)
        affine = tilt @ base
    ij = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)[..., :2]
    in_plane = ij * np.asarray(zooms[:2]) + base[:2, 3]
    labels = np.zeros(shape, np.int16)
    ff = np.full(shape, 0.9)
    for value, (cx, cy, rx, ry) in ELLIPSES.items():
        inside = ((in_plane[..., 0] - cx) / rx) ** 2 + ((in_plane[..., 1] - cy) / ry) ** 2 <= 1
        labels[inside], ff[inside] = value, FAT[value]
    return (nib.Nifti1Image(labels, affine), nib.Nifti1Image(ff.astype(np.float32), affine))


def test_areas_fat_fractions_and_lean_areas():
    labels, ff = _axial()
    table = measure_muscles(labels, ff, scheme=NAMES).muscles
    for value, name in NAMES.items():
        _, _, rx, ry = ELLIPSES[value]
        row = table.loc[name]
        assert row["status"] == "ok"
        assert row["csa_mm2"] == pytest.approx(np.pi * rx * ry, rel=0.02)
        assert row["fat_fraction"] == pytest.approx(FAT[value], abs=1e-6)
        assert row["lean_csa_mm2"] == pytest.approx(row["csa_mm2"] * (1 - FAT[value]))
        assert row["n_slices"] == 10


def test_any_voxel_order_and_oblique_slices_give_the_same_areas():
    labels, ff = _axial()
    reference = measure_muscles(labels, ff, scheme=NAMES).muscles
    for ornt in ORDERS.values():
        table = measure_muscles(reorient(labels, ornt), reorient(ff, ornt), scheme=NAMES).muscles
        np.testing.assert_allclose(table["csa_mm2"], reference["csa_mm2"], rtol=1e-9)
        np.testing.assert_allclose(table["fat_fraction"], reference["fat_fraction"], rtol=1e-6)
    oblique_labels, oblique_ff = _axial(affine_tilt=12.0)
    oblique = measure_muscles(oblique_labels, oblique_ff, scheme=NAMES).muscles
    np.testing.assert_allclose(oblique["csa_mm2"], reference["csa_mm2"], rtol=1e-9)


def test_asymmetry_features():
    labels, ff = _axial()
    result = measure_muscles(labels, ff, scheme=NAMES)
    values = muscle_feature_values(result, list(NAMES.values()))
    left, right = result.muscles.loc["multifidus_left"], result.muscles.loc["multifidus_right"]
    mean = (left["csa_mm2"] + right["csa_mm2"]) / 2
    expected = 100 * abs(left["csa_mm2"] - right["csa_mm2"]) / mean
    assert values["spine.muscle.multifidus.csa_asymmetry_pct"] == pytest.approx(expected)
    assert values["spine.muscle.multifidus.fat_fraction_asymmetry"] == pytest.approx(0.1, abs=1e-6)
    assert values["spine.muscle.psoas.csa_asymmetry_pct"] == pytest.approx(0.0, abs=2.0)


def test_swapped_sides_are_an_input_error():
    labels, ff = _axial()
    swapped = {**NAMES, 1: "multifidus_right", 2: "multifidus_left"}
    with pytest.raises(InputError, match="swapped"):
        measure_muscles(labels, ff, scheme=swapped)


def test_cut_missing_and_unmeasurable_muscles_get_reasons():
    labels, _ = _axial(fov=(130, 170, 50))  # field of view cuts the erector spinae
    result = measure_muscles(labels, scheme=NAMES,
                             settings=SpineSettings(muscles=[*NAMES.values(),
                                                             "quadratus_lumborum_left"]))
    table, qc = result.muscles, result.qc.set_index("item")
    assert table.loc["erector_spinae_left", "status"] == "flagged"
    assert np.isnan(table.loc["erector_spinae_left", "csa_mm2"])
    assert "edge" in qc.loc["erector_spinae_left", "reason"]
    assert table.loc["quadratus_lumborum_left", "status"] == "missing"
    assert np.isnan(table.loc["multifidus_left", "fat_fraction"])  # no fat-fraction map
    assert "no fat-fraction map" in qc.loc["multifidus_left", "reason"]


def test_per_slice_areas():
    labels, ff = _axial()
    per_slice = measure_muscles(labels, ff, scheme=NAMES).per_slice
    assert len(per_slice) == labels.shape[2]
    assert per_slice["psoas_left"].max() == pytest.approx(np.pi * 15 * 16, rel=0.02)
    assert per_slice["s_mm"].is_monotonic_increasing
