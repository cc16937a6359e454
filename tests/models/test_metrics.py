"""Metrics against independent computations and exact properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit
from sklearn.metrics import brier_score_loss, roc_auc_score
from statsmodels.stats.proportion import proportion_confint

from backpheno.models import metrics as m


def naive_delong(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """DeLong et al. (1988) structural components by the O(mn) definition."""
    pos, neg = p[y == 1], p[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return psi.mean(), np.var(v10, ddof=1) / len(pos) + np.var(v01, ddof=1) / len(neg)


def sample(n: int = 300, seed: int = 0, slope: float = 1.0, shift: float = 0.0):
    rng = np.random.default_rng(seed)
    lp = rng.normal(-0.3, 1.2, n)
    y = (rng.random(n) < expit(lp)).astype(int)
    return y, expit((lp - shift) / slope)


def test_delong_matches_definition_with_ties() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    p = np.round(rng.random(200) * 0.6 + 0.3 * y, 1)   # many ties
    auc, var = m.delong(y, p)
    ref_auc, ref_var = naive_delong(y, p)
    assert auc == pytest.approx(roc_auc_score(y, p))
    assert auc == pytest.approx(ref_auc)
    assert var == pytest.approx(ref_var)


def test_delong_interval_coverage() -> None:
    rng = np.random.default_rng(2)
    true = []
    hits = 0
    for _ in range(300):
        y = rng.integers(0, 2, 120)
        p = rng.normal(0.8 * y, 1.0)
        ci = m.auc_ci(y, p)
        true.append(ci["estimate"])
        hits += ci["ci_low"] <= 0.7146 <= ci["ci_high"]   # Phi(0.8 / sqrt 2)
    assert np.mean(true) == pytest.approx(0.7146, abs=0.01)
    assert 0.91 <= hits / 300 <= 0.98


def test_calibration_slope_and_intercept_recover_known_miscalibration() -> None:
    y, p = sample(20000, slope=0.5)            # predictions twice as extreme as the truth
    assert m.calibration_slope(y, p)["estimate"] == pytest.approx(0.5, abs=0.03)
    y, p = sample(20000, shift=0.5)            # risks underestimated by 0.5 on the logit scale
    citl = m.calibration_intercept(y, p)
    assert citl["estimate"] == pytest.approx(0.5, abs=0.05)
    assert citl["ci_low"] < 0.5 < citl["ci_high"]
    y, p = sample(20000)
    assert m.calibration_slope(y, p)["estimate"] == pytest.approx(1.0, abs=0.05)
    assert m.calibration_intercept(y, p)["estimate"] == pytest.approx(0.0, abs=0.05)


def test_recalibration_score_equations_hold_exactly() -> None:
    """At the maximum likelihood the recalibrated risks reproduce the observed total (CITL) and
    also its covariance with the linear predictor (slope model)."""
    y, p = sample(400, seed=3, slope=0.7, shift=-0.3)
    lp = logit(p)
    a = m.calibration_intercept(y, p)["estimate"]
    assert expit(lp + a).sum() == pytest.approx(y.sum(), rel=1e-6)
    b = m.calibration_slope(y, p)["estimate"]
    fitted = expit(_slope_intercept(y, lp, b) + b * lp)
    assert ((y - fitted) * lp).sum() == pytest.approx(0.0, abs=1e-4)


def _slope_intercept(y: np.ndarray, lp: np.ndarray, b: float) -> float:
    from scipy.optimize import brentq

    return brentq(lambda a: (y - expit(a + b * lp)).sum(), -10, 10)


def test_oe_brier_balanced_accuracy() -> None:
    y, p = sample(500, seed=4)
    assert m.oe_ratio(y, p)["estimate"] == pytest.approx(y.sum() / p.sum())
    assert m.brier(y, p) == pytest.approx(brier_score_loss(y, p))
    ref = y.mean() * (1 - y.mean())
    assert m.scaled_brier(y, p) == pytest.approx(1 - brier_score_loss(y, p) / ref)
    thr = np.where(np.arange(500) % 2, 0.3, 0.6)
    pred = p >= thr
    expected = (pred[y == 1].mean() + (~pred[y == 0]).mean()) / 2
    assert m.balanced_accuracy(y, p, thr) == pytest.approx(expected)


def test_calibration_curve_bins_and_wilson_intervals() -> None:
    y, p = sample(1000, seed=5)
    curve = m.calibration_curve(y, p, n_bins=10)
    assert curve["n"].sum() == 1000 and len(curve) == 10
    k = (curve["observed"] * curve["n"]).round().astype(int)
    low, high = proportion_confint(k, curve["n"], method="wilson")
    np.testing.assert_allclose(curve["ci_low"], low)
    np.testing.assert_allclose(curve["ci_high"], high)


def test_ici_small_for_calibrated_and_large_for_miscalibrated() -> None:
    y, p = sample(20000, seed=6)
    assert m.calibration_errors(y, p)["ici"] < 0.015
    y, p = sample(20000, seed=6, shift=1.0)
    assert m.calibration_errors(y, p)["ici"] > 0.1


def test_evaluate_and_bootstrap() -> None:
    y, p = sample(300, seed=7)
    out = m.evaluate(y, p, threshold=y.mean(), n_bootstrap=200)
    assert out["n"] == 300 and out["n_events"] == y.sum()
    for key in ("brier", "scaled_brier", "balanced_accuracy"):
        assert out[key]["ci_low"] <= out[key]["estimate"] <= out[key]["ci_high"]
    assert out["auc"]["method"] == "DeLong"
    flat = m.flatten(out)
    assert "calibration_slope.ci_high" in flat and "auc.estimate" in flat


def test_degenerate_inputs_give_nan_not_errors() -> None:
    y = np.ones(20)
    p = np.linspace(0.1, 0.9, 20)
    out = m.evaluate(y, p, n_bootstrap=0)
    assert np.isnan(out["auc"]["estimate"]) and np.isnan(out["calibration_slope"]["estimate"])


def test_per_group_reports_small_groups_without_metrics() -> None:
    y, p = sample(200, seed=8)
    groups = np.where(np.arange(200) < 190, "big", "small")
    table = m.per_group(y, p, groups, min_size=20)
    big = table.set_index("group").loc["big"]
    assert big["auc"] == pytest.approx(roc_auc_score(y[:190], p[:190]))
    assert "fewer than 20" in table.set_index("group").loc["small", "note"]
    assert isinstance(table, pd.DataFrame)


def test_widened_auc_interval() -> None:
    y, p = sample(300, seed=9)
    auc = m.auc_ci(y, p)
    wide_null = np.random.default_rng(0).normal(0.5, 0.08, 50)
    out = m.widened_auc_ci(auc, wide_null)
    assert out["se"] == pytest.approx(np.std(wide_null, ddof=1))
    assert out["ci_low"] < auc["ci_low"] and out["estimate"] == auc["estimate"]
    narrow = m.widened_auc_ci(auc, np.full(50, 0.5) + np.linspace(-1e-3, 1e-3, 50))
    assert narrow["se"] == pytest.approx(auc["se"])
    assert m.widened_auc_ci(auc, wide_null[:5]) is None
