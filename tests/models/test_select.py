"""The NaN-aware univariate filter."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from backpheno.errors import InputError
from backpheno.models.select import UnivariateFilter, univariate_auc, univariate_z


def test_univariate_auc_matches_sklearn_on_observed_values() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 100)
    X = rng.normal(size=(100, 4)) + y[:, None] * [0, 1, -1, 0.2]
    X[rng.random((100, 4)) < 0.2] = np.nan
    auc = univariate_auc(X, y)
    for j in range(4):
        ok = np.isfinite(X[:, j])
        assert auc[j] == pytest.approx(roc_auc_score(y[ok], X[ok, j]))


def test_univariate_z_matches_scipy_mann_whitney() -> None:
    from scipy.stats import mannwhitneyu, norm

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 120)
    X = rng.normal(size=(120, 3)) + y[:, None] * [0.8, 0.0, -0.4]
    X[rng.random((120, 3)) < 0.3] = np.nan
    z = univariate_z(X, y)
    for j in range(3):
        ok = np.isfinite(X[:, j])
        test = mannwhitneyu(X[ok & (y == 1), j], X[ok & (y == 0), j], method="asymptotic",
                            use_continuity=False)
        assert abs(z[j]) == pytest.approx(norm.isf(test.pvalue / 2), rel=1e-6)


def test_a_sparsely_observed_chance_feature_does_not_beat_a_real_one() -> None:
    """Evidence, not effect size: a feature seen in 12 participants with a large chance AUC
    ranks below a moderately informative feature seen in everyone."""
    rng = np.random.default_rng(4)
    n = 200
    y = np.repeat([0, 1], n // 2)
    real = rng.normal(size=n) + 0.6 * y
    sparse = np.full(n, np.nan)
    sparse[:6] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]        # class 0
    sparse[-6:] = [1.1, 1.2, 1.3, 1.4, 1.5, 1.6]       # class 1: AUC 1.0 on 12 values
    X = pd.DataFrame({"real": real, "sparse": sparse})
    assert univariate_auc(X.to_numpy(), y)[1] == 1.0
    kept = UnivariateFilter(k=1).set_output(transform="pandas").fit_transform(X, y)
    assert list(kept.columns) == ["real"]


def test_filter_keeps_the_informative_features() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    X = pd.DataFrame(rng.normal(size=(200, 10)), columns=[f"x{i}" for i in range(10)])
    X["x3"] += 1.5 * y
    X["x7"] -= 1.5 * y
    X.iloc[:20, 3] = np.nan
    out = UnivariateFilter(k=2).set_output(transform="pandas").fit_transform(X, y)
    assert sorted(out.columns) == ["x3", "x7"]
    assert UnivariateFilter(k=50).fit(X, y).get_support().all()


def test_filter_rejects_bad_k_and_targets() -> None:
    X = np.random.default_rng(2).normal(size=(20, 3))
    with pytest.raises(InputError, match="k must be"):
        UnivariateFilter(k=0).fit(X, np.arange(20) % 2)
    with pytest.raises(InputError, match="at least two values"):
        UnivariateFilter(k=1).fit(X, np.zeros(20))


def test_filter_continuous_target_matches_scipy_spearman() -> None:
    from scipy.stats import spearmanr

    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(120, 6)), columns=[f"x{i}" for i in range(6)])
    y = X["x2"] - 0.8 * X["x5"] + rng.normal(size=120)
    X.iloc[:15, 4] = np.nan
    fitted = UnivariateFilter(k=2).fit(X, y.to_numpy())
    assert sorted(np.array(X.columns)[fitted.get_support()]) == ["x2", "x5"]
    observed = X["x4"].notna()
    r = spearmanr(X.loc[observed, "x4"], y[observed]).statistic
    assert fitted.scores_[4] == pytest.approx(abs(r) * np.sqrt(observed.sum() - 1), rel=1e-10)
