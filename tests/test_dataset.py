"""The dataset contract: BIDS names and validated tables."""

from __future__ import annotations

import pytest

from backpheno.dataset import Dataset, bids_name
from backpheno.errors import InputError


def test_bids_names_follow_entity_order():
    assert bids_name("motion", ".tsv", sub="001", ses="V0", task="flexion", tracksys="imu") == \
        "sub-001_ses-V0_task-flexion_tracksys-imu_motion.tsv"
    assert bids_name("bold", ".nii.gz", desc="preproc", space="MNI152NLin2009cAsym",
                     task="rest", ses="ses-V0", sub="sub-001") == \
        "sub-001_ses-V0_task-rest_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz"
    with pytest.raises(ValueError, match="unknown BIDS entities"):
        bids_name("bold", ".nii.gz", sub="1", colour="red")
    with pytest.raises(ValueError, match="alphanumeric"):
        bids_name("bold", ".nii.gz", sub="a_b")


def test_dataset_reads_the_simulated_cohort(small_cohort):
    data = Dataset(small_cohort)
    assert data.participants["deep_phenotyping"].dtype == "boolean"
    assert "peg" in data.phenotype_instruments()
    assert "treatment" not in data.phenotype_instruments()
    assert set(data.treatment()["stage"]) == {1, 2}


def test_not_a_dataset_and_bad_participants(tmp_path):
    with pytest.raises(InputError, match="participants.tsv is missing"):
        Dataset(tmp_path)
    (tmp_path / "participants.tsv").write_text("participant_id\tsite\nsub-1\tA\n")
    with pytest.raises(InputError, match="missing required columns") as err:
        _ = Dataset(tmp_path).participants
    assert "participants.tsv" in str(err.value)
    (tmp_path / "participants.tsv").write_text(
        "participant_id\tsite\tage\tsex\tdeep_phenotyping\n001\tA\t40\tF\ttrue\n")
    with pytest.raises(InputError, match="invalid participant_id") as err:
        _ = Dataset(tmp_path).participants
    assert "column participant_id" in str(err.value)
    (tmp_path / "participants.tsv").write_text(
        "participant_id\tsite\tage\tsex\tdeep_phenotyping\nsub-1\tA\t40\tF\tmaybe\n")
    with pytest.raises(InputError, match="true/false"):
        _ = Dataset(tmp_path).participants
