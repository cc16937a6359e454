"""Metrics of a continuous outcome against scikit-learn and statsmodels."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from backpheno.models.regression_metrics import (
    calibration_bins,
    calibration_intercept,
    calibration_slope,
    evaluate_regression,
    per_group_regression,
)


@pytest.fixture
def predictions():
    rng = np.random.default_rng(0)
    p = rng.normal(size=300)
    y = 0.3 + 0.8 * p + rng.normal(0, 0.7, 300)
    return y, p


def test_point_metrics_match_scikit_learn(predictions):
    y, p = predictions
    out = evaluate_regression(y, p, n_bootstrap=200, seed=1)
    assert out["r2"]["estimate"] == pytest.approx(r2_score(y, p), rel=1e-12)
    assert out["rmse"]["estimate"] == pytest.approx(np.sqrt(mean_squared_error(y, p)), rel=1e-12)
    assert out["mae"]["estimate"] == pytest.approx(mean_absolute_error(y, p), rel=1e-12)
    for key in ("r2", "rmse", "mae"):
        assert out[key]["ci_low"] < out[key]["estimate"] < out[key]["ci_high"]


def test_calibration_matches_statsmodels_ols(predictions):
    y, p = predictions
    fit = sm.OLS(y, sm.add_constant(p)).fit()
    slope = calibration_slope(y, p)
    assert slope["estimate"] == pytest.approx(fit.params[1], rel=1e-10)
    assert [slope["ci_low"], slope["ci_high"]] == pytest.approx(list(fit.conf_int()[1]), rel=1e-10)
    citl = calibration_intercept(y, p)
    offset = sm.OLS(y - p, np.ones((len(y), 1))).fit()
    assert citl["estimate"] == pytest.approx(offset.params[0], rel=1e-10)
    assert [citl["ci_low"], citl["ci_high"]] == pytest.approx(list(offset.conf_int()[0]),
                                                              rel=1e-10)


def test_per_site_and_bins(predictions):
    y, p = predictions
    sites = np.repeat(["a", "b", "c"], [150, 145, 5])
    table = per_group_regression(y, p, sites, min_size=10)
    assert table.loc[table["group"] == "a", "r2"].item() == pytest.approx(r2_score(y[:150],
                                                                                  p[:150]))
    assert "fewer than 10" in table.loc[table["group"] == "c", "note"].item()
    bins = calibration_bins(y, p, n_bins=5)
    assert bins["n"].sum() == len(y) and len(bins) == 5
    assert (bins["ci_low"] < bins["observed"]).all()
