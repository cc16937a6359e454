"""Nested cross-validation: outer splits for the estimate, inner splits for tuning.

The outer loop (:func:`outer_splits`) is repeated stratified K-fold by default, or grouped
(stratified group K-fold, or leave-one-group-out such as leave-site-out). For a continuous target
(``task="regression"``) the folds are shuffled K-fold / group K-fold without stratification.
Every outer training set is handed to a :class:`Tuner`, which clones the pipeline and runs the
inner search on the training rows only (the groups travel into the inner loop too), refits the
best configuration on the whole training set and predicts the held-out rows.
Nothing is ever fitted on a held-out row.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, parallel_config
from sklearn.base import clone
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    KFold,
    LeaveOneGroupOut,
    RandomizedSearchCV,
    RepeatedKFold,
    RepeatedStratifiedKFold,
    StratifiedGroupKFold,
    StratifiedKFold,
)
from sklearn.pipeline import Pipeline

from backpheno.errors import BackphenoError
from backpheno.progress import parallel_map, progress_bar

logger = logging.getLogger("backpheno.models")

#: Outer cross-validation schemes.
SCHEMES = ("stratified_kfold", "group_kfold", "leave_group_out")

#: Name of the out-of-fold prediction column per task.
PREDICTION_COLUMNS = {"classification": "p_response", "regression": "prediction"}


@dataclass(frozen=True)
class Split:
    """One outer split: positions (0-based) of the training and held-out rows."""

    repeat: int
    fold: int
    train: np.ndarray
    test: np.ndarray


def outer_splits(y: np.ndarray, *, scheme: str = "stratified_kfold", n_splits: int = 5,
                 n_repeats: int = 1, groups: np.ndarray | None = None,
                 seed: int = 0, task: str = "classification") -> list[Split]:
    """The outer splits of a nested cross-validation.

    Parameters
    ----------
    y : ndarray
        0/1 labels, or a continuous target with ``task="regression"``.
    scheme : {"stratified_kfold", "group_kfold", "leave_group_out"}
        ``group_kfold`` is :class:`~sklearn.model_selection.StratifiedGroupKFold` (shuffled,
        one seed per repeat); ``leave_group_out`` holds out one group at a time (one repeat).
        With ``task="regression"`` the K-fold schemes are not stratified
        (:class:`~sklearn.model_selection.RepeatedKFold`, shuffled
        :class:`~sklearn.model_selection.GroupKFold`).
    n_splits, n_repeats : int
    groups : ndarray, optional
        Required by the grouped schemes.
    seed : int
    task : {"classification", "regression"}
    """
    y = np.asarray(y)
    dummy = np.zeros(len(y))
    regression = task == "regression"
    if scheme == "stratified_kfold":
        splitter = (RepeatedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)
                    if regression else
                    RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats,
                                            random_state=seed))
        return [Split(i // n_splits, i % n_splits, train, test)
                for i, (train, test) in enumerate(splitter.split(dummy, y))]
    if groups is None:
        raise ValueError(f"scheme {scheme!r} needs groups")
    if scheme == "leave_group_out":
        return [Split(0, i, train, test)
                for i, (train, test) in enumerate(LeaveOneGroupOut().split(dummy, y, groups))]
    if scheme == "group_kfold":
        splits = []
        kind = GroupKFold if regression else StratifiedGroupKFold
        for r in range(n_repeats):
            splitter = kind(n_splits=n_splits, shuffle=True, random_state=seed + r)
            splits += [Split(r, i, train, test)
                       for i, (train, test) in enumerate(splitter.split(dummy, y, groups))]
        return splits
    raise ValueError(f"unknown scheme {scheme!r}; choose one of {SCHEMES}")


@dataclass(frozen=True)
class InnerCV:
    """How the inner (tuning) splits are made inside an outer training set."""

    n_splits: int = 3
    grouped: bool = False
    seed: int = 0
    stratified: bool = True

    def splitter(self, groups: np.ndarray | None) -> Any:
        """A splitter for one training set (grouped: at most one fold per group; stratified
        by the label unless ``stratified`` is false, as for a continuous target)."""
        if self.grouped and groups is not None:
            n = min(self.n_splits, len(np.unique(groups)))
            kind = StratifiedGroupKFold if self.stratified else GroupKFold
            return kind(n_splits=n, shuffle=True, random_state=self.seed)
        kind = StratifiedKFold if self.stratified else KFold
        return kind(n_splits=self.n_splits, shuffle=True, random_state=self.seed)


@dataclass
class Tuner:
    """Inner-loop hyper-parameter search around a pipeline.

    Parameters
    ----------
    pipeline : Pipeline
        The unfitted pipeline (cloned on every fit).
    space : mapping
        Pipeline-form hyper-parameter lists (see :func:`backpheno.models.pipelines.search_space`);
        empty: no search, the pipeline is fitted as is.
    inner : InnerCV
    kind : {"grid", "random"}
    n_iter : int
        Candidates drawn by the random search.
    scoring : str
        scikit-learn scorer name of the inner search.
    seed : int
    task : {"classification", "regression"}
        What the held-out predictions are: the probability of class 1, or the predicted value.
    """

    pipeline: Pipeline
    space: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    inner: InnerCV = field(default_factory=InnerCV)
    kind: str = "grid"
    n_iter: int = 10
    scoring: str = "roc_auc"
    seed: int = 0
    task: str = "classification"

    def predict(self, estimator: Pipeline, X: pd.DataFrame) -> np.ndarray:
        """Held-out predictions: ``predict_proba[:, 1]`` or ``predict`` (regression)."""
        if self.task == "regression":
            return np.asarray(estimator.predict(X), dtype=float)
        return estimator.predict_proba(X)[:, 1]

    def fit(self, X: pd.DataFrame, y: np.ndarray,
            groups: np.ndarray | None = None) -> tuple[Pipeline, dict[str, Any], float]:
        """Tune on ``(X, y)`` and refit the best pipeline on all of it.

        Returns
        -------
        (fitted pipeline, best parameters, best inner score — NaN without a search)
        """
        if not self.space:
            return clone(self.pipeline).fit(X, y), {}, float("nan")
        cv = self.inner.splitter(groups)
        common = {"scoring": self.scoring, "cv": cv, "refit": True, "n_jobs": 1,
                  "error_score": "raise"}
        if self.kind == "random":
            search = RandomizedSearchCV(clone(self.pipeline), dict(self.space), n_iter=self.n_iter,
                                        random_state=self.seed, **common)
        else:
            search = GridSearchCV(clone(self.pipeline), dict(self.space), **common)
        search.fit(X, y, groups=groups)
        return search.best_estimator_, dict(search.best_params_), float(search.best_score_)


@dataclass
class FoldResult:
    """What one outer fold produced."""

    split: Split
    proba: np.ndarray
    best_params: dict[str, Any]
    inner_score: float
    train_prevalence: float
    estimator: Pipeline | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class CVResult:
    """Outer-fold results of a nested cross-validation over rows ``index``."""

    index: pd.Index
    y: np.ndarray
    folds: list[FoldResult]
    column: str = "p_response"

    def oof(self) -> pd.DataFrame:
        """Long table: one row per participant and repeat (participant, repeat, fold, y,
        prediction column — ``p_response`` or ``prediction`` —, train_prevalence: the training
        fold's responder rate or mean target)."""
        frames = []
        for f in self.folds:
            frames.append(pd.DataFrame({
                "participant_id": self.index[f.split.test], "repeat": f.split.repeat,
                "fold": f.split.fold, "y": self.y[f.split.test], self.column: f.proba,
                "train_prevalence": f.train_prevalence,
            }))
        out = pd.concat(frames, ignore_index=True)
        return out.sort_values(["repeat", "participant_id"], ignore_index=True)

    def mean_oof(self, repeats: int | None = None) -> pd.DataFrame:
        """Out-of-fold prediction averaged over repeats (first ``repeats`` only if given),
        indexed like the input rows: y, the prediction column, train_prevalence, n_repeats."""
        long = self.oof()
        if repeats is not None:
            long = long[long["repeat"] < repeats]
        agg = long.groupby("participant_id", sort=False).agg(
            y=("y", "first"), **{self.column: (self.column, "mean")},
            train_prevalence=("train_prevalence", "mean"), n_repeats=("repeat", "size"))
        return agg.reindex(self.index)

    def fold_table(self) -> pd.DataFrame:
        """One row per outer fold: sizes, inner score and the chosen hyper-parameters."""
        rows = []
        for f in self.folds:
            rows.append({"repeat": f.split.repeat, "fold": f.split.fold,
                         "n_train": len(f.split.train), "n_test": len(f.split.test),
                         "train_prevalence": f.train_prevalence, "inner_score": f.inner_score,
                         **{f"param.{k}": v for k, v in f.best_params.items()},
                         "warnings": " | ".join(f.warnings)})
        return pd.DataFrame(rows)


def one_task_at_a_time() -> Any:
    """Context in which a task's own joblib calls (the loops inside scikit-learn's pipelines,
    column transformers and searches) run on joblib's sequential backend.

    On a Dask worker the active backend is Dask's, whose result retrieval *secedes* from the
    worker's thread pool, so the worker starts its next task in another thread while this one
    runs: several tasks at once in one process (more than the worker's threads), whose
    process-wide warning captures then record each other's warnings (a fold's warnings appeared
    on another fold). Sequential loops keep one task per worker thread; the numbers do not
    change.
    """
    return parallel_config(backend="sequential")


def fit_fold(tuner: Tuner, X: pd.DataFrame, y: np.ndarray, split: Split,
             groups: np.ndarray | None = None, keep_estimator: bool = False) -> FoldResult:
    """Tune and fit on the training rows of ``split``; predict its held-out rows.

    Warnings raised while fitting and predicting (ComBat site policies, convergence, ...) are
    recorded on the result (unique messages) instead of being printed by worker processes.
    The search inside runs joblib's sequential backend (:func:`one_task_at_a_time`).
    """
    train, test = split.train, split.test
    g_train = None if groups is None else np.asarray(groups)[train]
    with one_task_at_a_time(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator, params, score = tuner.fit(X.iloc[train], y[train], g_train)
        proba = tuner.predict(estimator, X.iloc[test])
    messages = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    return FoldResult(split, proba, params, score, float(np.mean(y[train])),
                      estimator if keep_estimator else None, messages)


def nested_cv(tuner: Tuner, X: pd.DataFrame, y: np.ndarray, splits: Sequence[Split],
              groups: np.ndarray | None = None, n_jobs: int = 1, keep_estimators: bool = False,
              description: str | None = None) -> CVResult:
    """Run every outer fold (in parallel processes when ``n_jobs > 1``).

    Parameters
    ----------
    tuner : Tuner
    X : DataFrame
        Rows = participants of one arm (features plus site / covariate columns).
    y : ndarray
        0/1 labels, or the continuous target of a regression tuner.
    splits : sequence of Split
        From :func:`outer_splits` (or hand-made, e.g. in tests).
    groups : ndarray, optional
        Passed into the inner search of grouped schemes.
    n_jobs : int
    keep_estimators : bool
        Keep each fold's fitted pipeline on the result (memory!).
    description : str, optional
        Label of a progress display; ``None`` shows none.
    """
    y = np.asarray(y).astype(float if tuner.task == "regression" else int)
    tasks = [delayed(fit_fold)(tuner, X, y, s, groups, keep_estimators) for s in splits]
    results: list[FoldResult] = []
    if description is None:
        results = list(Parallel(n_jobs=n_jobs)(tasks)) if n_jobs != 1 else [
            fit_fold(tuner, X, y, s, groups, keep_estimators) for s in splits]
    else:
        with progress_bar(len(tasks), description) as advance:
            runner = (Parallel(n_jobs=n_jobs, return_as="generator_unordered")(tasks)
                      if n_jobs != 1 else (fit_fold(tuner, X, y, s, groups, keep_estimators)
                                           for s in splits))
            for result in runner:
                results.append(result)
                advance(1)
    results.sort(key=lambda f: (f.split.repeat, f.split.fold))
    if description is not None:
        log_fold_warnings(description, results)
    return CVResult(X.index, y, results, PREDICTION_COLUMNS[tuner.task])


@dataclass(frozen=True)
class CVProblem:
    """One nested cross-validation (e.g. one arm's): the arguments of :func:`nested_cv`;
    :func:`nested_cvs` runs several at once. ``name`` labels its logged fold warnings."""

    tuner: Tuner
    X: pd.DataFrame
    y: np.ndarray
    splits: Sequence[Split]
    groups: np.ndarray | None = None
    name: str = "nested CV"


def _problem_fold(task: tuple[CVProblem, Split]) -> FoldResult | str:
    """One outer fold of a problem, or the message of the input error that stopped it."""
    problem, split = task
    try:
        return fit_fold(problem.tuner, problem.X, problem.y, split, problem.groups)
    except BackphenoError as err:
        return str(err)


def nested_cvs(problems: Sequence[CVProblem], n_jobs: int = 1,
               description: str = "nested CV") -> list[CVResult | str]:
    """:func:`nested_cv` of several problems (e.g. every arm) as one flat list of fold tasks,
    so ``n_jobs`` workers (or a Dask cluster) stay busy across problems.

    Returns
    -------
    list
        Per problem, its :class:`CVResult`, or the message of the first input error one of its
        folds raised (the other problems are unaffected).
    """
    problems = [replace(p, y=np.asarray(p.y).astype(float if p.tuner.task == "regression"
                                                    else int)) for p in problems]
    tasks = [(problem, split) for problem in problems for split in problem.splits]
    folds = parallel_map(_problem_fold, tasks, n_jobs=n_jobs, description=description)
    out: list[CVResult | str] = []
    start = 0
    for problem in problems:
        own = folds[start:start + len(problem.splits)]
        start += len(problem.splits)
        errors = [f for f in own if isinstance(f, str)]
        if errors:
            out.append(errors[0])
            continue
        own.sort(key=lambda f: (f.split.repeat, f.split.fold))
        log_fold_warnings(problem.name, own)
        out.append(CVResult(problem.X.index, problem.y, own,
                            PREDICTION_COLUMNS[problem.tuner.task]))
    return out


def log_fold_warnings(description: str, folds: Sequence[FoldResult], limit: int = 3) -> None:
    """Log the most frequent fold warnings (all of them are in ``CVResult.fold_table()``)."""
    counts: dict[str, int] = {}
    for f in folds:
        for message in f.warnings:
            counts[message] = counts.get(message, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    for message, n in ranked[:limit]:
        logger.warning("%s: %d of %d folds: %s", description, n, len(folds), message)
    if len(ranked) > limit:
        logger.warning("%s: %d more distinct warnings (warnings column of cv_folds.csv)",
                       description, len(ranked) - limit)


def cv_feasibility(y: np.ndarray, *, scheme: str, n_splits: int, inner_splits: int,
                   min_class_size: int, groups: np.ndarray | None = None,
                   label: str = "responders") -> str | None:
    """Why nested cross-validation cannot be run honestly on ``y`` (``None`` if it can).

    Checks that both classes reach ``min_class_size``, that every outer training set can still
    be split ``inner_splits`` ways with both classes in every fold, and for grouped schemes that
    there are enough groups.
    """
    y = np.asarray(y).astype(int)
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    counts = f"{n_pos} {label} and {n_neg} others"
    minority = min(n_pos, n_neg)
    if minority < min_class_size:
        return (f"too few participants: {counts}; at least {min_class_size} of each are needed "
                "(cv.min_class_size)")
    if scheme == "stratified_kfold":
        if minority < n_splits:
            return f"{counts}: fewer than outer_folds={n_splits} in the smaller class"
        train_minority = minority * (n_splits - 1) // n_splits
        if train_minority < inner_splits:
            return (f"{counts}: an outer training set holds about {train_minority} of the smaller "
                    f"class, fewer than inner_folds={inner_splits}")
        return None
    if groups is None:
        return f"scheme {scheme!r} needs a groups column"
    groups = np.asarray(groups)
    n_groups = len(np.unique(groups))
    needed = n_splits if scheme == "group_kfold" else 3
    if n_groups < needed:
        return f"only {n_groups} groups; scheme {scheme!r} needs at least {needed}"
    for g in np.unique(groups):
        rest = y[groups != g]
        if rest.min() == rest.max():
            return f"leaving out group {g!r} leaves a single class in the training data"
    return None


def regression_feasibility(y: np.ndarray, *, scheme: str, n_splits: int, inner_splits: int,
                           min_size: int, groups: np.ndarray | None = None) -> str | None:
    """Why nested cross-validation of a continuous target cannot be run (``None`` if it can).

    Needs at least ``2 * min_size`` participants (the same total a binary target needs at
    minimum), a non-constant target, room for ``inner_splits`` inner folds of at least two rows
    in every outer training set and, for grouped schemes, enough groups.
    """
    y = np.asarray(y, dtype=float)
    if len(y) < 2 * min_size:
        return (f"too few participants: {len(y)} with a known target; at least {2 * min_size} "
                "are needed (2 x cv.min_class_size)")
    if np.ptp(y) == 0:
        return "the target is constant"
    if groups is None:
        if scheme != "stratified_kfold":
            return f"scheme {scheme!r} needs a groups column"
        if len(y) * (n_splits - 1) // n_splits < 2 * inner_splits:
            return f"{len(y)} participants cannot fill {n_splits} x {inner_splits} nested folds"
        return None
    n_groups = len(np.unique(groups))
    needed = n_splits if scheme == "group_kfold" else 3
    if n_groups < needed:
        return f"only {n_groups} groups; scheme {scheme!r} needs at least {needed}"
    return None
