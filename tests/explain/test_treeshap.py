"""Exact interventional TreeSHAP for xgboost: equal to shap's TreeExplainer, to a brute-force
subset enumeration of the per-reference games, and additive to xgboost's own predictions."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import shap
import xgboost as xgb
from scipy.special import expit

from backpheno.explain import treeshap
from backpheno.explain.shap import explain_arm
from backpheno.explain.treeshap import (
    UnsupportedModel,
    interventional_shap,
    leaf_paths,
    shapley_coefficients,
)


def data(n: int = 300, p: int = 6, seed: int = 0, missing: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    X[rng.random(X.shape) < missing] = np.nan
    return X


def binary_outcome(X: np.ndarray, seed: int = 1) -> np.ndarray:
    Z = np.nan_to_num(X)
    eta = Z[:, 0] + Z[:, 1] * Z[:, 2] - np.abs(Z[:, 3])
    return (np.random.default_rng(seed).random(len(X)) < expit(eta)).astype(int)


def shap_reference(model, X: np.ndarray, background: np.ndarray,
                   output: str) -> tuple[np.ndarray, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer = shap.TreeExplainer(model, data=background, model_output=output,
                                       feature_perturbation="interventional")
        values = explainer.shap_values(X, check_additivity=False)
    return np.asarray(values, dtype=float), float(np.ravel(explainer.expected_value)[0])


def assert_close(ours: np.ndarray, reference: np.ndarray, rtol: float = 1e-6) -> None:
    scale = max(np.abs(reference).max(), 1e-12)
    assert np.abs(ours - reference).max() <= rtol * scale


@pytest.mark.parametrize("depth", [1, 2, 3, 6])
def test_classifier_values_equal_shap_on_both_scales(depth):
    X = data()
    model = xgb.XGBClassifier(n_estimators=40, max_depth=depth, learning_rate=0.3,
                              subsample=0.8, colsample_bytree=0.7, n_jobs=1,
                              random_state=0).fit(X, binary_outcome(X))
    background = data(50, seed=3)          # NaNs in the background too
    margin = model.predict(X, output_margin=True)
    for output, target in (("raw", margin), ("probability", model.predict_proba(X)[:, 1])):
        ours, base = interventional_shap(model.get_booster(), X, background, output=output)
        theirs, their_base = shap_reference(model, X, background, output)
        assert_close(ours, theirs)
        assert base == pytest.approx(their_base, abs=1e-9)
        np.testing.assert_allclose(base + ours.sum(axis=1), target, atol=5e-6)


def test_regressor_values_equal_shap_and_add_up_to_predictions():
    X = data(seed=4)
    y = np.nan_to_num(X[:, 0]) * 2 + np.nan_to_num(X[:, 1] * X[:, 4])
    model = xgb.XGBRegressor(n_estimators=60, max_depth=4, subsample=0.9, colsample_bynode=0.8,
                             n_jobs=1, random_state=0).fit(X, y)
    background = X[:40]
    ours, base = interventional_shap(model.get_booster(), X, background)
    theirs, their_base = shap_reference(model, X, background, "raw")
    assert_close(ours, theirs)
    assert base == pytest.approx(their_base, abs=1e-9)
    np.testing.assert_allclose(base + ours.sum(axis=1), model.predict(X), atol=1e-5)


def test_a_feature_repeated_on_a_path_is_one_player():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 2))
    y = (np.abs(X[:, 0]) < 0.7).astype(int) ^ (X[:, 1] > 1).astype(int)
    model = xgb.XGBClassifier(n_estimators=20, max_depth=4, n_jobs=1).fit(X, y)
    frame = model.get_booster().trees_to_dataframe()
    # a tree with more than 4 leaves has a path of 3 splits on the 2 features
    assert (frame.groupby("Tree")["Feature"].apply(lambda f: (f == "Leaf").sum()) > 4).any()
    assert leaf_paths(model.get_booster()).width == 2
    background = X[:30]
    for output in ("raw", "probability"):
        ours, _ = interventional_shap(model.get_booster(), X[:100], background, output=output)
        assert_close(ours, shap_reference(model, X[:100], background, output)[0])


def brute_force(model, X: np.ndarray, background: np.ndarray, output: str) -> np.ndarray:
    """Average over references of the exact Shapley values of ``S -> f(x_S, r_notS)``, every
    subset enumerated and every hybrid evaluated by xgboost; ``probability`` rescales each
    reference's values by the secant of expit between the margins of x and r."""
    p = X.shape[1]
    subsets = [S for size in range(p + 1) for S in itertools.combinations(range(p), size)]
    values = np.zeros(X.shape)
    for x, i in zip(X, range(len(X)), strict=True):
        for r in background:
            hybrids = np.repeat(r[None], len(subsets), axis=0)
            for row, S in enumerate(subsets):
                hybrids[row, list(S)] = x[list(S)]
            v = dict(zip(subsets, model.predict(hybrids, output_margin=True).astype(float),
                         strict=True))
            phi = np.zeros(p)
            for j in range(p):
                for S in subsets:
                    if j not in S:
                        weight = math.factorial(len(S)) * math.factorial(p - len(S) - 1)
                        phi[j] += weight / math.factorial(p) * (v[(*sorted((*S, j)),)] - v[S])
            if output == "probability":
                m_x, m_r = v[tuple(range(p))], v[()]
                phi *= treeshap.expit_secant(np.array(m_x), np.array(m_r))
            values[i] += phi / len(background)
    return values


def test_values_equal_a_brute_force_enumeration_of_subsets():
    X = data(200, 4, seed=6, missing=0.15)
    model = xgb.XGBClassifier(n_estimators=8, max_depth=3, learning_rate=0.5, n_jobs=1,
                              random_state=0).fit(X, binary_outcome(X))
    rows, background = data(6, 4, seed=7, missing=0.2), data(5, 4, seed=8, missing=0.2)
    for output in ("raw", "probability"):
        ours, _ = interventional_shap(model.get_booster(), rows, background, output=output)
        np.testing.assert_allclose(ours, brute_force(model, rows, background, output),
                                   atol=1e-6)


def test_splits_are_evaluated_in_float32_like_xgboost():
    """Values at a threshold, one float32 step either side, and float64 values that round to
    it: each goes where xgboost sends it (so the parsed thresholds are exact)."""
    X = data(300, 4, seed=9, missing=0.0)
    model = xgb.XGBClassifier(n_estimators=15, max_depth=3, n_jobs=1).fit(X, binary_outcome(X))
    frame = model.get_booster().trees_to_dataframe()
    splits = frame[frame["Feature"] != "Leaf"]
    edges = np.tile(np.nanmedian(X, axis=0), (4 * len(splits), 1))
    for i, (name, split) in enumerate(zip(splits["Feature"], splits["Split"], strict=True)):
        threshold = np.float32(split)
        below, above = (np.nextafter(threshold, np.float32(v)) for v in (-np.inf, np.inf))
        edges[4 * i:4 * i + 4, int(name[1:])] = [threshold, below, above,
                                                  float(threshold) * (1 - 1e-12)]
    ours, base = interventional_shap(model.get_booster(), edges, X[:20])
    np.testing.assert_allclose(base + ours.sum(axis=1), model.predict(edges, output_margin=True),
                               atol=5e-6)


def test_early_stopping_uses_the_best_iteration_like_predict():
    X, y = data(seed=10), binary_outcome(data(seed=10))
    model = xgb.XGBClassifier(n_estimators=300, max_depth=3, learning_rate=0.3, n_jobs=1,
                              early_stopping_rounds=5, eval_metric="logloss")
    model.fit(X[:200], y[:200], eval_set=[(X[200:], y[200:])], verbose=False)
    assert model.best_iteration + 1 < model.get_booster().num_boosted_rounds()
    ours, base = interventional_shap(model.get_booster(), X, X[:30], output="probability")
    np.testing.assert_allclose(base + ours.sum(axis=1), model.predict_proba(X)[:, 1], atol=1e-6)
    assert_close(ours, shap_reference(model, X, X[:30], "probability")[0])


def test_single_leaf_trees_and_the_missing_setting():
    X = data(100, 4, seed=11, missing=0.0)
    X[X[:, 0] > 1, 0] = -999.0
    y = binary_outcome(X)
    model = xgb.XGBClassifier(n_estimators=5, max_depth=2, missing=-999.0, n_jobs=1,
                              min_child_weight=1e6).fit(X, y)     # every tree one leaf
    ours, base = interventional_shap(model.get_booster(), X, X[:10], missing=-999.0)
    assert np.all(ours == 0)
    np.testing.assert_allclose(base, model.predict(X, output_margin=True), atol=1e-6)
    model = xgb.XGBClassifier(n_estimators=20, max_depth=3, missing=-999.0, n_jobs=1).fit(X, y)
    ours, base = interventional_shap(model.get_booster(), X, X[:10], missing=-999.0)
    np.testing.assert_allclose(base + ours.sum(axis=1), model.predict(X, output_margin=True),
                               atol=5e-6)


def test_chunked_and_sparse_paths_give_the_same_values(monkeypatch):
    X = data(seed=12)
    model = xgb.XGBClassifier(n_estimators=30, max_depth=4, n_jobs=1).fit(X, binary_outcome(X))
    whole = [interventional_shap(model.get_booster(), X, X[:40], output=o)[0]
             for o in ("raw", "probability")]
    monkeypatch.setattr(treeshap, "_CHUNK_ELEMENTS", 5_000)
    for output, expected in zip(("raw", "probability"), whole, strict=True):
        chunked, _ = interventional_shap(model.get_booster(), X, X[:40], output=output)
        np.testing.assert_allclose(chunked, expected, rtol=1e-12, atol=1e-15)


def test_shapley_coefficients_of_a_unit_leaf():
    c = shapley_coefficients(3)
    # x satisfies slots 0 and 1, the reference slots 1 and 2: A = {0}, B = {2}
    np.testing.assert_allclose(c[0b011, 0b110], [0.5, 0.0, -0.5])
    assert np.all(c[0b001, 0b010] == 0)                  # slot 2 satisfied by neither
    assert np.all(c[0b111, 0b111] == 0)                  # the leaf is reached either way
    np.testing.assert_allclose(c[0b111, 0b000], [1 / 3] * 3)
    full = (1 << 3) - 1
    valid = (~np.arange(8)[:, None] & ~np.arange(8)[None, :] & full) == 0
    # efficiency: the values add up to g(all) - g(none) = [p full] - [q full]
    target = (np.arange(8)[:, None] == full).astype(float) - (np.arange(8)[None, :] == full)
    np.testing.assert_allclose(c.sum(axis=2), np.where(valid, target, 0.0), atol=1e-15)


def test_unsupported_models_fall_back_to_shap():
    X = data(200, 4, seed=13)
    y = binary_outcome(X)
    dart = xgb.XGBClassifier(booster="dart", n_estimators=10, max_depth=2, n_jobs=1).fit(X, y)
    with pytest.raises(UnsupportedModel):
        interventional_shap(dart.get_booster(), X, X[:10])
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(4)])
    result = explain_arm(dart, frame.iloc[:20], frame.iloc[:10], scales=("log_odds",))
    assert result["log_odds"].method == "tree_interventional"
    assert result["log_odds"].additivity_error() < 1e-5
    poisson = xgb.XGBRegressor(objective="count:poisson", n_estimators=5, n_jobs=1).fit(X, y)
    with pytest.raises(UnsupportedModel):
        interventional_shap(poisson.get_booster(), X, X[:10])


def test_paths_with_more_than_seven_features_fall_back_to_shap():
    X = data(3000, 10, seed=15, missing=0.0)
    y = (X.sum(axis=1) > 0).astype(int)
    deep = xgb.XGBClassifier(n_estimators=3, max_depth=10, n_jobs=1).fit(X, y)
    with pytest.raises(UnsupportedModel, match="distinct features"):
        leaf_paths(deep.get_booster())
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(10)])
    result = explain_arm(deep, frame.iloc[:20], frame.iloc[:10], scales=("probability",))
    assert result["probability"].additivity_error() < 1e-6


def test_explain_arm_gives_shaps_values_with_the_same_labels():
    X = pd.DataFrame(data(seed=14), columns=[f"f{i}" for i in range(6)])
    y = binary_outcome(X.to_numpy())
    classifier = xgb.XGBClassifier(n_estimators=30, max_depth=3, n_jobs=1).fit(X, y)
    regressor = xgb.XGBRegressor(n_estimators=30, max_depth=3, n_jobs=1).fit(X, y * 2.0)
    background = X.iloc[:25]
    cases = [(classifier, "log_odds", "raw", "tree_interventional"),
             (classifier, "probability", "probability", "tree_interventional_rescaled"),
             (regressor, "outcome", "raw", "tree_interventional")]
    for model, scale, output, method in cases:
        result = explain_arm(model, X, background, scales=(scale,))[scale]
        theirs, base = shap_reference(model, X.to_numpy(), background.to_numpy(), output)
        assert result.method == method
        assert_close(result.values.to_numpy(), theirs)
        assert result.base_value == pytest.approx(base, abs=1e-9)
        assert result.additivity_error() < 1e-5
