"""RunDirectory: later stages refuse a run that did not finish and notice changed inputs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from backpheno.cli import app
from backpheno.errors import InputError
from backpheno.models.config import TrainConfig
from backpheno.models.rundir import RunDirectory, open_run


def _run(root: Path, status: str = "complete", **fields) -> RunDirectory:
    run = RunDirectory.create(root)
    run.write_status(status=status, name="t", **fields)
    return run


def _inputs(root: Path) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    features, outcomes = root / "features.parquet", root / "outcomes.parquet"
    pd.DataFrame({"participant_id": ["sub-1", "sub-2"], "x": [1.0, 2.0]}).to_parquet(features)
    pd.DataFrame({"participant_id": ["sub-1", "sub-2"], "y": [0, 1]}).to_parquet(outcomes)
    return {"features": features, "outcomes": outcomes}


@pytest.mark.parametrize("status", ["running", "failed"])
def test_a_run_that_did_not_complete_is_refused_unless_forced(tmp_path, caplog, status) -> None:
    run = _run(tmp_path / "run", status, error="killed" if status == "failed" else None)
    with pytest.raises(InputError, match=f"run status is '{status}', not 'complete'.*--force"):
        run.require_complete()
    with caplog.at_level(logging.WARNING, logger="backpheno.models"):
        run.require_complete(force=True)
    assert "used anyway" in caplog.text
    _run(tmp_path / "done").require_complete()  # a complete run passes silently


def test_open_names_a_missing_or_foreign_folder(tmp_path) -> None:
    with pytest.raises(InputError, match="run directory not found"):
        RunDirectory.open(tmp_path / "nowhere")
    with pytest.raises(InputError, match="not a backpheno run directory"):
        RunDirectory.open(tmp_path)


def test_check_inputs_reports_changed_and_missing_files(tmp_path, caplog) -> None:
    paths = _inputs(tmp_path / "inputs")
    run = _run(tmp_path / "run")
    run.write_inputs(paths)
    assert run.check_inputs() == []
    assert open_run(run.root, allow_changed_inputs=False) == run
    pd.DataFrame({"participant_id": ["sub-1"], "y": [1]}).to_parquet(paths["outcomes"])
    with pytest.raises(InputError, match=r"outcomes input .* changed since training"):
        run.check_inputs()
    with caplog.at_level(logging.WARNING, logger="backpheno.models"):
        problems = run.check_inputs(allow_changed=True)
    assert len(problems) == 1 and "outcomes" in problems[0] and "changed" in caplog.text
    paths["features"].unlink()
    with pytest.raises(InputError, match=r"features input .* is missing"):
        run.check_inputs()


def test_typed_readers(tmp_path) -> None:
    paths = _inputs(tmp_path / "inputs")
    run = _run(tmp_path / "run")
    config = TrainConfig(features=paths["features"], outcomes=paths["outcomes"])
    run.config_yaml.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    paths["features"].unlink()  # the recorded configuration still reads
    read = run.config()
    assert isinstance(read, TrainConfig) and read.features == paths["features"]
    assert read.arm_column == "arm1" and read.combat.site == "site"
    run.manifest_json.write_text(json.dumps({"format": "other"}))
    with pytest.raises(InputError, match="unknown manifest format"):
        run.manifest()
    with pytest.raises(InputError, match="no counterfactual predictions"):
        run.counterfactual()
    with pytest.raises(InputError, match="run `backpheno explain` first"):
        run.shap("arm")
    with pytest.raises(InputError, match="file missing from the run directory"):
        run.metrics()
    run.write_environment()
    assert {"python", "backpheno", "xgboost"} <= set(run.environment()["packages"])


@pytest.mark.parametrize("status", ["running", "failed"])
@pytest.mark.parametrize("command", ["explain", "report", "predict", "export-regime"])
def test_cli_refuses_a_run_that_did_not_complete(tmp_path, status, command) -> None:
    run = _run(tmp_path / "run", status)
    args = {"explain": ["explain", str(run.root)],
            "report": ["report", str(run.root)],
            "predict": ["predict", str(run.root), str(tmp_path / "features.parquet")],
            "export-regime": ["export-regime", str(tmp_path / "features.parquet"),
                              str(tmp_path / "outcomes.parquet"), "--out", str(tmp_path / "x"),
                              "--run", str(run.root)]}[command]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and "--force" in result.output
    assert f"run status is '{status}', not 'complete'" in result.output
    forced = CliRunner().invoke(app, [*args, "--force"])
    assert "not 'complete'; its outputs" not in forced.output  # forced: fails later
