"""Missing-value-aware univariate feature filter for binary or continuous targets.

scikit-learn's :class:`~sklearn.feature_selection.SelectKBest` rejects NaN, so a filter placed
before xgboost's native missing-value handling (or before imputation) needs its own scores.
:class:`UnivariateFilter` ranks features by the evidence of univariate discrimination: the
Mann-Whitney z statistic ``|U - n1 n0 / 2| / sqrt(n1 n0 (n1 + n0 + 1) / 12)`` computed on the
observed values of each feature (ties averaged). Ranking by the effect size ``|AUC - 0.5|``
instead would favour features observed in few participants (a deep-phenotyping block measured
in a third of the cohort), whose AUC is far noisier. A continuous target (more than two values)
is scored by the Spearman z statistic ``r_s * sqrt(n - 1)`` on the observed values of each
feature, the analogous large-sample test statistic. The ``k`` best are kept; the filter is
fitted on the training fold only, like every other step.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from backpheno.errors import InputError


def univariate_z(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-column Mann-Whitney z statistic of ``X`` for ``y`` on observed values (NaN if a class
    is empty); its sign follows ``AUC - 0.5``."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y).astype(bool)
    finite = np.isfinite(X)
    n1 = (finite & y[:, None]).sum(axis=0).astype(float)
    n0 = (finite & ~y[:, None]).sum(axis=0).astype(float)
    auc = univariate_auc(X, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (auc - 0.5) * n1 * n0 / np.sqrt(n1 * n0 * (n1 + n0 + 1) / 12.0)


def univariate_auc(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-column AUC of ``X`` for the binary label ``y``, ignoring NaN (NaN if a class is empty).

    Parameters
    ----------
    X : ndarray, shape (n_samples, n_features)
    y : ndarray of {0, 1}, shape (n_samples,)
    """
    X = np.asarray(X, dtype=float)
    return auc_from_ranks(column_ranks(X), np.isfinite(X), y)


def column_ranks(X: np.ndarray) -> np.ndarray:
    """Per-column ranks of the finite values of ``X`` (ties averaged, NaN elsewhere).

    The ranks do not depend on any label, so they can be computed once for a training set and
    reused for many label vectors (:func:`auc_from_ranks`).
    """
    X = np.asarray(X, dtype=float)
    return rankdata(np.where(np.isfinite(X), X, np.nan), axis=0, nan_policy="omit")


def auc_from_ranks(ranks: np.ndarray, finite: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-column AUC from :func:`column_ranks` and the finite-value mask, for label ``y``."""
    y = np.asarray(y).astype(bool)
    n1 = (finite & y[:, None]).sum(axis=0).astype(float)
    n0 = (finite & ~y[:, None]).sum(axis=0).astype(float)
    r1 = np.nansum(np.where(y[:, None], ranks, 0.0), axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (r1 - n1 * (n1 + 1) / 2) / (n1 * n0)


def filter_scores(ranks: np.ndarray, finite: np.ndarray, y: np.ndarray,
                  min_observed: int) -> np.ndarray:
    """Mann-Whitney ``|z|`` per column from cached ranks (0 where a class has fewer than
    ``min_observed`` observed values): the scores :class:`UnivariateFilter` ranks by."""
    y = np.asarray(y).astype(bool)
    n1 = (finite & y[:, None]).sum(axis=0)
    n0 = (finite & ~y[:, None]).sum(axis=0)
    enough = (n1 >= min_observed) & (n0 >= min_observed)
    n1, n0 = n1.astype(float), n0.astype(float)
    auc = auc_from_ranks(ranks, finite, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.abs((auc - 0.5) * n1 * n0 / np.sqrt(n1 * n0 * (n1 + n0 + 1) / 12.0))
    return np.where(enough & np.isfinite(scores), scores, 0.0)


def top_k_mask(scores: np.ndarray, k: int | str) -> np.ndarray:
    """Boolean mask of the ``k`` largest ``scores`` (first ones on ties; all if ``k`` is
    ``"all"`` or at least the number of scores)."""
    n = len(scores)
    if k == "all" or k >= n:
        return np.ones(n, dtype=bool)
    order = np.argsort(-scores, kind="stable")
    mask = np.zeros(n, dtype=bool)
    mask[order[:k]] = True
    return mask


def univariate_spearman_z(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-column Spearman z statistic ``r_s * sqrt(n - 1)`` of ``X`` with a continuous ``y``,
    on the rows where the feature is observed (NaN with fewer than 3 observed values or a
    constant column)."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    out = np.full(X.shape[1], np.nan)
    for j in range(X.shape[1]):
        observed = np.isfinite(X[:, j])
        n = int(observed.sum())
        if n < 3:
            continue
        rx, ry = rankdata(X[observed, j]), rankdata(y[observed])
        if np.ptp(rx) == 0 or np.ptp(ry) == 0:
            continue
        out[j] = np.corrcoef(rx, ry)[0, 1] * np.sqrt(n - 1)
    return out


class UnivariateFilter(SelectorMixin, BaseEstimator):
    """Keep the ``k`` features with the largest Mann-Whitney ``|z|`` (binary target) or
    Spearman ``|z|`` (continuous target) on the training data.

    Parameters
    ----------
    k : int or "all"
        Number of features to keep (all of them if ``k`` exceeds the number of features).
    min_observed : int
        Features with fewer observed values per class are scored 0 (never preferred).

    Attributes
    ----------
    scores_ : ndarray
        ``|z|`` per input feature (0 for features with too few observed values).
    """

    def __init__(self, k: int | str = 50, min_observed: int = 3) -> None:
        self.k = k
        self.min_observed = min_observed

    def fit(self, X: pd.DataFrame | np.ndarray, y: np.ndarray) -> UnivariateFilter:
        """Score every feature on ``(X, y)``."""
        if not (self.k == "all" or (isinstance(self.k, int | np.integer) and self.k >= 1)):
            raise InputError("UnivariateFilter: k must be a positive integer or 'all', "
                             f"got {self.k!r}")
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan", dtype=float)
        y = np.asarray(y)
        if len(np.unique(y)) < 2:
            raise InputError("UnivariateFilter needs a target with at least two values")
        if len(np.unique(y)) > 2:
            scores = np.abs(univariate_spearman_z(X, y))
            enough = np.isfinite(X).sum(axis=0) >= 2 * self.min_observed
            self.scores_ = np.where(enough & np.isfinite(scores), scores, 0.0)
            return self
        y = y == np.unique(y)[1]
        self.scores_ = filter_scores(column_ranks(X), np.isfinite(X), y, self.min_observed)
        return self

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "scores_")
        return top_k_mask(self.scores_, self.k)

    def __sklearn_tags__(self):  # noqa: D105
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
