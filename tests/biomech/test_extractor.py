"""The cohort-runner extractor on a small simulated dataset."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from backpheno.biomech import EXTRACTOR, BiomechSettings
from backpheno.biomech.extractor import extract_session
from backpheno.biomech.features import feature_names
from backpheno.dataset import MOTION_TASKS, Dataset
from backpheno.errors import InputError
from backpheno.extractors import Extractor
from backpheno.synth import motion
from backpheno.synth.base import ParticipantSpec
from backpheno.synth.config import SimulateConfig
from backpheno.table import FeatureTable, make_codebook, make_qc


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Dataset:
    root = tmp_path_factory.mktemp("motion") / "dataset"
    root.mkdir()
    (root / "dataset_description.json").write_text(json.dumps({"Name": "t", "BIDSVersion": "1.10"}))
    (root / "participants.tsv").write_text(
        "participant_id\tsite\tage\tsex\tdeep_phenotyping\n"
        "sub-001\tsite01\t40\tF\ttrue\nsub-002\tsite01\t50\tM\tfalse\n")
    config = SimulateConfig()
    motion.write_static(root, config)
    spec = ParticipantSpec("sub-001", "ses-V0", "site01", 40.0, "F", 25.0,
                           {"fear_avoidance": 0.0, "mechanical": 0.0}, {}, 0, 0)
    motion.write_participant(spec, root, config)
    return Dataset(root)


def test_satisfies_the_extractor_contract(dataset):
    for member in (*Extractor.__annotations__, "find_inputs", "extract"):
        assert hasattr(EXTRACTOR, member), member
    assert EXTRACTOR.modality == "biomech" and EXTRACTOR.settings_model is BiomechSettings
    settings = BiomechSettings()
    inputs = EXTRACTOR.find_inputs(dataset, "sub-001", "ses-V0", settings)
    assert sorted(inputs) == sorted(MOTION_TASKS)
    assert EXTRACTOR.find_inputs(dataset, "sub-002", "ses-V0", settings) is None


def test_extracts_every_feature_with_codebook_and_qc(dataset):
    settings = BiomechSettings()
    inputs = EXTRACTOR.find_inputs(dataset, "sub-001", "ses-V0", settings)
    result = EXTRACTOR.extract(inputs, settings, "sub-001", "ses-V0")
    assert list(result.features) == feature_names(settings.tasks)
    assert all(name.startswith("biomech.") for name in result.features)
    finite = {k for k, v in result.features.items() if np.isfinite(v)}
    assert len(finite) == len(result.features), set(result.features) - finite
    codebook = make_codebook(result.codebook)
    qc = make_qc(result.qc)
    assert set(qc["item"]) == set(MOTION_TASKS) and (qc["status"] == "ok").all()
    index = pd.MultiIndex.from_tuples([("sub-001", "ses-V0")],
                                      names=["participant_id", "session_id"])
    table = FeatureTable(pd.DataFrame([result.features], index=index), codebook, qc)
    assert table.codebook.loc["biomech.flexion.lumbar_rom_deg", "unit"] == "deg"
    assert table.codebook.loc["biomech.walk.n_strides", "role"] == "covariate"
    # every value is inside its documented valid range
    low, high = codebook["valid_min"], codebook["valid_max"]
    values = pd.Series(result.features)
    assert values.between(low[values.index], high[values.index]).all()


def test_missing_and_broken_tasks_do_not_stop_the_others(dataset, tmp_path):
    settings = BiomechSettings(tasks=["flexion", "extension", "lateralleft", "lateralright"])
    inputs = EXTRACTOR.find_inputs(dataset, "sub-001", "ses-V0", settings)
    del inputs["lateralright"]
    broken = tmp_path / inputs["extension"].name
    broken.write_text(inputs["extension"].read_text().replace("+", "x", 1))  # non-numeric cell
    for suffix in ("_channels.tsv", "_motion.json"):
        source = dataset.root / f"tracksys-imu{suffix}"
        if suffix == "_motion.json":
            source = dataset.root / "task-extension_tracksys-imu_motion.json"
        (tmp_path / broken.name.replace("_motion.tsv", suffix)).write_text(source.read_text())
    inputs["extension"] = broken
    result, details = extract_session(inputs, settings, "sub-001", "ses-V0")
    qc = make_qc(result.qc).set_index("item")
    assert qc.loc["lateralright", "status"] == "missing"
    assert qc.loc["extension", "status"] == "failed"
    assert "non-numeric" in qc.loc["extension", "reason"]
    assert qc.loc["flexion", "status"] == "ok"
    assert np.isfinite(result.features["biomech.flexion.lumbar_rom_deg"])
    assert np.isnan(result.features["biomech.extension.lumbar_rom_deg"])
    assert np.isnan(result.features["biomech.lateral.rom_asymmetry_pct"])
    assert details["flexion"].events is not None


def test_motion_file_without_metadata_is_an_input_error(dataset, tmp_path):
    folder = tmp_path / "sub-009" / "ses-V0" / "motion"
    folder.mkdir(parents=True)
    (tmp_path / "dataset_description.json").write_text("{}")
    (tmp_path / "participants.tsv").write_text(
        "participant_id\tsite\tage\tsex\tdeep_phenotyping\nsub-009\ts\t40\tF\ttrue\n")
    (folder / "sub-009_ses-V0_task-walk_tracksys-imu_motion.tsv").write_text("0\t1\n")
    with pytest.raises(InputError, match="channels.tsv"):
        EXTRACTOR.find_inputs(Dataset(tmp_path), "sub-009", "ses-V0", BiomechSettings())


def test_settings_reject_unknown_tasks():
    with pytest.raises(ValueError, match="unknown motion tasks"):
        BiomechSettings(tasks=["flexion", "jumping"])
