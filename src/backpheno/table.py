"""The FeatureTable: one row per participant × session, one documented column per feature.

A :class:`FeatureTable` holds three pandas objects:

``data``
    Feature values, indexed by ``(participant_id, session_id)``, one float column per feature.
``codebook``
    One row per feature (indexed by ``name``) with the columns of :data:`CODEBOOK_COLUMNS`.
``qc``
    What was extracted and what failed, one row per participant × session × modality (and item
    where relevant), with the columns of :data:`QC_COLUMNS`.

On disk the table is a Parquet file with the codebook and QC embedded in its metadata, plus
sidecars a statistician can open without Python: ``<stem>.csv``, ``<stem>_codebook.csv``,
``<stem>_codebook.json`` and ``<stem>_qc.tsv``. Every file is written atomically. The CSV is
written for R (:mod:`backpheno.rcsv`: ``NA`` for missing, R-safe column names); the codebook
sidecars add ``r_name``, the column's name in the CSV (the same as ``name`` unless the name has
characters R rewrites, such as ``-``).

:func:`flag_out_of_range` checks every value against its codebook's valid range: a value outside
``[valid_min, valid_max]`` is kept (it may be a true extreme) but gets a ``flagged`` QC row naming
the feature, the value and the range.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from backpheno.errors import InputError
from backpheno.io import atomic_path, write_json, write_tsv
from backpheno.rcsv import r_name, write_r_csv

INDEX_NAMES = ("participant_id", "session_id")

#: Columns of the codebook, in order. ``valid_min`` / ``valid_max`` are numbers or missing;
#: ``direction`` says what a higher value means ("higher = worse pain interference"); ``role`` is
#: one of :data:`ROLES`.
CODEBOOK_COLUMNS = (
    "name",
    "modality",
    "role",
    "source",
    "unit",
    "description",
    "valid_min",
    "valid_max",
    "direction",
    "provenance",
)

#: Columns of the QC table. ``status`` is one of :data:`QC_STATUSES`.
QC_COLUMNS = ("participant_id", "session_id", "modality", "item", "status", "reason")
QC_STATUSES = ("ok", "missing", "flagged", "failed")

#: What a column is for. ``feature``: a candidate predictor. ``covariate``: a nuisance or QC
#: measure (mean framewise displacement, retained time, scanner site) exported for adjustment and
#: harmonisation, never used as a predictor by default. ``outcome``: a post-randomisation
#: measure (never a predictor).
ROLES = ("feature", "covariate", "outcome")

_META_KEY = b"backpheno"


def codebook_row(
    name: str,
    *,
    modality: str,
    source: str,
    unit: str,
    description: str,
    valid_min: float | None = None,
    valid_max: float | None = None,
    direction: str = "",
    provenance: str = "",
    role: str = "feature",
) -> dict[str, object]:
    """Build one codebook record (a dict with the keys of :data:`CODEBOOK_COLUMNS`)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    return {
        "name": name,
        "modality": modality,
        "role": role,
        "source": source,
        "unit": unit,
        "description": description,
        "valid_min": np.nan if valid_min is None else float(valid_min),
        "valid_max": np.nan if valid_max is None else float(valid_max),
        "direction": direction,
        "provenance": provenance,
    }


def qc_row(participant_id: str, session_id: str, *, modality: str, item: str, status: str,
           reason: str = "") -> dict[str, object]:
    """Build one QC record (a dict with the keys of :data:`QC_COLUMNS`).

    ``item`` names what was checked (a task, structure, instrument column; ``*`` for the whole
    modality); ``reason`` says why the status is not ``ok``.
    """
    if status not in QC_STATUSES:
        raise ValueError(f"QC status must be one of {QC_STATUSES}, got {status!r}")
    return {"participant_id": participant_id, "session_id": session_id, "modality": modality,
            "item": item, "status": status, "reason": reason}


def make_codebook(rows: Iterable[dict[str, object]]) -> pd.DataFrame:
    """Assemble codebook records into a DataFrame indexed by feature name.

    Raises
    ------
    ValueError
        If a record lacks a codebook column or two records share a name with different content.
    """
    frame = pd.DataFrame(list(rows), columns=list(CODEBOOK_COLUMNS))
    missing = frame.columns[frame.isna().all()].intersection(["name", "modality", "source", "unit"])
    if len(frame) and len(missing):
        raise ValueError(f"codebook rows lack {list(missing)}")
    frame = frame.drop_duplicates()
    dup = frame["name"][frame["name"].duplicated()]
    if len(dup):
        raise ValueError(f"conflicting codebook rows for {sorted(set(dup))}")
    return frame.set_index("name")


def make_qc(rows: Iterable[dict[str, object]]) -> pd.DataFrame:
    """Assemble QC records into a DataFrame with the columns of :data:`QC_COLUMNS`."""
    frame = pd.DataFrame(list(rows), columns=list(QC_COLUMNS))
    bad = set(frame["status"].dropna()) - set(QC_STATUSES)
    if bad:
        raise ValueError(f"unknown QC status {sorted(bad)}; expected one of {QC_STATUSES}")
    return frame


@dataclass
class FeatureTable:
    """Feature values with their codebook and QC table.

    Parameters
    ----------
    data : DataFrame
        Indexed by ``(participant_id, session_id)``; one numeric column per feature.
    codebook : DataFrame
        Indexed by feature name; every column of ``data`` must have a row.
    qc : DataFrame, optional
        Extraction QC with the columns of :data:`QC_COLUMNS`.
    metadata : dict, optional
        Free-form provenance (package version, configuration, input checksums).
    """

    data: pd.DataFrame
    codebook: pd.DataFrame
    qc: pd.DataFrame = field(default_factory=lambda: make_qc([]))
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check the index names, that every feature is documented and values are numeric."""
        if list(self.data.index.names) != list(INDEX_NAMES):
            raise ValueError(f"FeatureTable index must be {INDEX_NAMES}, "
                             f"got {self.data.index.names}")
        if self.data.index.has_duplicates:
            dup = self.data.index[self.data.index.duplicated()].unique().tolist()[:5]
            raise ValueError(f"duplicated participant-session rows: {dup}")
        undocumented = [c for c in self.data.columns if c not in self.codebook.index]
        if undocumented:
            raise ValueError(f"features without a codebook row: {undocumented[:10]}")
        nonnumeric = [c for c in self.data.columns
                      if not pd.api.types.is_numeric_dtype(self.data[c])]
        if nonnumeric:
            raise ValueError(f"non-numeric feature columns: {nonnumeric[:10]}")

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, codebook: pd.DataFrame | None = None, *,
                   modality: str = "clinical", session: str = "ses-V0",
                   source: str = "user table") -> FeatureTable:
        """A FeatureTable from a plain one-row-per-participant table.

        Parameters
        ----------
        frame : DataFrame
            Indexed by participant_id (or with a ``participant_id`` column); numeric or boolean
            columns only (booleans become 0/1).
        codebook : DataFrame, optional
            Indexed by feature name with the columns of :data:`CODEBOOK_COLUMNS`; default: a
            minimal one (modality ``modality``, role feature, unit ``unknown``).
        modality : str
            Codebook modality of the inferred rows (training blocks select by it).
        session : str
            The one session every row belongs to (``ses-V0``: baseline).
        source : str
            Codebook source of the inferred rows.

        Raises
        ------
        InputError
            No participant_id, duplicated participants, non-numeric columns or columns missing
            from the given codebook.
        """
        if frame.index.name != "participant_id":
            if "participant_id" not in frame.columns:
                raise InputError("table has no participant_id index or column",
                                 column="participant_id")
            frame = frame.set_index("participant_id")
        if frame.index.has_duplicates:
            dup = frame.index[frame.index.duplicated()].unique().tolist()[:5]
            raise InputError(f"table has duplicated participants {dup}", column="participant_id")
        text = [c for c in frame.columns if not (pd.api.types.is_numeric_dtype(frame[c])
                                                 or pd.api.types.is_bool_dtype(frame[c]))]
        if text:
            raise InputError(f"non-numeric columns {text[:10]}: encode them as numbers or leave "
                             "them out", column=str(text[0]))
        data = frame.astype(float)
        data.columns = [str(c) for c in data.columns]
        data.index = pd.MultiIndex.from_arrays(
            [data.index.astype(str), np.full(len(data), session)], names=list(INDEX_NAMES))
        if codebook is None:
            codebook = make_codebook(
                codebook_row(c, modality=modality, source=source, unit="unknown",
                             description=f"column {c} of the input table")
                for c in data.columns)
        missing = [c for c in data.columns if c not in codebook.index]
        if missing:
            raise InputError(f"codebook lacks rows for columns {missing[:10]}",
                             column=missing[0])
        return cls(data, codebook.loc[list(data.columns)])

    @property
    def features(self) -> list[str]:
        """Feature names in column order."""
        return list(self.data.columns)

    def select(self, modality: str | Sequence[str] | None = None) -> FeatureTable:
        """Return the sub-table of one or several modalities."""
        if modality is None:
            return self
        wanted = {modality} if isinstance(modality, str) else set(modality)
        names = [c for c in self.data.columns if self.codebook.at[c, "modality"] in wanted]
        return FeatureTable(
            self.data[names], self.codebook.loc[names], self.qc[self.qc["modality"].isin(wanted)],
            dict(self.metadata),
        )

    def session(self, session_id: str) -> pd.DataFrame:
        """Feature values of one session, indexed by participant_id (the wide baseline view)."""
        sessions = self.data.index.get_level_values("session_id")
        return self.data[sessions == session_id].droplevel("session_id")

    def write(self, folder: str | Path, stem: str = "features") -> dict[str, Path]:
        """Write Parquet (codebook and QC embedded) plus CSV/JSON/TSV sidecars atomically.

        Returns
        -------
        dict
            The written paths, keyed by ``parquet``, ``csv``, ``codebook_csv``, ``codebook_json``
            and ``qc``.
        """
        folder = Path(folder)
        paths = {
            "parquet": folder / f"{stem}.parquet",
            "csv": folder / f"{stem}.csv",
            "codebook_csv": folder / f"{stem}_codebook.csv",
            "codebook_json": folder / f"{stem}_codebook.json",
            "qc": folder / f"{stem}_qc.tsv",
        }
        write_feature_parquet(paths["parquet"], self)
        write_r_csv(self.data, paths["csv"])
        codebook = self.codebook.assign(r_name=[r_name(n) for n in self.codebook.index])
        with atomic_path(paths["codebook_csv"]) as tmp:
            codebook.to_csv(tmp)
        write_json(paths["codebook_json"], _codebook_records(codebook))
        write_tsv(paths["qc"], self.qc)
        return paths


def write_feature_parquet(path: str | Path, table: FeatureTable) -> None:
    """Write ``table`` as Parquet with the codebook, QC and metadata in the file's metadata."""
    arrow = pa.Table.from_pandas(table.data, preserve_index=True)
    meta = dict(arrow.schema.metadata or {})
    meta[_META_KEY] = json.dumps(
        {
            "codebook": _codebook_records(table.codebook),
            "qc": json.loads(table.qc.to_json(orient="records")),
            "metadata": table.metadata,
        },
        default=str,
    ).encode()
    arrow = arrow.replace_schema_metadata(meta)
    with atomic_path(path) as tmp:
        pq.write_table(arrow, tmp)


def read_feature_table(path: str | Path) -> FeatureTable:
    """Read a FeatureTable written by :meth:`FeatureTable.write` (the ``.parquet`` file).

    Raises
    ------
    InputError
        If the file is missing, unreadable, has no embedded backpheno codebook, or its data,
        codebook and QC disagree.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("feature table not found", file=path)
    try:
        arrow = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise InputError(f"not a readable Parquet file, truncated or corrupt ({err})",
                         file=path) from None
    meta = (arrow.schema.metadata or {}).get(_META_KEY)
    if meta is None:
        raise InputError("Parquet file has no backpheno codebook in its metadata", file=path)
    try:
        payload = json.loads(meta)
        table = FeatureTable(arrow.to_pandas(), make_codebook(payload["codebook"]),
                             make_qc(payload["qc"]), payload.get("metadata", {}))
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(f"inconsistent feature table ({err})", file=path) from None
    return table


def _codebook_records(codebook: pd.DataFrame) -> list[dict[str, object]]:
    frame = codebook.reset_index()
    return json.loads(frame.to_json(orient="records"))


# ------------------------------------------------------------------ valid ranges

#: Relative slack on a bound, for floating-point round-off (a proportion of 1.0000000001).
_SLACK = 1e-9


def out_of_range(data: pd.DataFrame, codebook: pd.DataFrame) -> list[dict[str, object]]:
    """``flagged`` QC records for each value of ``data`` outside its codebook range.

    Parameters
    ----------
    data : DataFrame
        Indexed by (participant_id, session_id), one column per feature.
    codebook : DataFrame
        Indexed by feature name with ``valid_min``, ``valid_max``, ``unit`` and ``modality``.
    """
    rows: list[dict[str, object]] = []
    for name in data.columns:
        if name not in codebook.index:
            continue
        low, high = codebook.at[name, "valid_min"], codebook.at[name, "valid_max"]
        values = data[name].to_numpy(dtype=float)
        bad = np.zeros(len(values), bool)
        if pd.notna(low):
            bad |= values < low - _SLACK * max(abs(low), 1.0)
        if pd.notna(high):
            bad |= values > high + _SLACK * max(abs(high), 1.0)
        unit = codebook.at[name, "unit"]
        for i in np.flatnonzero(bad):
            pid, session = data.index[i]
            rows.append({
                "participant_id": pid, "session_id": session,
                "modality": codebook.at[name, "modality"], "item": name, "status": "flagged",
                "reason": f"{name} = {values[i]:.6g} {unit} is outside the codebook's valid "
                          f"range [{_bound(low)}, {_bound(high)}]"})
    return rows


def flag_out_of_range(table: FeatureTable) -> FeatureTable:
    """The table with a ``flagged`` QC row added for each out-of-range value."""
    rows = out_of_range(table.data, table.codebook)
    if rows:
        table.qc = make_qc([*table.qc.to_dict("records"), *rows])
    return table


def _bound(value: float) -> str:
    return "none" if pd.isna(value) else f"{value:g}"
