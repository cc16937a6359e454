"""Permutation null for the SHAP moderator importance.

Under the null hypothesis that no feature modifies the treatment effect (and, as a side effect
of permuting, that arms do not differ at all), the arm labels are exchangeable within the
randomisation strata. Each permutation shuffles the arm labels within strata (site by default;
pass site × eligibility to keep participants out of arms they were ineligible for), refits every
arm's pipeline through the caller's :data:`~backpheno.explain.moderators.FitArms`, explains the
same participants with the same background and records the mean |SHAP| of every feature for
every contrast (:func:`~backpheno.explain.moderators.contrast_importance`, on arrays). The
permutations are independent tasks with their own seeds (:func:`~backpheno.progress.parallel_map`:
local processes, or a Dask cluster inside :func:`~backpheno.models.cluster.compute_backend`), each
with one OpenMP / BLAS thread and its pipelines' joblib loops sequential
(:func:`~backpheno.models.cv.one_task_at_a_time`), so the null does not depend on where they ran.

Two p-values per feature and contrast (Phipson & Smyth 2010, never 0):

``p_value``
    ``(1 + #{null_j >= observed_j}) / (1 + n)`` — the feature's own null.
``p_max``
    ``(1 + #{max_k null_k >= observed_j}) / (1 + n)`` — the single-step max-T adjustment
    (Westfall & Young 1993) over all features of the contrast: controls the family-wise error
    rate across features.
``p_max_all``
    The same with the maximum over every feature of *every* contrast: the family-wise p over all
    contrasts at once (for the overall top feature, the global test of any SHAP moderation).

A permutation whose refit fails with a backpheno error (e.g. ComBat refusing a site that became
too small in one arm) is left out and logged; ``n`` counts the permutations that ran. A feature
with no model input in a permutation's refits (e.g. a column that only one fit's preprocessing
created) has importance 0 in that draw.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from backpheno.errors import BackphenoError, InputError
from backpheno.explain.moderators import Contrast, FitArms, Importance, contrast_importance
from backpheno.models.cv import one_task_at_a_time
from backpheno.progress import parallel_map

logger = logging.getLogger("backpheno.explain")


@dataclass(frozen=True)
class PermutationNull:
    """Observed importance, null distributions and p-values.

    Attributes
    ----------
    table : DataFrame
        contrast, feature, observed, rank, null_mean, null_q95, p_value, p_max, p_max_all,
        n_permutations.
    null : DataFrame
        permutation, contrast, feature (categorical), mean_abs_shap: every null draw.
    """

    table: pd.DataFrame
    null: pd.DataFrame


def permute_within(labels: pd.Series, strata: pd.Series | None,
                   rng: np.random.Generator) -> pd.Series:
    """A random permutation of ``labels`` within each stratum (index kept)."""
    values = labels.to_numpy().copy()
    if strata is None:
        return pd.Series(rng.permutation(values), index=labels.index, name=labels.name)
    groups = strata.reindex(labels.index).astype(str).to_numpy()
    out = values.copy()
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        out[rows] = values[rng.permutation(rows)]
    return pd.Series(out, index=labels.index, name=labels.name)


def moderator_permutation_test(fit_arms: FitArms, X: pd.DataFrame, y: pd.Series,
                               arm: pd.Series, background: pd.DataFrame,
                               contrasts: Sequence[Contrast], observed: pd.DataFrame, *,
                               n_permutations: int, strata: pd.Series | None = None,
                               explain: pd.DataFrame | None = None,
                               features: Sequence[str] | None = None, seed: int = 0,
                               n_jobs: int = 1) -> PermutationNull:
    """Permutation p-values for the SHAP moderator importance (mean |SHAP|).

    Parameters
    ----------
    fit_arms : FitArms
        Refits every arm's pipeline (the whole pipeline, so feature selection and tuning that
        the function performs are part of the null).
    X, y, arm
        Training rows (all arms), outcome and arm labels.
    background : DataFrame
        The shared background sample used for ``observed``.
    contrasts : sequence of Contrast
    observed : DataFrame
        :func:`~backpheno.explain.moderators.moderator_ranking` of the real fit (contrast,
        feature, mean_abs_shap, rank).
    n_permutations : int
    strata : Series, optional
        Permute within these groups (indexed like ``X``).
    explain : DataFrame, optional
        Participants explained (default ``X``); must be those of ``observed``.
    features : sequence of str, optional
        Feature columns reported (as for ``observed``).
    seed : int
    n_jobs : int
        Worker processes (the ``n_jobs`` that
        :func:`~backpheno.models.cluster.compute_backend` yields, to run on a Dask cluster).
    """
    if n_permutations < 1:
        raise InputError(f"n_permutations must be at least 1, got {n_permutations}")
    seeds = np.random.SeedSequence(seed).spawn(n_permutations)
    draws = parallel_map(_one_permutation, list(enumerate(seeds)), n_jobs=n_jobs,
                         description="moderator permutations", fit_arms=fit_arms, X=X, y=y,
                         arm=arm, strata=strata, background=background,
                         contrasts=list(contrasts), explain=X if explain is None else explain,
                         features=features)
    failed = [d for d in draws if isinstance(d, str)]
    done = [(number, d) for number, d in enumerate(draws) if isinstance(d, Importance)]
    if failed:
        logger.warning("%d of %d permutations could not be refitted and are left out: %s",
                       len(failed), n_permutations, failed[0])
    if not done:
        raise InputError(f"no permutation could be refitted ({failed[0]})")
    names = [c.name for c in contrasts]
    columns = list(dict.fromkeys([*observed["feature"], *(f for _, d in done for f in d.features)]))
    null = np.stack([d.aligned(columns) for _, d in done])
    numbers = np.array([number for number, _ in done])
    long = pd.DataFrame({
        "permutation": np.repeat(numbers, len(names) * len(columns)),
        "contrast": pd.Categorical.from_codes(
            np.tile(np.repeat(np.arange(len(names)), len(columns)), len(done)), names),
        "feature": pd.Categorical.from_codes(
            np.tile(np.arange(len(columns)), len(done) * len(names)), columns),
        "mean_abs_shap": null.ravel()})
    return PermutationNull(_p_values(observed, null, names, columns), long)


def _one_permutation(task: tuple[int, np.random.SeedSequence], *, fit_arms: FitArms,
                     X: pd.DataFrame, y: pd.Series, arm: pd.Series, strata: pd.Series | None,
                     background: pd.DataFrame, contrasts: list[Contrast],
                     explain: pd.DataFrame, features: Any) -> Importance | str:
    number, seed = task
    permuted = permute_within(arm, strata, np.random.default_rng(seed))
    # one OpenMP / BLAS thread and sequential joblib loops per task: the tasks are the parallelism
    with threadpool_limits(1), one_task_at_a_time():
        try:
            models = fit_arms(X, y, permuted)
        except BackphenoError as err:
            return f"permutation {number}: {err}"
        return contrast_importance(models, explain, background, contrasts, features=features)


def _p_values(observed: pd.DataFrame, null: np.ndarray, contrasts: list[str],
              features: list[str]) -> pd.DataFrame:
    """p-values of every row of ``observed`` from ``null`` (permutations × contrasts ×
    features)."""
    n = len(null)
    maxima = null.max(axis=2)
    overall = maxima.max(axis=1)
    c = np.array([contrasts.index(name) for name in observed["contrast"]], dtype=int)
    position = {f: i for i, f in enumerate(features)}
    f = np.array([position[name] for name in observed["feature"]], dtype=int)
    own = null[:, c, f]
    value = observed["mean_abs_shap"].to_numpy(dtype=float)
    return pd.DataFrame({
        "contrast": observed["contrast"].to_numpy(), "feature": observed["feature"].to_numpy(),
        "observed": value, "rank": observed["rank"].to_numpy(dtype=int),
        "null_mean": own.mean(axis=0), "null_q95": np.quantile(own, 0.95, axis=0),
        "p_value": (1 + (own >= value).sum(axis=0)) / (1 + n),
        "p_max": (1 + (maxima[:, c] >= value).sum(axis=0)) / (1 + n),
        "p_max_all": (1 + (overall[:, None] >= value).sum(axis=0)) / (1 + n),
        "n_permutations": n})
