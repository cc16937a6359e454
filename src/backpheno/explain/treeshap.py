"""Exact interventional TreeSHAP for xgboost tree ensembles, vectorised over participants.

Computes the values of :class:`shap.TreeExplainer` with ``feature_perturbation="interventional"``
for a binary:logistic or reg:squarederror xgboost booster, without its per-(participant,
reference) tree traversal:

``raw``
    ``phi_j(x) = mean_r phi_j(x; r)``, where ``phi_j(x; r)`` is the exact Shapley value of the
    per-reference game ``v(S) = f(x_S, r_notS)`` and ``f`` the margin (log-odds, or the
    regression output).
``probability``
    shap's per-reference rescaling: ``mean_r w(x, r) phi_j(x; r)`` with
    ``w = (expit(m_x) - expit(m_r)) / (m_x - m_r)`` (the derivative ``expit'(m_x)`` where the
    margins are equal; shap uses 1 there, which only matters when x and r have the same margin
    but different per-reference values).

Why it is fast: a leaf with value ``v`` is reached by the hybrid ``(x_S, r_notS)`` iff every
feature on its path is satisfied by the value taken from x or from r. With ``A`` the path features
satisfied only by x and ``B`` those satisfied only by r (none satisfied by neither), the leaf's
game is ``v [A in S, B disjoint from S]``, whose Shapley values are ``v (a-1)! b! / (a+b)!`` for
``j in A`` and ``-v a! (b-1)! / (a+b)!`` for ``j in B``. They depend only on the satisfaction
patterns of x and r over the leaf's (at most ``k``) distinct path features, so participants and
background rows are classified into patterns once, and the background enters through its pattern
counts per leaf (raw scale, ``O((N + B) L k)``) or through one matrix product
``w @ onehot(patterns)`` (probability scale). Splits are evaluated exactly as xgboost does:
features and thresholds in float32, ``x < threshold`` goes to the "yes" child, NaN follows the
node's default direction, a feature repeated on a path is the conjunction of its constraints, and
the trees up to the booster's ``best_iteration`` are used (as ``predict`` does).

Models this module does not handle (categorical splits, multi-class or multi-target, other
objectives, dart or gblinear, more than :data:`MAX_PATH_FEATURES` distinct features on one path)
raise :class:`UnsupportedModel`; callers fall back to shap.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import numpy as np
from scipy.special import expit
from threadpoolctl import threadpool_limits

#: Largest number of distinct features on one root-to-leaf path handled here: the tables grow as
#: 2^k x (reference patterns), and from k = 8 shap's pair-by-pair traversal is faster.
MAX_PATH_FEATURES = 7
#: Objectives explained here (margin: the log-odds, or the regression output).
OBJECTIVES = ("binary:logistic", "reg:squarederror")
#: Working-array budget (float64 elements) of one block of units x chunk of participants.
_CHUNK_ELEMENTS = 4_000_000


class UnsupportedModel(ValueError):  # noqa: N818 - a reason, not an error the user made
    """The booster is outside what :func:`interventional_shap` computes exactly."""


@dataclass(frozen=True)
class LeafPaths:
    """The leaves of the ensemble as units: conjunctions of per-feature conditions.

    A unit is one leaf, or two sibling leaves split on a feature that is new to their path: the
    second leaf is reached exactly where the first leaf's conditions hold with that feature's
    condition (slot) flipped, so both share one pattern and the unit's game is the sum of two
    leaf games (half the units to tabulate for trees of full depth).

    Slot ``s`` of unit ``u`` (one per distinct feature on its path, padded to ``k`` slots) is
    satisfied by a float32 value ``z`` iff ``isnan(z) ? nan_ok : lower <= z < upper``. Padded
    slots read an extra all-zero column and are always satisfied.

    Attributes
    ----------
    value : ndarray, shape (U, 2)
        Value (margin units) of the leaf reached when every slot holds, and of the sibling
        reached when only slot ``flip`` fails (0 for a single leaf).
    flip : ndarray of int64, shape (U,)
        Bit mask of the sibling's slot (0 for a single leaf).
    feature, lower, upper, nan_ok : ndarray, shape (U, k)
    base_margin : float
        The booster's base score on the margin scale.
    n_features : int
    objective : str
    """

    value: np.ndarray
    flip: np.ndarray
    feature: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    nan_ok: np.ndarray
    base_margin: float
    n_features: int
    objective: str

    @property
    def width(self) -> int:
        """``k``: slots per unit (the most distinct features on one path)."""
        return self.feature.shape[1]

    def patterns(self, X: np.ndarray) -> np.ndarray:
        """Satisfaction pattern of every row at every unit: bit ``s`` set iff slot ``s`` holds.

        Parameters
        ----------
        X : ndarray, shape (n, n_features)
            Model inputs; cast to float32 as xgboost does.

        Returns
        -------
        ndarray of uint8, shape (n, U)
        """
        Z = np.zeros((len(X), self.n_features + 1), dtype=np.float32)
        Z[:, :-1] = X
        out = np.empty((len(X), len(self.value)), dtype=np.uint8)
        bits = (1 << np.arange(self.width)).astype(np.uint8)
        open_top = np.isposinf(self.upper)
        step = max(1, _CHUNK_ELEMENTS // max(1, self.feature.size))
        for start in range(0, len(X), step):
            z = Z[start:start + step][:, self.feature]
            satisfied = np.where(np.isnan(z), self.nan_ok,
                                 (z >= self.lower) & ((z < self.upper) | open_top))
            out[start:start + step] = satisfied @ bits
        return out

    def margins(self, patterns: np.ndarray) -> np.ndarray:
        """Model margin of each row from its patterns (a leaf is reached iff all its slots hold).
        """
        full = (1 << self.width) - 1
        return (self.base_margin + (patterns == full) @ self.value[:, 0]
                + (patterns == full ^ self.flip) @ self.value[:, 1])

    def coefficients(self, units: np.ndarray, p: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Shapley values of the units' games for x-patterns ``p`` and reference patterns ``q``.

        ``p`` and ``q`` broadcast against ``units[:, None, ...]``-shaped index arrays; returns
        their broadcast shape plus the slot axis ``k``.
        """
        c = shapley_coefficients(self.width)
        value, flip = self.value[units], self.flip[units]
        shape = (-1,) + (1,) * (max(np.ndim(p), np.ndim(q)) - 1)
        e = flip.reshape(shape)
        return (value[:, 0].reshape(*shape, 1) * c[p, q]
                + value[:, 1].reshape(*shape, 1) * c[p ^ e, q ^ e])


def leaf_paths(booster: Any) -> LeafPaths:
    """Parse an xgboost :class:`~xgboost.Booster` into :class:`LeafPaths`.

    Raises
    ------
    UnsupportedModel
        Categorical splits, several classes / targets, an objective not in :data:`OBJECTIVES`,
        a booster other than gbtree, or a path with more than :data:`MAX_PATH_FEATURES` features.
    """
    learner = json.loads(booster.save_raw("json"))["learner"]
    objective = learner["objective"]["name"]
    param = learner["learner_model_param"]
    gbm = learner["gradient_booster"]
    if objective not in OBJECTIVES:
        raise UnsupportedModel(f"objective {objective}")
    if gbm["name"] != "gbtree":
        raise UnsupportedModel(f"booster {gbm['name']}")
    if int(param.get("num_class", 0)) > 1 or int(param.get("num_target", 1)) > 1:
        raise UnsupportedModel("more than one output")
    base = float(np.ravel(json.loads(param["base_score"]))[0])
    base_margin = math.log(base / (1 - base)) if objective == "binary:logistic" else base
    model = gbm["model"]
    trees = model["trees"]
    best = getattr(booster, "best_iteration", None)
    if best is not None:
        indptr = model.get("iteration_indptr")
        trees = trees[: indptr[best + 1] if indptr else best + 1]
    units = [unit for tree in trees for unit in _tree_units(tree)]
    width = max((len(conditions) for *_, conditions in units), default=0)
    if width > MAX_PATH_FEATURES:
        raise UnsupportedModel(f"{width} distinct features on one path")
    n_features = int(param["num_feature"])
    shape = (len(units), max(width, 1))
    feature = np.full(shape, n_features, dtype=np.int64)
    lower = np.full(shape, -np.inf, dtype=np.float32)
    upper = np.full(shape, np.inf, dtype=np.float32)
    nan_ok = np.ones(shape, dtype=bool)
    for i, (*_, conditions) in enumerate(units):
        for s, (f, (lo, hi, ok)) in enumerate(conditions.items()):
            feature[i, s], lower[i, s], upper[i, s], nan_ok[i, s] = f, lo, hi, ok
    value = np.array([v for v, _, _ in units], dtype=np.float64).reshape(-1, 2)
    flip = np.array([e for _, e, _ in units], dtype=np.int64)
    return LeafPaths(value, flip, feature, lower, upper, nan_ok, base_margin, n_features,
                     objective)


Conditions = dict[int, tuple[float, float, bool]]


def _tree_units(tree: dict) -> list[tuple[tuple[float, float], int, Conditions]]:
    """``((value, sibling value), sibling flip, {feature: (lower, upper, nan_ok)})`` for every
    unit of one JSON tree (see :class:`LeafPaths`)."""
    if any(int(t) != 0 for t in tree["split_type"]):
        raise UnsupportedModel("categorical split")
    left, right = tree["left_children"], tree["right_children"]
    feature, condition = tree["split_indices"], np.asarray(tree["split_conditions"], np.float32)
    default_left = tree["default_left"]
    out = []
    stack: list[tuple[int, Conditions]] = [(0, {})]
    while stack:
        node, path = stack.pop()
        yes, no = left[node], right[node]
        if yes == -1:
            out.append(((float(condition[node]), 0.0), 0, path))
            continue
        f, threshold = int(feature[node]), condition[node]
        to_left = bool(default_left[node])
        if left[yes] == -1 and left[no] == -1 and f not in path:
            pair = (float(condition[yes]), float(condition[no]))
            out.append((pair, 1 << len(path), {**path, f: (-np.inf, threshold, to_left)}))
            continue
        lo, hi, ok = path.get(f, (-np.inf, np.inf, True))
        stack.append((no, {**path, f: (max(lo, threshold), hi, ok and not to_left)}))
        stack.append((yes, {**path, f: (lo, min(hi, threshold), ok and to_left)}))
    return out


@cache
def shapley_coefficients(k: int) -> np.ndarray:
    """Shapley values of a leaf of value 1 per x-pattern ``p``, reference pattern ``q`` and slot.

    ``A = p & ~q`` (satisfied only by x), ``B = q & ~p`` (only by the reference); zero when a slot
    is satisfied by neither. Returns an array of shape ``(2^k, 2^k, k)``.
    """
    n = 1 << k
    full = n - 1
    p, q = np.arange(n)[:, None], np.arange(n)[None, :]
    only_x, only_r = p & ~q & full, q & ~p & full
    valid = (~p & ~q & full) == 0
    popcount = np.array([bin(i).count("1") for i in range(n)])
    a, b = popcount[only_x], popcount[only_r]
    fact = np.array([math.factorial(i) for i in range(k + 1)], dtype=float)
    total = fact[a + b]
    gain = np.where(a > 0, fact[np.maximum(a - 1, 0)] * fact[b] / total, 0.0)
    loss = np.where(b > 0, fact[a] * fact[np.maximum(b - 1, 0)] / total, 0.0)
    slots = np.arange(k)
    in_a = (only_x[..., None] >> slots) & 1
    in_b = (only_r[..., None] >> slots) & 1
    return np.where(valid[..., None], in_a * gain[..., None] - in_b * loss[..., None], 0.0)


def interventional_shap(booster: Any, X: np.ndarray, background: np.ndarray, *,
                        output: Literal["raw", "probability"] = "raw",
                        missing: float = np.nan) -> tuple[np.ndarray, float]:
    """Interventional SHAP values of an xgboost booster (shap's TreeExplainer, computed exactly).

    Parameters
    ----------
    booster : xgboost.Booster
    X : ndarray, shape (n, n_features)
        Participants to explain (model inputs).
    background : ndarray, shape (B, n_features)
        Reference rows; every one weighs 1 / B.
    output : {"raw", "probability"}
        ``raw``: the margin (log-odds, or the regression output). ``probability``: shap's
        per-reference rescaling of the log-odds values (binary:logistic only).
    missing : float
        The estimator's ``missing`` value (entries equal to it are treated as NaN).

    Returns
    -------
    values : ndarray, shape (n, n_features)
    base_value : float
        Mean output over the background on that scale.

    Raises
    ------
    UnsupportedModel
        See :func:`leaf_paths`; also ``probability`` for a regression objective.
    """
    paths = leaf_paths(booster)
    if output == "probability" and paths.objective != "binary:logistic":
        raise UnsupportedModel(f"probability output of {paths.objective}")
    X, background = _as_missing(X, missing), _as_missing(background, missing)
    if X.shape[1] != paths.n_features or background.shape[1] != paths.n_features:
        raise ValueError(f"the booster reads {paths.n_features} features, got {X.shape[1]} "
                         f"(participants) and {background.shape[1]} (background)")
    with threadpool_limits(1, user_api="blas"):     # small products: threads only cost here
        px, pb = paths.patterns(X), paths.patterns(background)
        mb = paths.margins(pb)
        if output == "raw":
            return _raw_values(paths, px, pb), float(mb.mean())
        values = _probability_values(paths, px, pb, paths.margins(px), mb)
    return values, float(expit(mb).mean())


def _as_missing(X: np.ndarray, missing: float) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    return X if np.isnan(missing) else np.where(X == np.float32(missing), np.nan, X)


def _raw_values(paths: LeafPaths, px: np.ndarray, pb: np.ndarray) -> np.ndarray:
    """``mean_r phi(x; r)``: per unit, the Shapley table weighted by the references' pattern
    shares, then one table row per participant and unit."""
    k = paths.width
    n_patterns = 1 << k
    values = np.zeros((len(px), paths.n_features + 1))
    for units, groups, column_group, table in _unit_blocks(paths, pb):
        count = table.shape[1] // k
        share = (groups.sum(axis=0) / len(pb))[column_group].reshape(len(units), 1, count, 1)
        table = (table.reshape(len(units), n_patterns, count, k) * share).sum(axis=2)
        table = table.reshape(-1, k)
        step = max(1, _CHUNK_ELEMENTS // (len(units) * k))
        for start in range(0, len(px), step):
            rows = slice(start, start + step)
            slots = table[np.arange(len(units)) * n_patterns + px[rows, units]]
            values[rows] += _to_features(paths.feature[units], slots, values.shape[1])
    return values[:, :-1]


def _probability_values(paths: LeafPaths, px: np.ndarray, pb: np.ndarray, mx: np.ndarray,
                        mb: np.ndarray) -> np.ndarray:
    """``mean_r w(x, r) phi(x; r)``, unit block by unit block, participant chunk by chunk.

    Per unit, the references are grouped by pattern; ``W[x, group] = sum_r w(x, r) / B`` over a
    group is one matrix product (a group shared by several units computed once) and each
    participant's slot values are ``W[x, unit groups] @ table[unit, pattern of x]``.
    """
    k = paths.width
    n_patterns = 1 << k
    weight = expit_secant(mx[:, None], mb[None, :]) / len(pb)
    values = np.zeros((len(px), paths.n_features + 1))
    for units, groups, column_group, table in _unit_blocks(paths, pb):
        count = table.shape[1] // k
        step = max(1, _CHUNK_ELEMENTS // (len(units) * count * k))
        for start in range(0, len(px), step):
            rows = slice(start, start + step)
            summed = np.take(weight[rows] @ groups, column_group, axis=1)
            summed = summed.reshape(-1, len(units), 1, count)
            slots = table[np.arange(len(units)) * n_patterns + px[rows, units]]
            contribution = summed @ slots.reshape(*slots.shape[:2], count, k)
            values[rows] += _to_features(paths.feature[units], contribution[:, :, 0],
                                         values.shape[1])
    return values[:, :-1]


def _unit_blocks(paths: LeafPaths, pb: np.ndarray) -> Iterator[tuple[np.ndarray, ...]]:
    """``(units, *_reference_groups(...))`` for blocks of units with the same number of
    reference patterns (so the tables carry no padding), each within the working budget."""
    k = paths.width
    distinct = (np.diff(np.sort(pb, axis=0), axis=0) != 0).sum(axis=0) + 1
    for count in np.unique(distinct):
        units = np.flatnonzero(distinct == count)
        block = max(1, _CHUNK_ELEMENTS // ((1 << k) * count * k))
        for first in range(0, len(units), block):
            yield units[first:first + block], *_reference_groups(paths, units[first:first + block],
                                                                 pb)


def _reference_groups(paths: LeafPaths, units: np.ndarray,
                      pb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The reference groups of some units and their Shapley table.

    Returns
    -------
    groups : ndarray, shape (B, G + 1)
        Membership of each distinct group of references (a unit's references with one pattern);
        the last column is an empty group.
    column_group : ndarray, shape (len(units) * Q,)
        Group of column ``(unit, rank)``, ``Q`` the most patterns at one unit (padding: empty).
    table : ndarray, shape (len(units) * 2^k, Q * k)
        Shapley values of each unit's game (:meth:`LeafPaths.coefficients`) per pattern of x,
        reference pattern of column ``rank`` and slot.
    """
    k = paths.width
    n_patterns = 1 << k
    keys = np.arange(len(units)) * n_patterns + pb[:, units]
    present, inverse = np.unique(keys, return_inverse=True)
    unit = present // n_patterns
    rank = np.arange(len(present)) - np.searchsorted(unit, unit)
    width = int(rank.max()) + 1
    member = np.zeros((len(present), len(pb)), dtype=bool)
    member[inverse.reshape(keys.shape), np.arange(len(pb))[:, None]] = True
    packed = np.packbits(member, axis=1)
    signature = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first_of, group_of = np.unique(signature, return_index=True, return_inverse=True)
    groups = np.zeros((len(pb), len(first_of) + 1))
    groups[:, :-1] = member[first_of].T
    column_group = np.full(len(units) * width, len(first_of))
    column_group[unit * width + rank] = group_of.ravel()
    reference = np.full((len(units), width), n_patterns - 1)
    reference[unit, rank] = present % n_patterns
    table = paths.coefficients(units, np.arange(n_patterns)[None, :, None], reference[:, None])
    return groups, column_group, table.reshape(len(units) * n_patterns, width * k)


def _to_features(feature: np.ndarray, slots: np.ndarray, d: int) -> np.ndarray:
    """Sum per-unit slot values ``(n, U, k)`` into ``d`` feature columns (``feature``: (U, k))."""
    n = len(slots)
    index = (np.arange(n)[:, None, None] * d + feature[None]).ravel()
    return np.bincount(index, weights=slots.ravel(), minlength=n * d).reshape(n, d)


def expit_secant(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(expit(a) - expit(b)) / (a - b)``, the derivative of expit where ``a == b``."""
    a, b = np.broadcast_arrays(a, b)
    diff = a - b
    close = np.abs(diff) < 1e-9
    slope = expit(a) * (1 - expit(a))
    return np.where(close, slope, (expit(a) - expit(b)) / np.where(close, 1.0, diff))
