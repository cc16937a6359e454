"""The BACPAC Minimum Dataset long format (CDISC-SDTM-like QS and FT domains): read and write.

Reading
    :func:`read_sdtm` turns the long tables (one row per subject × visit × item) into the same
    wide item tables as ``phenotype/<instrument>.tsv``, so scores are identical whichever format
    the answers come in.

    * ``USUBJID`` → ``participant_id``: a leading ``<STUDYID>-`` is removed, the rest keeps its
      letters and digits: ``SMART-0201-00001`` → ``sub-020100001``.
    * Visits → ``session_id`` by the ``visits`` setting. The ``weeks`` preset (default) reads
      ``VISITNUM`` as weeks after baseline through the session weeks (``ses-V0`` = 0,
      ``ses-W06`` = 6, ``ses-V1`` = 12, ``ses-W18`` = 18, ``ses-V2`` = 24, ``ses-W36`` = 36); a
      :class:`~backpheno.questionnaires.settings.VisitMap` maps ``VISITNUM`` visit numbers
      (1, 2, 3 ...) or ``VISIT`` names to sessions. Rows of an unmapped visit are one input
      problem, reported once with its count and the setting that fixes it.
    * QS rows go to the instrument named by ``QSSCAT`` (backpheno's labels and the Minimum
      Dataset's, e.g. "PROMIS Pain Interference"); rows without a known ``QSSCAT`` are assigned
      by item code (``QSTESTCD``, case-insensitive) to the complete forms present, the largest
      form winning over the short forms it contains.
    * FT rows are matched on ``FTTESTCD``, the site in ``FTLOC`` (lumbar / trapezius / forearm)
      and the trial ``FTREPNUM``; an after-sensation rating "not done" because there was no
      lingering pain counts as 0, as in the Minimum Dataset's derived ``PTSMN15S``.
    * Derived rows (``QSDRVFL`` / ``FTDRVFL`` = Y) are skipped: backpheno recomputes every
      score. Minimum Dataset items that are not scored (TAPS, pain duration, radicular pain,
      neurological exam, repeated movements ...) are skipped; any other code is an input
      problem.

Writing
    :func:`write_sdtm` exports BIDS phenotype tables to ``qs.csv`` and ``ft.csv`` (every item of
    every row, missing answers as ``QSSTAT = NOT DONE``) so a dataset can be round-tripped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from backpheno.dataset import DEFAULT_SESSION_WEEKS, Dataset
from backpheno.errors import InputError
from backpheno.io import atomic_path
from backpheno.questionnaires.engine import OFFENDER_COLUMNS, AnswerError, _offenders
from backpheno.questionnaires.instruments.pain import PGIC_CODINGS
from backpheno.questionnaires.registry import INSTRUMENT_NAMES, all_instruments, get_instrument
from backpheno.questionnaires.settings import VisitMap
from backpheno.questionnaires.spec import Instrument

QS_REQUIRED = ("USUBJID", "VISITNUM", "QSTESTCD", "QSSTRESN")
FT_REQUIRED = ("USUBJID", "VISITNUM", "FTTESTCD", "FTSTRESN")

#: Minimum Dataset QS codes that are collected but not scored by backpheno.
UNSCORED_QS = frozenset({
    "TAPS1Q1", "TAPS1Q2", "TAPS1Q3", "TAPS1Q4", "TAPS1Q5", "LBPDF01", "LBPDF02", "RADLBP1",
    "RADLBP2",
    # derived scores (recomputed here), skipped even when QSDRVFL is not set
    "PEGSCORE", "PRPI4AR", "PRPI4AT", "PRPF6BR", "PRPF6BT", "PRSD6AR", "PRSD6AT", "PRANX4AR",
    "PRANX4AT", "PRDEP4AR", "PRDEP4AT", "PCSRAW", "PHQ2RAW", "GAD2RAW", "WDSPPNUM",
})
#: Minimum Dataset FT codes that are collected but not scored by backpheno.
UNSCORED_FT = frozenset({
    "GRNPAIN", "HIPIRD", "LEXMYOT", "BABINSKI", "LEXREFLX", "LEXSENS", "LUMSEG", "LUMSEGP",
    "LUMSEGPI", "LUMSEGPL", "PRONINST", "LBPSIDE", "LOWBPAIN", "LINGPAIN", "ABERMOT1",
    "ABERMOT2", "ABERMOT3", "ABERMOT4", "ABMOTPRE", "EPAINRT", "REPGLDCN", "REPGLDDP", "REPGLDPE",
    "REPGLDPN", "REPMEXCN", "REPMEXDP", "REPMEXPE", "REPMEXPN", "REPMFLX1", "REPMFLX2",
    "REPMFLX3", "REPMFLX4", "SLCRMYOT",
    # derived scores (recomputed here), skipped even when FTDRVFL is not set
    "LFLEXTOT", "LEXTNTOT", "MDPTS", "PTSMN15S", "PTSMN30S",
})
#: FTLOC text for each site written by :func:`write_sdtm`.
SITE_LABELS = {"lumbar": "Lumbar Region", "trapezius": "Trapezius", "forearm": "Volar Forearm"}
AFTER_SENSATION = ("LINGPN15", "LINGPN30")
_ID = ["participant_id", "session_id"]


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------


def read_long(path: str | Path) -> pd.DataFrame:
    """Read one SDTM table (``.csv``, ``.tsv``, ``.xpt`` or ``.sas7bdat``) as text columns."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", file=path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".xpt", ".sas7bdat"):
            frame = pd.read_sas(path, format="xport" if suffix == ".xpt" else "sas7bdat",
                                encoding="utf-8")
        else:
            frame = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", dtype=str,
                                keep_default_na=False, na_values=[""])
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read SDTM table ({err})", file=path) from None
    frame.columns = [str(c).strip().upper() for c in frame.columns]
    return frame


def read_sdtm(qs: str | Path | pd.DataFrame | None = None,
              ft: str | Path | pd.DataFrame | None = None, *, settings=None,
              pgic_coding: str = "bacpac_0_6", studyid: str | None = None,
              instruments: list[str] | None = None,
              session_weeks: Mapping[str, float] | None = None,
              visits: str | VisitMap = "weeks",
              invalid_answers: str = "error") -> dict[str, pd.DataFrame]:
    """Wide item tables, keyed by instrument name, from the Minimum Dataset long format.

    Parameters
    ----------
    qs, ft : path or DataFrame, optional
        The QS (questionnaires) and FT (physical exam, QST) tables.
    settings : QuestionnaireSettings, optional
        Supplies ``pgic_coding``, ``sdtm.studyid``, ``instruments``, ``visits``,
        ``session_weeks`` and ``invalid_answers`` (the keyword arguments are used when it is
        not given).
    visits : "weeks" or VisitMap
        How visits become sessions: ``weeks`` reads ``VISITNUM`` as weeks after baseline
        through ``session_weeks``; a :class:`VisitMap` maps ``VISITNUM`` or ``VISIT`` values.

    Returns
    -------
    dict
        Instrument name → DataFrame (``participant_id``, ``session_id``, item columns).

    Raises
    ------
    AnswerError
        Listing every unknown code, unmapped visit, non-numeric value or duplicated row, when
        ``invalid_answers`` is ``"error"``; otherwise those rows are dropped (and their values
        missing). Use :func:`read_sdtm_with_problems` to receive the problems instead.
    """
    tables, problems = read_sdtm_with_problems(
        qs, ft, settings=settings, pgic_coding=pgic_coding, studyid=studyid,
        instruments=instruments, session_weeks=session_weeks, visits=visits)
    policy = settings.invalid_answers if settings is not None else invalid_answers
    if policy == "error" and len(problems):
        raise AnswerError(problems)
    return tables


def read_sdtm_with_problems(qs=None, ft=None, *, settings=None, pgic_coding: str = "bacpac_0_6",
                            studyid: str | None = None, instruments: list[str] | None = None,
                            session_weeks: Mapping[str, float] | None = None,
                            visits: str | VisitMap = "weeks",
                            ) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Like :func:`read_sdtm`, returning ``(tables, problems)`` instead of raising."""
    if settings is not None:
        pgic_coding = settings.pgic_coding
        instruments = settings.instruments
        session_weeks = settings.session_weeks
        visits = settings.visits
        studyid = settings.sdtm.studyid if settings.sdtm is not None else None
    weeks = dict(DEFAULT_SESSION_WEEKS if session_weeks is None else session_weeks)
    if isinstance(visits, str) and visits != "weeks":
        raise InputError(f"visits must be 'weeks' or a VisitMap, got {visits!r}",
                         column="visits")
    everything = all_instruments(pgic_coding)
    registry = [i for i in everything if instruments is None or i.name in instruments]
    selected = {i.name for i in registry}
    ignored = _codes([i for i in everything if i.name not in selected]) - _codes(registry)
    tables: dict[str, pd.DataFrame] = {}
    problems: list[pd.DataFrame] = []
    if qs is not None:
        frame = _as_frame(qs, QS_REQUIRED, "QS")
        long, found = _prepare(frame, "QS", visits, weeks, studyid)
        problems.append(found)
        long = long[~long["code"].isin(ignored)]
        got, found = _qs_tables(long, [i for i in registry if i.domain == "QS"],
                                explicit=instruments is not None)
        tables.update(got)
        problems.append(found)
    if ft is not None:
        frame = _as_frame(ft, FT_REQUIRED, "FT")
        long, found = _prepare(frame, "FT", visits, weeks, studyid)
        problems.append(found)
        long = long[~long["code"].isin({c.split("@")[0].split("#")[0] for c in ignored})]
        got, found = _ft_tables(long, [i for i in registry if i.domain == "FT"])
        tables.update(got)
        problems.append(found)
    problems = [p for p in problems if len(p)]
    by_name = {i.name: i for i in registry}
    tables = {name: _all_columns(table, by_name[name]) for name, table in tables.items()}
    return tables, (pd.concat(problems, ignore_index=True) if problems else _offenders([]))


def _codes(instruments: list[Instrument]) -> set[str]:
    return {it.code.upper() for inst in instruments for it in inst.items}


def _all_columns(table: pd.DataFrame, inst: Instrument) -> pd.DataFrame:
    """Every item column of the instrument (a long table has no row for an unrecorded item)."""
    columns = [i.column for i in inst.items if not i.optional or i.column in table.columns]
    return table.reindex(columns=_ID + columns)


def _as_frame(source, required: tuple[str, ...], domain: str) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
        frame.columns = [str(c).strip().upper() for c in frame.columns]
        file = None
    else:
        file = source
        frame = read_long(source)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError(f"{domain} table lacks required columns {missing}", file=file)
    return frame


def _text(series: pd.Series) -> pd.Series:
    return series.astype("string").str.strip()


def _prepare(frame: pd.DataFrame, domain: str, visits: str | VisitMap, weeks: dict[str, float],
             studyid: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Identifiers, sessions and numeric values of a long table; problems found on the way."""
    prefix = domain  # QS or FT
    derived = _text(frame.get(f"{prefix}DRVFL", pd.Series("", index=frame.index))).fillna("")
    frame = frame[derived.str.upper() != "Y"].copy()
    usubjid = _text(frame["USUBJID"]).fillna("")
    if studyid is not None:
        study = pd.Series(studyid, index=frame.index, dtype="string")
    elif "STUDYID" in frame:
        study = _text(frame["STUDYID"]).fillna("")
    else:
        study = pd.Series("", index=frame.index, dtype="string")
    key = (usubjid + "\x1f" + study.fillna("")).astype(object)
    labels = {}
    for k in key.unique():
        u, st = k.split("\x1f")
        u = u.removeprefix(f"{st}-") if st else u
        labels[k] = "sub-" + re.sub(r"[^A-Za-z0-9]", "", u)
    frame["participant_id"] = key.map(labels).to_numpy(dtype=object)
    try:
        sessions, skipped, visit_column, problem = visit_sessions(frame, visits, weeks)
    except InputError as err:
        raise InputError(f"{domain} table: {err.reason}", column=err.column) from None
    frame["session_id"] = sessions
    frame = frame[~skipped].copy()
    value_text = _text(frame[f"{prefix}STRESN"])
    value = pd.to_numeric(value_text, errors="coerce")
    frame["value"] = value.astype(float)
    frame["value_text"] = value_text
    frame["code"] = _text(frame[f"{prefix}TESTCD"]).str.upper()
    rows = []
    bad_visit = frame["session_id"].isna()
    unmapped = frame.loc[bad_visit]
    unmapped = pd.DataFrame({"participant_id": unmapped["participant_id"], "instrument": domain,
                             "column": unmapped["code"].astype(object),
                             "value": unmapped[visit_column].astype(object),
                             "problem": problem}).reindex(columns=list(OFFENDER_COLUMNS))
    empty_id = frame["participant_id"] == "sub-"
    for r in frame.loc[empty_id & ~bad_visit].itertuples():
        rows.append(dict(session_id=r.session_id, instrument=domain, column=r.code,
                         problem="empty USUBJID"))
    non_numeric = value.isna() & value_text.notna() & (value_text != ".")
    non_numeric &= ~bad_visit & ~empty_id
    for r in frame.loc[non_numeric].itertuples():
        rows.append(dict(participant_id=r.participant_id, session_id=r.session_id,
                         instrument=domain, column=r.code, value=r.value_text,
                         problem=f"{prefix}STRESN is not a number"))
    keep = ~bad_visit & ~empty_id
    found = [p for p in (unmapped, _offenders(rows)) if len(p)]
    return frame[keep], (pd.concat(found, ignore_index=True) if found else _offenders([]))


#: Where the visit mapping is set, named in the problem of an unmapped visit.
VISITS_KEY = ("the visits setting (questionnaires.visits in an extract config, --visit / "
              "--visit-column on backpheno score; docs/inputs_freesurfer_sdtm.md)")


def visit_sessions(frame: pd.DataFrame, visits: str | VisitMap, weeks: Mapping[str, float],
                   ) -> tuple[pd.Series, pd.Series, str, str]:
    """The session of every row of a long table, by the ``visits`` setting.

    Returns
    -------
    sessions : Series
        Session label per row; missing where the visit is not mapped.
    skipped : Series of bool
        Rows of a visit listed in ``VisitMap.skip``.
    column : str
        The column that was read (``VISITNUM`` or ``VISIT``).
    problem : str
        The input problem of an unmapped row, naming the setting that fixes it.
    """
    column = "VISITNUM" if isinstance(visits, str) else visits.column
    if column not in frame.columns:
        raise InputError(f"visits.column is {column} but the table has no such column",
                         column=column)
    skipped = pd.Series(False, index=frame.index)
    if isinstance(visits, str):
        number = pd.to_numeric(_text(frame[column]), errors="coerce")
        sessions = number.map({float(w): s for s, w in weeks.items()})
        known = ", ".join(f"{w:g}" for w in sorted(float(w) for w in weeks.values()))
        problem = (f"VISITNUM is not a week after baseline of session_weeks ({known}; "
                   "visits preset 'weeks'); if "
                   f"the export numbers its visits (1, 2, 3 ...) map them with {VISITS_KEY}")
        return sessions.astype(object), skipped, column, problem
    if column == "VISITNUM":
        values = pd.to_numeric(_text(frame[column]), errors="coerce")
        lookup = {float(k): v for k, v in visits.sessions.items()}
        skip = [float(k) for k in visits.skip]
    else:
        values = _text(frame[column]).str.casefold()
        lookup = {k.casefold(): v for k, v in visits.sessions.items()}
        skip = [k.casefold() for k in visits.skip]
    skipped = values.isin(skip).fillna(False).astype(bool)
    problem = (f"{column} is not one of the mapped visits {list(visits.sessions)}: add it to "
               f"visits.sessions (or visits.skip) in {VISITS_KEY}")
    return values.map(lookup).astype(object), skipped, column, problem


def _label_index(instruments: list[Instrument]) -> dict[str, Instrument]:
    index = {}
    for inst in instruments:
        for label in (inst.sdtm_label, *inst.sdtm_aliases):
            index[label.strip().lower()] = inst
    return index


def _duplicates(long: pd.DataFrame, keys: list[str], instrument: pd.Series) -> pd.DataFrame:
    dup = long.duplicated(keys, keep="first")
    rows = [dict(participant_id=p, session_id=s, instrument=inst, column=c,
                 problem="duplicated rows for this item and visit; all dropped")
            for (p, s, c), inst in zip(long.loc[dup, keys[:3]].itertuples(index=False),
                                       instrument[dup], strict=True)]
    return _offenders(rows).drop_duplicates()


def _pivot(long: pd.DataFrame, column: str) -> pd.DataFrame:
    wide = long.pivot(index=_ID, columns=column, values="value")  # noqa: PD010 - unique keys
    wide.columns.name = None
    return wide.reset_index()


def _qs_tables(long: pd.DataFrame, instruments: list[Instrument],
               explicit: bool) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    labels = _label_index(instruments)
    label = _text(long.get("QSSCAT", pd.Series(pd.NA, index=long.index))).str.lower()
    owner = label.map(lambda v: labels[v].name if isinstance(v, str) and v in labels else None)
    long = long.assign(owner=owner)
    problems = []
    skip = long["code"].isin(UNSCORED_QS)
    long = long[~skip]
    by_name = {i.name: i for i in instruments}
    tables: dict[str, pd.DataFrame] = {}

    labelled = long[long["owner"].notna()]
    for name, group in labelled.groupby("owner", sort=False):
        inst = by_name[name]
        codes = {i.code.upper(): i.column for i in inst.items}
        known = group["code"].isin(codes)
        problems += [dict(participant_id=r.participant_id, session_id=r.session_id,
                          instrument=name, column=r.code,
                          problem=f"QSTESTCD is not an item of {inst.title}")
                     for r in group[~known].itertuples()]
        group = group[known].assign(column=group.loc[known, "code"].map(codes))
        tables[name] = _dedupe_and_pivot(group, "column", name, problems)

    unlabelled = long[long["owner"].isna()]
    if len(unlabelled):
        got, found = _assign_by_code(unlabelled, instruments, explicit)
        for name, table in got.items():
            tables[name] = table if name not in tables else pd.concat(
                [tables[name], table], ignore_index=True)
        problems += found
    return tables, _offenders(problems)


def _dedupe_and_pivot(group: pd.DataFrame, column: str, name: str,
                      problems: list[dict]) -> pd.DataFrame:
    keys = ["participant_id", "session_id", column]
    dupes = _duplicates(group, keys, pd.Series(name, index=group.index))
    if len(dupes):
        problems += dupes.to_dict("records")
        group = group[~group.duplicated(keys, keep=False)]
    return _pivot(group, column)


def _assign_by_code(long: pd.DataFrame, instruments: list[Instrument],
                    explicit: bool) -> tuple[dict[str, pd.DataFrame], list[dict]]:
    problems: list[dict] = []
    known = set().union(*({i.code.upper() for i in inst.items} for inst in instruments)) \
        if instruments else set()
    unknown = ~long["code"].isin(known)
    problems += [dict(participant_id=r.participant_id, session_id=r.session_id, instrument="QS",
                      column=r.code, problem="unknown QSTESTCD")
                 for r in long[unknown].itertuples()]
    long = long[~unknown]
    if not len(long):
        return {}, problems
    pool = _dedupe_and_pivot(long, "code", "QS", problems)
    listed = long.assign(value=1.0).drop_duplicates(["participant_id", "session_id", "code"])
    listed = _pivot(listed, "code").set_index(_ID).reindex(
        pd.MultiIndex.from_frame(pool[_ID])).reset_index(drop=True)
    present = set(pool.columns) - set(_ID)
    candidates = []
    for inst in instruments:
        codes = {i.code.upper() for i in inst.items}
        required = {i.code.upper() for i in inst.items if not i.optional}
        if (explicit and codes & present) or (not explicit and required and required <= present):
            candidates.append((inst, codes))
    chosen = [inst for inst, codes in candidates
              if explicit or not any(codes < other for _, other in candidates)]
    tables = {}
    used: set[str] = set()
    for inst in chosen:
        cols = [c for c in (i.code.upper() for i in inst.items) if c in present]
        rows = listed[cols].notna().any(axis=1).to_numpy()
        sub = pool.loc[rows, _ID + cols].rename(
            columns={i.code.upper(): i.column for i in inst.items})
        tables[inst.name] = sub.reset_index(drop=True)
        used |= set(cols)
    for code in sorted(present - used):
        problems.append(dict(instrument="QS", column=code,
                             problem="QSTESTCD could not be assigned to a complete form; name "
                                     "the instrument in QSSCAT or in settings.instruments"))
    return tables, problems


def _site(location: pd.Series) -> pd.Series:
    text = location.fillna("").str.lower()
    return pd.Series(np.select(
        [text.str.contains("trapez"), text.str.contains("forearm"),
         text.str.contains("lumbar") | text.str.contains("back")],
        ["trapezius", "forearm", "lumbar"], default=""), index=location.index)


def _ft_tables(long: pd.DataFrame,
               instruments: list[Instrument]) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    long = long[~long["code"].isin(UNSCORED_FT)].copy()
    site = _site(_text(long.get("FTLOC", pd.Series(pd.NA, index=long.index))))
    rep = pd.to_numeric(_text(long.get("FTREPNUM", pd.Series(pd.NA, index=long.index))),
                        errors="coerce")
    long["key"] = (long["code"] + np.where(site != "", "@" + site, "")
                   + np.where(rep.notna(), "#" + rep.fillna(0).astype(int).astype(str), ""))
    status = _text(long.get("FTSTAT", pd.Series(pd.NA, index=long.index))).fillna("").str.lower()
    reason = _text(long.get("FTREASND", pd.Series(pd.NA, index=long.index))).fillna("").str.lower()
    no_lingering = (long["code"].isin(AFTER_SENSATION) & status.str.contains("not done")
                    & reason.str.contains("no lingering pain"))
    long.loc[no_lingering, "value"] = 0.0
    keys = {}
    for inst in instruments:
        for it in inst.items:
            keys[it.code.upper()] = (inst.name, it.column)
    long["key"] = long["key"].str.upper()
    known = long["key"].isin(keys)
    problems = [dict(participant_id=r.participant_id, session_id=r.session_id, instrument="FT",
                     column=r.key, problem="unknown FTTESTCD / FTLOC / FTREPNUM combination")
                for r in long[~known].itertuples()]
    long = long[known]
    owner = long["key"].map(lambda k: keys[k][0])
    long = long.assign(owner=owner, column=long["key"].map(lambda k: keys[k][1]))
    tables = {}
    for name, group in long.groupby("owner", sort=False):
        tables[name] = _dedupe_and_pivot(group, "column", name, problems)
    return tables, _offenders(problems)


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------


def write_sdtm(tables: Mapping[str, pd.DataFrame] | Dataset, out: str | Path, *,
               studyid: str = "BACKPHENO", pgic_coding: str = "bacpac_0_6",
               session_weeks: Mapping[str, float] | None = None) -> dict[str, Path]:
    """Export BIDS phenotype tables to the Minimum Dataset long format.

    Parameters
    ----------
    tables : mapping or Dataset
        Instrument name → item table, or a dataset (every known ``phenotype/*.tsv``).
    out : path
        Folder; ``qs.csv`` and ``ft.csv`` are written atomically.
    studyid : str
        ``STUDYID``; ``USUBJID`` is ``<studyid>-<participant label>``.
    pgic_coding : str
        Coding of the PGIC answers in ``tables``; they are written in the Minimum Dataset
        coding (0 = very much improved .. 6 = very much worse).
    session_weeks : mapping, optional
        Session → weeks after baseline (``VISITNUM``).

    Returns
    -------
    dict
        ``{"qs": path, "ft": path}`` (only the domains that have rows).
    """
    if isinstance(tables, Dataset):
        dataset = tables
        tables = {n: dataset.phenotype(n) for n in dataset.phenotype_instruments()
                  if n in INSTRUMENT_NAMES}
    weeks = dict(DEFAULT_SESSION_WEEKS if session_weeks is None else session_weeks)
    parts = {"QS": [], "FT": []}
    for name, frame in tables.items():
        inst = get_instrument(name, pgic_coding)
        long = _melt(frame, inst, weeks, studyid)
        if name == "pgic":
            long["STRESN"] = long["STRESN"] - PGIC_CODINGS[pgic_coding].values[0]
        parts[inst.domain].append(long)
    out = Path(out)
    written = {}
    for domain, frames in parts.items():
        if not frames:
            continue
        frame = pd.concat(frames, ignore_index=True)
        frame = frame.sort_values(["USUBJID", "VISITNUM", "CAT", "TESTCD", "REPNUM"],
                                  kind="stable", na_position="first")
        frame.insert(0, "STUDYID", studyid)
        frame.insert(1, "DOMAIN", domain)
        frame.insert(3, "SEQ", frame.groupby("USUBJID").cumcount() + 1)
        frame["STAT"] = np.where(frame["STRESN"].isna(), "NOT DONE", "")
        frame["VISIT"] = "Week " + frame["VISITNUM"].map(lambda w: f"{w:g}")
        if domain == "QS":
            frame = frame.drop(columns=["LOC", "REPNUM", "STRESU"])
        frame = frame.rename(columns={c: f"{domain}{c}" for c in
                                      ("SEQ", "CAT", "SCAT", "TESTCD", "TEST", "LOC", "REPNUM",
                                       "STRESN", "STRESU", "STAT")})
        path = out / f"{domain.lower()}.csv"
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False)
        written[domain.lower()] = path
    return written


def _melt(frame: pd.DataFrame, inst: Instrument, weeks: dict[str, float],
          studyid: str) -> pd.DataFrame:
    columns = [i.column for i in inst.items if i.column in frame.columns]
    long = frame.melt(id_vars=_ID, value_vars=columns, var_name="column", value_name="STRESN")
    item = {i.column: i for i in inst.items}
    parsed = pd.Series({c: item[c].code for c in columns}).str.extract(
        r"^(?P<TESTCD>[^@#]+)(?:@(?P<site>[a-z]+))?(?:#(?P<REPNUM>\d+))?$")
    parsed = parsed.reindex(long["column"].to_numpy())
    unknown = ~long["session_id"].isin(weeks)
    if unknown.any():
        raise InputError(f"sessions {sorted(long.loc[unknown, 'session_id'].unique())} have no "
                         "VISITNUM; add them to session_weeks", column="session_id")
    return pd.DataFrame({
        "USUBJID": studyid + "-" + long["participant_id"].str.removeprefix("sub-"),
        "CAT": inst.title,
        "SCAT": inst.sdtm_label,
        "TESTCD": parsed["TESTCD"].to_numpy(),
        "TEST": long["column"].map({c: item[c].label for c in columns}),
        "LOC": parsed["site"].map(SITE_LABELS).to_numpy(),
        "REPNUM": pd.to_numeric(parsed["REPNUM"]).to_numpy(),
        "STRESN": pd.to_numeric(long["STRESN"], errors="coerce").astype(float),
        "STRESU": long["column"].map({c: item[c].unit for c in columns}),
        "VISITNUM": long["session_id"].map(weeks),
    })
