"""Per-arm SHAP values: exactness against shap's model-agnostic Exact explainer, additivity,
the rescaled probability definition, the mapping through preprocessing pipelines."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import shap
import xgboost as xgb
from scipy.special import expit
from sklearn.ensemble import RandomForestRegressor
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.impute import SimpleImputer
from sklearn.linear_model import ElasticNet, LinearRegression, LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from backpheno.errors import InputError
from backpheno.explain.shap import (
    column_origins,
    explain_arm,
    explain_arms,
    select_background,
    shap_table,
)


def exact_shapley(f, X: pd.DataFrame, background: pd.DataFrame) -> shap.Explanation:
    """shap's brute-force Exact explainer with an independent (interventional) masker."""
    masker = shap.maskers.Independent(background.to_numpy(), max_samples=len(background))
    explainer = shap.explainers.Exact(lambda Z: f(pd.DataFrame(Z, columns=X.columns)), masker)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return explainer(X.to_numpy())


@pytest.mark.parametrize("kind", ["xgb", "rf", "lr"])
def test_values_add_up_to_the_model_output_on_both_scales(small, fit, kind):
    X, ys = small
    models = fit(kind, X, ys)
    background = select_background(X, 40, seed=1)
    results = explain_arms(models, X.iloc[:30], background)
    for (arm, scale), result in results.items():
        p = models[arm].predict_proba(X.iloc[:30])[:, 1]
        expected = p if scale == "probability" else np.log(p / (1 - p))
        tolerance = 1e-6 if scale == "probability" else 1e-5  # xgboost margins are float32
        assert result.additivity_error() < tolerance
        np.testing.assert_allclose(result.output, expected, atol=tolerance)
        assert list(result.values.columns) == list(X.columns)


def test_random_forest_probability_values_are_exact_shapley_values(small, fit):
    X, ys = small
    model = fit("rf", X, {"ESC": ys["ESC"]})["ESC"]
    background = select_background(X, 15, seed=2)
    rows = X.iloc[:5]
    ours = explain_arm(model, rows, background, scales=["probability"])["probability"]
    reference = exact_shapley(lambda Z: model.predict_proba(Z)[:, 1], rows, background)
    np.testing.assert_allclose(ours.values.to_numpy(), reference.values, atol=1e-8)
    assert ours.base_value == pytest.approx(reference.base_values[0], abs=1e-12)
    assert ours.method == "tree_interventional"


def test_xgboost_log_odds_values_are_exact_shapley_values(small, fit):
    X, ys = small
    model = fit("xgb", X, {"ACT": ys["ACT"]})["ACT"]
    background = select_background(X, 25, seed=3)
    rows = X.iloc[:8]
    ours = explain_arm(model, rows, background, scales=["log_odds"])["log_odds"]
    reference = exact_shapley(lambda Z: model.predict(Z, output_margin=True).astype(float),
                              rows, background)
    np.testing.assert_allclose(ours.values.to_numpy(), reference.values, atol=2e-6)


def test_logistic_pipeline_values_are_exact_in_the_original_features(small, fit):
    """Imputation + missing indicator + scaling: the linear model stays additive in the
    original features, so the mapped log-odds values equal the Shapley values of the whole
    pipeline's decision function."""
    X, ys = small
    model = fit("lr", X, {"DUL": ys["DUL"]})["DUL"]
    background = select_background(X, 25, seed=4)
    rows = X.iloc[:10]
    ours = explain_arm(model, rows, background, scales=["log_odds"])["log_odds"]
    assert ours.method == "linear_interventional"
    reference = exact_shapley(lambda Z: model.decision_function(Z), rows, background)
    np.testing.assert_allclose(ours.values.to_numpy(), reference.values, atol=1e-10)


def test_probability_scale_of_a_boosted_model_is_the_per_reference_rescaling(small, fit):
    """shap's model_output='probability' = mean over references of the exact margin values
    times (sigmoid(m_x) - sigmoid(m_b)) / (m_x - m_b); checked from single-reference runs."""
    X, ys = small
    model = fit("xgb", X, {"ACT": ys["ACT"]})["ACT"]
    background = select_background(X.iloc[100:], 6, seed=5)
    rows = X.iloc[:12]
    ours = explain_arm(model, rows, background, scales=["probability"])["probability"]
    assert ours.method == "tree_interventional_rescaled"
    m_x = model.predict(rows, output_margin=True).astype(float)
    rebuilt = np.zeros(rows.shape)
    for k in range(len(background)):
        single = explain_arm(model, rows, background.iloc[[k]], scales=["log_odds"])["log_odds"]
        m_b = float(model.predict(background.iloc[[k]], output_margin=True)[0])
        ratio = (expit(m_x) - expit(m_b)) / (m_x - m_b)
        rebuilt += single.values.to_numpy() * ratio[:, None]
    np.testing.assert_allclose(ours.values.to_numpy(), rebuilt / len(background), atol=1e-6)


def test_logistic_probability_scale_uses_the_same_rescaling(small, fit):
    X, ys = small
    model = fit("lr", X, {"ESC": ys["ESC"]})["ESC"]
    background = select_background(X.iloc[100:], 3, seed=6)
    rows = X.iloc[:10]
    ours = explain_arm(model, rows, background)["probability"]
    assert ours.method == "linear_interventional_rescaled"
    m_x = model.decision_function(rows)
    rebuilt = np.zeros(rows.shape)
    for k in range(len(background)):
        ref = background.iloc[[k]]
        exact = exact_shapley(lambda Z: model.decision_function(Z), rows, ref).values
        m_b = float(model.decision_function(ref)[0])
        rebuilt += exact * ((expit(m_x) - expit(m_b)) / (m_x - m_b))[:, None]
    np.testing.assert_allclose(ours.values.to_numpy(), rebuilt / len(background), atol=1e-9)


def test_random_forest_log_odds_is_rescaled_from_exact_probability_values(small, fit):
    X, ys = small
    model = fit("rf", X, {"DUL": ys["DUL"]})["DUL"]
    background = select_background(X, 4, seed=7)
    result = explain_arm(model, X.iloc[:10], background)["log_odds"]
    assert result.method == "tree_interventional_rescaled"
    assert result.additivity_error() < 1e-6


def test_features_the_pipeline_drops_get_zero_and_indicators_are_merged():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(150, 4)), columns=["a", "b", "c", "d"])
    y = (X["a"] + 0.3 * rng.normal(size=150) > 0).astype(int)
    X.loc[::5, "b"] = np.nan
    model = make_pipeline(SimpleImputer(add_indicator=True), SelectKBest(f_classif, k=3),
                          LogisticRegression()).set_output(transform="pandas").fit(X, y)
    kept = set(model[:-1].get_feature_names_out())
    result = explain_arm(model, X.iloc[:20], X.iloc[20:60])["log_odds"]
    assert list(result.values.columns) == ["a", "b", "c", "d"]
    for name in ["a", "b", "c", "d"]:
        used = name in kept or f"missingindicator_{name}" in kept
        assert (result.values[name].abs().max() > 0) == used
    assert result.additivity_error() < 1e-9


def test_column_origins():
    origins = column_origins(["a", "missingindicator_b", "pca0"], ["a", "b"])
    assert origins == {"a": "a", "missingindicator_b": "b", "pca0": "pca0"}


def test_unsupported_models_and_scales_are_refused(small):
    X, ys = small
    with pytest.raises(InputError, match="KNeighborsClassifier"):
        explain_arm(KNeighborsClassifier().fit(X.fillna(0), ys["ESC"]), X.fillna(0),
                    X.fillna(0))
    regressor = xgb.XGBClassifier(n_estimators=2, objective="binary:logitraw").fit(X, ys["ESC"])
    with pytest.raises(InputError, match="binary:logitraw"):
        explain_arm(regressor, X, X)
    model = LogisticRegression().fit(X.fillna(0), ys["ESC"])
    with pytest.raises(InputError, match="do not apply"):
        explain_arm(model, X.fillna(0), X.fillna(0), scales=["odds"])
    with pytest.raises(InputError, match="do not apply"):
        explain_arm(LinearRegression().fit(X.fillna(0), ys["ESC"]), X.fillna(0), X.fillna(0),
                    scales=["probability"])
    with pytest.raises(InputError, match="background lacks"):
        explain_arm(model, X.fillna(0), X.fillna(0).drop(columns="f1"))


def test_background_is_reproducible_and_stratified():
    X = pd.DataFrame({"v": np.arange(400.0)}, index=[f"p{i}" for i in range(400)])
    sites = pd.Series(np.repeat(["a", "b", "c", "d"], [200, 100, 60, 40]), index=X.index)
    first = select_background(X, 50, seed=3, strata=sites)
    again = select_background(X, 50, seed=3, strata=sites)
    assert first.index.equals(again.index) and len(first) == 50
    counts = sites.loc[first.index].value_counts()
    expected = sites.value_counts() / len(sites) * 50
    assert (counts - expected).abs().max() < 1
    assert not select_background(X, 50, seed=4).index.equals(select_background(X, 50, seed=3).index)
    assert len(select_background(X.iloc[:10], 50)) == 10
    with pytest.raises(InputError):
        select_background(X, 0)


def test_shap_table_layout(small, fit):
    X, ys = small
    models = fit("xgb", X, ys)
    results = explain_arms(models, X.iloc[:5], X.iloc[5:25])
    table = shap_table(results)
    assert len(table) == 5 * len(ys) * 2
    assert list(table.columns[:6]) == ["participant_id", "arm", "scale", "method", "base_value",
                                       "output"]
    assert list(table.columns[6:]) == list(X.columns)


def _continuous(X: pd.DataFrame, arm: str) -> pd.Series:
    rng = np.random.default_rng({"ACT": 1, "ESC": 2}[arm])
    f2 = X["f2"].fillna(0)
    signal = X["f0"] + (2.0 * f2 if arm == "ACT" else 0.0)
    return signal + rng.normal(0, 0.5, len(X))


@pytest.mark.parametrize("kind", ["xgb", "rf", "enet"])
def test_regressor_values_are_exact_shapley_values_of_the_predicted_outcome(small, kind):
    """For regression tree ensembles and linear models the interventional values of the raw
    output are the exact Shapley values of the prediction (brute force as reference), add up to
    the prediction to 1e-6 (1e-5 for xgboost, whose predictions are float32), and so do the
    values of the arms' difference."""
    X, _ = small
    Xf = X.fillna(0)
    models = {}
    for arm in ("ACT", "ESC"):
        if kind == "xgb":
            model = xgb.XGBRegressor(n_estimators=30, max_depth=3, n_jobs=1, random_state=0)
        elif kind == "rf":
            model = RandomForestRegressor(20, min_samples_leaf=8, random_state=0, n_jobs=1)
        else:
            model = make_pipeline(StandardScaler(), ElasticNet(alpha=0.05)).set_output(
                transform="pandas")
        models[arm] = model.fit(Xf, _continuous(X, arm))
    background = select_background(Xf, 15, seed=4)
    rows = Xf.iloc[:6]
    results = explain_arms(models, rows, background)
    assert {scale for _, scale in results} == {"outcome"}
    tolerance = 1e-5 if kind == "xgb" else 1e-8  # xgboost predicts in float32
    for arm, model in models.items():
        ours = results[(arm, "outcome")]
        assert ours.additivity_error() < (1e-5 if kind == "xgb" else 1e-6)
        np.testing.assert_allclose(ours.output, model.predict(rows), atol=tolerance)
        reference = exact_shapley(lambda Z, m=model: np.asarray(m.predict(Z), dtype=float),
                                  rows, background)
        np.testing.assert_allclose(ours.values.to_numpy(), reference.values, atol=tolerance)
    difference = exact_shapley(
        lambda Z: (np.asarray(models["ACT"].predict(Z), dtype=float)
                   - np.asarray(models["ESC"].predict(Z), dtype=float)), rows, background)
    contrast = (results[("ACT", "outcome")].values - results[("ESC", "outcome")].values)
    np.testing.assert_allclose(contrast.to_numpy(), difference.values, atol=tolerance)
