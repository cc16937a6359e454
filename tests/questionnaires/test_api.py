"""score_dataset, the settings model and the ``backpheno score`` command on a synthetic cohort."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from backpheno.cli import app
from backpheno.config import validate_config
from backpheno.dataset import Dataset
from backpheno.errors import ConfigError, InputError
from backpheno.io import read_tsv, write_tsv
from backpheno.questionnaires import AnswerError, QuestionnaireSettings, score_dataset
from backpheno.table import read_feature_table

SETTINGS = QuestionnaireSettings(pgic_coding="bacpac_0_6")


@pytest.fixture
def cohort_copy(small_cohort, tmp_path):
    """A private copy of the small cohort that a test may damage."""
    target = tmp_path / "dataset"
    shutil.copytree(small_cohort, target, ignore=shutil.ignore_patterns("sub-*", "derivatives"))
    return target


def test_score_dataset_documents_every_feature(small_cohort):
    table = score_dataset(Dataset(small_cohort), SETTINGS)
    assert list(table.data.index.names) == ["participant_id", "session_id"]
    assert set(table.codebook.index) == set(table.data.columns)
    assert (table.codebook["modality"] == "q").all()
    assert table.codebook.loc["q.pgic.improved", "role"] == "outcome"
    assert table.codebook.loc["q.peg.score", "role"] == "feature"
    assert "q.peg.score" in table.data
    sessions = set(table.data.index.get_level_values("session_id"))
    assert {"ses-V0", "ses-V1", "ses-V2", "ses-W06"} <= sessions
    assert table.metadata["questionnaires"]["settings"]["pgic_coding"] == "bacpac_0_6"
    # missing answers in the cohort give QC rows with a reason, never a crash or a zero
    assert len(table.qc) and set(table.qc["status"]) == {"missing"}
    first = table.qc.iloc[0]
    assert np.isnan(table.data.loc[(first["participant_id"], first["session_id"]),
                                   first["item"]])


def test_settings_require_a_pgic_coding():
    with pytest.raises(ConfigError, match="pgic_coding is required"):
        validate_config({}, QuestionnaireSettings)
    with pytest.raises(ConfigError, match="unknown instruments"):
        validate_config({"pgic_coding": "bacpac_0_6", "instruments": ["sf36"]},
                        QuestionnaireSettings)
    with pytest.raises(ConfigError, match="pgic_coding"):
        validate_config({"pgic_coding": "0-6"}, QuestionnaireSettings)


def test_sidecar_coding_must_agree_with_the_settings(small_cohort):
    with pytest.raises(InputError, match="declares coding 'bacpac_0_6'"):
        score_dataset(Dataset(small_cohort), QuestionnaireSettings(pgic_coding="common_1_7"))


def test_errors_of_every_table_come_in_one_error(cohort_copy):
    phenotype = cohort_copy / "phenotype"
    peg = read_tsv(phenotype / "peg.tsv")
    peg.loc[0, "peg_01"] = 11
    write_tsv(phenotype / "peg.tsv", peg)
    odi = read_tsv(phenotype / "odi.tsv")
    odi = pd.concat([odi, odi.iloc[[3]]])
    odi.loc[odi.index[5], "odi_02"] = 9
    write_tsv(phenotype / "odi.tsv", odi)
    qst = read_tsv(phenotype / "qst.tsv").assign(ppt_knee_1=4.0)
    write_tsv(phenotype / "qst.tsv", qst)
    with pytest.raises(AnswerError) as err:
        score_dataset(Dataset(cohort_copy), SETTINGS)
    offenders = err.value.offenders
    assert set(offenders["instrument"]) == {"peg", "odi", "qst"}
    assert len(offenders) == 4
    table = score_dataset(Dataset(cohort_copy), QuestionnaireSettings(
        pgic_coding="bacpac_0_6", invalid_answers="set_missing"))
    assert (table.qc["status"] == "flagged").sum() == 4
    pid, sid = peg.loc[0, ["participant_id", "session_id"]]
    assert np.isnan(table.data.loc[(pid, sid), "q.peg.score"])


def test_rows_of_unknown_participants_are_reported(cohort_copy):
    phenotype = cohort_copy / "phenotype"
    lbp = read_tsv(phenotype / "lbpint.tsv")
    lbp.loc[len(lbp)] = ["sub-999", "ses-V0", 3]
    write_tsv(phenotype / "lbpint.tsv", lbp)
    with pytest.raises(AnswerError, match="sub-999 ses-V0 lbpint: participant not in"):
        score_dataset(Dataset(cohort_copy), SETTINGS)


def test_instrument_selection_and_unknown_tables(cohort_copy, caplog):
    (cohort_copy / "phenotype" / "diary.tsv").write_text("participant_id\tsession_id\tx\n")
    settings = QuestionnaireSettings(pgic_coding="bacpac_0_6", instruments=["peg", "qst"])
    table = score_dataset(Dataset(cohort_copy), settings)
    assert {c.split(".")[1] for c in table.data.columns} == {"peg", "qst"}
    score_dataset(Dataset(cohort_copy), SETTINGS)
    assert "diary.tsv is not a known instrument" in caplog.text


def test_cli_writes_the_feature_table(small_cohort, tmp_path):
    runner = CliRunner()
    out = tmp_path / "features"
    result = runner.invoke(app, ["score", "--dataset", str(small_cohort), "--out", str(out),
                                 "--pgic-coding", "bacpac_0_6"])
    assert result.exit_code == 0, result.output
    table = read_feature_table(out / "questionnaires.parquet")
    expected = score_dataset(Dataset(small_cohort), SETTINGS)
    pd.testing.assert_frame_equal(table.data, expected.data)
    codebook = json.loads((out / "questionnaires_codebook.json").read_text())
    assert {row["name"] for row in codebook} == set(expected.data.columns)


def test_cli_without_coding_fails_clearly(small_cohort, tmp_path):
    result = CliRunner().invoke(app, ["score", "--dataset", str(small_cohort), "--out",
                                      str(tmp_path)])
    assert result.exit_code == 2
    assert "pgic_coding is required" in result.output
