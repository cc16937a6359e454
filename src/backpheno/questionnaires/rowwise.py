"""Row-by-row reference scorer: one participant-session at a time, in plain Python.

It reads the same declarations as the vectorised engine but evaluates every node through its
scalar path, one row at a time. It exists for two reasons: the tests check that the vectorised
engine gives the same numbers for any answers, and ``benchmarks/bench_questionnaires.py``
measures the engine's speed against it. It does not produce QC rows; invalid answers raise.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from backpheno.errors import InputError
from backpheno.questionnaires.registry import get_instrument
from backpheno.questionnaires.spec import Instrument, ScalarContext, expr_columns, expr_refs
from backpheno.questionnaires.tables import promis_tables


def score_row(answers: dict[str, object], instrument: Instrument) -> dict[str, float]:
    """Scores of one row of answers (column → value; absent or None/NaN = unanswered).

    Raises
    ------
    InputError
        For a non-numeric or out-of-range answer.
    """
    items = {}
    for it in instrument.items:
        value = answers.get(it.column)
        x = math.nan if value is None or (isinstance(value, float) and math.isnan(value)) \
            else _number(value, it.column)
        if not it.valid_scalar(x):
            raise InputError(f"out of range (allowed {it.allowed})", column=it.column)
        items[it.column] = it.scored_scalar(x)
    absent = {it.column for it in instrument.items if it.optional and it.column not in answers}
    ctx = ScalarContext(items=items, tables=promis_tables())
    out = {}
    skipped: set[str] = set()
    for s in instrument.scores:
        if set(expr_columns(s.expr)) & absent or expr_refs(s.expr) & skipped:
            skipped.add(s.name)
            value = math.nan
        else:
            value = s.expr.scalar(ctx)
        ctx.scores[s.name] = value
        out[instrument.feature(s.name)] = value
    return out


def score_rows(frame: pd.DataFrame, instrument: str,
               pgic_coding: str | None = None) -> pd.DataFrame:
    """Score a table by looping over its rows with :func:`score_row`."""
    inst = get_instrument(instrument, pgic_coding)
    present = [c for c in inst.columns if c in frame.columns]
    records = []
    for row in frame[present].itertuples(index=False, name=None):
        answers = {c: (None if pd.isna(v) else v) for c, v in zip(present, row, strict=True)}
        records.append(score_row(answers, inst))
    index = (pd.MultiIndex.from_frame(frame[["participant_id", "session_id"]])
             if {"participant_id", "session_id"} <= set(frame.columns) else frame.index)
    columns = [inst.feature(s.name) for s in inst.scores]
    return pd.DataFrame(records, index=index, columns=columns).astype(float)


def _number(value: object, column: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError("not a number", column=column) from None
    return x if np.isfinite(x) else math.nan
