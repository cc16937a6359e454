"""Permutation test of the out-of-fold AUC with the whole pipeline refitted.

Under the null hypothesis that the features carry no information about the label, permuting the
labels (within strata such as site, if given) leaves the distribution of the cross-validated AUC
unchanged. Each permutation reruns the complete nested cross-validation (new outer splits on the
permuted labels, inner tuning, every preprocessing step) and records the AUC of the out-of-fold
predictions. The p-value is ``(1 + #{AUC_perm >= AUC_obs}) / (1 + n_permutations)`` (Phipson &
Smyth 2010), so it is never 0. For a continuous target (regression) the statistic is the
out-of-sample R² of the out-of-fold predictions instead of the AUC.
Permutations run in parallel with joblib.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from backpheno.models.cv import PREDICTION_COLUMNS, CVResult, Split, Tuner, nested_cv
from backpheno.models.metrics import delong
from backpheno.models.regression_metrics import r2
from backpheno.progress import progress_bar


@dataclass(frozen=True)
class PermutationResult:
    """Observed statistic, null distribution and p-value."""

    observed: float
    null: np.ndarray
    p_value: float
    statistic: str = "out-of-fold AUC"

    def as_dict(self) -> dict[str, float | int | str]:
        """Summary for the metrics file (without the null values)."""
        return {"statistic": self.statistic, "observed": self.observed,
                "p_value": self.p_value, "n_permutations": int(len(self.null)),
                "null_mean": float(np.mean(self.null)) if len(self.null) else float("nan"),
                "null_q95": float(np.quantile(self.null, 0.95)) if len(self.null) else float("nan")}


def permute_labels(y: np.ndarray, rng: np.random.Generator,
                   strata: np.ndarray | None = None) -> np.ndarray:
    """A random permutation of ``y`` (within each stratum when ``strata`` is given)."""
    y = np.asarray(y)
    if strata is None:
        return rng.permutation(y)
    out = y.copy()
    strata = np.asarray(strata)
    for s in np.unique(strata):
        idx = np.flatnonzero(strata == s)
        out[idx] = y[rng.permutation(idx)]
    return out


def oof_auc(result: CVResult, repeats: int | None = None) -> float:
    """AUC of the repeat-averaged out-of-fold predictions."""
    mean = result.mean_oof(repeats)
    return delong(mean["y"].to_numpy(), mean["p_response"].to_numpy())[0]


def oof_r2(result: CVResult, repeats: int | None = None) -> float:
    """Out-of-sample R² of the repeat-averaged out-of-fold predictions (regression)."""
    mean = result.mean_oof(repeats)
    return r2(mean["y"].to_numpy(), mean[result.column].to_numpy())


def oof_statistic(result: CVResult, repeats: int | None = None) -> float:
    """The permutation test's statistic: AUC (classification) or R² (regression)."""
    if result.column == PREDICTION_COLUMNS["regression"]:
        return oof_r2(result, repeats)
    return oof_auc(result, repeats)


def _one_permutation(tuner: Tuner, X: pd.DataFrame, y: np.ndarray, seed: int,
                     make_splits: Callable[[np.ndarray], list[Split]],
                     groups: np.ndarray | None, strata: np.ndarray | None,
                     repeats: int | None) -> float:
    rng = np.random.default_rng(seed)
    y_perm = permute_labels(y, rng, strata)
    result = nested_cv(tuner, X, y_perm, make_splits(y_perm), groups=groups, n_jobs=1)
    return oof_statistic(result, repeats)


def permutation_test(tuner: Tuner, X: pd.DataFrame, y: np.ndarray, observed: float,
                     make_splits: Callable[[np.ndarray], list[Split]], *,
                     n_permutations: int = 100, groups: np.ndarray | None = None,
                     strata: np.ndarray | None = None, repeats: int | None = None,
                     n_jobs: int = 1, seed: int = 0,
                     description: str | None = None) -> PermutationResult:
    """Permutation p-value of an observed out-of-fold AUC.

    Parameters
    ----------
    tuner : Tuner
        The same tuner (pipeline + inner search) that produced ``observed``.
    X, y : DataFrame, ndarray
    observed : float
        The observed statistic, computed exactly as :func:`oof_auc` computes it on the permuted
        runs (same splits function, same ``repeats``).
    make_splits : callable
        ``make_splits(y) -> list[Split]``: the outer splits for a label vector.
    n_permutations : int
    groups : ndarray, optional
        Groups of grouped CV schemes.
    strata : ndarray, optional
        Permute within these strata (e.g. site).
    repeats : int, optional
        Only the first ``repeats`` outer repeats enter the statistic.
    n_jobs : int
        Parallel permutations.
    seed : int
        Permutation ``i`` uses the random stream ``(seed, i)``.
    description : str, optional
        Label of a progress display.
    """
    seeds = [int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
             for i in range(n_permutations)]
    tasks = [delayed(_one_permutation)(tuner, X, y, s, make_splits, groups, strata, repeats)
             for s in seeds]
    null: list[float] = []
    with progress_bar(len(tasks) if description else 0, description or "") as advance:
        runner = Parallel(n_jobs=n_jobs, return_as="generator")(tasks) if n_jobs != 1 else (
            _one_permutation(tuner, X, y, s, make_splits, groups, strata, repeats) for s in seeds)
        for value in runner:
            null.append(value)
            advance(1)
    values = np.asarray(null, dtype=float)
    p_value = (1 + np.sum(values >= observed - 1e-12)) / (1 + len(values))
    statistic = ("out-of-fold R2" if tuner.task == "regression" else "out-of-fold AUC")
    return PermutationResult(float(observed), values, float(p_value), statistic)
