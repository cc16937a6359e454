"""``backpheno train`` with a continuous target: task choice, regressors, metrics, models."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from backpheno.config import validate_config
from backpheno.errors import ConfigError, InputError
from backpheno.models.artifacts import load_models
from backpheno.models.config import TrainConfig
from backpheno.models.cv import outer_splits
from backpheno.models.predict import predict_run
from backpheno.models.train import train
from backpheno.synth.trial import simulate_two_arm_trial
from backpheno.trial_table import TableRoles, build_trial_tables

ROLES = TableRoles(participant="participant_id", arm="arm", outcomes=["y"], site="site",
                   covariates=["age", "sex"])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("regression_inputs")
    frame = simulate_two_arm_trial(160, n_nuisance=4, seed=5)
    tables = build_trial_tables(frame, ROLES)
    tables.features.write(folder)
    outcomes = tables.outcomes.assign(y_binary=(tables.outcomes["y"] > 0).astype(int),
                                      arm=tables.outcomes["arm"].astype(float))  # 0.0 / 1.0
    outcomes.to_parquet(folder / "outcomes.parquet")
    return folder / "features.parquet", folder / "outcomes.parquet"


def cfg(inputs, out, **overrides) -> TrainConfig:
    data = {"features": str(inputs[0]), "outcomes": str(inputs[1]), "output": str(out),
            "arm_column": "arm", "arms": [0, 1], "target": "y",
            "cv": {"outer_folds": 3, "inner_folds": 2, "repeats": 2},
            "metrics": {"n_bootstrap": 20}, "seed": 3}
    data.update(overrides)
    return validate_config(data, TrainConfig)


@pytest.mark.parametrize("model", [
    {"name": "elastic_net", "search": {"space": {"alpha": [0.01, 0.1]}}},
    {"name": "random_forest", "params": {"n_estimators": 30}},
    {"name": "xgboost", "params": {"n_estimators": 30}, "search": {"space": {"max_depth": [1, 2]}}},
])
def test_regressors_train_and_their_saved_models_reproduce_predictions(inputs, tmp_path, model,
                                                                       caplog):
    with caplog.at_level(logging.INFO, logger="backpheno.models"):
        result = train(cfg(inputs, tmp_path, model=model, permutation={"n_permutations": 2}),
                       tmp_path / "run")
    assert "task: regression (inferred: target y is numeric" in caplog.text
    assert result.task == "regression"
    for arm in ("0", "1"):
        r = result.arms[arm]
        assert r.status == "ok" and r.n_responders is None
        assert r.metrics["r2"]["estimate"] > 0.1
        assert r.permutation.as_dict()["statistic"] == "out-of-fold R2"
        assert set(r.per_site.columns) >= {"group", "r2", "rmse", "mae"}
    loaded = load_models(result.run_dir)
    X = pd.read_parquet(inputs[0]).droplevel("session_id")
    for arm, model_ in loaded.items():
        np.testing.assert_allclose(model_.pipeline.predict(X[model_.input_columns]),
                                   result.arms[arm].model.predict(X[model_.input_columns]),
                                   rtol=1e-6)
    cf = result.counterfactual
    own = cf[cf["source"] == "oof"]
    assert (own["arm"] == own["randomized_arm"]).all() and cf["prediction"].notna().all()
    scored = predict_run(result.run_dir.root, inputs[0])
    assert "prediction" in scored.columns and "p_response" not in scored.columns
    assert result.run_dir.config().task == "regression"
    assert result.run_dir.config().population == "all"


def test_binary_target_still_trains_classifiers(inputs, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="backpheno.models"):
        result = train(cfg(inputs, tmp_path, target="y_binary",
                           model={"name": "elastic_net"}), tmp_path / "run")
    assert "task: classification (inferred: target y_binary is binary" in caplog.text
    assert "auc" in result.arms["0"].metrics and "p_response" in result.counterfactual


def test_task_and_scoring_are_checked(inputs, tmp_path):
    with pytest.raises(InputError, match="task: regression"):
        train(cfg(inputs, tmp_path, task="classification"), tmp_path / "run")
    with pytest.raises(ValueError, match="does not apply to regression"):
        cfg(inputs, tmp_path, task="regression",
            model={"search": {"scoring": "roc_auc", "space": {"max_depth": [1]}}})
    with pytest.raises(ValueError, match="do not apply to the regression model elastic_net"):
        cfg(inputs, tmp_path, task="regression", model={"name": "elastic_net",
                                                        "params": {"C": 1.0}})
    with pytest.raises(ConfigError, match=r"\['C'\] do not apply to the regression model"):
        train(cfg(inputs, tmp_path, model={"name": "elastic_net", "params": {"C": 1.0}}),
              tmp_path / "run2")


def test_regression_folds_are_plain_k_fold():
    from sklearn.model_selection import RepeatedKFold

    y = np.random.default_rng(0).normal(size=50)
    ours = outer_splits(y, n_splits=5, n_repeats=2, seed=4, task="regression")
    theirs = list(RepeatedKFold(n_splits=5, n_repeats=2, random_state=4).split(y))
    assert all((a.test == b[1]).all() for a, b in zip(ours, theirs, strict=True))


def test_harmonising_block_names_what_it_needs(inputs, tmp_path):
    config = cfg(inputs, tmp_path, blocks=[{"name": "trial", "modalities": ["clinical"],
                                            "harmonize": True}],
                 combat={"covariates": ["age", "bmi"], "categorical": []})
    with pytest.raises(InputError, match=r"\['trial'\] ask for ComBat.*lacks \['bmi'\]"):
        train(config, tmp_path / "run")
