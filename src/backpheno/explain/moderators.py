"""Moderators on the risk-difference scale: SHAP values of ``p_a(x) - p_b(x)`` between arms.

A *contrast* is a weighted sum of the arms' predicted probabilities of response: a pair
``p_a - p_b`` or one arm against the average of the others ``p_a - mean_{b != a} p_b``. Shapley
values are linear in the explained function when the players and the background are the same,
so with one background sample shared by every arm

    phi_j(sum_a w_a p_a) = sum_a w_a phi_j(p_a)

and the contrast's SHAP values are computed from the per-arm probability-scale values
(:func:`backpheno.explain.shap.explain_arms`) without any further model evaluation. The result
is exact with respect to the per-arm values: it adds up to the predicted risk difference (to
floating-point error) and, where the per-arm values are exact Shapley values (random forests;
any model on its native scale), equals the model-agnostic Shapley values of the risk difference
computed with the same background. For xgboost and logistic regression the per-arm
probability-scale values are the per-reference rescaled ones (see :mod:`backpheno.explain.shap`).

Moderators are ranked per contrast by the mean absolute SHAP value over the explained
participants; ``direction`` is the Spearman correlation between a feature and its SHAP value
(positive: higher values favour the first arm of the contrast).

The stability and permutation analyses refit the arms hundreds of times and need only the
ranking statistic: :func:`contrast_importance` computes it on arrays (the per-arm values of
:class:`~backpheno.explain.shap.ArmInputs`, the contrasts as one weight matrix applied with a
matrix product) and gives the same numbers as :func:`moderator_ranking` of
:func:`contrast_shap` without building a table per arm and contrast.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone, is_regressor

from backpheno.errors import InputError
from backpheno.explain.shap import ArmInputs, ArmShap, primary_scale

#: ``fit_arms(X, y, arm) -> {arm: fitted model}``: refits the per-arm pipeline on new data (a
#: bootstrap sample, permuted arm labels). Rows with a missing ``y`` must be ignored.
FitArms = Callable[[pd.DataFrame, pd.Series, pd.Series], Mapping[str, Any]]

#: Kinds of contrast: between two arms, or one arm against the mean of the others.
CONTRAST_KINDS = ("pair", "one_vs_rest")


@dataclass(frozen=True)
class Contrast:
    """A weighted difference of the arms' response probabilities.

    Attributes
    ----------
    name : str
        ``"<a>_vs_<b>"`` for a pair, ``"<a>_vs_rest"`` for one arm against the others.
    kind : {"pair", "one_vs_rest"}
    weights : dict
        Arm -> weight; the weights sum to 0.
    """

    name: str
    kind: str
    weights: dict[str, float]

    @property
    def arms(self) -> list[str]:
        """Arms with a non-zero weight, the first arm (weight +1) first."""
        return sorted(self.weights, key=lambda a: -self.weights[a])

    @property
    def label(self) -> str:
        """Readable label, e.g. ``p(ACT) - p(ESC)``."""
        return self.describe("p")

    def describe(self, symbol: str = "p") -> str:
        """The contrast written with ``symbol`` for an arm's prediction: ``p(ACT) - p(ESC)``,
        or ``E(ACT) - E(ESC)`` for a predicted outcome."""
        first = self.arms[0]
        if self.kind == "pair":
            return f"{symbol}({first}) - {symbol}({self.arms[1]})"
        return f"{symbol}({first}) - mean {symbol}(others)"


@dataclass(frozen=True)
class ContrastShap:
    """SHAP values of one contrast's predicted risk difference.

    Attributes
    ----------
    contrast : Contrast
    values : DataFrame
        Participants × features.
    base_value : float
        ``sum_a w_a E_b p_a(b)``.
    output : Series
        Predicted risk difference ``sum_a w_a p_a(x)``.
    """

    contrast: Contrast
    values: pd.DataFrame
    base_value: float
    output: pd.Series

    def additivity_error(self) -> float:
        """Largest ``|base + sum(values) - output|`` over participants."""
        total = self.base_value + self.values.to_numpy().sum(axis=1)
        return float(np.max(np.abs(total - self.output.to_numpy()), initial=0.0))


def arm_contrasts(arms: Sequence[str], kinds: Sequence[str] = CONTRAST_KINDS) -> list[Contrast]:
    """Every pair of arms, later minus earlier (``arms[j] - arms[i]`` for i < j, so the first
    arm, typically the control, is subtracted) and, with three or more arms, each arm against the
    average of the others."""
    arms = list(arms)
    if len(arms) < 2:
        raise InputError(f"contrasts need at least two arms, got {arms}")
    unknown = set(kinds) - set(CONTRAST_KINDS)
    if unknown:
        raise InputError(f"unknown contrast kinds {sorted(unknown)}; choose from {CONTRAST_KINDS}")
    out = []
    if "pair" in kinds:
        for a, b in itertools.combinations(arms, 2):
            out.append(Contrast(f"{b}_vs_{a}", "pair", {b: 1.0, a: -1.0}))
    if "one_vs_rest" in kinds and len(arms) > 2:
        for a in arms:
            rest = [b for b in arms if b != a]
            out.append(Contrast(f"{a}_vs_rest", "one_vs_rest",
                                {a: 1.0, **{b: -1.0 / len(rest) for b in rest}}))
    return out


def contrast_shap(per_arm: Mapping[tuple[str, str], ArmShap], contrasts: Sequence[Contrast],
                  scale: str = "probability") -> dict[str, ContrastShap]:
    """SHAP values of each contrast from per-arm values (same participants, same background).

    Parameters
    ----------
    per_arm : mapping
        ``(arm, scale)`` -> :class:`ArmShap`, e.g. from
        :func:`~backpheno.explain.shap.explain_arms`.
    contrasts : sequence of Contrast
    scale : str
        ``"probability"`` gives risk differences; ``"log_odds"`` gives log-odds-ratio contrasts.

    Raises
    ------
    InputError
        If an arm of a contrast has no values on ``scale`` or the arms' participants or features
        differ.
    """
    out = {}
    for contrast in contrasts:
        missing = [a for a in contrast.weights if (a, scale) not in per_arm]
        if missing:
            raise InputError(f"contrast {contrast.name}: no {scale} SHAP values for arms {missing}")
        parts = [per_arm[(a, scale)] for a in contrast.weights]
        first = parts[0].values
        for part in parts[1:]:
            if not part.values.index.equals(first.index) or not part.values.columns.equals(
                    first.columns):
                raise InputError(f"contrast {contrast.name}: arms were explained on different "
                                 "participants or features; use explain_arms with one background")
        weights = [contrast.weights[p.arm] for p in parts]
        values = sum(w * p.values for w, p in zip(weights, parts, strict=True))
        base = sum(w * p.base_value for w, p in zip(weights, parts, strict=True))
        output = sum(w * p.output for w, p in zip(weights, parts, strict=True))
        out[contrast.name] = ContrastShap(contrast, values, float(base), output.rename("output"))
    return out


def moderator_ranking(results: Mapping[str, ContrastShap],
                      X: pd.DataFrame | None = None) -> pd.DataFrame:
    """Features ranked per contrast by mean |SHAP| of the risk difference.

    Parameters
    ----------
    results : mapping
        Contrast name -> :class:`ContrastShap`.
    X : DataFrame, optional
        Feature values (rows aligned to the explained participants); adds ``direction``
        (Spearman correlation of a feature with its SHAP value: > 0 means higher values favour
        the contrast's first arm).

    Returns
    -------
    DataFrame
        Columns contrast, kind, feature, mean_abs_shap, mean_shap, rank (1 = strongest),
        direction (with ``X``).
    """
    frames = []
    for name, result in results.items():
        values = result.values
        frame = pd.DataFrame({"contrast": name, "kind": result.contrast.kind,
                              "feature": values.columns,
                              "mean_abs_shap": values.abs().mean().to_numpy(),
                              "mean_shap": values.mean().to_numpy()})
        if X is not None:
            aligned = X.reindex(values.index)
            frame["direction"] = [_spearman(aligned[c], values[c]) if c in aligned.columns
                                  else np.nan for c in values.columns]
        frame = frame.sort_values("mean_abs_shap", ascending=False, kind="stable")
        frame["rank"] = np.arange(1, len(frame) + 1)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class Importance:
    """Mean |SHAP| and mean SHAP of every contrast and feature (the ranking statistic).

    Attributes
    ----------
    contrasts : list of Contrast
    features : list of str
    mean_abs : ndarray
        Contrasts × features: mean |SHAP| over the explained participants.
    mean : ndarray
        Contrasts × features: mean SHAP.
    """

    contrasts: list[Contrast]
    features: list[str]
    mean_abs: np.ndarray
    mean: np.ndarray

    def ranking(self) -> pd.DataFrame:
        """The :func:`moderator_ranking` table (without ``direction``)."""
        names = np.asarray(self.features, dtype=object)
        frames = []
        for i, contrast in enumerate(self.contrasts):
            order = np.argsort(-self.mean_abs[i], kind="stable")
            frames.append(pd.DataFrame({
                "contrast": contrast.name, "kind": contrast.kind, "feature": names[order],
                "mean_abs_shap": self.mean_abs[i, order], "mean_shap": self.mean[i, order],
                "rank": np.arange(1, len(names) + 1)}))
        if not frames:
            return pd.DataFrame(columns=["contrast", "kind", "feature", "mean_abs_shap",
                                         "mean_shap", "rank"])
        return pd.concat(frames, ignore_index=True)

    def aligned(self, features: Sequence[str]) -> np.ndarray:
        """:attr:`mean_abs` with the columns of ``features`` (0 for a feature not here: no
        model input of any arm comes from it)."""
        position = {f: i for i, f in enumerate(self.features)}
        out = np.zeros((len(self.contrasts), len(features)))
        have = [i for i, f in enumerate(features) if f in position]
        out[:, have] = self.mean_abs[:, [position[features[i]] for i in have]]
        return out


def contrast_importance(models: Mapping[str, Any], X: pd.DataFrame, background: pd.DataFrame,
                        contrasts: Sequence[Contrast], scale: str | None = None,
                        features: Sequence[str] | None = None,
                        chunk: int = 4_000_000) -> Importance:
    """Mean |SHAP| of every contrast and feature, computed on arrays.

    Each arm's model is prepared once (:class:`~backpheno.explain.shap.ArmInputs`: the
    participants and the background transformed by its preprocessing), its values on ``scale``
    are mapped to the union of the arms' columns (only those some model reads; the others are
    0), and the contrasts (a contrasts × arms weight matrix) are applied with one matrix product
    per block of participants. Equals the ``mean_abs_shap`` / ``mean_shap`` of
    :func:`moderator_ranking` of :func:`contrast_shap` of
    :func:`~backpheno.explain.shap.explain_arms` (to rounding).

    Parameters
    ----------
    models, X, background, contrasts, scale, features
        As for :func:`rank_moderators`.
    chunk : int
        Largest contrasts × participants × features block held at once (floats).

    Raises
    ------
    InputError
        If an arm of a contrast has no model, or a model cannot be explained on ``scale``.
    """
    scale = scale or primary_scale(models)
    contrasts = list(contrasts)
    for contrast in contrasts:
        missing = [a for a in contrast.weights if a not in models]
        if missing:
            raise InputError(f"contrast {contrast.name}: no {scale} SHAP values for arms {missing}")
    prepared = {arm: ArmInputs.prepare(model, X, background, features)
                for arm, model in models.items()}
    columns = list(dict.fromkeys(c for inputs in prepared.values() for c in inputs.columns))
    position = {c: i for i, c in enumerate(columns)}
    slots = [np.array([position[inputs.columns[t]] for t in inputs.target], dtype=int)
             for inputs in prepared.values()]
    used = np.unique(np.concatenate([np.zeros(0, dtype=int), *slots]))
    # only the columns some arm's model reads: every other feature's values are 0
    stacked = np.zeros((len(prepared), len(X), len(used)))
    for k, (inputs, slot) in enumerate(zip(prepared.values(), slots, strict=True)):
        values = inputs.input_values(inputs.check_scales([scale])[0])[0]
        np.add.at(stacked[k], (slice(None), np.searchsorted(used, slot)), values)
    weights = np.array([[c.weights.get(a, 0.0) for a in prepared] for c in contrasts],
                       dtype=float).reshape(len(contrasts), len(prepared))
    total_abs = np.zeros((len(contrasts), len(columns)))
    total = np.zeros((len(contrasts), len(columns)))
    step = max(1, chunk // max(1, len(contrasts) * len(used)))
    for start in range(0, len(X), step):
        block = np.tensordot(weights, stacked[:, start:start + step], axes=1)
        total_abs[:, used] += np.abs(block).sum(axis=1)
        total[:, used] += block.sum(axis=1)
    n = max(len(X), 1)
    return Importance(contrasts, columns, total_abs / n, total / n)


def rank_moderators(models: Mapping[str, Any], X: pd.DataFrame, background: pd.DataFrame,
                    contrasts: Sequence[Contrast], scale: str | None = None,
                    features: Sequence[str] | None = None) -> pd.DataFrame:
    """Explain every arm and rank the moderators of every contrast (one call, one scale:
    default :func:`~backpheno.explain.shap.primary_scale`, the probability for classifiers
    and the predicted outcome for regressors).

    The building block of the stability and permutation analyses, computed by
    :func:`contrast_importance`; see :func:`moderator_ranking` for the columns (without
    ``direction``).
    """
    return contrast_importance(models, X, background, contrasts, scale, features).ranking()


def refit_each_arm(models: Mapping[str, Any]) -> FitArms:
    """A :data:`FitArms` that clones each arm's fitted model (same hyper-parameters, including
    the tuned ones) and fits the clone on that arm's rows with a known outcome."""
    templates = dict(models)

    def fit_arms(X: pd.DataFrame, y: pd.Series, arm: pd.Series) -> dict[str, Any]:
        fitted = {}
        labels, known = arm.astype(str).to_numpy(), y.notna().to_numpy()
        for name, model in templates.items():
            rows = (labels == name) & known
            if not rows.any():
                raise InputError(f"no participants with a known outcome in arm {name}")
            target = y.iloc[np.flatnonzero(rows)]
            target = target.astype(float if is_regressor(model) else int).to_numpy()
            fitted[name] = clone(model).fit(X.iloc[np.flatnonzero(rows)], target)
        return fitted

    return fit_arms


def contrast_table(results: Mapping[str, ContrastShap]) -> pd.DataFrame:
    """Long-wide table for Parquet: one row per contrast × participant (contrast, kind,
    participant_id, base_value, output, one column per feature)."""
    frames = []
    for name, result in results.items():
        head = pd.DataFrame({"contrast": name, "kind": result.contrast.kind,
                             "base_value": result.base_value,
                             "output": result.output.to_numpy()}, index=result.values.index)
        frames.append(pd.concat([head, result.values], axis=1))
    table = pd.concat(frames)
    table.index.name = table.index.name or "participant_id"
    return table.reset_index()


def _spearman(x: pd.Series, phi: pd.Series) -> float:
    keep = x.notna().to_numpy() & phi.notna().to_numpy()
    if keep.sum() < 3:
        return float("nan")
    a = pd.Series(x.to_numpy(dtype=float)[keep]).rank().to_numpy()
    b = pd.Series(phi.to_numpy(dtype=float)[keep]).rank().to_numpy()
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])
