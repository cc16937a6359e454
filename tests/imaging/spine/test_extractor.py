"""The spine extractor: inputs of the dataset contract, features + codebook + QC, planted traits."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from backpheno.dataset import Dataset
from backpheno.errors import InputError
from backpheno.extractors import ExtractionResult
from backpheno.imaging.spine import EXTRACTOR, SpineSettings, feature_specs, input_paths
from backpheno.synth import spine as synth_spine
from backpheno.synth.base import ParticipantSpec
from backpheno.synth.config import SimulateConfig
from backpheno.table import FeatureTable, make_codebook, make_qc

SITE = {"disc_csf_ratio_scale": 1.0, "fat_fraction_offset": 0.0}


def _spec(index: int, mechanical: float, site=SITE) -> ParticipantSpec:
    return ParticipantSpec(f"sub-{index:03d}", "ses-V0", "site01", 55.0, "F", 28.0,
                           {"mechanical": mechanical}, site, seed=3, index=index)


@pytest.fixture(scope="module")
def mini_dataset(tmp_path_factory):
    """Two participants: sub-001 with spine data, sub-002 without."""
    root = tmp_path_factory.mktemp("spine") / "dataset"
    root.mkdir()
    pd.DataFrame({"participant_id": ["sub-001", "sub-002"], "site": ["site01", "site01"],
                  "age": [55, 40], "sex": ["F", "M"], "deep_phenotyping": ["true", "false"]}
                 ).to_csv(root / "participants.tsv", sep="\t", index=False)
    config = SimulateConfig()
    synth_spine.write_static(root, config)
    synth_spine.write_participant(_spec(1, 0.5), root, config)
    return Dataset(root)


def test_find_inputs(mini_dataset):
    settings = SpineSettings()
    found = EXTRACTOR.find_inputs(mini_dataset, "sub-001", "ses-V0", settings)
    assert set(found) == {"t2w", "sagittal_dseg", "sagittal_fatfraction", "axial_dseg",
                          "axial_fatfraction", "dseg_tsv"}
    assert all(p.is_file() for p in found.values())
    assert EXTRACTOR.find_inputs(mini_dataset, "sub-002", "ses-V0", settings) is None
    assert EXTRACTOR.modality == "spine" and EXTRACTOR.settings_model is SpineSettings


def test_find_inputs_partner_missing(mini_dataset, tmp_path):
    paths = input_paths(mini_dataset, "sub-001", "ses-V0")
    dseg = paths["sagittal_dseg"]
    moved = tmp_path / dseg.name
    dseg.rename(moved)
    try:
        with pytest.raises(InputError, match="partner sagittal_dseg is missing") as err:
            EXTRACTOR.find_inputs(mini_dataset, "sub-001", "ses-V0", SpineSettings())
        assert err.value.participant == "sub-001" and err.value.session == "ses-V0"
    finally:
        moved.rename(dseg)


def test_extract_returns_documented_features(mini_dataset):
    settings = SpineSettings()
    inputs = EXTRACTOR.find_inputs(mini_dataset, "sub-001", "ses-V0", settings)
    result = EXTRACTOR.extract(inputs, settings, "sub-001", "ses-V0")
    assert isinstance(result, ExtractionResult)
    names = list(feature_specs(settings.muscles))
    assert list(result.features) == names
    assert "spine.disc.L4-L5.height_index" in names
    assert "spine.vertebra.L3.height_mm" in names
    assert "spine.muscle.multifidus_left.fat_fraction" in names
    codebook = make_codebook(result.codebook)
    assert list(codebook.index) == names
    assert (codebook["modality"] == "spine").all()
    assert codebook["provenance"].str.contains("dseg").all()
    assert not np.isnan(list(result.features.values())).any()
    qc = make_qc(result.qc)
    assert (qc["participant_id"] == "sub-001").all() and (qc["modality"] == "spine").all()
    index = pd.MultiIndex.from_tuples([("sub-001", "ses-V0")],
                                      names=["participant_id", "session_id"])
    FeatureTable(pd.DataFrame([result.features], index=index), codebook, qc)
    for name, value in result.features.items():
        row = codebook.loc[name]
        assert row["valid_min"] <= value <= row["valid_max"], name


def test_extract_recovers_planted_values(mini_dataset):
    spec = _spec(1, 0.5)
    bodies, discs = synth_spine.lumbar_anatomy(spec, spec.rng("spine"))
    settings = SpineSettings()
    inputs = EXTRACTOR.find_inputs(mini_dataset, "sub-001", "ses-V0", settings)
    features = EXTRACTOR.extract(inputs, settings, "sub-001", "ses-V0").features
    for name, disc in zip(("L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"), discs, strict=True):
        assert features[f"spine.disc.{name}.csf_ratio"] == pytest.approx(disc.ratio, rel=0.03)
        assert features[f"spine.disc.{name}.central_height_mm"] == pytest.approx(disc.height,
                                                                                 abs=0.5)
    for name, body in zip(("L1", "L2", "L3", "L4", "L5", "S1"), bodies, strict=True):
        assert features[f"spine.vertebra.{name}.height_mm"] == pytest.approx(body.height, abs=0.5)


def test_extract_names_participant_on_bad_input(mini_dataset):
    inputs = EXTRACTOR.find_inputs(mini_dataset, "sub-001", "ses-V0", SpineSettings())
    with pytest.raises(InputError) as err:
        EXTRACTOR.extract(inputs, SpineSettings(sagittal_scheme="totalspineseg"), "sub-001",
                          "ses-V0")
    assert err.value.participant == "sub-001" and "not in label scheme" in str(err.value)


def test_missing_modalities_are_nan_with_qc(mini_dataset):
    settings = SpineSettings()
    inputs = EXTRACTOR.find_inputs(mini_dataset, "sub-001", "ses-V0", settings)
    axial_only = {k: inputs[k] for k in ("axial_dseg", "axial_fatfraction", "dseg_tsv")}
    result = EXTRACTOR.extract(axial_only, settings, "sub-001", "ses-V0")
    assert np.isnan(result.features["spine.disc.L4-L5.csf_ratio"])
    assert np.isnan(result.features["spine.summary.n_degenerated_discs"])
    assert not np.isnan(result.features["spine.muscle.psoas_left.csa_mm2"])
    sagittal = [q for q in result.qc if q["item"] == "sagittal"]
    assert sagittal[0]["status"] == "missing"


def test_test_cohort_recovers_the_planted_mechanical_trait(small_cohort):
    """The test cohort's mechanical (degeneration) trait is recovered by spine features."""
    dataset = Dataset(small_cohort)
    truth = json.loads((small_cohort / "ground_truth.json").read_text())
    mechanical = {p["participant_id"]: p["traits"]["mechanical"] for p in truth["participants"]}
    settings = SpineSettings()
    rows = {}
    for pid in dataset.participant_ids:
        inputs = EXTRACTOR.find_inputs(dataset, pid, "ses-V0", settings)
        if inputs is not None:
            rows[pid] = EXTRACTOR.extract(inputs, settings, pid, "ses-V0").features
    table = pd.DataFrame.from_dict(rows, orient="index")
    trait = pd.Series(mechanical).loc[table.index]
    assert len(table) >= 10
    r_ratio = trait.corr(table["spine.summary.lower_lumbar_csf_ratio"])
    r_height = trait.corr(table["spine.summary.lower_lumbar_height_index"])
    r_fat = trait.corr(table["spine.summary.paraspinal_fat_fraction"])
    print(f"\nmechanical trait vs lower-lumbar nucleus/CSF ratio r = {r_ratio:.2f}, "
          f"disc height index r = {r_height:.2f}, paraspinal fat fraction r = {r_fat:.2f} "
          f"(n = {len(table)})")
    assert r_ratio < -0.8, r_ratio
    assert r_height < -0.5, r_height
    assert r_fat > 0.3, r_fat
