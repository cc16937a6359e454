"""Risk-difference SHAP from per-arm values: additivity, equality with shap's model-agnostic
explainer on the risk-difference function, contrasts, ranking, refitting."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import shap
from sklearn.base import clone

from backpheno.errors import InputError
from backpheno.explain.moderators import (
    Contrast,
    arm_contrasts,
    contrast_importance,
    contrast_shap,
    contrast_table,
    moderator_ranking,
    rank_moderators,
    refit_each_arm,
)
from backpheno.explain.shap import explain_arms, select_background

ARMS = ["ESC", "ACT", "DUL"]


def model_agnostic(models, contrast: Contrast, rows: pd.DataFrame, background: pd.DataFrame,
                   scale: str = "probability") -> shap.Explanation:
    """shap's Exact explainer on sum_a w_a f_a(x) with an independent masker (same background)."""

    def risk_difference(Z: np.ndarray) -> np.ndarray:
        frame = pd.DataFrame(Z, columns=rows.columns)
        total = np.zeros(len(frame))
        for arm, weight in contrast.weights.items():
            if scale == "probability":
                total += weight * models[arm].predict_proba(frame)[:, 1].astype(float)
            else:
                total += weight * models[arm].predict(frame, output_margin=True).astype(float)
        return total

    masker = shap.maskers.Independent(background.to_numpy(), max_samples=len(background))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return shap.explainers.Exact(risk_difference, masker)(rows.to_numpy())


def test_contrasts_of_four_arms():
    contrasts = arm_contrasts(["ESC", "ACT", "EBEM", "DUL"])
    pairs = [c for c in contrasts if c.kind == "pair"]
    rest = [c for c in contrasts if c.kind == "one_vs_rest"]
    assert [c.name for c in pairs] == ["ACT_vs_ESC", "EBEM_vs_ESC", "DUL_vs_ESC", "EBEM_vs_ACT",
                                       "DUL_vs_ACT", "DUL_vs_EBEM"]
    assert [c.name for c in rest] == ["ESC_vs_rest", "ACT_vs_rest", "EBEM_vs_rest", "DUL_vs_rest"]
    for contrast in contrasts:
        assert sum(contrast.weights.values()) == pytest.approx(0.0)
    assert rest[1].weights == {"ACT": 1.0, "ESC": -1 / 3, "EBEM": -1 / 3, "DUL": -1 / 3}
    assert pairs[0].label == "p(ACT) - p(ESC)" and rest[0].label == "p(ESC) - mean p(others)"
    assert [c.name for c in arm_contrasts(["A", "B"])] == ["B_vs_A"]
    with pytest.raises(InputError):
        arm_contrasts(["A"])
    with pytest.raises(InputError):
        arm_contrasts(["A", "B"], kinds=["all"])


@pytest.mark.parametrize("kind", ["xgb", "rf", "lr"])
def test_risk_difference_shap_adds_up_to_the_predicted_risk_difference(small, fit, kind):
    X, ys = small
    models = fit(kind, X, ys)
    rows = X.iloc[:40]
    per_arm = explain_arms(models, rows, select_background(X, 50, seed=0))
    for name, result in contrast_shap(per_arm, arm_contrasts(ARMS)).items():
        predicted = sum(w * models[a].predict_proba(rows)[:, 1].astype(float)
                        for a, w in result.contrast.weights.items())
        assert result.additivity_error() < 1e-6, name
        total = result.base_value + result.values.sum(axis=1)
        np.testing.assert_allclose(total, predicted, atol=1e-6)


def test_risk_difference_shap_equals_the_model_agnostic_explainer(small, fit):
    """Random forests (probability is their native scale): every contrast equals shap's
    Exact explainer on p_a(x) - p_b(x) with the same background."""
    X, ys = small
    models = fit("rf", X, ys)
    rows, background = X.iloc[:5], select_background(X.iloc[60:], 12, seed=1)
    per_arm = explain_arms(models, rows, background, scales=["probability"])
    for contrast in arm_contrasts(ARMS):
        ours = contrast_shap(per_arm, [contrast])[contrast.name]
        reference = model_agnostic(models, contrast, rows, background)
        np.testing.assert_allclose(ours.values.to_numpy(), reference.values, atol=1e-7)
        assert ours.base_value == pytest.approx(reference.base_values[0], abs=1e-9)


def test_log_odds_contrast_of_boosted_models_equals_the_model_agnostic_explainer(small, fit):
    X, ys = small
    models = fit("xgb", X, ys)
    rows, background = X.iloc[:5], select_background(X.iloc[60:], 12, seed=2)
    per_arm = explain_arms(models, rows, background, scales=["log_odds"])
    contrast = arm_contrasts(ARMS)[0]
    ours = contrast_shap(per_arm, [contrast], scale="log_odds")[contrast.name]
    reference = model_agnostic(models, contrast, rows, background, scale="log_odds")
    np.testing.assert_allclose(ours.values.to_numpy(), reference.values, atol=5e-6)


def test_contrasts_need_the_same_participants_and_scale(small, fit):
    X, ys = small
    models = fit("xgb", X, ys)
    background = X.iloc[100:130]
    per_arm = explain_arms(models, X.iloc[:10], background, scales=["probability"])
    per_arm[("DUL", "probability")] = explain_arms({"DUL": models["DUL"]}, X.iloc[10:20],
                                                   background)[("DUL", "probability")]
    with pytest.raises(InputError, match="different participants"):
        contrast_shap(per_arm, arm_contrasts(ARMS))
    with pytest.raises(InputError, match="no log_odds SHAP values"):
        contrast_shap(per_arm, arm_contrasts(ARMS), scale="log_odds")


def test_ranking_orders_by_mean_absolute_shap_and_reports_direction():
    index = pd.Index([f"p{i}" for i in range(50)], name="participant_id")
    x = pd.DataFrame({"strong": np.linspace(-2, 2, 50), "weak": np.linspace(2, -2, 50),
                      "none": np.zeros(50)}, index=index)
    from backpheno.explain.moderators import ContrastShap

    values = pd.DataFrame({"strong": 0.2 * x["strong"], "weak": 0.05 * x["weak"],
                           "none": 0.0}, index=index)
    result = ContrastShap(Contrast("B_vs_A", "pair", {"B": 1.0, "A": -1.0}), values, 0.1,
                          0.1 + values.sum(axis=1))
    table = moderator_ranking({"B_vs_A": result}, x)
    assert list(table["feature"]) == ["strong", "weak", "none"]
    assert list(table["rank"]) == [1, 2, 3]
    assert table.set_index("feature").loc["strong", "direction"] == pytest.approx(1.0)
    assert table.set_index("feature").loc["weak", "direction"] == pytest.approx(1.0)
    assert np.isnan(table.set_index("feature").loc["none", "direction"])
    long = contrast_table({"B_vs_A": result})
    assert list(long.columns[:5]) == ["participant_id", "contrast", "kind", "base_value",
                                      "output"]


def test_refit_each_arm_fits_clones_on_their_own_arm(small, fit):
    X, ys = small
    templates = fit("lr", X, ys)
    arm = pd.Series(np.resize(ARMS, len(X)), index=X.index)
    y = pd.Series(np.where(arm == "ACT", ys["ACT"], ys["ESC"]), index=X.index, dtype=float)
    y.iloc[:6] = np.nan
    fitted = refit_each_arm(templates)(X, y, arm)
    assert set(fitted) == set(ARMS)
    for name, model in fitted.items():
        assert model is not templates[name]
        rows = (arm == name) & y.notna()
        reference = clone(templates[name]).fit(X[rows], y[rows].astype(int))
        np.testing.assert_allclose(model.predict_proba(X)[:, 1], reference.predict_proba(X)[:, 1])
    with pytest.raises(InputError, match="no participants"):
        refit_each_arm(templates)(X, y, arm.replace("DUL", "ESC"))


def test_rank_moderators_finds_the_driver_of_the_difference(small, fit):
    X, ys = small
    models = fit("xgb", X, ys)
    ranking = rank_moderators(models, X, X.iloc[:60], arm_contrasts(ARMS, ["pair"]))
    top = ranking[ranking["rank"] == 1].set_index("contrast")["feature"]
    assert top["DUL_vs_ESC"] == "f0"


def column_subset_models(X: pd.DataFrame, ys: dict[str, pd.Series]) -> dict[str, object]:
    """xgboost per arm on a different subset of the columns (as a univariate filter makes)."""
    import xgboost as xgb
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline

    subsets = {"ESC": ["f0", "f2"], "ACT": ["f1", "f2", "f3"], "DUL": ["f3", "f0"]}
    return {arm: make_pipeline(
        ColumnTransformer([("keep", "passthrough", subsets[arm])],
                          verbose_feature_names_out=False),
        xgb.XGBClassifier(n_estimators=20, max_depth=2, n_jobs=1, random_state=0),
    ).set_output(transform="pandas").fit(X, y) for arm, y in ys.items()}


@pytest.mark.parametrize("kind", ["xgb", "rf", "lr", "subsets"])
def test_array_importance_equals_the_ranking_of_the_contrast_tables(small, fit, kind):
    """The permutation / stability statistic computed on arrays equals mean |SHAP| (and mean
    SHAP) of moderator_ranking(contrast_shap(explain_arms(...))), with missing-value indicators
    summed into their feature (lr), arms reading different columns (subsets) and a reported
    feature no model uses at 0."""
    X, ys = small
    models = column_subset_models(X, ys) if kind == "subsets" else fit(kind, X, ys)
    rows, background = X.iloc[:70], select_background(X, 40, seed=1)
    features = [*X.columns, "unused"]
    contrasts = arm_contrasts(ARMS)
    per_arm = explain_arms(models, rows, background, scales=["probability"], features=features)
    reference = moderator_ranking(contrast_shap(per_arm, contrasts))
    fast = contrast_importance(models, rows, background, contrasts, features=features, chunk=500)
    assert fast.features == features
    assert [c.name for c in fast.contrasts] == [c.name for c in contrasts]
    cells = pd.MultiIndex.from_product([[c.name for c in contrasts], features])
    table = reference.set_index(["contrast", "feature"]).reindex(cells)
    shape = (len(contrasts), len(features))
    np.testing.assert_allclose(fast.mean_abs, table["mean_abs_shap"].to_numpy().reshape(shape),
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast.mean, table["mean_shap"].to_numpy().reshape(shape),
                               rtol=0, atol=1e-12)
    assert (fast.mean_abs[:, features.index("unused")] == 0).all()
    if kind == "subsets":
        assert (fast.mean_abs[:, features.index("f4")] == 0).all()
    ranked = rank_moderators(models, rows, background, contrasts, features=features)
    pd.testing.assert_frame_equal(ranked, reference, check_exact=False, rtol=0, atol=1e-12)


def test_array_importance_needs_every_arm_of_a_contrast(small, fit):
    X, ys = small
    models = fit("xgb", X, ys)
    with pytest.raises(InputError, match="no probability SHAP values for arms"):
        contrast_importance({"ESC": models["ESC"]}, X.iloc[:5], X.iloc[5:15],
                            arm_contrasts(["ESC", "ACT"]))
