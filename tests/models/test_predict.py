"""Scoring a new feature table from a run directory, in Python and on the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from backpheno.cli import app
from backpheno.errors import InputError
from backpheno.models.predict import predict_run
from backpheno.table import read_feature_table


def test_predictions_equal_the_counterfactual_model_predictions(xgb_run, sim_inputs) -> None:
    features, outcomes = sim_inputs
    scored = predict_run(xgb_run.run_dir.root, features, outcomes)
    cf = xgb_run.counterfactual
    model_rows = cf[cf["source"] == "model"].set_index(["participant_id", "arm"])["p_response"]
    mine = scored.set_index(["participant_id", "arm"])["p_response"]
    np.testing.assert_allclose(mine.loc[model_rows.index], model_rows, rtol=1e-6)
    assert len(scored) == 2 * 1000     # every participant of the table, both arms


def test_missing_inputs_are_named(xgb_run, sim_inputs, tmp_path) -> None:
    features, outcomes = sim_inputs
    with pytest.raises(InputError, match="site"):
        predict_run(xgb_run.run_dir.root, features)
    table = read_feature_table(features)
    table.data = table.data.drop(columns=["brain.sim.noise_001"])
    with pytest.raises(InputError, match="brain.sim.noise_001"):
        predict_run(xgb_run.run_dir.root, table, outcomes)


def test_cli_predict(xgb_run, sim_inputs, tmp_path) -> None:
    features, outcomes = sim_inputs
    out = tmp_path / "scores.parquet"
    result = CliRunner().invoke(app, ["predict", str(xgb_run.run_dir.root), str(features),
                                      "--covariates", str(outcomes), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "scored 1000 participants under ['DUL', 'ESC']" in result.output
    assert set(pd.read_parquet(out)["arm"]) == {"DUL", "ESC"}
    bad = CliRunner().invoke(app, ["predict", str(tmp_path), str(features)])
    assert bad.exit_code == 2 and "manifest.json" in bad.output


def test_cli_train(sim_inputs, tmp_path: Path) -> None:
    features, outcomes = sim_inputs
    cfg = tmp_path / "train.yaml"
    cfg.write_text(
        f"features: {features}\noutcomes: {outcomes}\noutput: {tmp_path / 'runs'}\n"
        "arms: [DUL, ACT]\npopulation: all\n"
        "blocks: [{name: questionnaires, modalities: [q]}]\n"
        "model: {name: elastic_net}\n"
        "cv: {outer_folds: 3, inner_folds: 2, repeats: 1}\nmetrics: {n_bootstrap: 20}\n")
    result = CliRunner().invoke(app, ["train", str(cfg), "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "   DUL: n=" in result.output and "AUC" in result.output
    assert (tmp_path / "run" / "metrics" / "metrics.json").is_file()
    again = CliRunner().invoke(app, ["train", str(cfg), "--run-dir", str(tmp_path / "run")])
    assert again.exit_code == 2 and "--overwrite" in again.output
    cfg.write_text(cfg.read_text() + "modle: {}\n")
    bad = CliRunner().invoke(app, ["train", str(cfg)])
    assert bad.exit_code == 2 and "modle: Extra inputs are not permitted" in bad.output
