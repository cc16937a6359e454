"""Synthetic lumbar MRI writer: files, geometry, determinism, planted effects, registration."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from backpheno.dataset import SPINE_LABELS
from backpheno.imaging.spine import feature_specs, measure_muscles, measure_sagittal
from backpheno.synth import cohort
from backpheno.synth import spine as synth_spine
from backpheno.synth.base import ParticipantSpec
from backpheno.synth.config import SimulateConfig

SITE = {"disc_csf_ratio_scale": 1.0, "fat_fraction_offset": 0.0}


def _spec(mechanical=0.0, site=SITE, index=4, age=50.0) -> ParticipantSpec:
    return ParticipantSpec("sub-004", "ses-V0", "site02", age, "M", 30.0,
                           {"mechanical": mechanical}, site, seed=11, index=index)


def _paths(root):
    anat = root / "sub-004" / "ses-V0" / "anat"
    deriv = root / "derivatives" / "spineseg" / "sub-004" / "ses-V0" / "anat"
    return {
        "t2w": anat / "sub-004_ses-V0_acq-lumbarsag_T2w.nii.gz",
        "sag": deriv / "sub-004_ses-V0_acq-lumbarsag_dseg.nii.gz",
        "sag_ff": deriv / "sub-004_ses-V0_acq-lumbarsag_desc-fatfraction_map.nii.gz",
        "ax": deriv / "sub-004_ses-V0_acq-lumbarax_dseg.nii.gz",
        "ax_ff": deriv / "sub-004_ses-V0_acq-lumbarax_desc-fatfraction_map.nii.gz",
    }


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth_spine")
    config = SimulateConfig()
    synth_spine.write_static(root, config)
    synth_spine.write_participant(_spec(), root, config)
    return root, config


def test_static_files(written):
    root, _ = written
    dseg = pd.read_csv(root / "derivatives" / "spineseg" / "dseg.tsv", sep="\t")
    assert list(dseg.columns) == ["index", "name"]
    assert list(dseg["name"]) == list(SPINE_LABELS)
    assert (root / "derivatives" / "spineseg" / "dataset_description.json").is_file()


def test_participant_files_follow_the_contract(written):
    root, config = written
    paths = _paths(root)
    assert all(p.is_file() for p in paths.values())
    sag = nib.load(paths["sag"])
    assert np.allclose(sag.header.get_zooms(), config.spine.sagittal_voxel_mm)
    assert np.allclose(nib.load(paths["ax"]).header.get_zooms(), config.spine.axial_voxel_mm)
    assert np.allclose(nib.load(paths["t2w"]).affine, sag.affine)
    values = set(np.unique(np.asarray(sag.dataobj)).tolist()) - {0}
    assert values == set(range(1, 13))             # L1..S1, five discs, canal
    ax_values = set(np.unique(np.asarray(nib.load(paths["ax"]).dataobj)).tolist()) - {0}
    assert ax_values == set(range(13, 19))          # six muscles
    ff = np.asarray(nib.load(paths["ax_ff"]).dataobj)
    assert ff.min() >= 0.0 and ff.max() <= 1.0 + 1e-6  # stored as scaled uint8


def test_lordotic_curve_tilts_levels_differently(written):
    root, _ = written
    paths = _paths(root)
    levels = measure_sagittal(paths["sag"], paths["t2w"],
                              dseg_tsv=root / "derivatives/spineseg/dseg.tsv").levels
    tilts = levels["tilt_deg"]
    assert tilts["S1"] - tilts[["L2", "L3"]].min() > 25.0
    assert tilts["L5-S1"] > tilts["L3-L4"] + 10.0
    assert (levels["status"] == "ok").all()


def test_deterministic(tmp_path):
    config = SimulateConfig()
    arrays = []
    for name in ("a", "b"):
        synth_spine.write_participant(_spec(), tmp_path / name, config)
        arrays.append(np.asarray(nib.load(_paths(tmp_path / name)["t2w"]).dataobj))
    np.testing.assert_array_equal(*arrays)


def test_mechanical_trait_and_site_effects_are_planted(tmp_path):
    config = SimulateConfig()
    dseg_tsv = tmp_path / "derivatives/spineseg/dseg.tsv"
    synth_spine.write_static(tmp_path, config)

    def measure(spec):
        root = tmp_path / f"m{spec.traits['mechanical']}_{spec.site_effect['disc_csf_ratio_scale']}"
        synth_spine.write_participant(spec, root, config)
        paths = _paths(root)
        sag = measure_sagittal(paths["sag"], paths["t2w"], dseg_tsv=dseg_tsv).levels
        ax = measure_muscles(paths["ax"], paths["ax_ff"], dseg_tsv=dseg_tsv).muscles
        return sag, ax

    low, low_ax = measure(_spec(mechanical=-1.0))
    high, high_ax = measure(_spec(mechanical=1.5))
    discs = ["L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"]
    assert (high.loc[discs, "csf_ratio"] < low.loc[discs, "csf_ratio"]).all()
    assert high.loc[discs, "mean_height_mm"].mean() < low.loc[discs, "mean_height_mm"].mean()
    assert (high_ax["fat_fraction"] > low_ax["fat_fraction"]).all()
    scaled, scaled_ax = measure(_spec(site={"disc_csf_ratio_scale": 1.2,
                                            "fat_fraction_offset": 0.05}))
    base, base_ax = measure(_spec())
    np.testing.assert_allclose(scaled.loc[discs, "csf_ratio"] / base.loc[discs, "csf_ratio"],
                               1.2, rtol=0.03)
    np.testing.assert_allclose(scaled_ax["fat_fraction"] - base_ax["fat_fraction"], 0.05,
                               atol=0.01)


def test_drives_name_real_features():
    names = set(feature_specs(list(synth_spine.MUSCLES)))
    for trait, features in synth_spine.DRIVES.items():
        assert trait == "mechanical"
        assert set(features) <= names


def test_registered_as_deep_writer():
    assert synth_spine in cohort.DEEP_WRITERS
