"""Nested cross-validation and the leakage test: nothing fitted on a training fold depends on
the held-out rows."""

from __future__ import annotations

import json

import numpy as np
import pytest

from backpheno.models.cv import InnerCV, Tuner, cv_feasibility, fit_fold, nested_cv, outer_splits
from backpheno.models.pipelines import BlockSpec, build_pipeline, search_space, select_blocks

from .conftest import arm_data

COMBAT = {"site": "site", "covariates": ["age", "sex"], "categorical": ["sex"],
          "min_site_size": 3}
SPECS = [BlockSpec("questionnaires", ("q",)), BlockSpec("brain", ("brain",), harmonize=True)]


def make_tuner(model: str, grouped: bool = False) -> tuple:
    X, y, codebook = arm_data(n=150, seed=4)
    blocks = select_blocks(codebook, list(X.columns), SPECS)
    if model == "xgboost":
        pipe = build_pipeline(blocks, model=model, model_params={"n_estimators": 15},
                              combat=COMBAT, filter_k=8)
        space = search_space({"max_depth": [1, 2]})
    else:
        pipe = build_pipeline(blocks, model=model, combat=COMBAT, filter_k=8)
        space = search_space({"C": [0.1, 1.0]})
    return Tuner(pipe, space, InnerCV(3, grouped=grouped)), X, y


def fitted_state(estimator) -> dict:  # noqa: ANN001
    """Every parameter learnt by a fitted pipeline, as plain values."""
    blocks = estimator.named_steps["blocks"]
    combat = blocks.named_transformers_["brain"].named_steps["combat"]
    state = {"gamma": combat.gamma_star_, "delta": combat.delta_star_,
             "beta": combat.beta_, "var": combat.var_pooled_,
             "filter": estimator.named_steps["filter"].scores_}
    impute = estimator.named_steps["impute"]
    if impute != "passthrough":
        state["impute"] = impute.statistics_
        state["scale_mean"] = estimator.named_steps["scale"].mean_
        state["coef"] = estimator.named_steps["model"].coef_
    else:
        state["booster"] = json.loads(estimator.named_steps["model"].get_booster()
                                      .save_raw("json").decode())["learner"]["gradient_booster"]
    return state


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if key == "booster":
            assert a[key] == b[key]
        else:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.mark.parametrize("model", ["elastic_net", "xgboost"])
def test_changing_the_test_fold_leaves_the_training_fit_unchanged(model: str) -> None:
    tuner, X, y = make_tuner(model)
    split = outer_splits(y, n_splits=3, seed=1)[0]
    first = fit_fold(tuner, X, y, split, keep_estimator=True)

    X2, y2 = X.copy(), y.copy()
    rng = np.random.default_rng(99)
    features = [c for c in X.columns if "." in c]
    X2.iloc[split.test, [X.columns.get_loc(c) for c in features]] = rng.normal(
        5, 3, (len(split.test), len(features)))
    y2[split.test] = 1 - y2[split.test]
    second = fit_fold(tuner, X2, y2, split, keep_estimator=True)

    assert first.best_params == second.best_params
    assert first.inner_score == second.inner_score
    assert_same_state(fitted_state(first.estimator), fitted_state(second.estimator))
    train_rows = X.iloc[split.train]
    np.testing.assert_array_equal(first.estimator.predict_proba(train_rows),
                                  second.estimator.predict_proba(train_rows))

    # the same check must fail when a training row changes (the test can detect leakage)
    y3 = y.copy()
    y3[split.train[:15]] = 1 - y3[split.train[:15]]
    third = fit_fold(tuner, X, y3, split, keep_estimator=True)
    with pytest.raises(AssertionError):
        assert_same_state(fitted_state(first.estimator), fitted_state(third.estimator))


def test_nested_cv_folds_are_independent_of_other_folds_test_rows() -> None:
    tuner, X, y = make_tuner("elastic_net")
    splits = outer_splits(y, n_splits=3, seed=2)
    base = nested_cv(tuner, X, y, splits, keep_estimators=True)
    y2 = y.copy()
    y2[splits[0].test] = 1 - y2[splits[0].test]
    changed = nested_cv(tuner, X, y2, splits, keep_estimators=True)
    assert_same_state(fitted_state(base.folds[0].estimator),
                      fitted_state(changed.folds[0].estimator))
    np.testing.assert_array_equal(base.folds[0].proba, changed.folds[0].proba)
    oof = base.oof()
    assert sorted(oof["participant_id"]) == sorted(X.index)
    assert base.mean_oof()["n_repeats"].eq(1).all()


def test_parallel_folds_give_identical_results() -> None:
    tuner, X, y = make_tuner("elastic_net")
    splits = outer_splits(y, n_splits=3, seed=3)
    serial = nested_cv(tuner, X, y, splits, n_jobs=1).oof()
    parallel = nested_cv(tuner, X, y, splits, n_jobs=2).oof()
    np.testing.assert_array_equal(serial["p_response"], parallel["p_response"])


def test_grouped_schemes_keep_groups_together_inside_and_out() -> None:
    tuner, X, y = make_tuner("elastic_net", grouped=True)
    groups = np.array([f"g{i % 6}" for i in range(len(y))])
    for scheme in ("group_kfold", "leave_group_out"):
        splits = outer_splits(y, scheme=scheme, n_splits=3, groups=groups, seed=0)
        for split in splits:
            assert not set(groups[split.train]) & set(groups[split.test])
            inner = tuner.inner.splitter(groups[split.train])
            for train, valid in inner.split(X.iloc[split.train], y[split.train],
                                            groups[split.train]):
                g = groups[split.train]
                assert not set(g[train]) & set(g[valid])
    assert len(outer_splits(y, scheme="leave_group_out", groups=groups)) == 6


def test_repeated_splits_cover_every_row_once_per_repeat() -> None:
    y = np.array([0, 1] * 30)
    splits = outer_splits(y, n_splits=5, n_repeats=3, seed=0)
    assert len(splits) == 15
    for r in range(3):
        test = np.concatenate([s.test for s in splits if s.repeat == r])
        assert sorted(test) == list(range(60))


def test_feasibility_says_why() -> None:
    y = np.array([1] * 4 + [0] * 60)
    assert "4 responders and 60 others" in cv_feasibility(
        y, scheme="stratified_kfold", n_splits=5, inner_splits=3, min_class_size=10)
    y = np.array([1] * 12 + [0] * 60)
    assert cv_feasibility(y, scheme="stratified_kfold", n_splits=5, inner_splits=3,
                          min_class_size=10) is None
    assert "fewer than inner_folds" in cv_feasibility(
        np.array([1] * 5 + [0] * 60), scheme="stratified_kfold", n_splits=5, inner_splits=5,
        min_class_size=2)
    assert "groups" in cv_feasibility(y, scheme="group_kfold", n_splits=5, inner_splits=3,
                                      min_class_size=10, groups=np.array(["a", "b"] * 36))


def test_fold_warnings_are_recorded() -> None:
    X, y, codebook = arm_data(n=150, seed=4)
    X.loc[X.index[:2], "site"] = "tiny"
    blocks = select_blocks(codebook, list(X.columns), SPECS)
    pipe = build_pipeline(blocks, model="elastic_net",
                          combat={**COMBAT, "small_site": "passthrough"})
    result = nested_cv(Tuner(pipe), X, y, outer_splits(y, n_splits=3, seed=0))
    assert any("SmallSiteWarning" in m and "tiny" in m for f in result.folds for m in f.warnings)
    assert result.fold_table()["warnings"].str.contains("tiny").any()
