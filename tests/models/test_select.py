"""The NaN-aware univariate filter."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from backpheno.errors import InputError
from backpheno.models.select import UnivariateFilter, univariate_auc


def test_univariate_auc_matches_sklearn_on_observed_values() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 100)
    X = rng.normal(size=(100, 4)) + y[:, None] * [0, 1, -1, 0.2]
    X[rng.random((100, 4)) < 0.2] = np.nan
    auc = univariate_auc(X, y)
    for j in range(4):
        ok = np.isfinite(X[:, j])
        assert auc[j] == pytest.approx(roc_auc_score(y[ok], X[ok, j]))


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
    with pytest.raises(InputError, match="binary"):
        UnivariateFilter(k=1).fit(X, np.zeros(20))
