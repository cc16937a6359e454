"""The dataset folder contract (README.md, "The dataset layout"): names, paths and tables.

A dataset is a BIDS-style folder. :func:`bids_name` builds file names with the entities in BIDS
order, :class:`Dataset` finds participants, sessions and files, and reads the tabular parts
(``participants.tsv``, ``phenotype/*.tsv``, ``phenotype/treatment.tsv``) with validated columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

import pandas as pd

from backpheno.errors import InputError
from backpheno.io import read_json, read_tsv

#: BIDS entity order used when building file names.
ENTITY_ORDER = (
    "sub", "ses", "task", "tracksys", "acq", "ce", "rec", "dir", "run", "echo", "part",
    "space", "res", "den", "label", "atlas", "stat", "desc",
)

#: The four first-stage arms of BEST (names can be changed by configuration).
DEFAULT_ARMS = ("ESC", "ACT", "EBEM", "DUL")

#: Visit sessions of the contract and the weeks after baseline they stand for. PEG and PGIC are
#: also collected at the follow-up sessions W06, W18 and W36.
DEFAULT_SESSION_WEEKS = {
    "ses-V0": 0,
    "ses-W06": 6,
    "ses-V1": 12,
    "ses-W18": 18,
    "ses-V2": 24,
    "ses-W36": 36,
}

#: Motion task labels of the contract.
MOTION_TASKS = (
    "flexion", "extension", "lateralleft", "lateralright", "rotationleft", "rotationright",
    "sittostand", "walk",
)

#: Tracked points of the two trunk sensors.
TRACKED_POINTS = ("T12", "S1")

#: Spine label names used in ``derivatives/spineseg/dseg.tsv``.
VERTEBRAE = ("L1", "L2", "L3", "L4", "L5", "S1")
DISCS = ("L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1")
MUSCLES = (
    "multifidus_left", "multifidus_right", "erector_spinae_left", "erector_spinae_right",
    "psoas_left", "psoas_right",
)
SPINE_LABELS = (*VERTEBRAE, *DISCS, "canal", *MUSCLES)

#: What to do with a value outside a configured closed set (arms, sessions): ``error`` raises an
#: InputError naming file, row and value; ``drop`` drops the row and records a ``failed`` QC row.
UnknownPolicy = Literal["error", "drop"]

_PARTICIPANT_RE = re.compile(r"^sub-[A-Za-z0-9]+$")
_SESSION_RE = re.compile(r"^ses-[A-Za-z0-9]+$")


def arm_labels(values: pd.Series) -> pd.Series:
    """Arm labels as text (nullable string); whole numbers written without a decimal part, so
    an arm column read as floats (``0.0``, ``1.0``) matches ``arms: [0, 1]``."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.astype(float)
        observed = numbers.dropna()
        whole = bool(observed.eq(observed.round()).all())
        text = numbers.map(lambda v: pd.NA if pd.isna(v) else (str(int(v)) if whole else str(v)))
        return text.astype("string")
    return values.astype("string")


def bids_name(suffix: str, extension: str, **entities: str | None) -> str:
    """Build a BIDS file name with entities in BIDS order.

    Parameters
    ----------
    suffix : str
        The BIDS suffix (``bold``, ``motion``, ``T2w``, ``dseg`` ...).
    extension : str
        File extension including the dot (``.nii.gz``, ``.tsv``, ``.json``).
    **entities
        Entity values without their key (``sub="001"`` or ``sub="sub-001"`` both work); ``None``
        values are left out.

    Examples
    --------
    >>> bids_name("motion", ".tsv", sub="001", ses="V0", task="flexion", tracksys="imu")
    'sub-001_ses-V0_task-flexion_tracksys-imu_motion.tsv'
    """
    unknown = set(entities) - set(ENTITY_ORDER)
    if unknown:
        raise ValueError(f"unknown BIDS entities {sorted(unknown)}")
    parts = []
    for key in ENTITY_ORDER:
        value = entities.get(key)
        if value is None:
            continue
        value = str(value).removeprefix(f"{key}-")
        if not value or not value.replace("+", "").isalnum():
            raise ValueError(f"BIDS entity {key} must be alphanumeric, got {value!r}")
        parts.append(f"{key}-{value}")
    return "_".join([*parts, suffix]) + extension


def bids_entities(name: str) -> tuple[dict[str, str], str]:
    """BIDS entities and ``suffix.extension`` of a file name."""
    parts = name.split("_")
    entities = dict(part.split("-", 1) for part in parts[:-1] if "-" in part)
    return entities, parts[-1]


def applicable_files(data_path: str | Path, suffix: str, max_levels: int = 4) -> list[Path]:
    """Metadata files ending in ``suffix`` that apply to a data file, outermost first.

    The BIDS inheritance principle: a file applies when it sits in the data file's folder or a
    parent folder (up to the dataset root, the folder with ``dataset_description.json``) and
    its entities are a subset of the data file's.

    Parameters
    ----------
    data_path : str or Path
        The data file (``sub-01_ses-V0_task-walk_tracksys-imu_motion.tsv``).
    suffix : str
        ``suffix.extension`` of the metadata (``motion.json``, ``channels.tsv``).
    max_levels : int
        Folders searched, the data file's own included.
    """
    data_path = Path(data_path)
    wanted, _ = bids_entities(data_path.name)
    found: list[Path] = []
    folder = data_path.parent
    for _ in range(max_levels):
        level = []
        for candidate in folder.glob(f"*{suffix}"):
            entities, tail = bids_entities(candidate.name)
            if tail == suffix and entities.items() <= wanted.items() and candidate != data_path:
                level.append((len(entities), candidate))
        found = [path for _, path in sorted(level)] + found
        if (folder / "dataset_description.json").is_file() or folder.parent == folder:
            break
        folder = folder.parent
    return found


def metadata_files(data_path: str | Path) -> list[Path]:
    """Every BIDS metadata file that applies to a data file (see :func:`applicable_files`).

    The JSON sidecars of the file's suffix (``*_bold.json`` for ``*_bold.nii.gz``); for motion
    recordings also ``*_channels.tsv`` and ``*_channels.json``.
    """
    name = Path(data_path).name
    suffix = bids_entities(name)[1].split(".")[0]
    wanted = [f"{suffix}.json"]
    if suffix == "motion":
        wanted += ["channels.tsv", "channels.json"]
    return [path for tail in wanted for path in applicable_files(data_path, tail)]


def check_participant_id(value: str) -> str:
    """Return ``value`` if it is a valid ``sub-<label>`` identifier, else raise InputError."""
    if not isinstance(value, str) or not _PARTICIPANT_RE.match(value):
        raise InputError(f"invalid participant_id {value!r}; expected sub-<alphanumeric>")
    return value


def check_session_id(value: str) -> str:
    """Return ``value`` if it is a valid ``ses-<label>`` identifier, else raise InputError."""
    if not isinstance(value, str) or not _SESSION_RE.match(value):
        raise InputError(f"invalid session_id {value!r}; expected ses-<alphanumeric>")
    return value


@dataclass(frozen=True)
class Dataset:
    """A dataset folder that follows the backpheno input contract.

    Parameters
    ----------
    root : Path
        The dataset folder (the one holding ``participants.tsv``).
    arms : tuple of str, optional
        The configured arms; every arm of ``treatment.tsv`` (each part of an augmented
        ``A+B``) must be one of them. None: not checked.
    sessions : tuple of str, optional
        The configured sessions; every ``session_id`` of a phenotype table must be one of them.
        None: not checked.
    unknown_arms, unknown_sessions : {"error", "drop"}
        What a value outside those sets does (:data:`UnknownPolicy`); dropped rows are listed
        in :attr:`problems`.

    Attributes
    ----------
    problems : list of dict
        QC records (columns of ``backpheno.table.QC_COLUMNS``) of the rows dropped so far.
    """

    root: Path
    arms: tuple[str, ...] | None = None
    sessions: tuple[str, ...] | None = None
    unknown_arms: UnknownPolicy = "error"
    unknown_sessions: UnknownPolicy = "error"
    problems: list[dict[str, object]] = field(default_factory=list, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))
        for name in ("arms", "sessions"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(getattr(self, name)))
        if not (self.root / "participants.tsv").is_file():
            raise InputError("not a dataset folder: participants.tsv is missing", file=self.root)

    @cached_property
    def description(self) -> dict:
        """Contents of ``dataset_description.json`` (empty if absent)."""
        path = self.root / "dataset_description.json"
        return read_json(path) if path.is_file() else {}

    @cached_property
    def participants(self) -> pd.DataFrame:
        """``participants.tsv`` indexed by participant_id, with required columns checked."""
        path = self.root / "participants.tsv"
        frame = read_tsv(path, dtype={"participant_id": str, "site": str})
        required = ("participant_id", "site", "age", "sex", "deep_phenotyping")
        missing = [c for c in required if c not in frame.columns]
        if missing:
            raise InputError(f"missing required columns {missing}", file=path)
        for pid in frame["participant_id"]:
            try:
                check_participant_id(pid)
            except InputError as err:
                raise InputError(err.reason, file=path, column="participant_id") from None
        if frame["participant_id"].duplicated().any():
            dup = frame.loc[frame["participant_id"].duplicated(), "participant_id"].tolist()
            raise InputError(f"duplicated participants {dup[:5]}", file=path)
        frame["deep_phenotyping"] = _as_bool(frame["deep_phenotyping"], path, "deep_phenotyping")
        for column in ("age", "bmi"):
            if column in frame:
                frame[column] = _as_number(frame[column], path, column)
        return frame.set_index("participant_id")

    @property
    def participant_ids(self) -> list[str]:
        """All participant identifiers in ``participants.tsv`` order."""
        return list(self.participants.index)

    def subject_dir(self, participant_id: str, session_id: str | None = None) -> Path:
        """Raw-data folder ``sub-XXX[/ses-YY]``."""
        path = self.root / participant_id
        return path / session_id if session_id else path

    def derivatives_dir(self, pipeline: str) -> Path:
        """``derivatives/<pipeline>``."""
        return self.root / "derivatives" / pipeline

    def imaging_sessions(self, participant_id: str) -> list[str]:
        """Sessions that have a raw-data or derivative folder for this participant."""
        found = set()
        for base in (self.root, self.derivatives_dir("fmriprep"), self.derivatives_dir("spineseg")):
            folder = base / participant_id
            if folder.is_dir():
                found.update(p.name for p in folder.glob("ses-*") if p.is_dir())
        return sorted(found, key=_session_sort_key)

    def phenotype_instruments(self) -> list[str]:
        """Names of the instrument tables under ``phenotype/`` (treatment.tsv excluded)."""
        folder = self.root / "phenotype"
        return sorted(p.stem for p in folder.glob("*.tsv") if p.stem != "treatment")

    def phenotype(self, instrument: str) -> pd.DataFrame:
        """One instrument's item table, with participant_id and session_id checked.

        Raises
        ------
        InputError
            If the file is missing or lacks the identifier columns, or (policy ``error``) a
            session is not one of the configured ``sessions``.
        """
        path = self.root / "phenotype" / f"{instrument}.tsv"
        frame = read_tsv(path, dtype={"participant_id": str, "session_id": str})
        missing = [c for c in ("participant_id", "session_id") if c not in frame.columns]
        if missing:
            raise InputError(f"missing identifier columns {missing}", file=path)
        if self.sessions is None:
            return frame
        return self._closed_set(frame, "session_id", frame["session_id"].map(lambda s: [s]),
                                self.sessions, self.unknown_sessions, path, "sessions")

    def phenotype_sidecar(self, instrument: str) -> dict:
        """The BIDS JSON sidecar of an instrument table (empty if absent)."""
        path = self.root / "phenotype" / f"{instrument}.json"
        return read_json(path) if path.is_file() else {}

    def treatment(self) -> pd.DataFrame:
        """``phenotype/treatment.tsv``: participant_id, stage, arm, randomized (and tactic).

        Raises
        ------
        InputError
            If a required column is missing, ``randomized`` is not true/false, ``stage`` not 1
            or 2, or (policy ``error``) an arm is not one of the configured ``arms``.
        """
        path = self.root / "phenotype" / "treatment.tsv"
        frame = read_tsv(path, dtype={"participant_id": str, "arm": str})
        missing = [c for c in ("participant_id", "stage", "arm", "randomized") if c not in frame]
        if missing:
            raise InputError(f"missing required columns {missing}", file=path)
        frame["randomized"] = _as_bool(frame["randomized"], path, "randomized")
        frame["stage"] = _as_number(frame["stage"], path, "stage")
        odd = frame["stage"].notna() & ~frame["stage"].isin([1, 2])
        if odd.any():
            i = int(odd.to_numpy().nonzero()[0][0])
            raise InputError(f"stage must be 1 or 2, got {frame['stage'].iloc[i]:g} on line "
                             f"{i + 2}", file=path, column="stage")
        if self.arms is None:
            return frame
        parts = frame["arm"].map(lambda a: [] if pd.isna(a) else str(a).split("+"))
        return self._closed_set(frame, "arm", parts, self.arms, self.unknown_arms, path, "arms")

    def _closed_set(self, frame: pd.DataFrame, column: str, parts: pd.Series,
                    allowed: tuple[str, ...], policy: UnknownPolicy, path: Path,
                    key: str) -> pd.DataFrame:
        """Rows whose ``column`` values (``parts``) all lie in ``allowed``; see UnknownPolicy."""
        bad = parts.map(lambda values: any(v not in allowed for v in values)).to_numpy(bool)
        if not bad.any():
            return frame
        rows = [(i + 2, frame["participant_id"].iloc[i], frame[column].iloc[i])
                for i in bad.nonzero()[0]]
        if policy == "error":
            listed = ", ".join(f"line {n} ({pid}): {value!r}" for n, pid, value in rows[:5])
            more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
            raise InputError(f"{column} not one of the configured {key} {list(allowed)}: "
                             f"{listed}{more} (set unknown_{key}: drop to drop such rows)",
                             file=path, column=column)
        sessions = frame["session_id"] if "session_id" in frame else None
        for (n, pid, value), i in zip(rows, bad.nonzero()[0], strict=True):
            record = {
                "participant_id": pid, "modality": "dataset", "status": "failed",
                "session_id": "" if sessions is None else sessions.iloc[i],
                "item": f"{path.name}:{column}",
                "reason": f"{path}: line {n}: {column} {value!r} is not one of the configured "
                          f"{key} {list(allowed)}; row dropped (unknown_{key}: drop)"}
            if record not in self.problems:
                self.problems.append(record)
        return frame.loc[~bad].reset_index(drop=True)


def _session_sort_key(session_id: str) -> tuple[float, str]:
    return (DEFAULT_SESSION_WEEKS.get(session_id, float("inf")), session_id)


def _as_number(values: pd.Series, path: Path, column: str) -> pd.Series:
    """A numeric column; InputError naming the first value that is not a number and its line."""
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise InputError(f"expected a number, got {values.iloc[i]!r} on line {i + 2}", file=path,
                         column=column)
    return numbers


def _as_bool(values: pd.Series, path: Path, column: str) -> pd.Series:
    mapping = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
    text = values.astype(str).str.strip().str.lower()
    bad = ~text.isin(mapping) & values.notna()
    if bad.any():
        raise InputError(
            f"expected true/false, got {values[bad].unique().tolist()[:5]}", file=path,
            column=column,
        )
    return text.map(mapping).astype("boolean")
