"""Vectorised scoring of one instrument table, with input checks, QC and codebook rows.

:func:`score_frame` takes an item table (one row per participant × session, one column per item)
and an :class:`~backpheno.questionnaires.spec.Instrument`, and returns a :class:`ScoreResult`:
the scores, the codebook rows, the QC rows and every input problem found. Problems are never
raised here one at a time; the caller collects them over all instruments and raises one
:class:`AnswerError` listing every offender (policy ``"error"``), or has already set them missing
and recorded each in the QC table (policy ``"set_missing"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from backpheno import __version__
from backpheno.errors import InputError
from backpheno.questionnaires.spec import Instrument, VectorContext, expr_columns, expr_refs
from backpheno.questionnaires.tables import promis_tables
from backpheno.table import INDEX_NAMES, QC_COLUMNS, codebook_row

#: What to do with invalid input: raise one error listing everything, or set it missing.
POLICIES = ("error", "set_missing")
#: Columns every phenotype table may carry besides its items.
ID_COLUMNS = INDEX_NAMES
MODALITY = "q"
OFFENDER_COLUMNS = ("participant_id", "session_id", "instrument", "column", "value", "problem")

#: Text cells that mean "no answer" (BIDS writes n/a).
_BLANK = ("", "n/a")
_PARTICIPANT_RE = re.compile(r"^sub-[A-Za-z0-9]+$")
_SESSION_RE = re.compile(r"^ses-[A-Za-z0-9]+$")


class AnswerError(InputError):
    """Invalid questionnaire input: every offending participant / session / item at once.

    Attributes
    ----------
    offenders : DataFrame
        One row per problem with the columns of :data:`OFFENDER_COLUMNS`.
    """

    def __init__(self, offenders: pd.DataFrame, file: str | None = None) -> None:
        self.offenders = offenders.reset_index(drop=True)
        message = (f"{len(self.offenders):,} invalid questionnaire input(s); fix them or score "
                   "with invalid_answers='set_missing' to set them missing and record each in "
                   "the QC table:\n" + "\n".join(_summary_lines(self.offenders)))
        super().__init__(message, file=file)


#: An AnswerError's message has at most this many lines.
MAX_MESSAGE_LINES = 20
#: A problem shared by more rows than this is one line: its count and this many examples.
_EXAMPLES = 3


def _summary_lines(offenders: pd.DataFrame) -> list[str]:
    """One line per problem row, or per kind of problem when it affects many rows."""
    lines = []
    for problem, rows in offenders.groupby(offenders["problem"].fillna(""), sort=False):
        if len(rows) <= _EXAMPLES:
            lines += [f"  - {_describe(row)}" for row in rows.itertuples(index=False)]
            continue
        varied = pd.concat([rows.drop_duplicates("value"), rows]).drop_duplicates()
        examples = "; ".join(_example(row)
                             for row in varied.head(_EXAMPLES).itertuples(index=False))
        lines.append(f"  - {problem}: {len(rows):,} rows, e.g. {examples}")
    budget = MAX_MESSAGE_LINES - 1  # the first line says how many inputs
    if len(lines) > budget:
        rest = len(lines) - (budget - 1)
        lines = [*lines[:budget - 1], f"  ... and {rest:,} more line(s) of problems (every one "
                 "is in the error's offenders table and, with set_missing, in the QC table)"]
    return lines


def _example(row) -> str:
    where = [str(v) for v in (row.participant_id, row.session_id) if _present(v)]
    target = f"{row.instrument}.{row.column}" if _present(row.column) else row.instrument
    value = f" (value {row.value!r})" if _present(row.value) else ""
    return " ".join([*where, str(target)]) + value


def _describe(row) -> str:
    where = " ".join(str(v) for v in (row.participant_id, row.session_id) if _present(v))
    target = f"{row.instrument}.{row.column}" if _present(row.column) else row.instrument
    value = f" (value {row.value!r})" if _present(row.value) else ""
    return f"{where + ' ' if where else ''}{target}: {row.problem}{value}"


def _present(value) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value)) \
        and value is not pd.NA and value != ""


@dataclass
class ScoreResult:
    """Scores of one instrument table.

    Attributes
    ----------
    scores : DataFrame
        Indexed like the input rows (``(participant_id, session_id)`` when the table has them),
        one column per feature ``q.<instrument>.<score>``.
    codebook : list of dict
        One :func:`backpheno.table.codebook_row` per feature.
    qc : DataFrame
        Missing scores and invalid answers set missing, columns of
        :data:`backpheno.table.QC_COLUMNS`.
    offenders : DataFrame
        Input problems (columns of :data:`OFFENDER_COLUMNS`); under policy ``"error"`` the
        caller raises them as one :class:`AnswerError`.
    """

    scores: pd.DataFrame
    codebook: list[dict]
    qc: pd.DataFrame
    offenders: pd.DataFrame = field(default_factory=lambda: _offenders([]))


def _offenders(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(OFFENDER_COLUMNS))


def codebook_rows(instrument: Instrument) -> list[dict]:
    """Codebook rows of every score of an instrument."""
    source = f"backpheno.questionnaires {__version__}: {instrument.title}"
    rows = []
    for s in instrument.scores:
        parts = [s.description + ".", f"Missing answers: {instrument.missing_rule}."]
        if instrument.notes:
            parts.append(instrument.notes)
        rows.append(codebook_row(
            instrument.feature(s.name), modality=MODALITY, source=source, unit=s.unit,
            description=" ".join(parts), valid_min=s.valid_min, valid_max=s.valid_max,
            direction=s.direction, provenance=instrument.citation, role=s.role,
        ))
    return rows


def score_frame(frame: pd.DataFrame, instrument: Instrument, policy: str = "error") -> ScoreResult:
    """Check and score one instrument table, vectorised over its rows.

    Parameters
    ----------
    frame : DataFrame
        One row per participant × session: ``participant_id``, ``session_id`` (optional for
        ad-hoc use; the frame's own index is kept then) and one column per item.
    instrument : Instrument
        The declaration to score with.
    policy : {"error", "set_missing"}
        ``"error"``: return every problem in ``offenders`` and no scores for offending input
        (the caller raises). ``"set_missing"``: invalid answers and duplicated rows become
        missing, unknown columns are ignored, missing columns are treated as unanswered; each
        is recorded in ``qc``.

    Returns
    -------
    ScoreResult
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    has_ids = all(c in frame.columns for c in ID_COLUMNS)
    problems: list[dict] = []
    keep = np.ones(len(frame), dtype=bool)
    if has_ids:
        frame, problems, keep, index = _check_ids(frame, instrument.name)
    else:
        index = frame.index
    pids, sids = _labels(frame, has_ids)
    problems += _column_problems(frame, instrument)
    items, answer_problems = _read_items(frame, instrument, pids, sids)
    problems += answer_problems
    if problems and policy == "error":
        empty = pd.DataFrame(index=index[:0])
        return ScoreResult(empty, codebook_rows(instrument), _qc([]), _offenders(problems))

    absent = {i.column for i in instrument.items if i.optional and i.column not in frame}
    columns, missing = _evaluate(instrument, items, len(frame), absent)
    qc_parts = [_problems_to_qc(problems)] if problems else []
    for feature, mask, reason in missing:
        mask = mask & keep
        if mask.any():
            qc_parts.append(_qc_rows(pids[mask], sids[mask], feature, "missing", reason))
    scores = pd.DataFrame(columns, index=index)
    if has_ids:
        scores = scores[keep]
    return ScoreResult(scores, codebook_rows(instrument), _qc(qc_parts))


def _column_problems(frame: pd.DataFrame, instrument: Instrument) -> list[dict]:
    """Columns that are not items, and required item columns that are absent."""
    name = instrument.name
    declared = set(instrument.columns)
    problems = [dict(instrument=name, column=col,
                     problem=f"unknown column (not an item of {name}: {instrument.title})")
                for col in frame.columns if col not in declared and col not in ID_COLUMNS]
    problems += [dict(instrument=name, column=it.column, problem="item column missing")
                 for it in instrument.items if it.column not in frame and not it.optional]
    return problems


def _read_items(frame: pd.DataFrame, instrument: Instrument, pids: np.ndarray,
                sids: np.ndarray) -> tuple[dict[str, np.ndarray], list[dict]]:
    """Scored item arrays (invalid answers set missing) and one problem per invalid answer."""
    n = len(frame)
    items: dict[str, np.ndarray] = {}
    problems: list[dict] = []
    for it in instrument.items:
        if it.column not in frame.columns:
            items[it.column] = np.full(n, np.nan)
            continue
        raw = frame[it.column]
        if not pd.api.types.is_numeric_dtype(raw):
            text = raw.astype("string").str.strip()
            raw = raw.where(text.notna() & ~text.isin(_BLANK))
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        non_numeric = raw.notna().to_numpy() & np.isnan(values)
        bad = non_numeric | ~it.is_valid(values)
        if bad.any():
            rows = np.flatnonzero(bad)
            problem = np.where(non_numeric[rows], "not a number",
                               f"out of range (allowed {it.allowed})")
            problems += [dict(participant_id=pids[r], session_id=sids[r],
                              instrument=instrument.name, column=it.column,
                              value=_plain(raw.iloc[r]), problem=p)
                         for r, p in zip(rows, problem, strict=True)]
            values = np.where(bad, np.nan, values)
        items[it.column] = it.scored(values)
    return items, problems


def _evaluate(instrument: Instrument, items: dict[str, np.ndarray], n: int,
              absent_optional: set[str]) -> tuple[dict[str, np.ndarray], list[tuple]]:
    """Every score over all rows, and ``(feature, rows, reason)`` for undefined scores."""
    ctx = VectorContext(items=items, n=n, tables=promis_tables())
    skipped = _skipped_scores(instrument, absent_optional)
    columns: dict[str, np.ndarray] = {}
    missing: list[tuple] = []
    for s in instrument.scores:
        feature = instrument.feature(s.name)
        if s.name in skipped:
            columns[feature] = np.full(n, np.nan)
            continue
        ctx.missing = []
        values = np.asarray(s.expr.vector(ctx), dtype=float)
        ctx.scores[s.name] = values
        columns[feature] = values
        missing += [(feature, mask, reason) for mask, reason in ctx.missing]
    return columns, missing


def _check_ids(frame: pd.DataFrame,
               name: str) -> tuple[pd.DataFrame, list[dict], np.ndarray, pd.MultiIndex]:
    """Invalid identifiers and duplicated rows.

    Returns the frame with text identifiers, the problems, ``keep`` (rows that may be scored)
    and the ``(participant_id, session_id)`` index.
    """
    problems = []
    frame = frame.copy()
    keep = np.ones(len(frame), dtype=bool)
    for col, pattern in (("participant_id", _PARTICIPANT_RE), ("session_id", _SESSION_RE)):
        text = frame[col].astype("string")
        bad = ~text.str.fullmatch(pattern.pattern).fillna(False).to_numpy(dtype=bool)
        keep &= ~bad
        for r in np.flatnonzero(bad):
            problems.append(dict(participant_id=frame["participant_id"].iloc[r],
                                 session_id=frame["session_id"].iloc[r], instrument=name,
                                 column=col, value=_plain(frame[col].iloc[r]),
                                 problem=f"invalid {col}"))
        frame[col] = text.fillna("").astype(str)
    index = pd.MultiIndex.from_arrays([frame["participant_id"], frame["session_id"]],
                                      names=list(ID_COLUMNS))
    duplicated = index.duplicated(keep=False)
    if duplicated.any():
        counts = index[duplicated].value_counts(sort=False)
        for (pid, sid), count in counts.items():
            problems.append(dict(participant_id=pid, session_id=sid, instrument=name,
                                 problem=f"duplicated participant-session row ({count} rows)"))
    keep &= ~duplicated
    return frame, problems, keep, index


def _labels(frame: pd.DataFrame, has_ids: bool) -> tuple[np.ndarray, np.ndarray]:
    if has_ids:
        return (frame["participant_id"].to_numpy(dtype=object),
                frame["session_id"].to_numpy(dtype=object))
    labels = np.array([f"row {v}" for v in frame.index], dtype=object)
    return labels, np.full(len(frame), "", dtype=object)


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _skipped_scores(instrument: Instrument, absent_optional: set[str]) -> set[str]:
    """Scores that read an absent optional column, or refer to such a score."""
    skipped: set[str] = set()
    if not absent_optional:
        return skipped
    for s in instrument.scores:
        if set(expr_columns(s.expr)) & absent_optional or expr_refs(s.expr) & skipped:
            skipped.add(s.name)
    return skipped


def _qc_rows(pids: np.ndarray, sids: np.ndarray, item: str, status: str,
             reason: str) -> pd.DataFrame:
    return pd.DataFrame({"participant_id": pids, "session_id": sids, "modality": MODALITY,
                         "item": item, "status": status, "reason": reason})


def _problems_to_qc(problems: list[dict]) -> pd.DataFrame:
    frame = _offenders(problems)
    column = frame["column"].astype(object)
    item = frame["instrument"] + np.where(column.notna(), "." + column.fillna("").astype(str), "")
    value = frame["value"].map(lambda v: f" (value {v!r})" if _present(v) else "")
    problem = frame["problem"]
    dropped = problem.str.startswith("duplicated") | problem.str.startswith("invalid")
    action = np.where(problem.str.endswith("dropped"), "",
                      np.where(dropped, "; rows dropped",
                               np.where(problem.str.startswith("unknown"), "; ignored",
                                        "; set missing")))
    return pd.DataFrame({"participant_id": frame["participant_id"],
                         "session_id": frame["session_id"], "modality": MODALITY, "item": item,
                         "status": "flagged", "reason": frame["problem"] + value + action})


def _qc(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=list(QC_COLUMNS))
    return pd.concat(parts, ignore_index=True)[list(QC_COLUMNS)]
