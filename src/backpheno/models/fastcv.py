"""The nested cross-validation of a :class:`~backpheno.models.cv.Tuner`, rerun cheaply.

:func:`fast_nested_cv` returns the same out-of-fold probabilities as
:func:`~backpheno.models.cv.nested_cv` (same splits, same inner search, same candidate chosen,
same model fits) for pipelines built by :func:`~backpheno.models.pipelines.build_pipeline`, at a
fraction of the cost. It is what a permutation test reruns hundreds of times. What it saves:

- **Label-free work is done once per set of training rows.** The ``blocks`` step (ComBat and the
  registered block steps) uses site, covariates and features, never the label, so its fit on a
  given set of training rows is the same for every hyper-parameter candidate and for every label
  vector; it is fitted once per row set (:class:`RowSetCache`) and its output reused. ComBat
  reads its DataFrame once (:meth:`~backpheno.models.harmonize.ComBat.read`) and is fitted on
  row subsets of that read: the estimator's own algorithm without DataFrame work. So are the
  per-column ranks behind the univariate filter: for a new label only the rank sums change
  (:func:`~backpheno.models.select.filter_scores`).
- **No per-fit overhead.** Steps run on NumPy arrays instead of DataFrames; each candidate's
  steps are prepared once per call; xgboost boosts a ``Booster`` on a ``DMatrix`` round by
  round as ``xgboost.train`` does, without its callback machinery, final cache reset and
  per-round feature-name checks (the scikit-learn wrapper builds a ``QuantileDMatrix`` whose
  sketch costs more than the 100 trees at 150 participants), with the parameters the wrapper
  would pass: the identical booster. Candidates that differ only in model parameters share the
  training ``DMatrix``.
- **No search objects.** The grid (or random) candidates, the inner splits, the mean inner score
  (``roc_auc_score``'s value, without its input checks) and the choice of the best candidate
  (first of the best on ties) follow :class:`~sklearn.model_selection.GridSearchCV` exactly.

:func:`fast_path_problem` says why a tuner cannot use it (the caller then uses
:func:`~backpheno.models.cv.nested_cv`).
"""

from __future__ import annotations

import copy
import ctypes
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.integrate import trapezoid
from scipy.stats import rankdata
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import ParameterGrid, ParameterSampler
from sklearn.pipeline import Pipeline
from xgboost import Booster, DMatrix, XGBClassifier
from xgboost.core import _LIB, _check_call

from backpheno.models.cv import Split, Tuner
from backpheno.models.harmonize import ComBat
from backpheno.models.select import UnivariateFilter, column_ranks, filter_scores, top_k_mask

#: Pipeline steps a search candidate may set on the fast path.
_TUNABLE = ("filter", "impute", "scale", "model")


def fast_path_problem(tuner: Tuner) -> str | None:
    """Why :func:`fast_nested_cv` cannot rerun ``tuner`` (``None`` if it can)."""
    if tuner.task != "classification":
        return f"task {tuner.task!r} (the fast path covers classification)"
    steps = tuple(name for name, _ in tuner.pipeline.steps)
    if steps != ("blocks", "filter", "impute", "scale", "model"):
        return f"pipeline steps {steps} are not build_pipeline's"
    if tuner.scoring != "roc_auc":
        return f"inner scoring {tuner.scoring!r} (the fast path scores roc_auc)"
    step_filter = tuner.pipeline.named_steps["filter"]
    if step_filter != "passthrough" and not isinstance(step_filter, UnivariateFilter):
        return f"filter step {type(step_filter).__name__}"
    for name in tuner.space:
        if name.split("__", 1)[0] not in _TUNABLE:
            return f"search parameter {name!r} changes a label-free step"
    return None


class RowSetCache:
    """Label-free results per set of training rows: the ``blocks`` step fitted on them, its
    output on them and their per-column ranks.

    Branches of the ``blocks`` step that pass their columns through are read from one array
    prepared once. ComBat branches are read once too (:meth:`ComBat.read
    <backpheno.models.harmonize.ComBat.read>`: features, site and covariate codes as arrays) and
    fitted per row set on row subsets of that read, without DataFrame work; block steps after
    ComBat (and branches of other steps) are fitted on DataFrames.

    Parameters
    ----------
    blocks : ColumnTransformer
        The unfitted ``blocks`` step of the pipeline.
    X : DataFrame
        All rows of the problem; row sets are positions in it.
    """

    def __init__(self, blocks: ColumnTransformer, X: pd.DataFrame) -> None:
        self.X = X
        self.branches = [_Branch(branch, list(columns), X)
                         for _, branch, columns in blocks.transformers]
        self._fitted: dict[bytes, tuple[list[Any], np.ndarray, np.ndarray, np.ndarray]] = {}
        self._applied: dict[tuple[bytes, bytes], np.ndarray] = {}
        #: The filtered training rows as an xgboost ``DMatrix`` and the filtered held-out rows
        #: per (training rows, held-out rows, labels, filter settings): shared by the candidates
        #: that differ only in model parameters (the matrix holds data, labels and histogram
        #: cuts, all candidate-free; each candidate boosts its own ``Booster`` on it).
        self.model_inputs: dict[tuple[Any, ...], tuple[DMatrix, np.ndarray]] = {}

    def train(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(transformed values, ranks, finite mask) of the training rows ``rows``."""
        key = _key(rows)
        if key not in self._fitted:
            fitted, parts = zip(*(branch.fit(rows) for branch in self.branches), strict=True)
            values = np.hstack(parts)
            self._fitted[key] = (list(fitted), values, column_ranks(values), np.isfinite(values))
        return self._fitted[key][1:]

    def apply(self, train: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Transformed values of ``rows`` by the ``blocks`` step fitted on ``train``."""
        self.train(train)
        key = _key(train)
        pair = (key, _key(rows))
        if pair not in self._applied:
            fitted = self._fitted[key][0]
            self._applied[pair] = np.hstack([
                branch.transform(fit, rows)
                for branch, fit in zip(self.branches, fitted, strict=True)])
        return self._applied[pair]


def _key(rows: np.ndarray) -> bytes:
    return np.asarray(rows, dtype=np.int64).tobytes()


class _Branch:
    """One branch of the ``blocks`` step over all rows: passthrough columns as an array, a
    leading ComBat step on its :class:`~backpheno.models.harmonize.ComBatData`, any other steps
    on DataFrames."""

    def __init__(self, branch: Any, columns: list[str], X: pd.DataFrame) -> None:
        self.passed = (X[columns].to_numpy(dtype=float, na_value=np.nan)
                       if branch == "passthrough" else None)
        steps = ([] if self.passed is not None else list(branch.steps)
                 if isinstance(branch, Pipeline) else [("step", branch)])
        self.combat = steps.pop(0)[1] if steps and isinstance(steps[0][1], ComBat) else None
        self.data = None if self.combat is None else self.combat.read(X[columns])
        self.rest = Pipeline(steps) if steps else None
        self.frame = _plain(X[columns]) if self.rest is not None and self.combat is None else None

    def fit(self, rows: np.ndarray) -> tuple[tuple[ComBat | None, Pipeline | None],
                                             np.ndarray]:
        """The branch's steps fitted on ``rows`` and their output on ``rows``."""
        if self.passed is not None:
            return (None, None), self.passed[rows]
        combat = None if self.combat is None else copy.copy(self.combat).fit_data(
            self.data.take(rows))
        if self.rest is None:
            return (combat, None), combat.transform_data(self.data.take(rows))
        rest = clone(self.rest)
        return (combat, rest), _values(rest.fit_transform(self._frame(combat, rows)))

    def transform(self, fitted: tuple[ComBat | None, Pipeline | None],
                  rows: np.ndarray) -> np.ndarray:
        """The branch's output for ``rows`` by the steps ``fitted``."""
        if self.passed is not None:
            return self.passed[rows]
        combat, rest = fitted
        if rest is None:
            return combat.transform_data(self.data.take(rows))
        return _values(rest.transform(self._frame(combat, rows)))

    def _frame(self, combat: ComBat | None, rows: np.ndarray) -> pd.DataFrame:
        """What the steps after ComBat read: ComBat's output (or the branch's input) as a
        DataFrame."""
        if combat is None:
            return self.frame.iloc[rows]
        return pd.DataFrame(combat.transform_data(self.data.take(rows)),
                            index=self.data.ids[rows], columns=list(combat.features_))


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its float columns in one NumPy block and Arrow text columns as objects:
    row selection on a frame of many single-column blocks dominates a fit at 150 rows
    otherwise. Values are unchanged (missing floats become NaN)."""
    floats = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c].dtype)]
    out = pd.DataFrame(frame[floats].to_numpy(dtype=float, na_value=np.nan), index=frame.index,
                       columns=floats)
    for c in frame.columns:
        if c not in out.columns:
            is_text = isinstance(frame[c].dtype, pd.StringDtype)
            out[c] = frame[c].astype(object) if is_text else frame[c]
    return out[list(frame.columns)]


def _values(frame: Any) -> np.ndarray:
    return np.asarray(frame.to_numpy(dtype=float) if hasattr(frame, "to_numpy") else frame,
                      dtype=float)


def _by_step(params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {name: {} for name in _TUNABLE}
    for key, value in params.items():
        step, _, name = key.partition("__")
        out[step][name] = value
    return out


class _Candidate:
    """The steps after ``blocks`` with one candidate's parameters set, prepared once per
    candidate (not per fit): filter settings, unfitted imputer / scaler, and the model (for
    xgboost the booster parameters the scikit-learn wrapper would pass)."""

    def __init__(self, tuner: Tuner, params: Mapping[str, Any]) -> None:
        steps = tuner.pipeline.named_steps
        per_step = _by_step(params)
        step_filter = steps["filter"]
        self.filter = (None if step_filter == "passthrough"
                       else {**step_filter.get_params(), **per_step["filter"]})
        self.preprocess = [clone(steps[name]).set_params(**per_step[name]).set_output(
            transform="default") for name in ("impute", "scale") if steps[name] != "passthrough"]
        self.model = clone(steps["model"]).set_params(**per_step["model"])
        self.booster_params = (self.model.get_xgb_params()
                               if isinstance(self.model, XGBClassifier) else None)
        self.rounds = self.model.get_num_boosting_rounds() if self.booster_params else 0

    def fit_predict(self, cache: RowSetCache, y: np.ndarray, train: np.ndarray,
                    test: np.ndarray) -> np.ndarray:
        """Fit on rows ``train``; P(y = 1) of rows ``test``."""
        y_train = y[train]
        key = (_key(train), _key(test), y_train.tobytes(),
               None if self.filter is None else (self.filter["k"], self.filter["min_observed"]))
        if self.preprocess or key not in cache.model_inputs:
            values, ranks, finite = cache.train(train)
            held_out = cache.apply(train, test)
            if self.filter is not None:
                mask = top_k_mask(filter_scores(ranks, finite, y_train,
                                                self.filter["min_observed"]), self.filter["k"])
                values, held_out = values[:, mask], held_out[:, mask]
            for prototype in self.preprocess:
                step = clone(prototype)
                values = step.fit_transform(values, y_train)
                held_out = step.transform(held_out)
            if self.booster_params is None:
                return clone(self.model).fit(values, y_train).predict_proba(held_out)[:, 1]
            matrix = DMatrix(values, label=y_train, missing=np.nan, nthread=1)
            if self.preprocess:
                return self._boost(matrix, held_out)
            cache.model_inputs[key] = (matrix, held_out)
        return self._boost(*cache.model_inputs[key])

    def _boost(self, train_matrix: DMatrix, held_out: np.ndarray) -> np.ndarray:
        booster = Booster(self.booster_params, [train_matrix])
        for iteration in range(self.rounds):   # what xgboost.train does, without its callbacks
            if iteration == 0:                 # and without Booster.update's re-reading of
                booster.update(train_matrix, 0)   # the feature names every round
                continue
            _check_call(_LIB.XGBoosterUpdateOneIter(booster.handle, ctypes.c_int(iteration),
                                                    train_matrix.handle))
        return np.asarray(booster.inplace_predict(held_out), dtype=float)


def _candidates(tuner: Tuner) -> list[dict[str, Any]]:
    if tuner.kind == "random":
        return list(ParameterSampler(dict(tuner.space), n_iter=tuner.n_iter,
                                     random_state=tuner.seed))
    return list(ParameterGrid(dict(tuner.space)))


def _roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """``roc_auc_score(y, score)`` without its input checks: the same ROC points (scores in
    descending order, one point per distinct score, collinear points dropped as ``roc_curve``
    drops them) and the same trapezoidal sum, so the same float."""
    order = np.argsort(score, kind="stable")[::-1]
    score, y = score[order], y[order].astype(float)
    last = np.r_[np.flatnonzero(np.diff(score)), len(y) - 1]
    tps = np.cumsum(y)[last]
    fps = 1 + last - tps
    if len(fps) > 2:
        keep = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        fps, tps = fps[keep], tps[keep]
    if fps[-1] <= 0 or tps[-1] <= 0:
        return float("nan")
    return float(trapezoid(np.r_[0.0, tps] / tps[-1], np.r_[0.0, fps] / fps[-1]))


def _best_candidate(tuner: Tuner, candidates: Sequence[_Candidate], cache: RowSetCache,
                    y: np.ndarray, train: np.ndarray, groups: np.ndarray | None) -> int:
    """Which candidate :class:`~sklearn.model_selection.GridSearchCV` would choose on
    ``train``."""
    if len(candidates) == 1:
        return 0
    g_train = None if groups is None else np.asarray(groups)[train]
    inner = list(tuner.inner.splitter(g_train).split(np.zeros(len(train)), y[train], g_train))
    scores = np.empty((len(candidates), len(inner)))
    for i, candidate in enumerate(candidates):
        for j, (fit_rows, score_rows) in enumerate(inner):
            proba = candidate.fit_predict(cache, y, train[fit_rows], train[score_rows])
            scores[i, j] = _roc_auc(y[train[score_rows]], proba)
    means = np.average(scores, axis=1)
    if np.isnan(means).all():
        return 0
    means = np.where(np.isnan(means), np.nanmin(means) - 1, means)
    return int(np.argmin(rankdata(-means, method="min")))


def fast_nested_cv(tuner: Tuner, X: pd.DataFrame, y: np.ndarray, splits: Sequence[Split],
                   groups: np.ndarray | None = None,
                   cache: RowSetCache | None = None) -> pd.DataFrame:
    """Out-of-fold probabilities of the nested cross-validation, computed cheaply.

    Parameters
    ----------
    tuner : Tuner
        Must pass :func:`fast_path_problem`.
    X : DataFrame
    y : ndarray of {0, 1}
    splits : sequence of Split
    groups : ndarray, optional
    cache : RowSetCache, optional
        Reuse label-free fits of earlier calls on the same ``X`` (e.g. other label vectors).

    Returns
    -------
    DataFrame
        One row per participant and outer repeat: repeat, position, y, p_response (the columns
        :meth:`~backpheno.models.cv.CVResult.oof` holds, by position instead of participant).
    """
    y = np.asarray(y).astype(int)
    cache = cache or RowSetCache(tuner.pipeline.named_steps["blocks"], X)
    candidates = [_Candidate(tuner, params)
                  for params in (_candidates(tuner) if tuner.space else [{}])]
    frames = []
    for split in splits:
        best = candidates[_best_candidate(tuner, candidates, cache, y, split.train, groups)]
        proba = best.fit_predict(cache, y, split.train, split.test)
        frames.append(pd.DataFrame({"repeat": split.repeat, "position": split.test,
                                    "y": y[split.test], "p_response": proba}))
    return pd.concat(frames, ignore_index=True)
