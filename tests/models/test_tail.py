"""Generalised Pareto tail approximation of permutation p-values (Winkler et al. 2016)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import anderson, genpareto, norm

from backpheno.models.tail import anderson_darling, fit_tail, gpd_moments, gpd_sf, tail_p_value


@pytest.mark.parametrize("shape", [-0.2, 0.0, 0.2])
def test_moment_estimates_recover_the_gpd(shape: float) -> None:
    sample = genpareto.rvs(shape, scale=2.0, size=50_000, random_state=3)
    xi, sigma = gpd_moments(sample)
    assert xi == pytest.approx(shape, abs=0.03)
    assert sigma == pytest.approx(2.0, rel=0.03)
    x = np.array([0.5, 2.0, 5.0])
    np.testing.assert_allclose(gpd_sf(x, shape, 2.0), genpareto.sf(x, shape, scale=2.0),
                               rtol=1e-10)


def test_anderson_darling_matches_scipy() -> None:
    """A^2 of exactly uniform CDF values equals scipy's statistic for the normal case."""
    sample = np.random.default_rng(0).normal(size=40)
    try:
        expected = anderson(sample, "norm", method="interpolate").statistic
    except TypeError:  # scipy < 1.17 has no method argument (the statistic is the same)
        expected = anderson(sample, "norm").statistic
    cdf = norm.cdf((sample - sample.mean()) / sample.std(ddof=1))
    assert anderson_darling(cdf) == pytest.approx(expected, rel=1e-6)


def test_against_9999_exact_permutations() -> None:
    """A small case: the AUC of one feature in 60 participants, 9,999 permutations give the
    reference p (~0.003). The GPD p from each of 10 separate sets of 999 permutations: its
    median agrees with the reference within a factor of 2, every fit passes its goodness-of-fit
    test, and every value is within a factor of 10."""
    rng = np.random.default_rng(1)
    y = np.array([0, 1] * 30)
    ranks = np.argsort(np.argsort(rng.normal(size=60) + 0.8 * y)) + 1.0

    def auc(labels: np.ndarray) -> np.ndarray:
        return ((labels * ranks).sum(axis=-1) - 30 * 31 / 2) / 900

    observed = float(auc(y))
    exact = (1 + np.sum(auc(np.array([rng.permutation(y) for _ in range(9_999)])) >= observed)
             ) / 10_000
    assert 0.001 < exact < 0.005
    approx = []
    for i in range(10):
        null = auc(np.array([rng.permutation(y) for _ in range(999)]))
        p, method, fit = tail_p_value(observed, null, seed=i)
        assert method.startswith("gpd tail") and fit is not None and fit.gof_p > 0.05
        approx.append(p)
    assert exact / 2 < np.median(approx) < exact * 2
    assert all(exact / 10 < p < exact * 10 for p in approx)


def test_unremarkable_statistic_keeps_the_empirical_p() -> None:
    null = np.random.default_rng(2).normal(size=999)
    p, method, fit = tail_p_value(0.3, null)
    assert method == "empirical" and fit is None
    assert p == pytest.approx((1 + np.sum(null >= 0.3)) / 1000)


def test_rejected_fit_falls_back_to_the_empirical_p() -> None:
    """A null of a few tied values (a coarse statistic): no GPD fits, the permutation p is
    kept and labelled."""
    null = np.random.default_rng(4).binomial(8, 0.3, size=999).astype(float)
    assert fit_tail(null) is None
    p, method, _ = tail_p_value(8.5, null)
    assert method == "empirical (tail fit rejected)" and p == pytest.approx(1 / 1000)
