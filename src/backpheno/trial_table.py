"""Plain trial tables: a CSV or Parquet with one row per participant -> feature + outcomes tables.

A statistician's trial export (arm, outcome, site if any, baseline variables; no sessions, no
imaging) becomes the two inputs ``backpheno train`` reads, given a short roles file that says
which column is which (:class:`TableRoles`)::

    participant: id                      # the participant column (default participant_id)
    arm: group                           # randomised arm (numbers or strings)
    outcomes: {pain_change: higher_is_better}
    site: centre                         # optional
    covariates: [age_group]              # optional: adjustment columns, not features
    exclude: [comments]                  # optional

Every other column is a candidate feature (a baseline variable): numeric and boolean columns
are used as they are; a text column with exactly two values becomes a 0/1 indicator (the
codebook says which value is 1); other text columns, constant and empty columns are left out.
:func:`build_trial_tables` reports each decision; :func:`write_trial_tables` writes the
FeatureTable (``features.parquet`` + sidecars, one session ``ses-V0``, modality ``clinical``),
``outcomes.parquet`` (participant_id, arm, outcomes, site, covariates), the outcomes codebook
(direction of every outcome) and ``table_report.json``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from backpheno.config import StrictModel
from backpheno.dataset import arm_labels
from backpheno.errors import InputError
from backpheno.io import atomic_path, write_json
from backpheno.table import FeatureTable, codebook_row, make_codebook

logger = logging.getLogger("backpheno.table")

Direction = Literal["higher_is_better", "lower_is_better", "unknown"]


class TableRoles(StrictModel):
    """Which column of a plain trial table plays which role."""

    participant: str = Field("participant_id", description="participant identifier column")
    arm: str = Field(description="randomised arm column (numbers or strings)")
    outcomes: dict[str, Direction] | list[str] = Field(
        min_length=1, description="outcome columns (never features), optionally with their "
                                  "direction: higher_is_better or lower_is_better")
    site: str | None = Field(None, description="site / centre column, if any")
    covariates: list[str] = Field(default_factory=list,
                                  description="baseline adjustment columns kept out of the "
                                              "features (copied to the outcomes table)")
    exclude: list[str] = Field(default_factory=list, description="columns to ignore")
    modality: str = Field("clinical", pattern=r"^[A-Za-z][A-Za-z0-9_]*$",
                          description="codebook modality of the features")
    session: str = Field("ses-V0", pattern=r"^ses-[A-Za-z0-9]+$")

    @property
    def directions(self) -> dict[str, str]:
        """Outcome column -> direction (``unknown`` where not given)."""
        if isinstance(self.outcomes, dict):
            return dict(self.outcomes)
        return {c: "unknown" for c in self.outcomes}

    @property
    def reserved(self) -> list[str]:
        """Columns that are never features."""
        named = [self.participant, self.arm, *self.directions, *self.covariates, *self.exclude]
        return named + ([self.site] if self.site else [])

    @model_validator(mode="after")
    def _distinct(self) -> TableRoles:
        roles = [self.participant, self.arm, *self.directions, *self.covariates]
        roles += [self.site] if self.site else []
        repeated = sorted({c for c in roles if roles.count(c) > 1})
        if repeated:
            raise ValueError(f"columns {repeated} are given more than one role")
        return self


@dataclass
class TrialTables:
    """What :func:`build_trial_tables` produced."""

    features: FeatureTable
    outcomes: pd.DataFrame
    outcomes_codebook: pd.DataFrame
    report: dict[str, Any]


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV, TSV or Parquet file as a DataFrame (no index)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("table not found", file=path)
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        return frame.reset_index() if frame.index.name else frame.reset_index(drop=True)
    if path.suffix in (".csv", ".tsv", ".txt"):
        return pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",")
    raise InputError("table must be .csv, .tsv or .parquet", file=path)


def build_trial_tables(frame: pd.DataFrame, roles: TableRoles,
                       file: str | Path | None = None) -> TrialTables:
    """Split a plain trial table into a FeatureTable and an outcomes table.

    Parameters
    ----------
    frame : DataFrame
        One row per participant.
    roles : TableRoles
    file : path, optional
        Named in error messages.

    Raises
    ------
    InputError
        A role column is missing, participants are duplicated or missing, or an outcome is not
        numeric.
    """
    absent = [c for c in roles.reserved if c not in frame.columns]
    if absent:
        raise InputError(f"the roles file names columns that the table lacks: {absent}",
                         file=file, column=absent[0])
    ids = frame[roles.participant]
    if ids.isna().any():
        raise InputError(f"{int(ids.isna().sum())} row(s) without a participant id", file=file,
                         column=roles.participant)
    ids = ids.astype(str)
    if ids.duplicated().any():
        raise InputError(f"duplicated participants {ids[ids.duplicated()].unique()[:5].tolist()}",
                         file=file, column=roles.participant)
    frame = frame.set_axis(pd.Index(ids, name="participant_id"), axis=0)
    for column in roles.directions:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise InputError("outcome is not numeric", file=file, column=column)

    features: dict[str, pd.Series] = {}
    rows, skipped, converted = [], {}, {}
    for column in frame.columns:
        if column in roles.reserved:
            continue
        values = frame[column]
        name = str(column)
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            numeric = values.astype(float)
            description = f"column {name} of the input table"
        else:
            levels = sorted(map(str, pd.unique(values.dropna())))
            if len(levels) != 2:
                skipped[name] = (f"text column with {len(levels)} distinct values: encode it as "
                                 "numbers (e.g. one 0/1 column per level) or list it under "
                                 "exclude")
                continue
            numeric = values.map(lambda v, one=levels[1]: np.nan if pd.isna(v)
                                 else float(str(v) == one))
            description = f"column {name} of the input table: 1 = {levels[1]}, 0 = {levels[0]}"
            converted[name] = f"1 = {levels[1]}, 0 = {levels[0]}"
        observed = numeric.dropna()
        if observed.empty:
            skipped[name] = "no value observed"
            continue
        if observed.min() == observed.max():
            skipped[name] = "constant"
            continue
        features[name] = numeric
        rows.append(codebook_row(name, modality=roles.modality, source=str(file or "table"),
                                 unit="unknown", description=description))
    if not features:
        raise InputError("no column of the table can be used as a feature (see the roles file "
                         f"and the skipped columns: {skipped})", file=file)
    table = FeatureTable.from_frame(pd.DataFrame(features, index=frame.index),
                                    make_codebook(rows), session=roles.session)

    outcomes = pd.DataFrame({"arm": arm_labels(frame[roles.arm])}, index=frame.index)
    for column in roles.directions:
        outcomes[column] = frame[column].astype(float)
    if roles.site:
        outcomes["site"] = frame[roles.site].astype("string")
    for column in roles.covariates:
        outcomes[column] = frame[column]
    no_arm = outcomes.index[outcomes["arm"].isna()]
    if len(no_arm):
        logger.warning("%d participant(s) have no arm (e.g. %s); they stay in the tables but no "
                       "model trains on them", len(no_arm), list(no_arm[:3]))
    codebook = pd.DataFrame([{"name": c, "role": "outcome", "direction": d,
                              "description": f"column {c} of the input table"
                              + ("" if d == "unknown" else f"; {d.replace('_', ' ')}")}
                             for c, d in roles.directions.items()]).set_index("name")
    arms = outcomes["arm"].value_counts(dropna=True).sort_index()
    report = {
        "source": str(file) if file else None,
        "n_participants": int(len(frame)),
        "arm_column": roles.arm, "arms": {str(k): int(v) for k, v in arms.items()},
        "outcomes": roles.directions,
        "site": roles.site, "covariates": list(roles.covariates),
        "features": list(features), "converted": converted, "skipped": skipped,
        "excluded": list(roles.exclude), "modality": roles.modality, "session": roles.session,
    }
    logger.info("table: %d participants, %d arms %s, %d features (%d text columns converted to "
                "0/1), %d columns left out", len(frame), len(arms), dict(report["arms"]),
                len(features), len(converted), len(skipped))
    return TrialTables(table, outcomes, codebook, report)


def write_trial_tables(source: str | Path, roles: TableRoles, out: str | Path) -> dict[str, Path]:
    """Read ``source``, build the tables (:func:`build_trial_tables`) and write them into ``out``.

    Returns
    -------
    dict
        Paths: ``features`` (Parquet), ``outcomes`` (Parquet), ``outcomes_codebook`` (CSV),
        ``report`` (JSON), plus the FeatureTable sidecars.
    """
    out = Path(out)
    tables = build_trial_tables(read_table(source), roles, source)
    paths = {f"features_{k}" if k != "parquet" else "features": v
             for k, v in tables.features.write(out).items()}
    paths["outcomes"] = out / "outcomes.parquet"
    with atomic_path(paths["outcomes"]) as tmp:
        tables.outcomes.to_parquet(tmp)
    paths["outcomes_codebook"] = out / "outcomes_codebook.csv"
    with atomic_path(paths["outcomes_codebook"]) as tmp:
        tables.outcomes_codebook.to_csv(tmp)
    paths["report"] = out / "table_report.json"
    write_json(paths["report"], tables.report)
    return paths
