"""Connectivity matrices and summaries against nilearn, numpy and hand computations."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from nilearn.connectome import ConnectivityMeasure
from sklearn.covariance import EmpiricalCovariance

from backpheno.imaging.connectivity import (
    correlation_matrix,
    fisher_z,
    network_summary,
    partial_correlation_matrix,
    seed_connectivity,
    upper_triangle,
)


@pytest.fixture
def signals():
    rng = np.random.default_rng(0)
    return rng.standard_normal((90, 12)) @ rng.standard_normal((12, 12))


def test_correlation_equals_numpy_and_nilearn_empirical(signals):
    ours = correlation_matrix(signals)
    np.testing.assert_allclose(ours, np.corrcoef(signals, rowvar=False), atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = ConnectivityMeasure(kind="correlation", cov_estimator=EmpiricalCovariance()
                                        ).fit_transform([signals])[0]
    np.testing.assert_allclose(ours, reference, atol=1e-12)


def test_partial_correlation_equals_nilearn(signals):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = ConnectivityMeasure(kind="partial correlation").fit_transform([signals])[0]
    np.testing.assert_allclose(partial_correlation_matrix(signals), reference, atol=1e-12)


def test_missing_and_constant_signals_give_nan_rows(signals):
    values = signals.copy()
    values[:, 3] = np.nan
    values[:, 5] = 7.0
    for matrix in (correlation_matrix(values), partial_correlation_matrix(values)):
        assert np.isnan(matrix[3]).all() and np.isnan(matrix[:, 5]).all()
        assert np.isfinite(np.delete(np.delete(matrix, [3, 5], 0), [3, 5], 1)).all()


def test_fisher_z_is_arctanh_with_nan_diagonal_and_finite_extremes():
    r = np.array([[1.0, 0.5], [0.5, 1.0]])
    z = fisher_z(r)
    assert np.isnan(np.diag(z)).all() and z[0, 1] == pytest.approx(np.arctanh(0.5))
    assert np.isfinite(fisher_z(np.array([1.0, -1.0]))).all()


def test_network_summary_by_hand():
    z = np.array([
        [np.nan, 0.2, 0.4, 0.1],
        [0.2, np.nan, 0.6, 0.3],
        [0.4, 0.6, np.nan, 0.5],
        [0.1, 0.3, 0.5, np.nan],
    ])
    networks = ["B", "B", "A", "unassigned"]
    summary = network_summary(z, networks, exclude=("unassigned",))
    assert list(summary.index) == ["A__A", "A__B", "B__B"]
    assert np.isnan(summary["A__A"])  # one region: no within-network pair
    assert summary["A__B"] == pytest.approx((0.4 + 0.6) / 2)
    assert summary["B__B"] == pytest.approx(0.2)


def test_upper_triangle_and_seed_pairs(signals):
    names = [f"r{i}" for i in range(4)]
    edges = upper_triangle(np.arange(16.0).reshape(4, 4), names)
    assert list(edges.index[:3]) == ["r0__r1", "r0__r2", "r0__r3"]
    assert edges["r2__r3"] == 11.0
    frame = pd.DataFrame(signals[:, :3], columns=["a", "b", "c"])
    pairs = seed_connectivity(frame, [("a", "c")])
    assert pairs["a__c"] == pytest.approx(np.arctanh(np.corrcoef(signals[:, 0],
                                                                  signals[:, 2])[0, 1]))
