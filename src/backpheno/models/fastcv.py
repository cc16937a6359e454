"""The nested cross-validation of a :class:`~backpheno.models.cv.Tuner`, rerun cheaply.

:func:`fast_nested_cv` returns the same out-of-fold probabilities as
:func:`~backpheno.models.cv.nested_cv` (same splits, same inner search, same candidate chosen,
same model fits) for pipelines built by :func:`~backpheno.models.pipelines.build_pipeline`, at a
fraction of the cost. It is what a permutation test reruns hundreds of times. What it saves:

- **Label-free work is done once per set of training rows.** The ``blocks`` step (ComBat and the
  registered block steps) uses site, covariates and features, never the label, so its fit on a
  given set of training rows is the same for every hyper-parameter candidate and for every label
  vector; it is fitted once per row set (:class:`RowSetCache`) and its output reused. So are the
  per-column ranks behind the univariate filter: for a new label only the rank sums change
  (:func:`~backpheno.models.select.filter_scores`).
- **No per-fit overhead.** Steps run on NumPy arrays instead of DataFrames; xgboost boosts a
  ``Booster`` on a ``DMatrix`` round by round as ``xgboost.train`` does, without its callback
  machinery and final cache reset (the scikit-learn wrapper builds a ``QuantileDMatrix`` whose
  sketch costs more than the 100 trees at 150 participants), with the parameters the wrapper
  would pass: the identical booster.
- **No search objects.** The grid (or random) candidates, the inner splits, the mean inner score
  and the choice of the best candidate (first of the best on ties) follow
  :class:`~sklearn.model_selection.GridSearchCV` exactly.

:func:`fast_path_problem` says why a tuner cannot use it (the caller then uses
:func:`~backpheno.models.cv.nested_cv`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.metrics import auc, roc_curve
from sklearn.model_selection import ParameterGrid, ParameterSampler
from xgboost import Booster, DMatrix, XGBClassifier

from backpheno.models.cv import Split, Tuner
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
    prepared once; only the other branches (ComBat, block steps) are fitted per row set.

    Parameters
    ----------
    blocks : ColumnTransformer
        The unfitted ``blocks`` step of the pipeline.
    X : DataFrame
        All rows of the problem; row sets are positions in it.
    """

    def __init__(self, blocks: ColumnTransformer, X: pd.DataFrame) -> None:
        self.X = X
        self.branches = [(branch, list(columns)) for _, branch, columns in blocks.transformers]
        passed = [c for branch, columns in self.branches if branch == "passthrough"
                  for c in columns]
        self._passed = dict(zip(passed, X[passed].to_numpy(dtype=float, na_value=np.nan).T,
                                strict=True))
        self._frames = [None if branch == "passthrough" else _plain(X[columns])
                        for branch, columns in self.branches]
        self._fitted: dict[bytes, tuple[list[Any], np.ndarray, np.ndarray, np.ndarray]] = {}
        self._applied: dict[tuple[bytes, bytes], np.ndarray] = {}

    def _passthrough(self, columns: list[str], rows: np.ndarray) -> np.ndarray:
        return np.column_stack([self._passed[c][rows] for c in columns])

    def _transform(self, fitted: list[Any], rows: np.ndarray) -> np.ndarray:
        parts = []
        for step, frame, (_, columns) in zip(fitted, self._frames, self.branches, strict=True):
            parts.append(self._passthrough(columns, rows) if frame is None
                         else _values(step.transform(frame.iloc[rows])))
        return np.hstack(parts)

    def train(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(transformed values, ranks, finite mask) of the training rows ``rows``."""
        key = np.asarray(rows, dtype=np.int64).tobytes()
        if key not in self._fitted:
            fitted, parts = [], []
            for frame, (branch, columns) in zip(self._frames, self.branches, strict=True):
                if frame is None:
                    fitted.append(None)
                    parts.append(self._passthrough(columns, rows))
                else:
                    step = clone(branch)
                    parts.append(_values(step.fit_transform(frame.iloc[rows])))
                    fitted.append(step)
            values = np.hstack(parts)
            self._fitted[key] = (fitted, values, column_ranks(values), np.isfinite(values))
        return self._fitted[key][1:]

    def apply(self, train: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Transformed values of ``rows`` by the ``blocks`` step fitted on ``train``."""
        self.train(train)
        key = np.asarray(train, dtype=np.int64).tobytes()
        pair = (key, np.asarray(rows, dtype=np.int64).tobytes())
        if pair not in self._applied:
            self._applied[pair] = self._transform(self._fitted[key][0], rows)
        return self._applied[pair]


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its float columns in one NumPy block and Arrow text columns as objects:
    row selection on a frame of many single-column blocks dominates a ComBat fit at 150 rows
    otherwise. Values are unchanged (missing floats become NaN, as ComBat reads them)."""
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


def _fit_predict(tuner: Tuner, cache: RowSetCache, y: np.ndarray, train: np.ndarray,
                 test: np.ndarray, params: Mapping[str, Any]) -> np.ndarray:
    """Fit the pipeline with ``params`` on rows ``train``; P(y = 1) of rows ``test``."""
    steps = tuner.pipeline.named_steps
    per_step = _by_step(params)
    values, ranks, finite = cache.train(train)
    held_out = cache.apply(train, test)
    y_train = y[train]
    step_filter = steps["filter"]
    if step_filter != "passthrough":
        settings = {**step_filter.get_params(), **per_step["filter"]}
        mask = top_k_mask(filter_scores(ranks, finite, y_train, settings["min_observed"]),
                          settings["k"])
        values, held_out = values[:, mask], held_out[:, mask]
    for name in ("impute", "scale"):
        if steps[name] != "passthrough":
            step = clone(steps[name]).set_params(**per_step[name]).set_output(
                transform="default")
            values = step.fit_transform(values, y_train)
            held_out = step.transform(held_out)
    model = clone(steps["model"]).set_params(**per_step["model"])
    if isinstance(model, XGBClassifier):
        train_matrix = DMatrix(values, label=y_train, missing=np.nan, nthread=1)
        booster = Booster(model.get_xgb_params(), [train_matrix])
        for iteration in range(model.get_num_boosting_rounds()):   # what xgboost.train does,
            booster.update(train_matrix, iteration)                 # without its callbacks
        return np.asarray(booster.inplace_predict(held_out), dtype=float)
    return model.fit(values, y_train).predict_proba(held_out)[:, 1]


def _candidates(tuner: Tuner) -> list[dict[str, Any]]:
    if tuner.kind == "random":
        return list(ParameterSampler(dict(tuner.space), n_iter=tuner.n_iter,
                                     random_state=tuner.seed))
    return list(ParameterGrid(dict(tuner.space)))


def _best_candidate(tuner: Tuner, cache: RowSetCache, X: pd.DataFrame, y: np.ndarray,
                    train: np.ndarray, groups: np.ndarray | None) -> dict[str, Any]:
    """The candidate :class:`~sklearn.model_selection.GridSearchCV` would choose on ``train``."""
    if not tuner.space:
        return {}
    candidates = _candidates(tuner)
    g_train = None if groups is None else np.asarray(groups)[train]
    inner = list(tuner.inner.splitter(g_train).split(X.iloc[train], y[train], g_train))
    scores = np.empty((len(candidates), len(inner)))
    for i, params in enumerate(candidates):
        for j, (fit_rows, score_rows) in enumerate(inner):
            proba = _fit_predict(tuner, cache, y, train[fit_rows], train[score_rows], params)
            fpr, tpr, _ = roc_curve(y[train[score_rows]], proba)   # as roc_auc_score does
            scores[i, j] = auc(fpr, tpr)
    means = np.average(scores, axis=1)
    if np.isnan(means).all():
        return candidates[0]
    means = np.where(np.isnan(means), np.nanmin(means) - 1, means)
    return candidates[int(np.argmin(rankdata(-means, method="min")))]


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
    frames = []
    for split in splits:
        params = _best_candidate(tuner, cache, X, y, split.train, groups)
        proba = _fit_predict(tuner, cache, y, split.train, split.test, params)
        frames.append(pd.DataFrame({"repeat": split.repeat, "position": split.test,
                                    "y": y[split.test], "p_response": proba}))
    return pd.concat(frames, ignore_index=True)
