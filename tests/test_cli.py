"""The command line: help for every sub-command, readable errors, simulate end to end."""

from __future__ import annotations

import csv
import json

from typer.testing import CliRunner

from backpheno.cli import app

runner = CliRunner()


def test_help_lists_and_explains_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "simulate" in result.output
    for command in app.registered_commands:
        name = command.name or command.callback.__name__
        sub = runner.invoke(app, [name, "--help"])
        assert sub.exit_code == 0, name
        assert len(sub.output.strip()) > 100, name


def test_simulate_writes_a_dataset(tmp_path):
    out = tmp_path / "ds"
    result = runner.invoke(app, ["simulate", "--out", str(out), "--participants", "12",
                                 "--seed", "1", "--deep-fraction", "0"])
    assert result.exit_code == 0, result.output
    assert result.output.count("wrote 12 participants") <= 1  # said once, not twice
    truth = json.loads((out / "ground_truth.json").read_text())
    assert len(truth["participants"]) == 12
    assert "wrote 12 participants" in (out / "logs" / "simulate.log").read_text()


def test_bad_option_gives_a_message_not_a_traceback(tmp_path):
    result = runner.invoke(app, ["simulate", "--out", str(tmp_path / "x"), "--participants", "2"])
    assert result.exit_code == 2
    assert "participants" in result.output and "Traceback" not in result.output
    cfg = tmp_path / "c.yaml"
    cfg.write_text("participantz: 10\n")
    result = runner.invoke(app, ["simulate", "--out", str(tmp_path / "y"), "--config", str(cfg)])
    assert result.exit_code == 2
    assert "participantz" in result.output


def test_extract_writes_table_outcomes_and_regime_export(small_cohort, tmp_path):
    config = tmp_path / "extract.yaml"
    config.write_text(f"dataset: {small_cohort}\nout: {tmp_path / 'features'}\n"
                      "questionnaires: {pgic_coding: bacpac_0_6}\n")
    result = runner.invoke(app, ["extract", str(config)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "features"
    for name in ("features.parquet", "features_codebook.json", "features_qc.tsv",
                 "outcomes.parquet", "baseline.parquet", "smart.parquet", "smart_roles.json",
                 "extract_summary.json"):
        assert (out / name).is_file(), name
    assert "regime export" in result.output
    # CSV sidecars for R: logicals as TRUE/FALSE, missing as NA
    with (out / "outcomes.csv").open(newline="") as handle:
        responder = {row["responder"] for row in csv.DictReader(handle)}
    assert responder <= {"TRUE", "FALSE", "NA"} and {"TRUE", "FALSE"} & responder


def test_extract_rejects_a_missing_dataset_before_any_work(tmp_path):
    config = tmp_path / "extract.yaml"
    config.write_text(f"dataset: {tmp_path / 'nowhere'}\nout: {tmp_path / 'o'}\n")
    result = runner.invoke(app, ["extract", str(config)])
    assert result.exit_code == 2
    assert "dataset: path does not exist" in result.output
    assert not (tmp_path / "o").exists()


def test_score_help_lists_every_pgic_coding():
    from backpheno.questionnaires.instruments.pain import PGIC_CODINGS

    text = runner.invoke(app, ["score", "--help"], terminal_width=200).output
    assert all(coding in text for coding in PGIC_CODINGS), text
