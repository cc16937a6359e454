"""Plain trial tables -> FeatureTable + outcomes table (trial_table, `backpheno table`)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from backpheno.cli import app
from backpheno.dataset import arm_labels
from backpheno.errors import InputError
from backpheno.table import FeatureTable, read_feature_table
from backpheno.trial_table import TableRoles, build_trial_tables


def trial_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 40
    return pd.DataFrame({
        "id": [f"p{i}" for i in range(n)], "group": np.tile([1, 2], n // 2),
        "pain_change": rng.normal(size=n), "rmdq_change": rng.normal(size=n),
        "centre": np.repeat(["A", "B"], n // 2), "age": rng.integers(20, 70, n),
        "sex": rng.choice(["F", "M"], n), "smoker": rng.random(n) < 0.3,
        "bmi": rng.normal(27, 4, n), "job": rng.choice(["a", "b", "c"], n),
        "constant": 1.0, "notes": "x",
    })


ROLES = {"participant": "id", "arm": "group",
         "outcomes": {"pain_change": "higher_is_better", "rmdq_change": "lower_is_better"},
         "site": "centre", "covariates": ["age"], "exclude": ["notes"]}


def test_columns_not_named_become_features_and_decisions_are_reported():
    tables = build_trial_tables(trial_frame(), TableRoles(**ROLES), "trial.csv")
    assert tables.report["features"] == ["sex", "smoker", "bmi"]
    assert tables.report["converted"] == {"sex": "1 = M, 0 = F"}
    assert set(tables.report["skipped"]) == {"job", "constant"}
    assert "3 distinct values" in tables.report["skipped"]["job"]
    frame = trial_frame()
    data = tables.features.session("ses-V0")
    np.testing.assert_array_equal(data["sex"], (frame["sex"] == "M").astype(float))
    np.testing.assert_array_equal(data["smoker"], frame["smoker"].astype(float))
    assert set(tables.features.codebook["modality"]) == {"clinical"}
    assert set(tables.features.codebook["unit"]) == {"unknown"}
    assert list(tables.outcomes.columns) == ["arm", "pain_change", "rmdq_change", "site", "age"]
    assert set(tables.outcomes["arm"]) == {"1", "2"}
    assert tables.outcomes_codebook.loc["rmdq_change", "direction"] == "lower_is_better"
    assert tables.report["arms"] == {"1": 20, "2": 20}


def test_arm_labels_accept_numbers_and_strings():
    assert arm_labels(pd.Series([0.0, 1.0, np.nan])).tolist()[:2] == ["0", "1"]
    assert arm_labels(pd.Series(["usual care", "yoga"])).tolist() == ["usual care", "yoga"]


def test_bad_tables_are_refused_with_the_column_named():
    frame = trial_frame()
    with pytest.raises(InputError, match="lacks.*missing_col"):
        build_trial_tables(frame, TableRoles(**{**ROLES, "covariates": ["missing_col"]}))
    with pytest.raises(InputError, match="duplicated participants"):
        build_trial_tables(frame.assign(id="same"), TableRoles(**ROLES))
    with pytest.raises(InputError, match="column pain_change: outcome is not numeric"):
        build_trial_tables(frame.assign(pain_change="a"), TableRoles(**ROLES))
    with pytest.raises(ValueError, match="more than one role"):
        TableRoles(**{**ROLES, "covariates": ["group"]})


def test_from_frame_builds_a_documented_single_session_table():
    frame = pd.DataFrame({"participant_id": ["a", "b"], "x": [1.0, 2.0], "flag": [True, False]})
    table = FeatureTable.from_frame(frame, modality="trial")
    assert table.data.index.names == ["participant_id", "session_id"]
    assert set(table.data.index.get_level_values("session_id")) == {"ses-V0"}
    assert table.session("ses-V0")["flag"].tolist() == [1.0, 0.0]
    assert table.codebook.loc["x", "modality"] == "trial"
    assert table.codebook.loc["x", "role"] == "feature"
    with pytest.raises(InputError, match="non-numeric"):
        FeatureTable.from_frame(frame.assign(x="text"))
    with pytest.raises(InputError, match="participant_id"):
        FeatureTable.from_frame(frame.drop(columns="participant_id"))


def test_table_command_writes_tables_train_can_read(tmp_path):
    csv = tmp_path / "trial.csv"
    trial_frame().to_csv(csv, index=False)
    roles = tmp_path / "roles.yaml"
    roles.write_text(yaml.safe_dump(ROLES))
    result = CliRunner().invoke(app, ["table", str(csv), "--roles", str(roles),
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "features (3): sex, smoker, bmi" in result.output
    assert "left out job" in result.output
    table = read_feature_table(tmp_path / "out" / "features.parquet")
    assert table.features == ["sex", "smoker", "bmi"]
    outcomes = pd.read_parquet(tmp_path / "out" / "outcomes.parquet")
    assert outcomes.index.name == "participant_id" and len(outcomes) == 40
    report = json.loads((tmp_path / "out" / "table_report.json").read_text())
    assert report["source"] == str(csv)
