"""Public entry points: score one table, a set of tables, or a whole dataset."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from backpheno import __version__
from backpheno.dataset import DEFAULT_SESSION_WEEKS, Dataset
from backpheno.errors import InputError
from backpheno.questionnaires.engine import (
    POLICIES,
    AnswerError,
    ScoreResult,
    _offenders,
    _problems_to_qc,
    score_frame,
)
from backpheno.questionnaires.registry import INSTRUMENT_NAMES, get_instrument
from backpheno.questionnaires.settings import QuestionnaireSettings
from backpheno.table import INDEX_NAMES, QC_COLUMNS, FeatureTable, make_codebook, make_qc

logger = logging.getLogger("backpheno.questionnaires")


def score_instrument(frame: pd.DataFrame, instrument: str, *, pgic_coding: str | None = None,
                     invalid_answers: str = "error") -> ScoreResult:
    """Scores, codebook rows and QC of one instrument table.

    Parameters
    ----------
    frame : DataFrame
        ``participant_id``, ``session_id`` (optional) and one column per item.
    instrument : str
        Instrument name (see :data:`~backpheno.questionnaires.INSTRUMENT_NAMES`).
    pgic_coding : str, optional
        Required for ``pgic``: ``bacpac_0_6``, ``common_1_7`` or ``reversed_1_7``.
    invalid_answers : {"error", "set_missing"}
        See :class:`~backpheno.questionnaires.QuestionnaireSettings`.

    Raises
    ------
    AnswerError
        Listing every invalid answer, duplicated row, unknown or missing column (policy
        ``"error"``).
    """
    _check_policy(invalid_answers)
    result = score_frame(frame, get_instrument(instrument, pgic_coding), invalid_answers)
    if len(result.offenders):
        raise AnswerError(result.offenders)
    return result


def score(frame: pd.DataFrame, instrument: str, *, pgic_coding: str | None = None,
          invalid_answers: str = "error") -> pd.DataFrame:
    """Score one instrument table.

    Returns
    -------
    DataFrame
        One column per score ``q.<instrument>.<score>``, indexed by
        ``(participant_id, session_id)`` (or by the input's index when it has no identifier
        columns). See :func:`score_instrument` for the parameters and errors.
    """
    return score_instrument(frame, instrument, pgic_coding=pgic_coding,
                            invalid_answers=invalid_answers).scores


def score_tables(tables: Mapping[str, pd.DataFrame], settings: QuestionnaireSettings,
                 participants: pd.Index | None = None,
                 input_problems: pd.DataFrame | None = None) -> FeatureTable:
    """Score several instrument tables into one feature table.

    Parameters
    ----------
    tables : mapping
        Instrument name → item table (``participant_id``, ``session_id``, items).
    settings : QuestionnaireSettings
    participants : Index, optional
        Known participant identifiers; rows of other participants are input problems.
    input_problems : DataFrame, optional
        Problems found while reading the tables (e.g. by the SDTM reader), reported together
        with the scoring problems.

    Returns
    -------
    FeatureTable
        Rows: participant × session (sorted by participant, then session week); columns: every
        score of every table, instruments in registry order; codebook and QC filled.

    Raises
    ------
    AnswerError
        One error listing every problem of every table (policy ``"error"``).
    """
    policy = settings.invalid_answers
    wanted = settings.instruments
    results: list[ScoreResult] = []
    problems: list[pd.DataFrame] = []
    extra_qc: list[pd.DataFrame] = []
    if input_problems is not None and len(input_problems):
        problems.append(input_problems)
        extra_qc.append(_problems_to_qc(input_problems.to_dict("records")))
    order = {n: i for i, n in enumerate(INSTRUMENT_NAMES)}
    for name, frame in sorted(tables.items(), key=lambda kv: order.get(kv[0], len(order))):
        if wanted is not None and name not in wanted:
            continue
        if name not in INSTRUMENT_NAMES:
            raise InputError(f"no instrument named {name!r}; known: {list(INSTRUMENT_NAMES)}")
        if participants is not None and "participant_id" in frame:
            frame, outsiders = _known_participants(frame, name, participants)
            if len(outsiders):
                problems.append(outsiders)
                extra_qc.append(_problems_to_qc(outsiders.to_dict("records")))
        result = score_frame(frame, get_instrument(name, settings.pgic_coding), policy)
        problems.append(result.offenders)
        results.append(result)
    offenders = pd.concat([p for p in problems if len(p)] or [_offenders([])], ignore_index=True)
    if policy == "error" and len(offenders):
        raise AnswerError(offenders)
    return _assemble(results, extra_qc, settings)


def score_dataset(dataset: Dataset | None, settings: QuestionnaireSettings) -> FeatureTable:
    """Score every instrument found under ``phenotype/`` (or in the SDTM tables of ``settings``).

    Parameters
    ----------
    dataset : Dataset or None
        The dataset folder. May be None when ``settings.sdtm`` gives the input.
    settings : QuestionnaireSettings

    Returns
    -------
    FeatureTable
        Used by the cohort runner; codebook and QC filled.
    """
    from backpheno.questionnaires.sdtm import read_sdtm_with_problems

    participants = None if dataset is None else dataset.participants.index
    read_problems = None
    if settings.sdtm is not None:
        if settings.pgic_coding != "bacpac_0_6":
            raise InputError("the BACPAC Minimum Dataset codes PGIC1 as 0 = very much improved "
                             ".. 6 = very much worse: set pgic_coding to bacpac_0_6",
                             column="pgic_coding")
        tables, read_problems = read_sdtm_with_problems(settings.sdtm.qs, settings.sdtm.ft,
                                                        settings=settings)
    elif dataset is None:
        raise InputError("give a dataset folder or SDTM tables (settings.sdtm)")
    else:
        tables = {}
        for name in dataset.phenotype_instruments():
            if name not in INSTRUMENT_NAMES:
                logger.warning("phenotype/%s.tsv is not a known instrument; skipped", name)
                continue
            if settings.instruments is not None and name not in settings.instruments:
                continue
            tables[name] = dataset.phenotype(name)
        if "pgic" in tables:
            _check_pgic_sidecar(dataset, settings.pgic_coding)
    return score_tables(tables, settings, participants, read_problems)


def _check_pgic_sidecar(dataset: Dataset, coding: str) -> None:
    sidecar = dataset.phenotype_sidecar("pgic")
    declared = sidecar.get("pgic_01", {}).get("Coding") or sidecar.get("Coding")
    if declared is not None and declared != coding:
        raise InputError(f"phenotype/pgic.json declares coding {declared!r} but the settings say "
                         f"{coding!r}", file=dataset.root / "phenotype" / "pgic.json",
                         column="pgic_01")


def _known_participants(frame: pd.DataFrame, name: str,
                        participants: pd.Index) -> tuple[pd.DataFrame, pd.DataFrame]:
    unknown = ~frame["participant_id"].isin(participants)
    rows = frame.loc[unknown, ["participant_id", "session_id"]]
    outsiders = _offenders([dict(participant_id=p, session_id=s, instrument=name,
                                 problem="participant not in participants.tsv; rows dropped")
                            for p, s in rows.itertuples(index=False)])
    return frame.loc[~unknown], outsiders


def _assemble(results: list[ScoreResult], extra_qc: list[pd.DataFrame],
              settings: QuestionnaireSettings) -> FeatureTable:
    frames = [r.scores for r in results if r.scores.shape[1]]
    if frames:
        data = pd.concat(frames, axis=1, join="outer")
    else:
        data = pd.DataFrame(index=pd.MultiIndex.from_arrays([[], []], names=list(INDEX_NAMES)))
    data.index = data.index.set_names(list(INDEX_NAMES))
    data = data.iloc[_session_order(data.index)].astype(float)
    codebook = make_codebook([row for r in results for row in r.codebook])
    qc_parts = [q for q in [*extra_qc, *(r.qc for r in results)] if len(q)]
    qc = pd.concat(qc_parts, ignore_index=True)[list(QC_COLUMNS)] if qc_parts else make_qc([])
    metadata = {"questionnaires": {"version": __version__,
                                   "settings": settings.model_dump(mode="json"),
                                   "instruments": [r.codebook[0]["name"].split(".")[1]
                                                   for r in results if r.codebook]}}
    return FeatureTable(data, codebook.loc[list(data.columns)], qc, metadata)


def _session_order(index: pd.MultiIndex) -> np.ndarray:
    pids = index.get_level_values("participant_id").astype(str)
    weeks = index.get_level_values("session_id").map(
        lambda s: DEFAULT_SESSION_WEEKS.get(s, float("inf")))
    frame = pd.DataFrame({"p": pids, "w": np.asarray(weeks, dtype=float),
                          "s": index.get_level_values("session_id").astype(str)})
    return np.lexsort((frame["s"].to_numpy(), frame["w"].to_numpy(), frame["p"].to_numpy()))


def _check_policy(policy: str) -> None:
    if policy not in POLICIES:
        raise InputError(f"invalid_answers must be one of {POLICIES}, got {policy!r}",
                         column="invalid_answers")
