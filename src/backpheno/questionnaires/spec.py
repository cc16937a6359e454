"""How an instrument is declared: items, scores and the expressions that compute them.

An :class:`Instrument` is data: its :class:`Item` s (column name, SDTM code, allowed answers,
reverse keying or recoding) and its :class:`Score` s, each computed by a small expression tree
(:class:`Sum`, :class:`Mean`, :class:`Percent`, :class:`Lookup`, arithmetic on other scores ...).
Every expression node can be evaluated two ways:

``vector(ctx)``
    over all rows at once (numpy arrays; what :mod:`backpheno.questionnaires.engine` uses);
``scalar(ctx)``
    for one row (plain floats; the row-by-row reference of :mod:`~.rowwise`, used to cross-check
    the vectorised engine in tests and as the baseline of the benchmark).

Aggregating nodes (:class:`Sum`, :class:`Mean`, :class:`Percent`, :class:`MaxOf`,
:class:`PairedMeanDiff`) carry the instrument's published missing-answer rule and report, per
row, when the rule leaves the score undefined; the engine turns those reports into QC rows.
Nothing is imputed: a score the rule does not allow is NaN.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

# --------------------------------------------------------------------------------------------
# items
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One question (or one measured trial) of an instrument.

    Attributes
    ----------
    column : str
        Column name in the BIDS phenotype table (official PROMIS item ID, ``<instrument>_<nn>``
        for other questionnaires, descriptive names for clinical tests).
    code : str
        Item code in the BACPAC Minimum Dataset long format (``QSTESTCD``; for clinical tests
        ``FTTESTCD[@site][#trial]``, see :mod:`~.sdtm`).
    label : str
        Short wording of the item.
    values : tuple of float, optional
        The allowed answers (discrete items).
    bounds : (float, float), optional
        Inclusive range of a continuous measurement (clinical tests, sleep hours).
    reverse : bool
        Reverse-keyed: scored as ``min(values) + max(values) - answer``.
    recode : mapping, optional
        Answer → scored value (e.g. STarT Back item 9: 0-2 → 0, 3-4 → 1).
    optional : bool
        The column may be absent from a table without being reported (PROMIS-29+2 cognition).
    unit : str
        Unit of a continuous measurement.
    """

    column: str
    code: str
    label: str
    values: tuple[float, ...] | None = None
    bounds: tuple[float, float] | None = None
    reverse: bool = False
    recode: Mapping[float, float] | None = None
    optional: bool = False
    unit: str = ""

    def __post_init__(self) -> None:
        if (self.values is None) == (self.bounds is None):
            raise ValueError(f"item {self.column}: give exactly one of values or bounds")
        if self.reverse and self.values is None:
            raise ValueError(f"item {self.column}: only discrete items can be reverse-keyed")
        if self.values is not None:
            object.__setattr__(self, "values", tuple(float(v) for v in sorted(self.values)))

    @property
    def allowed(self) -> str:
        """The allowed answers in words (for error messages and sidecars)."""
        if self.bounds is not None:
            return f"{self.bounds[0]:g}..{self.bounds[1]:g}"
        values = self.values
        contiguous = all(b - a == 1 for a, b in zip(values, values[1:], strict=False))
        if contiguous and len(values) > 2:
            return f"{values[0]:g}..{values[-1]:g}"
        return "{" + ", ".join(f"{v:g}" for v in values) + "}"

    def is_valid(self, x: np.ndarray) -> np.ndarray:
        """True where an answer is allowed (NaN counts as valid: a missing answer)."""
        if self.bounds is not None:
            ok = (x >= self.bounds[0]) & (x <= self.bounds[1])
        else:
            ok = np.isin(x, np.asarray(self.values))
        return ok | np.isnan(x)

    def scored(self, x: np.ndarray) -> np.ndarray:
        """Answers turned into scored values (reverse keying, recoding); NaN stays NaN."""
        if self.recode is not None:
            out = np.full(x.shape, np.nan)
            for answer, value in self.recode.items():
                out[x == answer] = value
            return out
        if self.reverse:
            return self.values[0] + self.values[-1] - x
        return x

    def scored_scalar(self, x: float) -> float:
        """Scalar version of :meth:`scored`."""
        if math.isnan(x):
            return math.nan
        if self.recode is not None:
            return float(self.recode.get(x, math.nan))
        if self.reverse:
            return self.values[0] + self.values[-1] - x
        return x

    def valid_scalar(self, x: float) -> bool:
        """Scalar version of :meth:`is_valid`."""
        if math.isnan(x):
            return True
        if self.bounds is not None:
            return self.bounds[0] <= x <= self.bounds[1]
        return x in self.values


def likert(low: int, high: int) -> tuple[float, ...]:
    """Integer answers ``low..high`` inclusive."""
    return tuple(float(v) for v in range(low, high + 1))


# --------------------------------------------------------------------------------------------
# evaluation contexts
# --------------------------------------------------------------------------------------------


@dataclass
class VectorContext:
    """Scored item arrays and already computed scores of one instrument table."""

    items: dict[str, np.ndarray]
    n: int
    tables: Mapping[str, object]
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    #: ``(row mask, reason)`` reports of undefined scores, filled by aggregating nodes.
    missing: list[tuple[np.ndarray, str]] = field(default_factory=list)


@dataclass
class ScalarContext:
    """Scored item values and computed scores of one row."""

    items: dict[str, float]
    tables: Mapping[str, object]
    scores: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# expression nodes
# --------------------------------------------------------------------------------------------


class Expr:
    """Base of every expression node."""

    def vector(self, ctx: VectorContext) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def scalar(self, ctx: ScalarContext) -> float:  # pragma: no cover - interface
        raise NotImplementedError

    def columns(self) -> tuple[str, ...]:
        """Item columns this expression reads (directly)."""
        return ()

    def rule(self) -> str:
        """The missing-answer rule in words ('' when the node has none)."""
        return ""


def _stack(ctx: VectorContext, columns: Sequence[str]) -> np.ndarray:
    return np.column_stack([ctx.items[c] for c in columns]) if columns else np.empty((ctx.n, 0))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


@dataclass(frozen=True)
class _Aggregate(Expr):
    """Common part of nodes that combine items under a missing-answer rule."""

    items: tuple[str, ...]
    max_missing: int = 0

    def columns(self) -> tuple[str, ...]:
        return self.items

    def _allowed_missing(self) -> int:
        return self.max_missing

    def rule(self) -> str:
        k = len(self.items)
        allowed = self._allowed_missing()
        if allowed == 0:
            return f"all {k} items required"
        return f"at least {k - allowed} of {k} items required"

    def _report(self, ctx: VectorContext, n_missing: np.ndarray) -> np.ndarray:
        bad = n_missing > self._allowed_missing()
        if bad.any():
            for count in np.unique(n_missing[bad]):
                ctx.missing.append((bad & (n_missing == count),
                                    f"{_plural(int(count), 'item')} of {len(self.items)} "
                                    f"missing ({self.rule()})"))
        return bad

    def _scalar_values(self, ctx: ScalarContext) -> list[float]:
        return [ctx.items[c] for c in self.items]


@dataclass(frozen=True)
class Sum(_Aggregate):
    """Sum of scored items; NaN when more than ``max_missing`` are missing (no proration)."""

    def vector(self, ctx: VectorContext) -> np.ndarray:
        x = _stack(ctx, self.items)
        n_missing = np.isnan(x).sum(axis=1)
        out = np.nansum(x, axis=1)
        out[self._report(ctx, n_missing)] = np.nan
        return out

    def scalar(self, ctx: ScalarContext) -> float:
        values = self._scalar_values(ctx)
        answered = [v for v in values if not math.isnan(v)]
        if len(values) - len(answered) > self.max_missing:
            return math.nan
        return float(sum(answered))


@dataclass(frozen=True)
class Mean(_Aggregate):
    """Mean of the answered items; NaN when more than ``max_missing`` are missing."""

    def vector(self, ctx: VectorContext) -> np.ndarray:
        x = _stack(ctx, self.items)
        n_missing = np.isnan(x).sum(axis=1)
        bad = self._report(ctx, n_missing)
        answered = len(self.items) - n_missing
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.nansum(x, axis=1) / answered
        out[bad | (answered == 0)] = np.nan
        return out

    def scalar(self, ctx: ScalarContext) -> float:
        values = self._scalar_values(ctx)
        answered = [v for v in values if not math.isnan(v)]
        if len(values) - len(answered) > self.max_missing or not answered:
            return math.nan
        return float(sum(answered) / len(answered))


@dataclass(frozen=True)
class Percent(_Aggregate):
    """``100 * sum / (item_max * answered)``: the ODI rule (denominator shrinks per missing)."""

    item_max: float = 5.0

    def vector(self, ctx: VectorContext) -> np.ndarray:
        x = _stack(ctx, self.items)
        n_missing = np.isnan(x).sum(axis=1)
        bad = self._report(ctx, n_missing)
        answered = len(self.items) - n_missing
        with np.errstate(invalid="ignore", divide="ignore"):
            out = 100.0 * np.nansum(x, axis=1) / (self.item_max * answered)
        out[bad | (answered == 0)] = np.nan
        return out

    def scalar(self, ctx: ScalarContext) -> float:
        values = self._scalar_values(ctx)
        answered = [v for v in values if not math.isnan(v)]
        if len(values) - len(answered) > self.max_missing or not answered:
            return math.nan
        return 100.0 * sum(answered) / (self.item_max * len(answered))


@dataclass(frozen=True)
class MaxOf(_Aggregate):
    """Largest scored value (1 if any yes/no area is endorsed); NaN under the missing rule."""

    report: bool = False

    def vector(self, ctx: VectorContext) -> np.ndarray:
        x = _stack(ctx, self.items)
        n_missing = np.isnan(x).sum(axis=1)
        bad = self._report(ctx, n_missing) if self.report else n_missing > self.max_missing
        with np.errstate(invalid="ignore"):
            out = np.where(n_missing == len(self.items), np.nan,
                           np.nanmax(np.where(np.isnan(x), -np.inf, x), axis=1))
        out[bad] = np.nan
        return out

    def scalar(self, ctx: ScalarContext) -> float:
        values = self._scalar_values(ctx)
        answered = [v for v in values if not math.isnan(v)]
        if len(values) - len(answered) > self.max_missing or not answered:
            return math.nan
        return float(max(answered))


@dataclass(frozen=True)
class PairedMeanDiff(Expr):
    """Mean over trials of ``minuend_t - subtrahend_t``, using trials where both are present.

    NaN when fewer than ``min_pairs`` complete trials (temporal summation: 10th minus 1st
    pinprick rating, averaged over trials; BACPAC ``MDPTS``).
    """

    minuends: tuple[str, ...]
    subtrahends: tuple[str, ...]
    min_pairs: int = 1

    def __post_init__(self) -> None:
        if len(self.minuends) != len(self.subtrahends):
            raise ValueError("minuends and subtrahends must pair up")

    def columns(self) -> tuple[str, ...]:
        return (*self.minuends, *self.subtrahends)

    def rule(self) -> str:
        return (f"at least {self.min_pairs} of {len(self.minuends)} trials with both ratings "
                "required")

    def vector(self, ctx: VectorContext) -> np.ndarray:
        diff = _stack(ctx, self.minuends) - _stack(ctx, self.subtrahends)
        pairs = (~np.isnan(diff)).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.nansum(diff, axis=1) / pairs
        bad = pairs < self.min_pairs
        if bad.any():
            ctx.missing.append((bad, f"fewer than {self.min_pairs} complete trial(s) "
                                     f"({self.rule()})"))
        out[bad] = np.nan
        return out

    def scalar(self, ctx: ScalarContext) -> float:
        diffs = [ctx.items[a] - ctx.items[b] for a, b in zip(self.minuends, self.subtrahends,
                                                             strict=True)]
        diffs = [d for d in diffs if not math.isnan(d)]
        if len(diffs) < self.min_pairs:
            return math.nan
        return float(sum(diffs) / len(diffs))


@dataclass(frozen=True)
class Value(Expr):
    """One item's scored value; ``report=False`` when another score already reports it."""

    column: str
    report: bool = True

    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def rule(self) -> str:
        return "the item must be answered"

    def vector(self, ctx: VectorContext) -> np.ndarray:
        out = ctx.items[self.column].copy()
        bad = np.isnan(out)
        if self.report and bad.any():
            ctx.missing.append((bad, f"item {self.column} missing"))
        return out

    def scalar(self, ctx: ScalarContext) -> float:
        return ctx.items[self.column]


@dataclass(frozen=True)
class Ref(Expr):
    """A score computed earlier in the same instrument."""

    name: str

    def vector(self, ctx: VectorContext) -> np.ndarray:
        return ctx.scores[self.name]

    def scalar(self, ctx: ScalarContext) -> float:
        return ctx.scores[self.name]


@dataclass(frozen=True)
class Const(Expr):
    """A constant."""

    value: float

    def vector(self, ctx: VectorContext) -> np.ndarray:
        return np.full(ctx.n, float(self.value))

    def scalar(self, ctx: ScalarContext) -> float:
        return float(self.value)


_OPS: dict[str, Callable[[object, object], object]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
}


@dataclass(frozen=True)
class BinOp(Expr):
    """``left <op> right`` with op one of ``+ - * /``; division by zero gives NaN."""

    op: str
    left: Expr
    right: Expr

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"unknown operator {self.op!r}")

    def vector(self, ctx: VectorContext) -> np.ndarray:
        a, b = self.left.vector(ctx), self.right.vector(ctx)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            out = _OPS[self.op](a, b)
        return np.where(np.isfinite(out), out, np.nan)

    def scalar(self, ctx: ScalarContext) -> float:
        a, b = self.left.scalar(ctx), self.right.scalar(ctx)
        if math.isnan(a) or math.isnan(b) or (self.op == "/" and b == 0):
            return math.nan
        try:
            out = float(_OPS[self.op](a, b))
        except OverflowError:
            return math.nan
        return out if math.isfinite(out) else math.nan


def diff(a: Expr, b: Expr) -> BinOp:
    """``a - b``."""
    return BinOp("-", a, b)


def ratio(a: Expr, b: Expr) -> BinOp:
    """``a / b`` (NaN when b is 0)."""
    return BinOp("/", a, b)


def percent_change(new: Expr, base: Expr) -> BinOp:
    """``100 * (new - base) / base``."""
    return BinOp("*", Const(100.0), BinOp("/", BinOp("-", new, base), base))


@dataclass(frozen=True)
class Lookup(Expr):
    """Raw score → tabulated value (PROMIS summed-score → T-score or its SE).

    ``table`` names a table in the context (``{raw: (t_score, se)}``); ``field`` is 0 for the
    T-score and 1 for the standard error. A raw score outside the table is NaN.
    """

    source: Expr
    table: str
    field: int = 0

    def vector(self, ctx: VectorContext) -> np.ndarray:
        raw = self.source.vector(ctx)
        table = ctx.tables[self.table]
        low, values = table.offset, table.values[:, self.field]
        idx = raw - low
        ok = ~np.isnan(idx) & (idx >= 0) & (idx < len(values)) & (idx == np.floor(idx))
        out = np.full(ctx.n, np.nan)
        out[ok] = values[idx[ok].astype(int)]
        return out

    def scalar(self, ctx: ScalarContext) -> float:
        raw = self.source.scalar(ctx)
        table = ctx.tables[self.table]
        if math.isnan(raw):
            return math.nan
        row = table.rows.get(int(raw)) if raw == int(raw) else None
        return math.nan if row is None else row[self.field]


@dataclass(frozen=True)
class InSet(Expr):
    """1.0 where the source value is one of ``values``, 0.0 elsewhere, NaN where missing."""

    source: Expr
    values: tuple[float, ...]

    def vector(self, ctx: VectorContext) -> np.ndarray:
        x = self.source.vector(ctx)
        return np.where(np.isnan(x), np.nan, np.isin(x, self.values).astype(float))

    def scalar(self, ctx: ScalarContext) -> float:
        x = self.source.scalar(ctx)
        return math.nan if math.isnan(x) else float(x in self.values)


@dataclass(frozen=True)
class Apply(Expr):
    """A named rule applied elementwise to other expressions.

    ``func`` takes numpy arrays (one per input, same length) and returns an array; NaN inputs
    must give NaN. The scalar path calls ``func`` on one-element arrays, so rules declared this
    way are cross-checked against hand-worked cases in the tests rather than by the row-wise
    reference.
    """

    name: str
    func: Callable[..., np.ndarray]
    inputs: tuple[Expr, ...]

    def vector(self, ctx: VectorContext) -> np.ndarray:
        return np.asarray(self.func(*(e.vector(ctx) for e in self.inputs)), dtype=float)

    def scalar(self, ctx: ScalarContext) -> float:
        args = [np.array([e.scalar(ctx)], dtype=float) for e in self.inputs]
        return float(np.asarray(self.func(*args), dtype=float)[0])


# --------------------------------------------------------------------------------------------
# scores and instruments
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    """One output of an instrument: feature ``q.<instrument>.<name>``.

    Attributes
    ----------
    name : str
        Short name (``t_score``, ``total``, ``rumination`` ...).
    expr : Expr
        How it is computed.
    unit : str
        Unit (``T-score``, ``points``, ``%``, ``kg/cm^2`` ...).
    description : str
        What it measures.
    valid_min, valid_max : float, optional
        The published range.
    direction : str
        What a higher value means.
    role : str
        Codebook role: ``feature`` or ``outcome`` (post-randomisation ratings such as PGIC).
    """

    name: str
    expr: Expr
    unit: str
    description: str
    valid_min: float | None = None
    valid_max: float | None = None
    direction: str = ""
    role: str = "feature"


@dataclass(frozen=True)
class Instrument:
    """A questionnaire or clinical test, declared once.

    Attributes
    ----------
    name : str
        Registry key, phenotype table stem (``phenotype/<name>.tsv``) and feature group.
    title : str
        Full name and version.
    items : tuple of Item
        In published order.
    scores : tuple of Score
        Computed in order; later scores may :class:`Ref` earlier ones.
    citation : str
        Where the scoring rule comes from.
    missing_rule : str
        The published missing-answer rule, in words.
    sdtm_label : str
        ``QSSCAT`` / ``FTCAT`` written for this instrument in the SDTM long format.
    sdtm_aliases : tuple of str
        Other ``QSSCAT`` values that mean this instrument (BACPAC Minimum Dataset labels).
    domain : str
        ``QS`` (questionnaire) or ``FT`` (functional test / QST).
    notes : str
        Caveats shown in every codebook row (raw-only forms, unverified facts).
    """

    name: str
    title: str
    items: tuple[Item, ...]
    scores: tuple[Score, ...]
    citation: str
    missing_rule: str
    sdtm_label: str
    sdtm_aliases: tuple[str, ...] = ()
    domain: str = "QS"
    notes: str = ""

    def __post_init__(self) -> None:
        columns = [i.column for i in self.items]
        if len(set(columns)) != len(columns):
            raise ValueError(f"{self.name}: duplicated item columns")
        codes = [i.code.upper() for i in self.items]
        if len(set(codes)) != len(codes):
            raise ValueError(f"{self.name}: duplicated item codes")
        names = [s.name for s in self.scores]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: duplicated score names")
        known = set(columns)
        for s in self.scores:
            unknown = set(expr_columns(s.expr)) - known
            if unknown:
                raise ValueError(f"{self.name}.{s.name} uses undeclared items {sorted(unknown)}")

    @property
    def columns(self) -> tuple[str, ...]:
        """Item columns in published order."""
        return tuple(i.column for i in self.items)

    def item(self, column: str) -> Item:
        """The item declared under ``column``."""
        for it in self.items:
            if it.column == column:
                return it
        raise KeyError(column)

    def feature(self, score: str) -> str:
        """Feature name of a score: ``q.<instrument>.<score>``."""
        return f"q.{self.name}.{score}"


def children(expr: Expr) -> list[Expr]:
    """Sub-expressions of a node."""
    kids = [getattr(expr, a) for a in ("source", "left", "right")
            if isinstance(getattr(expr, a, None), Expr)]
    return kids + list(getattr(expr, "inputs", ()) or ())


def expr_columns(expr: Expr) -> tuple[str, ...]:
    """Every item column an expression tree reads."""
    found = list(expr.columns())
    for child in children(expr):
        found.extend(expr_columns(child))
    return tuple(found)


def expr_refs(expr: Expr) -> set[str]:
    """Names of the scores an expression tree refers to."""
    found = {expr.name} if isinstance(expr, Ref) else set()
    for child in children(expr):
        found |= expr_refs(child)
    return found
