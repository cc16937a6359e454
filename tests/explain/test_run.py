"""The explain step: every documented output, its contents, settings validation, and the
run-directory adapter on a real training run (when the models stage is installed)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from backpheno.config import validate_config
from backpheno.errors import ConfigError, InputError
from backpheno.explain.run import ExplainConfig, ExplainInputs, explain

ARMS = ["ESC", "ACT", "DUL"]


def test_explain_writes_every_documented_output(explained_run):
    run, result, inputs, settings = explained_run
    out = run / "explain"
    for name in ("summary.json", "background.csv", "shap/arm_shap.parquet",
                 "shap/contrast_shap.parquet", "tables/moderator_ranking.csv",
                 "tables/moderator_stability.csv", "tables/moderator_permutation.csv",
                 "tables/moderation.csv", "tables/moderation_pain_change.csv",
                 "tables/credibility.csv", "tables/constructs.csv", "tables/arm_signal.csv",
                 "figures/moderator_ranking.png",
                 "figures/moderator_ranking.svg", "figures/forest_interactions.png"):
        assert (out / name).is_file(), name
    for arm in ARMS:
        assert (out / "figures" / f"beeswarm_{arm}.png").is_file()
        assert (out / "figures" / f"beeswarm_{arm}.svg").is_file()
    dependence = sorted((out / "figures").glob("dependence_*.png"))
    assert len(dependence) == 2
    for png in out.glob("figures/*.png"):
        with Image.open(png) as image:
            image.verify()


def test_shap_parquet_contents(explained_run):
    run, result, inputs, settings = explained_run
    arm_shap = pd.read_parquet(run / "explain" / "shap" / "arm_shap.parquet")
    assert len(arm_shap) == len(inputs.X) * len(ARMS) * 2
    features = list(inputs.X.columns)
    total = arm_shap["base_value"] + arm_shap[features].sum(axis=1)
    probability = arm_shap["scale"] == "probability"
    assert np.abs(total - arm_shap["output"])[probability].max() < 1e-6
    contrast = pd.read_parquet(run / "explain" / "shap" / "contrast_shap.parquet")
    assert set(contrast["contrast"]) == {"ACT_vs_ESC", "DUL_vs_ESC", "DUL_vs_ACT", "ESC_vs_rest",
                                         "ACT_vs_rest", "DUL_vs_rest"}
    rd = contrast[contrast["scale"] == "probability"]
    total = rd["base_value"] + rd[features].sum(axis=1)
    assert np.abs(total - rd["output"]).max() < 1e-6
    # the contrast rows are the weighted per-arm rows
    wide = arm_shap[probability].set_index(["arm", "participant_id"])[features]
    pair = rd[rd["contrast"] == "DUL_vs_ESC"].set_index("participant_id")[features]
    np.testing.assert_allclose(pair, wide.loc["DUL"].loc[pair.index] - wide.loc["ESC"]
                               .loc[pair.index], atol=1e-12)


def test_summary_and_tables(explained_run):
    run, result, inputs, settings = explained_run
    summary = json.loads((run / "explain" / "summary.json").read_text())
    assert summary["n_explained"] == len(inputs.X)
    assert summary["n_training"] == int(inputs.y.notna().sum())
    assert summary["background"]["size"] == 40
    background = pd.read_csv(run / "explain" / "background.csv")
    assert len(background) == 40 and background["participant_id"].isin(inputs.X.index).all()
    errors = summary["max_additivity_error"]
    assert errors["contrast_probability"] < 1e-6 and errors["arm_probability"] < 1e-6
    assert errors["contrast_log_odds"] < 1e-5  # float32 margins of xgboost
    assert set(summary["methods"].values()) == {"tree_interventional",
                                                "tree_interventional_rescaled"}
    assert summary["formal_covariates"] == ["site", "age", "sex"]
    assert all((run / "explain" / path).is_file() for path in summary["figures"].values())
    ranking = pd.read_csv(run / "explain" / "tables" / "moderator_ranking.csv")
    assert set(ranking["scale"]) == {"log_odds", "probability"}
    assert ranking.groupby(["scale", "contrast"])["rank"].apply(
        lambda r: sorted(r) == list(range(1, len(r) + 1))).all()
    moderation = result.moderation
    assert set(moderation["moderator"]) == set(inputs.X.columns)
    assert (result.stability["n_resamples"] == 2).all()
    assert (result.permutation["rank"] <= settings.permutation.top_k).all()
    credibility = result.credibility.set_index(["moderator", "contrast"])
    assert credibility.loc[("f0", "DUL_vs_ESC"), "item1_a_priori"] == "definitely yes"


def test_rerun_with_fewer_models_replaces_stale_outputs_and_keeps_formal_arms(explained_run,
                                                                             tmp_path):
    run, result, inputs, settings = explained_run
    out = tmp_path / "explain"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "dependence_old.png").write_bytes(b"stale")
    two = {a: inputs.models[a] for a in ("ESC", "ACT")}
    quick = ExplainConfig(background_size=30, stability={"n_resamples": 0},
                            figures={"dependence": 1})
    partial = ExplainInputs(two, inputs.X, inputs.features, inputs.y, inputs.arm,
                            inputs.covariates, formal_arms=ARMS)
    result = explain(partial, quick, out)
    assert not (out / "figures" / "dependence_old.png").exists()
    assert not (out / "tables" / "moderator_permutation.csv").exists()
    assert set(result.ranking["contrast"]) == {"ACT_vs_ESC"}
    assert "DUL_vs_ESC" in set(result.moderation["contrast"])
    assert result.summary["n_formal"] > result.summary["n_training"]


def test_a_local_dask_cluster_gives_the_same_stability_and_null(explained_run, tmp_path):
    pytest.importorskip("distributed")
    run, result, inputs, settings = explained_run
    on_dask = settings.model_copy(update={"scheduler_address": "local", "n_jobs": 2,
                                          "figures": settings.figures.model_copy(
                                              update={"dependence": 0})})
    again = explain(inputs, on_dask, tmp_path / "explain")
    pd.testing.assert_frame_equal(again.permutation, result.permutation, check_exact=True)
    pd.testing.assert_frame_equal(again.stability, result.stability, check_exact=True)
    assert again.summary["settings"]["scheduler_address"] == "local"


def test_settings_are_validated():
    with pytest.raises(ConfigError, match="probability"):
        validate_config({"scales": ["log_odds"]}, ExplainConfig)
    with pytest.raises(ConfigError, match="background_size"):
        validate_config({"background_size": 0}, ExplainConfig)
    with pytest.raises(ConfigError, match="unknown_key"):
        validate_config({"unknown_key": 1}, ExplainConfig)


def test_bad_inputs_are_named(explained_run, tmp_path):
    run, result, inputs, settings = explained_run
    with pytest.raises(InputError, match="features not in X"):
        ExplainInputs(inputs.models, inputs.X, ["nope"], inputs.y, inputs.arm, inputs.covariates)
    with pytest.raises(InputError, match="no fitted arm models"):
        ExplainInputs({}, inputs.X, inputs.features, inputs.y, inputs.arm, inputs.covariates)
    bad = ExplainConfig(formal={"related_outcomes": [{"column": "absent"}]})
    with pytest.raises(InputError, match="absent"):
        explain(inputs, bad, tmp_path / "x")


def test_explain_run_dir_on_a_real_training_run(tmp_path, monkeypatch):
    """Train with the models stage (backpheno train), explain the run directory, report it."""
    train_module = pytest.importorskip("backpheno.models.train")
    model_inputs = pytest.importorskip("backpheno.synth.model_inputs")
    from backpheno.explain.report import write_report
    from backpheno.explain.run import explain_run_dir
    from backpheno.models.config import TrainConfig
    from backpheno.synth import simulate
    from backpheno.synth.config import SimulateConfig

    simulate(SimulateConfig(participants=240, deep_fraction=0.0, seed=3), tmp_path / "dataset")
    features, outcomes = model_inputs.write_model_inputs(tmp_path / "dataset",
                                                         tmp_path / "inputs", deep_fraction=0.0,
                                                         seed=3)
    config = validate_config({
        "features": str(features), "outcomes": str(outcomes), "output": str(tmp_path / "runs"),
        "population": "all", "arms": ["ESC", "ACT"],
        "blocks": [{"name": "questionnaires", "modalities": ["q"]}],
        "model": {"name": "xgboost", "params": {"n_estimators": 20, "max_depth": 2}},
        "cv": {"outer_folds": 3, "inner_folds": 2, "repeats": 1},
        "metrics": {"n_bootstrap": 20}, "seed": 1}, TrainConfig)
    train_module.train(config, tmp_path / "runs" / "run")
    settings = ExplainConfig(background_size=30, stability={"n_resamples": 1},
                               figures={"dependence": 1})
    import backpheno.explain.run as run_module

    captured = {}
    original = run_module.explain

    def spy(inputs, settings, out):
        captured["inputs"] = inputs
        return original(inputs, settings, out)

    monkeypatch.setattr(run_module, "explain", spy)
    result = explain_run_dir(tmp_path / "runs" / "run", settings)
    template = captured["inputs"].templates["ESC"]
    assert template.get_params()["model__n_estimators"] == 20  # the trained settings, not None
    assert result.summary["arms"] == ["ESC", "ACT"]
    assert result.summary["max_additivity_error"]["contrast_probability"] < 1e-6
    assert (tmp_path / "runs" / "run" / "explain" / "tables" / "moderation.csv").is_file()
    report = write_report(tmp_path / "runs" / "run")
    assert "not available" not in report.read_text()
