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


def _tables(root, arms=("ESC", "DUL", "DUL+ACT"), sessions=("ses-V0", "ses-V1")):
    (root / "phenotype").mkdir(parents=True)
    (root / "participants.tsv").write_text(
        "participant_id\tsite\tage\tsex\tdeep_phenotyping\n"
        + "".join(f"sub-{i}\tA\t40\tF\tfalse\n" for i in range(1, len(arms) + 1)))
    (root / "phenotype" / "treatment.tsv").write_text(
        "participant_id\tstage\tarm\trandomized\n"
        + "".join(f"sub-{i}\t{1 + ('+' in a)}\t{a}\ttrue\n" for i, a in enumerate(arms, 1)))
    (root / "phenotype" / "peg.tsv").write_text(
        "participant_id\tsession_id\tpeg_01\n"
        + "".join(f"sub-1\t{s}\t3\n" for s in sessions))
    return root


def test_arms_outside_the_configured_set_are_named_with_file_line_and_value(tmp_path):
    root = _tables(tmp_path, arms=("ESC", "DUL", "DUL+YOGA", "Dul"))
    assert len(Dataset(root).treatment()) == 4  # no configured arms: not checked
    with pytest.raises(InputError) as err:
        Dataset(root, arms=("ESC", "ACT", "EBEM", "DUL")).treatment()
    message = str(err.value)
    assert "treatment.tsv" in message and "column arm" in message
    assert "line 4 (sub-3): 'DUL+YOGA'" in message and "line 5 (sub-4): 'Dul'" in message
    assert "unknown_arms: drop" in message


def test_unknown_arms_can_be_dropped_with_a_qc_row(tmp_path):
    root = _tables(tmp_path, arms=("ESC", "DUL+YOGA", "DUL+ACT"))
    data = Dataset(root, arms=("ESC", "ACT", "DUL"), unknown_arms="drop")
    assert data.treatment()["arm"].tolist() == ["ESC", "DUL+ACT"]
    data.treatment()  # read twice, reported once
    assert len(data.problems) == 1
    row = data.problems[0]
    assert row["participant_id"] == "sub-2" and row["status"] == "failed"
    assert "line 3" in row["reason"] and "'DUL+YOGA'" in row["reason"]


def test_sessions_outside_the_configured_set(tmp_path):
    root = _tables(tmp_path, sessions=("ses-V0", "ses-V9", "ses-V1"))
    with pytest.raises(InputError, match=r"line 3 \(sub-1\): 'ses-V9'") as err:
        Dataset(root, sessions=("ses-V0", "ses-V1")).phenotype("peg")
    assert "peg.tsv" in str(err.value)
    data = Dataset(root, sessions=("ses-V0", "ses-V1"), unknown_sessions="drop")
    assert data.phenotype("peg")["session_id"].tolist() == ["ses-V0", "ses-V1"]
    assert data.problems[0]["session_id"] == "ses-V9"
