"""``backpheno train`` end to end on a simulated cohort: signal vs null arms, the run
directory, counterfactual predictions, small-sample honesty and failures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from backpheno.config import load_config, validate_config
from backpheno.errors import InputError
from backpheno.extract import ExtractConfig, run_extract
from backpheno.models.config import TrainConfig
from backpheno.models.inputs import load_training_data
from backpheno.models.train import train

from .conftest import config

REPO = Path(__file__).resolve().parents[2]


def test_signal_arm_beats_chance_and_null_arm_does_not(sim_inputs, tmp_path) -> None:
    """Quick version of the issue's check: DUL (planted nociplastic effect) has an OOF AUC CI
    above 0.5 and the smallest possible permutation p; ESC (simulated without any effect)
    has a CI covering 0.5 and an unremarkable permutation p."""
    cfg = config(sim_inputs, tmp_path, arms=["DUL", "ESC"], population="all",
                 blocks=[{"name": "questionnaires", "modalities": ["q"]}],
                 model={"name": "elastic_net", "params": {"C": 0.1}},
                 cv={"outer_folds": 3, "inner_folds": 2, "repeats": 1},
                 permutation={"n_permutations": 19})
    result = train(cfg, tmp_path / "run")
    dul, esc = result.arms["DUL"], result.arms["ESC"]
    assert dul.n > 200 and esc.n > 200
    assert dul.metrics["auc"]["estimate"] > 0.62
    assert dul.metrics["auc"]["ci_low"] > 0.5
    assert dul.permutation.p_value == pytest.approx(0.05)
    assert esc.metrics["auc"]["ci_low"] < 0.5 < esc.metrics["auc"]["ci_high"]
    assert esc.permutation.p_value > 0.1
    assert dul.metrics["auc_widened"]["ci_low"] > 0.5
    widened = esc.metrics["auc_widened"]
    assert widened["ci_low"] < 0.5 < widened["ci_high"]
    assert widened["se"] >= esc.metrics["auc"]["se"]


def test_run_directory_layout(xgb_run) -> None:
    run = xgb_run.run_dir
    for path in (run.config_yaml, run.environment_json, run.inputs_json, run.oof, run.oof_mean,
                 run.counterfactual_parquet, run.metrics_json, run.metrics_csv, run.per_site,
                 run.calibration, run.cv_folds, run.permutation_null, run.log,
                 run.models / "manifest.json"):
        assert path.is_file(), path
    for arm in ("DUL", "ESC"):
        assert (run.figures / f"roc_{arm}.png").stat().st_size > 1000
        assert (run.figures / f"calibration_{arm}.png").stat().st_size > 1000
        assert {p.name for p in (run.models / arm).iterdir()} == {"model.json",
                                                                  "preprocess.skops"}
    status = run.status()
    assert status["status"] == "complete" and status["arms"] == {"DUL": "ok", "ESC": "ok"}
    resolved = yaml.safe_load(run.config_yaml.read_text())
    assert TrainConfig.model_validate(resolved).model.name == "xgboost"
    inputs = json.loads(run.inputs_json.read_text())
    assert len(inputs["features"]["sha256"]) == 64 and inputs["outcomes"]["rows"] == 1000
    assert "arm DUL: n=" in run.log.read_text()


def test_metrics_files(xgb_run) -> None:
    run = xgb_run.run_dir
    text = run.metrics_json.read_text()
    assert "NaN" not in text
    metrics = json.loads(text)
    dul = metrics["arms"]["DUL"]
    for key in ("auc", "brier", "balanced_accuracy", "calibration_slope",
                "calibration_intercept", "oe_ratio"):
        assert {"estimate", "ci_low", "ci_high"} <= set(dul[key]), key
    assert dul["auc"]["method"] == "DeLong" and dul["auc_repeats"]["n"] == 2
    assert dul["permutation"]["n_permutations"] == 1
    assert {s["group"] for s in dul["per_site"]} == {"site01", "site02", "site03", "site04"}
    table = pd.read_csv(run.metrics_csv)
    assert list(table["arm"]) == ["DUL", "ESC"] and "auc.ci_low" in table.columns
    folds = pd.read_csv(run.cv_folds)
    assert len(folds) == 2 * 3 * 2 and "param.model__max_depth" in folds.columns


def test_out_of_fold_predictions(xgb_run) -> None:
    run = xgb_run.run_dir
    oof = pd.read_parquet(run.oof)
    mean = pd.read_parquet(run.oof_mean)
    dul = oof[oof["arm"] == "DUL"]
    assert dul.groupby("participant_id").size().eq(2).all()     # one per repeat
    averaged = dul.groupby("participant_id")["p_response"].mean()
    check = mean[mean["arm"] == "DUL"].set_index("participant_id")["p_response"]
    pd.testing.assert_series_equal(check.sort_index(), averaged.sort_index(), check_names=False)
    assert {"site", "y", "fold", "repeat", "train_prevalence"} <= set(oof.columns)


def test_counterfactual_predictions(xgb_run, sim_inputs) -> None:
    cf = xgb_run.run_dir.counterfactual()
    outcomes = pd.read_parquet(sim_inputs[1])
    deep = outcomes.index[outcomes["deep_phenotyping"]]
    assert len(cf) == 2 * len(deep)
    assert cf.groupby("participant_id").size().eq(2).all()
    own = cf[cf["arm"] == cf["randomized_arm"]]
    labelled = own["participant_id"].map(outcomes["responder"]).notna()
    assert (own.loc[labelled.to_numpy(), "source"] == "oof").all()
    assert (cf.loc[cf["arm"] != cf["randomized_arm"], "source"] == "model").all()
    assert cf["p_response"].between(0, 1).all()
    mean = pd.read_parquet(xgb_run.run_dir.oof_mean).set_index(["arm", "participant_id"])
    oof_rows = cf[cf["source"] == "oof"].set_index(["arm", "participant_id"])
    np.testing.assert_allclose(oof_rows["p_response"],
                               mean.loc[oof_rows.index, "p_response"])
    inel = outcomes["ineligible_arm"].reindex(cf["participant_id"]).to_numpy()
    assert (cf["eligible"].to_numpy() == (inel != cf["arm"].to_numpy())).all()


def test_too_few_responders_stops_the_arm_with_a_reason(sim_inputs, tmp_path) -> None:
    cfg = config(sim_inputs, tmp_path, arms=["DUL"], cv={"min_class_size": 400})
    result = train(cfg, tmp_path / "run")
    arm = result.arms["DUL"]
    assert arm.status == "insufficient_data" and arm.model is None
    assert "responders and" in arm.reason and "min_class_size" in arm.reason
    metrics = json.loads(result.run_dir.metrics_json.read_text())
    assert metrics["arms"]["DUL"]["status"] == "insufficient_data"
    manifest = json.loads((result.run_dir.models / "manifest.json").read_text())
    assert manifest["arms"]["DUL"]["status"] == "insufficient_data"
    assert (result.counterfactual["source"] == "none").all()
    assert result.run_dir.status()["status"] == "complete"


def test_a_run_directory_in_use_is_refused_and_overwrite_keeps_the_lock(sim_inputs,
                                                                        tmp_path) -> None:
    """A second writer (here: the lock of a live process on this host) stops ``train`` before
    anything is deleted; ``--overwrite`` by the holder keeps the lock file while it empties
    the folder."""
    import os
    import socket
    import subprocess
    import sys

    from backpheno.lock import LOCK_NAME, output_lock

    cfg = config(sim_inputs, tmp_path, arms=["DUL"], cv={"min_class_size": 400})
    run = tmp_path / "run"
    train(cfg, run)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run / LOCK_NAME).write_text(json.dumps({
            "command": "explain", "pid": sleeper.pid, "host": socket.gethostname(),
            "started": "now"}))
        with pytest.raises(InputError, match="backpheno explain"):
            train(cfg, run, overwrite=True)
        assert (run / "run.json").is_file()            # nothing was deleted
    finally:
        sleeper.kill()
        sleeper.wait()
    (run / LOCK_NAME).unlink()
    with output_lock(run, "train") as lock:
        train(cfg, run, overwrite=True)
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not (run / LOCK_NAME).exists()


def test_small_sites_for_combat_stop_the_arm(sim_inputs, tmp_path) -> None:
    cfg = config(sim_inputs, tmp_path, arms=["ESC"], combat={"min_site_size": 40},
                 cv={"repeats": 1})
    arm = train(cfg, tmp_path / "run").arms["ESC"]
    assert arm.status == "insufficient_data" and "site01" in arm.reason


def test_bad_input_fails_one_arm_not_the_run(sim_inputs, tmp_path) -> None:
    """A covariate confounded with site among DUL's participants makes ComBat refuse to fit:
    DUL fails with the reason, ESC still trains."""
    outcomes = pd.read_parquet(sim_inputs[1])
    rng = np.random.default_rng(0)
    dul = outcomes["arm1"] == "DUL"
    outcomes["scanner"] = np.where(dul, outcomes["site"],
                                   rng.choice(["a", "b"], len(outcomes)))
    outcomes.to_parquet(tmp_path / "outcomes.parquet")
    cfg = config((sim_inputs[0], tmp_path / "outcomes.parquet"), tmp_path,
                 arms=["DUL", "ESC"], model={"name": "elastic_net"},
                 cv={"outer_folds": 3, "inner_folds": 2, "repeats": 1},
                 combat={"min_site_size": 3, "covariates": ["age", "sex", "scanner"],
                         "categorical": ["sex", "scanner"]})
    result = train(cfg, tmp_path / "run")
    assert result.arms["DUL"].status == "failed"
    assert "collinear" in result.arms["DUL"].reason
    assert result.arms["ESC"].status == "ok"
    assert result.run_dir.status()["arms"] == {"DUL": "failed", "ESC": "ok"}


def test_counterfactual_prediction_refused_for_one_participant(sim_inputs, tmp_path) -> None:
    """A participant from a site ESC's training data never had: ESC's model (unseen_site
    error) refuses them alone; everyone else still gets a prediction."""
    outcomes = pd.read_parquet(sim_inputs[1])
    deep_dul = outcomes.index[outcomes["deep_phenotyping"] & (outcomes["arm1"] == "DUL")]
    outcomes.loc[deep_dul[0], "site"] = "site99"
    outcomes.to_parquet(tmp_path / "outcomes.parquet")
    cfg = config((sim_inputs[0], tmp_path / "outcomes.parquet"), tmp_path,
                 arms=["ESC"], model={"name": "elastic_net"},
                 cv={"outer_folds": 3, "inner_folds": 2, "repeats": 1},
                 combat={"min_site_size": 3})
    result = train(cfg, tmp_path / "run")
    assert result.arms["ESC"].status == "ok"
    esc = result.counterfactual.set_index("participant_id")["p_response"]
    assert np.isnan(esc[deep_dul[0]]) and esc.drop(deep_dul[0]).notna().all()
    assert "no prediction for " + deep_dul[0] in result.run_dir.log.read_text()


def test_input_problems_are_named_before_training(sim_inputs, tmp_path) -> None:
    outcomes = pd.read_parquet(sim_inputs[1])
    broken = outcomes.drop(columns="arm1")
    broken.to_parquet(tmp_path / "no_arm.parquet")
    with pytest.raises(InputError, match=r"lacks columns \['arm1'\]"):
        load_training_data(config((sim_inputs[0], tmp_path / "no_arm.parquet"), tmp_path))
    deep = outcomes.index[outcomes["deep_phenotyping"]]
    outcomes.loc[deep[:2], "age"] = np.nan
    outcomes.to_parquet(tmp_path / "no_age.parquet")
    with pytest.raises(InputError, match=f"column age.*{deep[0]}"):
        load_training_data(config((sim_inputs[0], tmp_path / "no_age.parquet"), tmp_path))
    outcomes = pd.read_parquet(sim_inputs[1]).assign(responder="yes")
    outcomes.to_parquet(tmp_path / "text.parquet")
    with pytest.raises(InputError, match="binary"):
        load_training_data(config((sim_inputs[0], tmp_path / "text.parquet"), tmp_path))


def test_population_and_blocks(sim_inputs, tmp_path) -> None:
    data = load_training_data(config(sim_inputs, tmp_path))
    assert len(data.X) == 500 and [b.name for b in data.blocks] == [
        "questionnaires", "biomech", "spine", "brain"]
    assert "q.peg.change_v1" not in data.X.columns and "brain.qc.mean_fd" not in data.X.columns
    assert list(data.X.columns[-3:]) == ["site", "age", "sex"]
    everyone = load_training_data(config(sim_inputs, tmp_path, population="all",
                                         subset={"site": ["site01"]}))
    assert (everyone.outcomes["site"] == "site01").all() and len(everyone.X) > 200


def test_leave_site_out(sim_inputs, tmp_path) -> None:
    """Leave-site-out: one outer fold per site, the held-out site unseen by ComBat (passed
    through with a recorded warning), groups also used by the inner search."""
    cfg = config(sim_inputs, tmp_path, arms=["DUL"], model={"name": "elastic_net",
                                                            "search": {"space": {"C": [0.1, 1]}}},
                 cv={"scheme": "leave_group_out", "groups": "site", "repeats": 1,
                     "inner_folds": 3},
                 combat={"min_site_size": 3, "unseen_site": "passthrough"})
    result = train(cfg, tmp_path / "run")
    assert result.arms["DUL"].status == "ok"
    oof = pd.read_parquet(result.run_dir.oof)
    assert oof.groupby("fold")["site"].nunique().eq(1).all() and oof["fold"].nunique() == 4
    folds = pd.read_csv(result.run_dir.cv_folds)
    assert folds["warnings"].str.contains("UnseenSiteWarning").all()


def test_stage2_config_trains_among_the_rerandomised_non_responders(small_cohort, tmp_path):
    """configs/best_stage2.yaml: augment vs switch, target responder2, re-randomised only."""
    run_extract(validate_config({"dataset": str(small_cohort), "out": str(tmp_path / "features"),
                           "questionnaires": {"pgic_coding": "bacpac_0_6"}, "brain": None,
                           "spine": None, "biomech": None}, ExtractConfig))
    features = tmp_path / "features" / "features.parquet"
    outcomes = tmp_path / "features" / "outcomes.parquet"
    config = load_config(REPO / "configs" / "best_stage2.yaml", TrainConfig,
                         {"features": str(features), "outcomes": str(outcomes),
                          "output": str(tmp_path / "runs")})
    data = load_training_data(config)
    table = pd.read_parquet(outcomes)
    rerandomised = table.index[table["stage2_randomized"].fillna(False).astype(bool)]
    assert set(data.outcomes.index) == set(rerandomised)
    assert not table.loc[rerandomised, "responder"].fillna(False).any()  # non-responders only
    assert set(data.outcomes["tactic2"]) == {"augment", "switch"}
    assert data.y.notna().sum() >= 10
