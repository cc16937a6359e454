"""Per-arm SHAP values: interventional, with a stated background, on two scales.

Every arm's fitted model (a bare classifier or a scikit-learn :class:`~sklearn.pipeline.Pipeline`
ending in one) is explained in its **input space**: the pipeline's preprocessing (every step but
the last) transforms both the participants and the background sample, and the final classifier
is explained on the transformed columns. Imputation, scaling, harmonisation and filtering are
therefore part of the function being explained, evaluated exactly as at prediction time (the
background rows are imputed / scaled with the medians, means and SDs fitted in training, not
re-fitted on the background).

The values are then **mapped back to the original feature columns** wherever the preprocessing is
column-wise: a transformed column keeps its original name (imputed, scaled, ComBat-harmonised
values), a ``missingindicator_<name>`` column is added to ``<name>``, a feature the pipeline drops
(univariate filter) gets exactly 0. For a bijective column-wise map the values are the exact
Shapley values of the pipeline in the original feature space; with missing-value indicators two
model inputs come from one feature and their values are summed (exact for the linear model's
log-odds; for trees the sum keeps additivity but is not the group Shapley value). Columns that
are not traceable to one input column (e.g. a tangent-space block step) keep their own names.

Methods (``method`` column of the output):

``tree_interventional``
    Interventional TreeSHAP (Lundberg et al. 2020): exact Shapley values of the model's native
    output (log-odds for xgboost, probability for random forests) averaged over the background
    rows. For xgboost they are computed by :mod:`backpheno.explain.treeshap` (the same values as
    :class:`shap.TreeExplainer` with ``feature_perturbation="interventional"``, checked against
    it in the tests, on both scales; much faster); models it does not cover (categorical splits,
    dart, ...) and random forests use :class:`shap.TreeExplainer` itself.
``linear_interventional``
    :class:`shap.LinearExplainer` with an independent masker: ``coef * (z - mean(z_background))``
    on the log-odds scale (exact).
``*_rescaled``
    The other scale: for each background reference the exact native-scale values are multiplied
    by the secant ratio of the link, e.g. ``(sigmoid(m_x) - sigmoid(m_b)) / (m_x - m_b)`` from
    log-odds to probability, then averaged over references. This is shap's own definition of
    ``model_output="probability"`` for tree models (``tree_shap.h``, per-reference rescaling;
    for xgboost computed by :mod:`backpheno.explain.treeshap`).
    The values add up exactly to the output on that scale but are not the exact Shapley values
    of the probability (the link is non-linear). Random forests are natively on the probability
    scale, so their probability values are exact and their log-odds values are the rescaled ones
    (probabilities clipped to [1e-6, 1 - 1e-6]).

Regressors (a continuous outcome, ``task: regression``) have one scale, ``outcome``: the
predicted value in the outcome's unit. :class:`xgboost.XGBRegressor` and random-forest
regressors are explained with interventional TreeSHAP of the raw output, which for a regression
tree ensemble *is* the model output, so the values are exact Shapley values (method
``tree_interventional``); :class:`~sklearn.linear_model.ElasticNet` gets the closed form
``coef * (z - mean(z_background))`` (``linear_interventional``, exact). Contrasts between arms
of these values are then exact Shapley values of the predicted outcome difference.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import shap
from scipy.special import expit, logit
from sklearn.base import BaseEstimator, is_regressor
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import ElasticNet, LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from backpheno.errors import InputError
from backpheno.explain.treeshap import UnsupportedModel, expit_secant, interventional_shap

Scale = Literal["log_odds", "probability", "outcome"]
SCALES: tuple[str, ...] = ("log_odds", "probability")
#: The one scale of a regressor: the predicted outcome (its unit).
OUTCOME_SCALE = "outcome"
#: Probabilities are clipped to [EPS, 1 - EPS] before taking log-odds.
EPS = 1e-6
#: Prefix scikit-learn gives missing-value indicator columns.
INDICATOR_PREFIX = "missingindicator_"

_FORESTS = (RandomForestClassifier, ExtraTreesClassifier, DecisionTreeClassifier)
_TREE_REGRESSORS = (RandomForestRegressor, ExtraTreesRegressor, DecisionTreeRegressor)
_LINEAR_REGRESSORS = (ElasticNet, LinearRegression)


@dataclass(frozen=True)
class ArmShap:
    """SHAP values of one arm's model on one scale.

    Attributes
    ----------
    arm : str
    scale : {"log_odds", "probability"}
    values : DataFrame
        Participants × features (original feature space).
    base_value : float
        Mean model output over the background on this scale (``E_b f(b)``).
    output : Series
        Model output on this scale for each participant (``base_value + values.sum(axis=1)``
        up to floating-point error).
    method : str
        See the module docstring.
    """

    arm: str
    scale: str
    values: pd.DataFrame
    base_value: float
    output: pd.Series
    method: str

    def additivity_error(self) -> float:
        """Largest ``|base + sum(values) - output|`` over participants."""
        total = self.base_value + self.values.to_numpy().sum(axis=1)
        return float(np.max(np.abs(total - self.output.to_numpy()), initial=0.0))


def select_background(X: pd.DataFrame, size: int = 100, seed: int = 0,
                      strata: pd.Series | None = None) -> pd.DataFrame:
    """A random background sample of participants (rows of ``X``), shared by every arm.

    Parameters
    ----------
    X : DataFrame
        The participants the sample is drawn from (usually the whole population, all arms).
    size : int
        Number of rows; all rows when ``X`` has fewer.
    seed : int
    strata : Series, optional
        Sample proportionally within these groups (e.g. site), indexed like ``X``.
    """
    if size < 1:
        raise InputError(f"background size must be at least 1, got {size}")
    if len(X) <= size:
        return X.copy()
    rng = np.random.default_rng(seed)
    if strata is None:
        rows = np.sort(rng.choice(len(X), size=size, replace=False))
        return X.iloc[rows]
    groups = strata.reindex(X.index).astype(str).to_numpy()
    labels, counts = np.unique(groups, return_counts=True)
    quota = np.floor(counts / counts.sum() * size).astype(int)
    for i in np.argsort(-(counts / counts.sum() * size - quota))[: size - quota.sum()]:
        quota[i] += 1
    rows = np.concatenate([rng.choice(np.flatnonzero(groups == g), size=q, replace=False)
                           for g, q in zip(labels, quota, strict=True) if q])
    return X.iloc[np.sort(rows)]


def split_model(model: Any) -> tuple[Pipeline | None, BaseEstimator]:
    """``(preprocessing, classifier)`` of a pipeline; ``(None, model)`` for a bare classifier."""
    if isinstance(model, Pipeline):
        if len(model.steps) == 1:
            return None, model.steps[-1][1]
        return model[:-1], model.steps[-1][1]
    return None, model


def model_inputs(preprocess: Pipeline | None, X: pd.DataFrame) -> pd.DataFrame:
    """What the classifier sees: ``preprocess.transform(X)`` as a DataFrame with column names."""
    if preprocess is None:
        return X
    Z = preprocess.transform(X)
    if isinstance(Z, pd.DataFrame):
        return Z.set_axis(X.index, axis=0)
    names = [str(n) for n in preprocess.get_feature_names_out()]
    return pd.DataFrame(np.asarray(Z, dtype=float), index=X.index, columns=names)


def column_origins(columns: Sequence[str], original: Sequence[str]) -> dict[str, str]:
    """Original feature of each model-input column (itself when not traceable).

    ``name`` -> ``name`` when it is an original column; ``missingindicator_<name>`` ->
    ``<name>``; anything else -> itself.
    """
    known = set(original)
    origins = {}
    for column in columns:
        if column in known:
            origins[column] = column
        elif column.startswith(INDICATOR_PREFIX) and column[len(INDICATOR_PREFIX):] in known:
            origins[column] = column[len(INDICATOR_PREFIX):]
        else:
            origins[column] = column
    return origins


def primary_scale(models: Mapping[str, Any]) -> str:
    """The scale moderators are ranked on: ``outcome`` for regressors (predicted outcome
    difference), ``probability`` for classifiers (risk difference)."""
    kinds = {is_regressor(split_model(m)[1]) for m in models.values()}
    if len(kinds) > 1:
        raise InputError("the arms mix regressors and classifiers; every arm's model must "
                         "predict the same kind of outcome")
    return OUTCOME_SCALE if kinds == {True} else "probability"


def native_scale(estimator: BaseEstimator) -> str:
    """The scale on which a supported model is additive in its trees / coefficients.

    Raises
    ------
    InputError
        For a model backpheno cannot explain exactly (or a non-binary classifier).
    """
    if isinstance(estimator, _TREE_REGRESSORS + _LINEAR_REGRESSORS) or (
            _is_xgboost(estimator) and is_regressor(estimator)):
        if _is_xgboost(estimator):
            objective = estimator.get_params().get("objective")
            if objective not in (None, "reg:squarederror"):
                raise InputError(f"xgboost objective {objective!r} is not supported; SHAP "
                                 "moderators of a continuous outcome need reg:squarederror")
        return OUTCOME_SCALE
    if _is_xgboost(estimator):
        objective = estimator.get_params().get("objective")
        if objective not in (None, "binary:logistic"):
            raise InputError(f"xgboost objective {objective!r} is not supported; SHAP moderators "
                             "need binary:logistic")
        return "log_odds"
    if isinstance(estimator, LogisticRegression):
        _require_binary(estimator)
        return "log_odds"
    if isinstance(estimator, _FORESTS):
        _require_binary(estimator)
        return "probability"
    raise InputError(f"cannot explain a {type(estimator).__name__}: supported models are "
                     "xgboost XGBClassifier / XGBRegressor, LogisticRegression, ElasticNet, "
                     "LinearRegression and the random-forest, extra-trees and decision-tree "
                     "classifiers and regressors")


@dataclass(frozen=True)
class ArmInputs:
    """One fitted arm's model with its inputs: the array-level core of :func:`explain_arm`.

    The explained participants and the background pass through the model's preprocessing in one
    call (:meth:`prepare`); :meth:`shap_values` then gives the values of any scale as an array
    already mapped to the original feature columns (:attr:`columns`).

    Attributes
    ----------
    estimator : estimator
        The model's final step.
    native : str
        Its native scale (:func:`native_scale`).
    Z, Zb : DataFrame
        Model inputs of the explained participants and of the background.
    columns : list of str
        The reported columns: the requested features, then model inputs not traceable to one.
    target : ndarray of int
        Position in ``columns`` of each model input (column of ``Z``).
    """

    estimator: BaseEstimator
    native: str
    Z: pd.DataFrame
    Zb: pd.DataFrame
    columns: list[str]
    target: np.ndarray

    @classmethod
    def prepare(cls, model: Any, X: pd.DataFrame, background: pd.DataFrame,
                features: Sequence[str] | None = None) -> ArmInputs:
        """Split ``model``, check it is supported and transform ``X`` and ``background``
        (arguments as for :func:`explain_arm`)."""
        missing = [c for c in X.columns if c not in background.columns]
        if missing:
            raise InputError(f"background lacks columns {missing[:5]}", column=missing[0])
        preprocess, estimator = split_model(model)
        native = native_scale(estimator)
        # one transform of both (each row is transformed on its own, as at prediction time)
        both = model_inputs(preprocess, pd.concat([X, background[X.columns]]))
        Z, Zb = both.iloc[:len(X)], both.iloc[len(X):]
        features = list(X.columns if features is None else features)
        origins = column_origins([str(c) for c in Z.columns], features)
        known = set(features)
        extra = list(dict.fromkeys(o for o in origins.values() if o not in known))
        columns = features + extra
        position = {c: i for i, c in enumerate(columns)}
        target = np.array([position[origins[str(c)]] for c in Z.columns], dtype=int)
        return cls(estimator, native, Z, Zb, columns, target)

    def check_scales(self, scales: Sequence[str] | None = None) -> list[str]:
        """``scales``, or every scale of the model by default.

        Raises
        ------
        InputError
            For a scale that does not apply to the model.
        """
        allowed = (OUTCOME_SCALE,) if self.native == OUTCOME_SCALE else SCALES
        scales = allowed if scales is None else scales
        unknown = set(scales) - set(allowed)
        if unknown:
            raise InputError(f"SHAP scales {sorted(unknown)} do not apply to a "
                             f"{type(self.estimator).__name__}; choose from {allowed}")
        return list(scales)

    def input_values(self, scale: str) -> tuple[np.ndarray, float, str]:
        """``(values, base_value, method)`` on ``scale``: participants × model inputs (the
        columns of :attr:`Z`; :attr:`target` maps them to :attr:`columns`)."""
        values, base, method = _shap_values(self.estimator, self.Z, self.Zb, self.native, scale)
        return np.asarray(values, dtype=float), float(base), method

    def shap_values(self, scale: str) -> tuple[np.ndarray, float, str]:
        """``(values, base_value, method)`` on ``scale``: participants × :attr:`columns`.

        A feature gets the sum of the values of its model inputs (itself and its
        missing-value indicator) and 0 when the model does not use it.
        """
        values, base, method = self.input_values(scale)
        mapped = np.zeros((len(self.Z), len(self.columns)))
        np.add.at(mapped, (slice(None), self.target), values)
        return mapped, base, method


def explain_arm(model: Any, X: pd.DataFrame, background: pd.DataFrame, *, arm: str = "",
                scales: Sequence[str] | None = None,
                features: Sequence[str] | None = None) -> dict[str, ArmShap]:
    """Interventional SHAP values of one arm's model for the participants in ``X``.

    Parameters
    ----------
    model : Pipeline or classifier
        Fitted; ``predict_proba(X)[:, 1]`` is the probability of response.
    X : DataFrame
        The participants to explain, with every column the model reads.
    background : DataFrame
        The background (reference) sample, same columns as ``X``. Share it between arms.
    arm : str
        Label stored in the result.
    scales : sequence of {"log_odds", "probability"}, or ("outcome",) for a regressor
        Default: every scale of the model (both for a classifier, ``outcome`` for a regressor).
    features : sequence of str, optional
        The original feature columns to report (default: the columns of ``X``). Features the
        model does not use get 0; model inputs not traceable to one of them are appended.

    Returns
    -------
    dict
        Scale -> :class:`ArmShap`.
    """
    inputs = ArmInputs.prepare(model, X, background, features)
    out = {}
    for scale in inputs.check_scales(scales):
        values, base, method = inputs.shap_values(scale)
        mapped = pd.DataFrame(values, index=X.index, columns=inputs.columns)
        output = pd.Series(_output(inputs.estimator, inputs.Z, scale), index=X.index,
                           name="output")
        out[scale] = ArmShap(arm, scale, mapped, base, output, method)
    return out


def explain_arms(models: Mapping[str, Any], X: pd.DataFrame, background: pd.DataFrame, *,
                 scales: Sequence[str] | None = None,
                 features: Sequence[str] | None = None) -> dict[tuple[str, str], ArmShap]:
    """:func:`explain_arm` for every arm with the same participants and background.

    The feature columns of every result are aligned (the union, features unused by an arm's
    model at 0), so values can be combined across arms.

    Returns
    -------
    dict
        ``(arm, scale)`` -> :class:`ArmShap`.
    """
    results = {}
    for arm, model in models.items():
        for scale, result in explain_arm(model, X, background, arm=arm, scales=scales,
                                         features=features).items():
            results[(arm, scale)] = result
    columns: list[str] = []
    for result in results.values():
        columns += [c for c in result.values.columns if c not in columns]
    return {key: ArmShap(r.arm, r.scale, r.values.reindex(columns=columns, fill_value=0.0),
                         r.base_value, r.output, r.method) for key, r in results.items()}


def shap_table(results: Mapping[tuple[str, str], ArmShap]) -> pd.DataFrame:
    """Long-wide table for Parquet: one row per arm × scale × participant.

    Columns: arm, scale, participant_id (the index name of the explained rows), method,
    base_value, output, then one column per feature.
    """
    frames = []
    for result in results.values():
        values = result.values
        head = pd.DataFrame({"arm": result.arm, "scale": result.scale, "method": result.method,
                             "base_value": result.base_value,
                             "output": result.output.to_numpy()}, index=values.index)
        frames.append(pd.concat([head, values], axis=1))
    table = pd.concat(frames)
    table.index.name = table.index.name or "participant_id"
    return table.reset_index()


# ------------------------------------------------------------------------------ internals


def _is_xgboost(estimator: Any) -> bool:
    return type(estimator).__module__.startswith("xgboost") and hasattr(estimator, "get_booster")


def _require_binary(estimator: Any) -> None:
    classes = getattr(estimator, "classes_", None)
    if classes is None or len(classes) != 2:
        raise InputError(f"{type(estimator).__name__} must be a fitted binary classifier")


def _output(estimator: BaseEstimator, Z: pd.DataFrame, scale: str) -> np.ndarray:
    if scale == OUTCOME_SCALE:
        return np.asarray(estimator.predict(Z), dtype=float)
    if _is_xgboost(estimator) and scale == "log_odds":
        return np.asarray(estimator.predict(Z, output_margin=True), dtype=float)
    if isinstance(estimator, LogisticRegression) and scale == "log_odds":
        return estimator.decision_function(Z)
    p = estimator.predict_proba(Z)[:, 1].astype(float)
    if scale == "probability":
        return p
    return logit(np.clip(p, EPS, 1 - EPS))


def _shap_values(estimator: BaseEstimator, Z: pd.DataFrame, Zb: pd.DataFrame, native: str,
                 scale: str) -> tuple[np.ndarray, float, str]:
    if scale == OUTCOME_SCALE:
        return _regression_values(estimator, Z, Zb)
    if _is_xgboost(estimator):
        output = "raw" if scale == "log_odds" else "probability"
        values, base = _xgboost_values(estimator, Z, Zb, output)
        method = "tree_interventional" + ("" if scale == native else "_rescaled")
        return values, base, method
    if isinstance(estimator, LogisticRegression):
        return _linear_values(estimator, Z, Zb, scale)
    if scale == native:
        explainer = _tree_explainer(estimator, Zb, "raw")
        values = np.asarray(explainer.shap_values(Z, check_additivity=False), dtype=float)
        return values[..., 1], float(np.ravel(explainer.expected_value)[1]), "tree_interventional"
    return _forest_log_odds(estimator, Z, Zb)


def _tree_explainer(estimator: BaseEstimator, Zb: pd.DataFrame, output: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return shap.TreeExplainer(estimator, data=Zb, feature_perturbation="interventional",
                                  model_output=output)


def _regression_values(estimator: BaseEstimator, Z: pd.DataFrame,
                       Zb: pd.DataFrame) -> tuple[np.ndarray, float, str]:
    if isinstance(estimator, _LINEAR_REGRESSORS):
        z, zb = Z.to_numpy(dtype=float), Zb.to_numpy(dtype=float)
        coef = np.ravel(estimator.coef_)
        mean = zb.mean(axis=0)
        base = float(mean @ coef + np.ravel(estimator.intercept_)[0])
        return coef * (z - mean), base, "linear_interventional"
    if _is_xgboost(estimator):
        return (*_xgboost_values(estimator, Z, Zb, "raw"), "tree_interventional")
    explainer = _tree_explainer(estimator, Zb, "raw")
    values = np.asarray(explainer.shap_values(Z, check_additivity=False), dtype=float)
    return values, float(np.ravel(explainer.expected_value)[0]), "tree_interventional"


def _xgboost_values(estimator: BaseEstimator, Z: pd.DataFrame, Zb: pd.DataFrame,
                    output: str) -> tuple[np.ndarray, float]:
    """Interventional TreeSHAP of an xgboost model: :mod:`backpheno.explain.treeshap`, or
    :class:`shap.TreeExplainer` for a model it does not handle (e.g. categorical splits)."""
    try:
        return interventional_shap(estimator.get_booster(), Z.to_numpy(dtype=float),
                                   Zb.to_numpy(dtype=float), output=output,
                                   missing=getattr(estimator, "missing", np.nan))
    except UnsupportedModel:
        explainer = _tree_explainer(estimator, Zb, output)
        values = np.asarray(explainer.shap_values(Z, check_additivity=False), dtype=float)
        return values, float(np.ravel(explainer.expected_value)[0])


def _linear_values(estimator: LogisticRegression, Z: pd.DataFrame, Zb: pd.DataFrame,
                   scale: str) -> tuple[np.ndarray, float, str]:
    z, zb = Z.to_numpy(dtype=float), Zb.to_numpy(dtype=float)
    if scale == "log_odds":
        masker = shap.maskers.Independent(zb, max_samples=len(zb))
        explainer = shap.LinearExplainer(estimator, masker)
        values = np.asarray(explainer.shap_values(z), dtype=float)
        return values, float(np.ravel(explainer.expected_value)[0]), "linear_interventional"
    coef = estimator.coef_.ravel()
    margin_x = z @ coef + estimator.intercept_[0]
    margin_b = zb @ coef + estimator.intercept_[0]
    ratio = expit_secant(margin_x[:, None], margin_b[None, :])
    values = coef * (z * ratio.mean(axis=1, keepdims=True) - ratio @ zb / len(zb))
    return values, float(expit(margin_b).mean()), "linear_interventional_rescaled"


def _forest_log_odds(estimator: BaseEstimator, Z: pd.DataFrame,
                     Zb: pd.DataFrame) -> tuple[np.ndarray, float, str]:
    p_x = estimator.predict_proba(Z)[:, 1].astype(float)
    p_b = estimator.predict_proba(Zb)[:, 1].astype(float)
    l_x, l_b = logit(np.clip(p_x, EPS, 1 - EPS)), logit(np.clip(p_b, EPS, 1 - EPS))
    values = np.zeros(Z.shape)
    for k in range(len(Zb)):
        explainer = _tree_explainer(estimator, Zb.iloc[[k]], "raw")
        exact = np.asarray(explainer.shap_values(Z, check_additivity=False), dtype=float)[..., 1]
        diff = p_x - p_b[k]
        close = np.abs(diff) < 1e-12
        ratio = np.where(close, 0.0, (l_x - l_b[k]) / np.where(close, 1.0, diff))
        values += exact * ratio[:, None]
    return values / len(Zb), float(l_b.mean()), "tree_interventional_rescaled"
