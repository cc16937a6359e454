"""Stability of the SHAP moderator ranking under resampling.

Each resample draws participants within every arm (a bootstrap with replacement, or a subsample
without replacement of a given fraction — the analogue of an outer cross-validation training
set), refits every arm's pipeline on it through a :data:`~backpheno.explain.moderators.FitArms`
function, and ranks the moderators of every contrast on the *full* set of explained participants
with the same background (:func:`~backpheno.explain.moderators.contrast_importance`). The
stability of a feature is the share of resamples in which it ranks in the top ``k`` of a
contrast, with its median rank and interquartile range. Resamples are independent tasks, run in
local processes or on a Dask cluster like the permutations.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from backpheno.errors import BackphenoError, InputError
from backpheno.explain.moderators import Contrast, FitArms, contrast_importance
from backpheno.models.cv import one_task_at_a_time
from backpheno.progress import parallel_map

logger = logging.getLogger("backpheno.explain")

SCHEMES = ("bootstrap", "subsample")


def resample_indices(arm: pd.Series, n_resamples: int, *, scheme: str = "bootstrap",
                     fraction: float = 0.8, seed: int = 0) -> list[np.ndarray]:
    """Row positions of each resample, drawn within each arm (arm sizes kept).

    Parameters
    ----------
    arm : Series
        Arm label per row.
    n_resamples : int
    scheme : {"bootstrap", "subsample"}
        With replacement (same size) or without replacement (``fraction`` of each arm).
    fraction : float
        Subsample share, in (0, 1).
    seed : int
    """
    if scheme not in SCHEMES:
        raise InputError(f"unknown resampling scheme {scheme!r}; choose from {SCHEMES}")
    if scheme == "subsample" and not 0 < fraction < 1:
        raise InputError(f"subsample fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    labels = arm.astype(str).to_numpy()
    groups = [np.flatnonzero(labels == a) for a in sorted(set(labels))]
    out = []
    for _ in range(n_resamples):
        parts = []
        for rows in groups:
            if scheme == "bootstrap":
                parts.append(rng.choice(rows, size=len(rows), replace=True))
            else:
                size = max(1, int(round(fraction * len(rows))))
                parts.append(rng.choice(rows, size=size, replace=False))
        out.append(np.sort(np.concatenate(parts)))
    return out


def resample_rankings(fit_arms: FitArms, X: pd.DataFrame, y: pd.Series, arm: pd.Series,
                      background: pd.DataFrame, contrasts: Sequence[Contrast],
                      samples: Sequence[np.ndarray], *, explain: pd.DataFrame | None = None,
                      features: Sequence[str] | None = None, n_jobs: int = 1) -> list[pd.DataFrame]:
    """Refit on each resample and rank the moderators (probability scale).

    Parameters
    ----------
    fit_arms : FitArms
    X, y, arm
        Training rows (all arms), their outcome and arm.
    background : DataFrame
        The shared background sample.
    contrasts : sequence of Contrast
    samples : sequence of ndarray
        Row positions (from :func:`resample_indices`).
    explain : DataFrame, optional
        Participants to explain (default ``X``).
    features : sequence of str, optional
        Original feature columns to report.
    n_jobs : int
        Worker processes (the ``n_jobs`` that
        :func:`~backpheno.models.cluster.compute_backend` yields, to run on a Dask cluster).

    Returns
    -------
    list of DataFrame
        One :func:`~backpheno.explain.moderators.moderator_ranking` table per resample, with a
        ``resample`` column. A resample on which refitting fails with a backpheno error (e.g. a
        site too small for ComBat) is left out and logged.
    """
    tasks = list(enumerate(samples))
    results = parallel_map(_one_resample, tasks, n_jobs=n_jobs, description="moderator stability",
                        fit_arms=fit_arms, X=X, y=y, arm=arm, background=background,
                        contrasts=list(contrasts),
                        explain=X if explain is None else explain, features=features)
    failed = [str(r) for r in results if isinstance(r, str)]
    if failed:
        logger.warning("%d of %d resamples could not be refitted and are left out: %s",
                       len(failed), len(results), failed[0])
    return [r for r in results if isinstance(r, pd.DataFrame)]


def rank_stability(rankings: Sequence[pd.DataFrame], top_k: int = 5) -> pd.DataFrame:
    """Rank frequency of every feature and contrast over resamples.

    Returns
    -------
    DataFrame
        Columns contrast, feature, top_k (the k used), top_k_frequency (share of resamples with
        rank <= k), median_rank, rank_q25, rank_q75, n_resamples.
    """
    if not rankings:
        raise InputError("no resample rankings to summarise")
    stacked = pd.concat(rankings, ignore_index=True)
    grouped = stacked.groupby(["contrast", "feature"], sort=False)["rank"]
    n = len(rankings)
    table = pd.DataFrame({
        "top_k_frequency": grouped.apply(lambda r: float((r <= top_k).sum()) / n),
        "median_rank": grouped.median(),
        "rank_q25": grouped.quantile(0.25),
        "rank_q75": grouped.quantile(0.75),
    }).reset_index()
    table.insert(2, "top_k", top_k)
    table["n_resamples"] = n
    return table.sort_values(["contrast", "median_rank"], kind="stable", ignore_index=True)


def _one_resample(task: tuple[int, np.ndarray], *, fit_arms: FitArms, X: pd.DataFrame,
                  y: pd.Series, arm: pd.Series, background: pd.DataFrame,
                  contrasts: list[Contrast], explain: pd.DataFrame,
                  features: Any) -> pd.DataFrame | str:
    number, rows = task
    # one OpenMP / BLAS thread and sequential joblib loops per task: the tasks are the parallelism
    with threadpool_limits(1), one_task_at_a_time():
        try:
            models = fit_arms(X.iloc[rows], y.iloc[rows], arm.iloc[rows])
        except BackphenoError as err:
            return f"resample {number}: {err}"
        importance = contrast_importance(models, explain, background, contrasts,
                                         features=features)
    return importance.ranking().assign(resample=number)
