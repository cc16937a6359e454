"""Graded-response item response theory: category probabilities and summed-score tables.

PROMIS short-form conversion tables map a raw summed score to the expected a posteriori (EAP)
T-score and its posterior SD given that sum (Lord & Wingersky's recursion, Thissen et al. 1995;
the method behind the HealthMeasures summed-score tables). :func:`summed_score_table` reproduces
the official PROMIS Sleep Disturbance 4a table exactly (every T-score and SE, see
``tests/questionnaires/test_irt.py``) from the published item calibrations, which is how the
Sleep Disturbance 6a table shipped in ``backpheno/data`` was derived.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Default quadrature: theta from -6 to 6 in steps of 0.02 under a standard normal prior.
THETA_GRID = np.linspace(-6.0, 6.0, 601)


def category_probabilities(theta: np.ndarray, slope: float,
                           thresholds: Sequence[float]) -> np.ndarray:
    """Samejima graded-response probabilities of each category.

    Parameters
    ----------
    theta : array, shape (n,)
        Latent trait values (standard normal metric).
    slope : float
        Item discrimination ``a``.
    thresholds : sequence of float
        Increasing category thresholds ``b_1 < ... < b_{K-1}``.

    Returns
    -------
    array, shape (n, K)
        ``P(category k | theta)`` for k = 0 (lowest) .. K-1 (highest score).
    """
    theta = np.asarray(theta, dtype=float)
    b = np.asarray(thresholds, dtype=float)
    above = 1.0 / (1.0 + np.exp(-slope * (theta[:, None] - b[None, :])))
    ones = np.ones((len(theta), 1))
    cum = np.hstack([ones, above, np.zeros((len(theta), 1))])
    return cum[:, :-1] - cum[:, 1:]


def summed_score_table(items: Sequence[tuple[float, Sequence[float]]],
                       lowest_score: int = 1, theta: np.ndarray = THETA_GRID) -> pd.DataFrame:
    """EAP T-score and SE for every raw summed score of a set of graded-response items.

    Parameters
    ----------
    items : sequence of (slope, thresholds)
        Item calibrations, categories scored ``lowest_score, lowest_score + 1, ...``.
    lowest_score : int
        Score of each item's lowest category (1 for PROMIS).
    theta : array
        Quadrature points (standard normal prior).

    Returns
    -------
    DataFrame
        Columns raw_sum, t_score, se (T metric, rounded to 0.1 as in published tables).
    """
    likelihood = np.ones((len(theta), 1))
    for slope, thresholds in items:
        probs = category_probabilities(theta, slope, thresholds)
        grown = np.zeros((len(theta), likelihood.shape[1] + probs.shape[1] - 1))
        for k in range(probs.shape[1]):
            grown[:, k:k + likelihood.shape[1]] += likelihood * probs[:, [k]]
        likelihood = grown
    posterior = likelihood * np.exp(-0.5 * theta**2)[:, None]
    weight = posterior.sum(axis=0)
    mean = (posterior * theta[:, None]).sum(axis=0) / weight
    sd = np.sqrt((posterior * theta[:, None] ** 2).sum(axis=0) / weight - mean**2)
    raw = np.arange(likelihood.shape[1]) + lowest_score * len(items)
    return pd.DataFrame({"raw_sum": raw, "t_score": np.round(50 + 10 * mean, 1),
                         "se": np.round(10 * sd, 1)})


def draw_responses(theta: np.ndarray, slopes: np.ndarray, thresholds: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """Draw graded-response answers for many people and items at once.

    Parameters
    ----------
    theta : array, shape (n,) or (n, m)
        Latent values per person (or per person and item).
    slopes : array, shape (m,)
        Discriminations.
    thresholds : array, shape (m, K-1)
        Increasing thresholds per item.
    rng : Generator

    Returns
    -------
    array of int, shape (n, m)
        Category index 0..K-1 (higher = more of the latent trait).
    """
    theta = np.asarray(theta, dtype=float)
    if theta.ndim == 1:
        theta = theta[:, None]
    z = slopes[None, :, None] * (theta[:, :, None] - thresholds[None, :, :])
    above = 1.0 / (1.0 + np.exp(-z))
    u = rng.random(above.shape[:2])
    return (u[:, :, None] < above).sum(axis=2)
