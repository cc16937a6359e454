"""Read trunk IMU recordings (BIDS motion or plain CSV) into one validated in-memory form.

Every reader returns an :class:`ImuRecording`: one DataFrame per tracked point (``T12``, ``S1``)
with columns ``acc_x, acc_y, acc_z`` in m/s² and ``gyr_x, gyr_y, gyr_z`` in deg/s, expressed in
the **canonical sensor frame** used throughout :mod:`backpheno.biomech`, which is the Mobilise-D /
mobgap lower-back sensor frame: with the wearer standing upright, ``x`` points superior, ``y``
to the wearer's right and ``z`` anterior (right-handed; ``x × y = z``). The accelerometer
measures specific force, so an upright, still sensor reads ``acc_x ≈ +9.81``.

How the file's axes map onto that frame is read from BIDS metadata: the ``reference_frame``
column of ``*_channels.tsv`` names a level of ``*_channels.json`` whose ``SpatialAxes`` (three
letters out of A/P, L/R, S/I, with F/B and U/D accepted as synonyms) gives the anatomical direction
of the file's x, y and z axes during upright standing; ``SpatialAxes`` in ``*_motion.json`` is
used otherwise, then a default. Units are normalised from ``g``, ``m/s^2``, ``deg/s`` and ``rad/s``.

Sidecars follow the BIDS inheritance principle (:func:`motion_sidecars`): channels and task
metadata may sit at the dataset or subject level. One addition to BIDS: ``SensorHeight`` in a
``*_motion.json`` maps tracked points to their height above the floor in upright standing
(metres), which the walking stride-length model needs.

Bad input raises :class:`~backpheno.errors.InputError` naming the file and channel: missing
sidecars or channels, unknown units, a sampling frequency that disagrees with the timestamps or
the recording duration or is too low, irregular timestamps, rows with a missing or extra field,
infinite samples, and gaps of missing samples longer than ``max_gap_s`` (shorter gaps are
linearly interpolated and reported in ``notes``). Without timestamps or a duration, a wrong
sampling frequency shows in the signal itself (:mod:`backpheno.biomech.plausibility`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from backpheno.dataset import applicable_files
from backpheno.docstrings import fill_doc
from backpheno.errors import InputError
from backpheno.io import ragged_line, read_json, read_tsv

#: Canonical columns of one tracked point, in order.
ACC_COLUMNS = ("acc_x", "acc_y", "acc_z")
GYR_COLUMNS = ("gyr_x", "gyr_y", "gyr_z")
IMU_COLUMNS = (*ACC_COLUMNS, *GYR_COLUMNS)

#: Standard gravity (m/s²) used to convert accelerations given in g.
STANDARD_GRAVITY = 9.80665

#: Anatomical direction of the canonical frame's axes (x superior, y right, z anterior).
CANONICAL_SPATIAL_AXES = "SRA"

_ACC_FACTORS = {
    "m/s^2": 1.0, "m/s2": 1.0, "m/s²": 1.0, "m*s^-2": 1.0, "m s-2": 1.0, "m.s-2": 1.0,
    "ms-2": 1.0, "ms^-2": 1.0, "m/s/s": 1.0, "mps2": 1.0,
    "g": STANDARD_GRAVITY, "g0": STANDARD_GRAVITY, "gn": STANDARD_GRAVITY,
}
_GYR_FACTORS = {
    "deg/s": 1.0, "°/s": 1.0, "degree/s": 1.0, "degrees/s": 1.0, "dps": 1.0, "deg s-1": 1.0,
    "deg*s^-1": 1.0, "rad/s": float(np.degrees(1.0)), "radian/s": float(np.degrees(1.0)),
    "radians/s": float(np.degrees(1.0)), "rad s-1": float(np.degrees(1.0)),
    "rad*s^-1": float(np.degrees(1.0)),
}
_TIME_FACTORS = {"s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0, "ms": 1e-3,
                 "millisecond": 1e-3, "milliseconds": 1e-3}
_AXIS_LETTERS = {
    "S": (0, 1.0), "U": (0, 1.0), "I": (0, -1.0), "D": (0, -1.0),
    "R": (1, 1.0), "L": (1, -1.0),
    "A": (2, 1.0), "F": (2, 1.0), "P": (2, -1.0), "B": (2, -1.0),
}
_REQUIRED_CHANNEL_COLUMNS = ("name", "component", "type", "tracked_point", "units")
_TASK_RE = re.compile(r"_task-([A-Za-z0-9]+)_")
_SUB_RE = re.compile(r"^(sub-[A-Za-z0-9]+)_")
_SES_RE = re.compile(r"_(ses-[A-Za-z0-9]+)_")


@fill_doc
@dataclass(frozen=True)
class ImuRecording:
    """Inertial data of one recording, in SI-like units and the canonical sensor frame.

    Attributes
    ----------
    sensors : dict of str to DataFrame
        Tracked point (``"T12"``, ``"S1"``) → samples × ``IMU_COLUMNS`` (acc m/s², gyr deg/s);
        the gyroscope columns are absent for accelerometer-only recordings.
    %(sampling_rate_hz)s
    task : str, optional
        BIDS task label (``flexion``, ``walk``, ...).
    source : Path, optional
        The file the samples were read from.
    participant, session : str, optional
        BIDS identifiers, used in error messages and QC rows.
    metadata : dict
        The recording's JSON sidecar (BIDS ``*_motion.json``), if any.
    notes : tuple of str
        What was repaired on reading (interpolated short gaps).
    """

    sensors: dict[str, pd.DataFrame]
    sampling_rate_hz: float
    task: str | None = None
    source: Path | None = None
    participant: str | None = None
    session: str | None = None
    metadata: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def n_samples(self) -> int:
        """Number of samples (identical for every tracked point)."""
        return len(next(iter(self.sensors.values())))

    @property
    def duration_s(self) -> float:
        """Recording duration in seconds."""
        return self.n_samples / self.sampling_rate_hz

    @property
    def time_s(self) -> np.ndarray:
        """Sample times in seconds from the first sample."""
        return np.arange(self.n_samples) / self.sampling_rate_hz

    def imu(self, tracked_point: str) -> pd.DataFrame:
        """Samples of one tracked point; InputError naming the file if it is absent."""
        if tracked_point not in self.sensors:
            raise InputError(
                f"no channels for tracked point {tracked_point!r} (found {sorted(self.sensors)})",
                participant=self.participant, session=self.session, file=self.source,
                column="tracked_point",
            )
        return self.sensors[tracked_point]

    def has_gyro(self, tracked_point: str) -> bool:
        """Whether the tracked point has gyroscope channels."""
        return set(GYR_COLUMNS) <= set(self.imu(tracked_point).columns)


def spatial_axes_matrix(axes: str, *, file: str | Path | None = None,
                        column: str | None = None) -> np.ndarray:
    """Matrix ``M`` with ``v_canonical = M @ v_file`` for a BIDS ``SpatialAxes`` string.

    Parameters
    ----------
    axes : str
        Three letters giving the anatomical direction of the file's x, y and z axes during
        upright standing, e.g. ``"ALS"`` (x anterior, y left, z superior) or ``"SRA"`` (the
        canonical frame).

    Raises
    ------
    InputError
        If the string is not three letters naming each anatomical axis once, or describes a
        left-handed frame.
    """
    text = str(axes).strip().upper()
    if len(text) != 3 or any(letter not in _AXIS_LETTERS for letter in text):
        raise InputError(f"SpatialAxes {axes!r} must be three letters out of A/P/F/B, L/R, "
                         "S/I/U/D", file=file, column=column)
    matrix = np.zeros((3, 3))
    for j, letter in enumerate(text):
        row, sign = _AXIS_LETTERS[letter]
        matrix[row, j] = sign
    if sorted(np.flatnonzero(matrix.any(axis=1))) != [0, 1, 2] or (matrix != 0).sum() != 3:
        raise InputError(f"SpatialAxes {axes!r} must name each anatomical axis once",
                         file=file, column=column)
    if np.linalg.det(matrix) < 0:
        raise InputError(f"SpatialAxes {axes!r} describes a left-handed frame", file=file,
                         column=column)
    return matrix


def motion_sidecars(motion_path: str | Path) -> dict[str, object]:
    """The metadata files of a motion recording, found by the BIDS inheritance principle.

    A sidecar applies to a data file when it sits in the file's folder or a parent folder (up
    to the dataset root, the folder with ``dataset_description.json``) and its entities are a
    subset of the file's (``sub-01_tracksys-imu_channels.tsv`` applies to every task of
    ``sub-01``). The nearest ``*_channels.tsv`` and ``*_channels.json`` are used; all applicable
    ``*_motion.json`` are merged, nearer ones overriding.

    Returns
    -------
    dict
        ``channels`` (Path; the same-stem name when none exists, for messages),
        ``channels_json`` (Path or None), ``sidecars`` (list of Path, outermost first) and
        ``sidecar`` (the nearest ``*_motion.json`` or the same-stem name).
    """
    motion_path = Path(motion_path)
    stem = motion_path.name.removesuffix("_motion.tsv")
    if stem == motion_path.name:
        raise InputError("BIDS motion data files must end in _motion.tsv", file=motion_path)
    channels = applicable_files(motion_path, "channels.tsv")
    channels_json = applicable_files(motion_path, "channels.json")
    sidecars = applicable_files(motion_path, "motion.json")
    return {
        "channels": channels[-1] if channels else motion_path.with_name(f"{stem}_channels.tsv"),
        "channels_json": channels_json[-1] if channels_json else None,
        "sidecars": sidecars,
        "sidecar": sidecars[-1] if sidecars else motion_path.with_name(f"{stem}_motion.json"),
    }


def find_motion_files(folder: str | Path, participant: str, session: str,
                      tasks: Sequence[str], tracksys: str = "imu") -> dict[str, Path]:
    """The ``*_motion.tsv`` file of each task present in a session's ``motion`` folder.

    Raises
    ------
    InputError
        If a task has a motion file without its ``channels.tsv`` or ``motion.json``.
    """
    folder = Path(folder)
    found = {}
    for task in tasks:
        path = folder / f"{participant}_{session}_task-{task}_tracksys-{tracksys}_motion.tsv"
        if not path.is_file():
            continue
        sidecars = motion_sidecars(path)
        for kind in ("channels", "sidecar"):
            if not Path(sidecars[kind]).is_file():
                raise InputError(f"motion file without {Path(sidecars[kind]).name} (nor an "
                                 "inherited one)", participant=participant, session=session,
                                 file=path)
        found[task] = path
    return found


def read_bids_motion(
    motion_path: str | Path,
    *,
    participant: str | None = None,
    session: str | None = None,
    required_points: Sequence[str] | None = None,
    require_gyro: bool = True,
    max_gap_s: float = 0.1,
    min_sampling_frequency_hz: float = 50.0,
    timestamp_tolerance: float = 0.25,
    default_spatial_axes: str = CANONICAL_SPATIAL_AXES,
) -> ImuRecording:
    """Read a BIDS motion recording (``*_motion.tsv`` without header plus its sidecars).

    Parameters
    ----------
    motion_path : str or Path
        The ``*_tracksys-<label>_motion.tsv`` file.
    participant, session : str, optional
        Identifiers for messages; taken from the file name when omitted.
    required_points : sequence of str, optional
        Tracked points that must have accelerometer (and gyroscope) channels; default: every
        tracked point that has ACCEL or GYRO channels.
    require_gyro : bool
        Whether GYRO x/y/z are required for each required point.
    max_gap_s : float
        Longest run of missing samples (s) that is interpolated; longer gaps are errors.
    min_sampling_frequency_hz : float
        Lowest acceptable ``SamplingFrequency`` (Hz).
    timestamp_tolerance : float
        Largest deviation of one timestamp step from ``1 / SamplingFrequency``, as a fraction
        of the sampling period, when the file has a LATENCY channel.
    default_spatial_axes : str
        ``SpatialAxes`` assumed when the sidecars state none.

    Returns
    -------
    ImuRecording
    """
    motion_path = Path(motion_path)
    participant = participant or _match(_SUB_RE, motion_path.name)
    session = session or _match(_SES_RE, motion_path.name)
    where = {"participant": participant, "session": session}
    if not motion_path.is_file():
        raise InputError("motion file not found", file=motion_path, **where)
    paths = motion_sidecars(motion_path)
    channels = read_tsv(paths["channels"], dtype=str)
    missing = [c for c in _REQUIRED_CHANNEL_COLUMNS if c not in channels.columns]
    if missing:
        raise InputError(f"channels table lacks columns {missing}", file=paths["channels"],
                         **where)
    if not paths["sidecars"]:
        raise InputError("file not found", file=paths["sidecar"], **where)
    sidecar: dict = {}
    for path in paths["sidecars"]:
        sidecar.update(read_json(path))
    fs = _sampling_frequency(sidecar, paths["sidecar"], min_sampling_frequency_hz, where)
    channels_json = read_json(paths["channels_json"]) if paths["channels_json"] else {}

    values = _read_samples(motion_path, len(channels), where)
    names = channels["name"].tolist()
    _check_duration(sidecar, len(values), fs, paths["sidecar"], where)
    latency = channels.index[channels["type"].str.upper() == "LATENCY"]
    if len(latency):
        row = int(latency[0])
        factor = _unit_factor(channels.loc[row, "units"], _TIME_FACTORS, "LATENCY",
                              paths["channels"], names[row], where)
        _check_timestamps(values[:, row] * factor, fs, timestamp_tolerance, motion_path,
                          names[row], where)

    points = _channel_map(channels, paths["channels"], where)
    wanted = list(required_points) if required_points is not None else sorted(points)
    sensors: dict[str, pd.DataFrame] = {}
    notes: list[str] = []
    for point in wanted:
        kinds = points.get(point, {})
        needed = ("ACCEL", "GYRO") if require_gyro else ("ACCEL",)
        for kind in needed:
            for component in "xyz":
                if component not in kinds.get(kind, {}):
                    raise InputError(f"missing {kind} channel, component {component}, for "
                                     f"tracked point {point}", file=paths["channels"],
                                     column=f"{point} {kind} {component}", **where)
        blocks = []
        for kind, columns, factors in (("ACCEL", ACC_COLUMNS, _ACC_FACTORS),
                                       ("GYRO", GYR_COLUMNS, _GYR_FACTORS)):
            if kind not in kinds or len(kinds[kind]) < 3:
                continue
            rows = [kinds[kind][c] for c in "xyz"]
            raw = values[:, rows].astype(float)
            for j, row in enumerate(rows):
                raw[:, j] *= _unit_factor(channels.loc[row, "units"], factors, kind,
                                          paths["channels"], names[row], where)
                notes += _fill_gaps(raw[:, j], fs, max_gap_s, motion_path, names[row], where)
            axes = _spatial_axes(channels, rows, channels_json, sidecar, default_spatial_axes,
                                 paths, where)
            blocks.append(pd.DataFrame(raw @ axes.T, columns=list(columns)))
        sensors[point] = pd.concat(blocks, axis=1)
    if not sensors:
        raise InputError("no ACCEL/GYRO channels found", file=paths["channels"], **where)
    return ImuRecording(sensors, fs, task=_match(_TASK_RE, motion_path.name), source=motion_path,
                        participant=participant, session=session, metadata=sidecar,
                        notes=tuple(notes))


def read_csv_recording(
    path: str | Path,
    *,
    columns: Mapping[str, str | int],
    acc_unit: str,
    gyr_unit: str | None = None,
    sampling_rate_hz: float | None = None,
    time_column: str | int | None = None,
    time_unit: str = "s",
    header: bool = True,
    tracked_point: str = "S1",
    spatial_axes: str = CANONICAL_SPATIAL_AXES,
    task: str | None = None,
    participant: str | None = None,
    session: str | None = None,
    max_gap_s: float = 0.1,
    min_sampling_frequency_hz: float = 50.0,
    timestamp_tolerance: float = 0.25,
) -> ImuRecording:
    """Read one sensor from a plain CSV file with declared columns and units.

    Parameters
    ----------
    path : str or Path
        The CSV file (comma separated).
    columns : mapping
        Canonical name (``acc_x`` ... ``gyr_z``) → CSV column name (or 0-based position when
        ``header`` is False). The three ``acc_*`` are required; ``gyr_*`` are all or none.
    acc_unit, gyr_unit : str
        Units of the accelerometer (``g`` or ``m/s^2``) and gyroscope (``deg/s`` or ``rad/s``).
    sampling_rate_hz : float, optional
        Declared rate (Hz). Without it the rate comes from ``time_column``; with both, they
        must agree within 1 %.
    time_column : str or int, optional
        Timestamps (unix or relative) in ``time_unit``; checked for regular spacing.
    header : bool
        Whether the first row holds column names.
    tracked_point : str
        Name given to the sensor.
    spatial_axes : str
        BIDS ``SpatialAxes`` of the file's x, y, z axes (see :func:`spatial_axes_matrix`).

    Returns
    -------
    ImuRecording
    """
    path = Path(path)
    where = {"participant": participant, "session": session}
    if not path.is_file():
        raise InputError("CSV file not found", file=path, **where)
    unknown = set(columns) - set(IMU_COLUMNS)
    if unknown:
        raise InputError(f"unknown canonical columns {sorted(unknown)}; use {IMU_COLUMNS}",
                         file=path, **where)
    gyro = [c for c in GYR_COLUMNS if c in columns]
    if any(c not in columns for c in ACC_COLUMNS) or len(gyro) not in (0, 3):
        raise InputError("columns must map acc_x/acc_y/acc_z and either all or none of gyr_*",
                         file=path, **where)
    try:
        frame = pd.read_csv(path, header=0 if header else None)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise InputError(f"cannot parse CSV ({err})", file=path, **where) from None
    wanted = [*columns.values(), *([time_column] if time_column is not None else [])]
    absent = [c for c in wanted if c not in frame.columns]
    if absent:
        raise InputError(f"declared columns not in the file: {absent}", file=path,
                         column=str(absent[0]), **where)

    fs = sampling_rate_hz
    if time_column is not None:
        factor = _unit_factor(time_unit, _TIME_FACTORS, "time", path, str(time_column), where)
        stamps = pd.to_numeric(frame[time_column], errors="coerce").to_numpy() * factor
        measured = 1.0 / float(np.median(np.diff(stamps)))
        fs = measured if fs is None else fs
        _check_timestamps(stamps, fs, timestamp_tolerance, path, str(time_column), where)
    if fs is None:
        raise InputError("no sampling rate: give sampling_rate_hz or a time column", file=path,
                         **where)
    if fs < min_sampling_frequency_hz:
        raise InputError(f"sampling rate {fs:g} Hz is below the {min_sampling_frequency_hz:g} Hz "
                         "this extractor needs", file=path, **where)

    axes = spatial_axes_matrix(spatial_axes, file=path, column="spatial_axes")
    notes: list[str] = []
    blocks = []
    for canonical, unit, factors, kind in ((ACC_COLUMNS, acc_unit, _ACC_FACTORS, "ACCEL"),
                                           (GYR_COLUMNS, gyr_unit, _GYR_FACTORS, "GYRO")):
        if canonical[0] not in columns:
            continue
        if unit is None:
            raise InputError("gyroscope columns given without gyr_unit", file=path, **where)
        raw = np.column_stack([pd.to_numeric(frame[columns[c]], errors="coerce").to_numpy(float)
                               for c in canonical])
        raw *= _unit_factor(unit, factors, kind, path, str(columns[canonical[0]]), where)
        for j, c in enumerate(canonical):
            notes += _fill_gaps(raw[:, j], fs, max_gap_s, path, str(columns[c]), where)
        blocks.append(pd.DataFrame(raw @ axes.T, columns=list(canonical)))
    return ImuRecording({tracked_point: pd.concat(blocks, axis=1)}, float(fs), task=task,
                        source=path, participant=participant, session=session,
                        notes=tuple(notes))


# ----------------------------------------------------------------------------------------------


def _match(pattern: re.Pattern[str], text: str) -> str | None:
    found = pattern.search(text)
    return found.group(1) if found else None


def _sampling_frequency(sidecar: dict, path: Path, minimum: float, where: dict) -> float:
    value = sidecar.get("SamplingFrequency")
    try:
        fs = float(value)
    except (TypeError, ValueError):
        raise InputError(f"SamplingFrequency must be a number, got {value!r}", file=path,
                         column="SamplingFrequency", **where) from None
    if not np.isfinite(fs) or fs <= 0:
        raise InputError(f"SamplingFrequency must be positive, got {value!r}", file=path,
                         column="SamplingFrequency", **where)
    if fs < minimum:
        raise InputError(f"SamplingFrequency {fs:g} Hz is below the {minimum:g} Hz this "
                         "extractor needs", file=path, column="SamplingFrequency", **where)
    return fs


def _read_samples(path: Path, n_channels: int, where: dict) -> np.ndarray:
    try:
        frame = pd.read_csv(path, sep="\t", header=None, na_values=["n/a", ""],
                            keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise InputError(f"cannot parse motion samples ({err})", file=path, **where) from None
    if frame.shape[1] != n_channels:
        raise InputError(f"{frame.shape[1]} columns but channels.tsv lists {n_channels} "
                         "channels", file=path, **where)
    ragged = ragged_line(path, n_channels, header=False)
    if ragged is not None:
        raise InputError(ragged, file=path, **where)
    nonnumeric = [i for i in range(frame.shape[1])
                  if not pd.api.types.is_numeric_dtype(frame[i])]
    if nonnumeric:
        raise InputError(f"non-numeric values in column {nonnumeric[0] + 1}", file=path, **where)
    values = frame.to_numpy(float)
    infinite = np.argwhere(np.isinf(values))
    if len(infinite):
        line, column = (int(v) + 1 for v in infinite[0])
        raise InputError(f"infinite value on line {line}, column {column} "
                         f"({len(infinite)} in all)", file=path, **where)
    return values


def _check_duration(sidecar: dict, n_samples: int, fs: float, path: Path, where: dict) -> None:
    duration = sidecar.get("RecordingDuration")
    if duration is None:
        return
    expected = n_samples / fs
    if abs(float(duration) - expected) > max(2.0 / fs, 0.01 * float(duration)):
        raise InputError(
            f"SamplingFrequency {fs:g} Hz gives {expected:.2f} s for {n_samples} samples but "
            f"RecordingDuration is {float(duration):.2f} s (wrong sampling rate?)",
            file=path, column="SamplingFrequency", **where)


def _check_timestamps(stamps: np.ndarray, fs: float, tolerance: float, path: Path,
                      channel: str, where: dict) -> None:
    if np.isnan(stamps).any():
        raise InputError("missing timestamps", file=path, column=channel, **where)
    steps = np.diff(stamps)
    if len(steps) == 0:
        return
    measured = 1.0 / float(np.median(steps))
    if abs(measured - fs) > 0.01 * fs:
        raise InputError(f"SamplingFrequency {fs:g} Hz but the timestamps give {measured:.3f} "
                         "Hz (wrong sampling rate)", file=path, column=channel, **where)
    bad = np.flatnonzero(np.abs(steps * fs - 1.0) > tolerance)
    if len(bad):
        i = int(bad[0])
        raise InputError(
            f"irregular timestamps: step of {steps[i] * 1e3:.1f} ms at "
            f"t={stamps[i] - stamps[0]:.2f} s "
            f"(expected {1e3 / fs:.1f} ms; {len(bad)} irregular steps)",
            file=path, column=channel, **where)


def _unit_factor(unit: object, factors: dict[str, float], kind: str, path: Path, channel: str,
                 where: dict) -> float:
    key = str(unit).strip().lower()
    key = key if key in factors else key.replace(" ", "")
    if key not in factors:
        known = sorted({k for k in factors if "/" in k or k in ("g", "s", "ms")})
        raise InputError(f"unknown {kind} unit {unit!r}; expected one of {known}", file=path,
                         column=channel, **where)
    return factors[key]


def _fill_gaps(values: np.ndarray, fs: float, max_gap_s: float, path: Path, channel: str,
               where: dict) -> list[str]:
    """Interpolate NaN runs of at most ``max_gap_s`` in place; longer runs are errors."""
    missing = np.isnan(values)
    if not missing.any():
        return []
    if missing.all():
        raise InputError("channel has no values", file=path, column=channel, **where)
    edges = np.diff(np.r_[0, missing.astype(np.int8), 0])
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    longest = int(np.argmax(stops - starts))
    if (stops[longest] - starts[longest]) / fs > max_gap_s:
        raise InputError(
            f"gap of {(stops[longest] - starts[longest]) / fs:.2f} s without samples at "
            f"t={starts[longest] / fs:.2f} s exceeds the {max_gap_s:g} s tolerance",
            file=path, column=channel, **where)
    index = np.arange(len(values))
    values[missing] = np.interp(index[missing], index[~missing], values[~missing])
    return [f"{channel}: interpolated {len(starts)} gap(s), {int(missing.sum())} samples"]


def _channel_map(channels: pd.DataFrame, path: Path,
                 where: dict) -> dict[str, dict[str, dict[str, int]]]:
    """tracked point → type (ACCEL/GYRO) → component → row of channels.tsv."""
    points: dict[str, dict[str, dict[str, int]]] = {}
    for row, item in channels.iterrows():
        kind = str(item["type"]).upper()
        if kind not in ("ACCEL", "GYRO"):
            continue
        component = str(item["component"]).lower()
        if component not in ("x", "y", "z"):
            raise InputError(f"{kind} component must be x, y or z, got {item['component']!r}",
                             file=path, column=str(item["name"]), **where)
        slot = points.setdefault(str(item["tracked_point"]), {}).setdefault(kind, {})
        if component in slot:
            raise InputError(f"duplicate {kind} {component} channel for tracked point "
                             f"{item['tracked_point']}", file=path, column=str(item["name"]),
                             **where)
        slot[component] = int(row)
    return points


def _spatial_axes(channels: pd.DataFrame, rows: list[int], channels_json: dict, sidecar: dict,
                  default: str, paths: dict[str, Path], where: dict) -> np.ndarray:
    if "reference_frame" in channels.columns:
        frames = {channels.loc[r, "reference_frame"] for r in rows}
        if len(frames) > 1:
            raise InputError(f"x/y/z channels of one sensor use different reference frames "
                             f"{sorted(map(str, frames))}", file=paths["channels"],
                             column="reference_frame", **where)
        level = frames.pop()
        levels = channels_json.get("reference_frame", {}).get("Levels", {})
        if isinstance(level, str) and level in levels:
            axes = levels[level].get("SpatialAxes")
            if axes is None:
                raise InputError(f"reference frame {level!r} has no SpatialAxes",
                                 file=paths["channels_json"], column="reference_frame", **where)
            return spatial_axes_matrix(axes, file=paths["channels_json"],
                                       column="SpatialAxes")
    if "SpatialAxes" in sidecar:
        return spatial_axes_matrix(sidecar["SpatialAxes"], file=paths["sidecar"],
                                   column="SpatialAxes")
    return spatial_axes_matrix(default, column="default_spatial_axes")
