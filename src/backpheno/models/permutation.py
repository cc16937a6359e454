"""Permutation test of the out-of-fold AUC with the whole pipeline refitted.

Under the null hypothesis that the features carry no information about the label, permuting the
labels (within strata such as site, if given) leaves the distribution of the cross-validated AUC
unchanged. Each permutation reruns the complete nested cross-validation (new outer splits on the
permuted labels, inner tuning, every preprocessing step) and records the AUC of the out-of-fold
predictions. The p-value is ``(1 + #{AUC_perm >= AUC_obs}) / (1 + n_permutations)`` (Phipson &
Smyth 2010), so it is never 0. For a continuous target (regression) the statistic is the
out-of-sample R² of the out-of-fold predictions instead of the AUC. Permutations run in parallel
with joblib; :func:`permutation_nulls` runs the permutations of several arms as one flat list of
tasks (what ``train`` does), so the workers stay busy across arms.

A permuted run uses :func:`~backpheno.models.fastcv.fast_nested_cv` when the tuner allows it
(classification): the same out-of-fold predictions as :func:`~backpheno.models.cv.nested_cv`,
with the label-free work (ComBat, ranks behind the univariate filter) done once per set of
training rows and without per-fit overhead; otherwise the full
:func:`~backpheno.models.cv.nested_cv`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from backpheno.errors import BackphenoError, InputError
from backpheno.models.cv import (
    PREDICTION_COLUMNS,
    CVResult,
    Split,
    Tuner,
    nested_cv,
    one_task_at_a_time,
)
from backpheno.models.fastcv import fast_nested_cv, fast_path_problem
from backpheno.models.metrics import delong
from backpheno.models.regression_metrics import r2
from backpheno.models.tail import TailFit, tail_p_value
from backpheno.progress import parallel_map


@dataclass(frozen=True)
class PermutationResult:
    """Observed statistic, null distribution and p-value.

    ``method`` says which method gave ``p_value`` (one of :data:`backpheno.models.tail.METHODS`);
    ``p_empirical`` is the plain permutation p-value; ``tail`` the GPD fit when one was tried.
    """

    observed: float
    null: np.ndarray
    p_value: float
    method: str = "empirical"
    p_empirical: float | None = None
    tail: TailFit | None = None
    statistic: str = "out-of-fold AUC"

    def as_dict(self) -> dict[str, Any]:
        """Summary for the metrics file (without the null values)."""
        out: dict[str, Any] = {
            "statistic": self.statistic, "observed": self.observed,
            "p_value": self.p_value, "p_method": self.method,
            "p_empirical": self.p_value if self.p_empirical is None else self.p_empirical,
            "n_permutations": int(len(self.null)),
            "null_mean": float(np.mean(self.null)) if len(self.null) else float("nan"),
            "null_q95": float(np.quantile(self.null, 0.95)) if len(self.null) else float("nan")}
        if self.tail is not None:
            out["tail"] = asdict(self.tail)
        return out


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


def mean_oof_auc(oof: pd.DataFrame) -> float:
    """AUC of the repeat-averaged probabilities of a :func:`fast_nested_cv` table."""
    mean = oof.groupby("position", sort=True).agg(y=("y", "first"),
                                                  p_response=("p_response", "mean"))
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


@dataclass(frozen=True)
class PermutationProblem:
    """What the permuted runs of one arm need (the arguments of :func:`permutation_test`
    without the observed statistic); :func:`permutation_nulls` runs several at once."""

    tuner: Tuner
    X: pd.DataFrame
    y: np.ndarray
    make_splits: Callable[[np.ndarray], list[Split]]
    n_permutations: int = 100
    groups: np.ndarray | None = None
    strata: np.ndarray | None = None
    repeats: int | None = None
    seed: int = 0

    def seeds(self) -> list[int]:
        """Permutation ``i`` uses the random stream ``(seed, i)``."""
        return [int(np.random.SeedSequence([self.seed, i]).generate_state(1)[0])
                for i in range(self.n_permutations)]


def _one_permutation(task: tuple[PermutationProblem, int]) -> float | str:
    """The statistic of one permuted run, or the message of the input error that stopped it."""
    problem, seed = task
    try:
        with one_task_at_a_time():
            return _permuted_statistic(problem, seed)
    except BackphenoError as err:
        return str(err)


def _permuted_statistic(problem: PermutationProblem, seed: int) -> float:
    rng = np.random.default_rng(seed)
    y_perm = permute_labels(problem.y, rng, problem.strata)
    splits = problem.make_splits(y_perm)
    tuner, repeats = problem.tuner, problem.repeats
    if fast_path_problem(tuner) is None:
        if repeats is not None:
            splits = [s for s in splits if s.repeat < repeats]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return mean_oof_auc(fast_nested_cv(tuner, problem.X, y_perm, splits,
                                               problem.groups))
    result = nested_cv(tuner, problem.X, y_perm, splits, groups=problem.groups, n_jobs=1)
    return oof_statistic(result, repeats)


def permutation_nulls(problems: Sequence[PermutationProblem], n_jobs: int = 1,
                      description: str = "permutations") -> list[np.ndarray | str]:
    """The null statistics of several problems (e.g. every arm) as one flat list of tasks.

    All permuted runs of all problems are joblib tasks of one :func:`~backpheno.progress.
    parallel_map` (so ``n_jobs`` workers, or a Dask cluster through
    :func:`~backpheno.models.cluster.compute_backend`, stay busy across problems); each task
    carries its own seed, so the values do not depend on where or in which order they ran.

    Returns
    -------
    list
        Per problem, its null values in permutation order, or the message of the first input
        error one of its permuted runs raised.
    """
    tasks = [(problem, seed) for problem in problems for seed in problem.seeds()]
    values = parallel_map(_one_permutation, tasks, n_jobs=n_jobs, description=description)
    out: list[np.ndarray | str] = []
    start = 0
    for problem in problems:
        own = values[start:start + problem.n_permutations]
        start += problem.n_permutations
        errors = [v for v in own if isinstance(v, str)]
        out.append(errors[0] if errors else np.asarray(own, dtype=float))
    return out


def permutation_result(observed: float, null: np.ndarray, *, task: str = "classification",
                       seed: int = 0, tail: str = "none",
                       tail_p_threshold: float = 0.1) -> PermutationResult:
    """The p-value of ``observed`` against the permutation ``null`` (see
    :func:`permutation_test` for the arguments)."""
    values = np.asarray(null, dtype=float)
    p_value = (1 + np.sum(values >= observed - 1e-12)) / (1 + len(values))
    statistic = "out-of-fold R2" if task == "regression" else "out-of-fold AUC"
    if tail == "gpd" and len(values):
        refined, method, fit = tail_p_value(observed, values, p_threshold=tail_p_threshold,
                                            seed=seed)
        return PermutationResult(float(observed), values, refined, method, float(p_value), fit,
                                 statistic)
    return PermutationResult(float(observed), values, float(p_value), statistic=statistic)


def permutation_test(tuner: Tuner, X: pd.DataFrame, y: np.ndarray, observed: float,
                     make_splits: Callable[[np.ndarray], list[Split]], *,
                     n_permutations: int = 100, groups: np.ndarray | None = None,
                     strata: np.ndarray | None = None, repeats: int | None = None,
                     n_jobs: int = 1, seed: int = 0, tail: str = "none",
                     tail_p_threshold: float = 0.1,
                     description: str = "permutations") -> PermutationResult:
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
    tail : {"none", "gpd"}
        ``gpd``: refine p-values below ``tail_p_threshold`` with the generalised Pareto tail
        approximation (:func:`backpheno.models.tail.tail_p_value`).
    tail_p_threshold : float
    description : str
        Label of the progress display.

    Raises
    ------
    InputError
        When a permuted run fails on the input (its message).
    """
    problem = PermutationProblem(tuner, X, y, make_splits, n_permutations, groups, strata,
                                 repeats, seed)
    null = permutation_nulls([problem], n_jobs, description)[0]
    if isinstance(null, str):
        raise InputError(f"permuted run: {null}")
    return permutation_result(observed, null, task=tuner.task, seed=seed, tail=tail,
                              tail_p_threshold=tail_p_threshold)
