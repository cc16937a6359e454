"""Sit-to-stand transitions from trunk IMUs (five-times sit-to-stand test and free living).

Detection (:func:`detect_transitions`, accelerometer only, so it also runs on recordings
without a gyroscope): the acceleration along the "up" direction (from the orientation filter
when a gyroscope is present, else from low-passed acceleration) minus gravity is low-passed at
``lowpass_hz`` (1.5 Hz: rising lasts about a second), integrated to vertical velocity and
high-passed at ``highpass_hz`` (0.1 Hz) against integration drift. Each
lobe of the velocity between zero crossings is one vertical movement; lobes moving the sensor at
least ``min_displacement_m`` with a peak speed of at least ``min_peak_velocity_mps``, and at
least ``dominance`` times as fast as the neighbouring lobes (filter ringing), are transitions:
upward = sit-to-stand, downward = stand-to-sit. Walking steps move the sacrum by a few
centimetres and never qualify. The transition time is the time the vertical speed exceeds
``edge_fraction`` of the lobe's peak (the vertical rise of the sacral sensor, which starts with
the forward pelvic tilt; the trunk lean before seat-off is otherwise not part of it).

Features (:func:`sit_to_stand_features`) use the sacral sensor for the vertical movement and the
T12 sensor for the trunk: flexion is the sagittal angle of the T12 segment relative to upright
standing, the reference being the quiet standing after the first rise. The five-times
sit-to-stand time runs from the onset of the first rise (the trunk-lean onset, where the flexion
velocity last exceeded 10 % of its peak before the rise) to the end of the fifth rise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import butter, sosfiltfilt

from backpheno.biomech.angles import (
    Baseline,
    decompose,
    find_static_baseline,
    relative_motion,
    remove_gyro_offset,
    segment_frame,
)
from backpheno.biomech.features import TaskResult
from backpheno.biomech.io import ACC_COLUMNS, ImuRecording
from backpheno.biomech.orientation import estimate_orientation, gravity_direction
from backpheno.biomech.settings import BiomechSettings
from backpheno.biomech.tasks import lowpass
from backpheno.docstrings import fill_doc

TRANSITION_COLUMNS = ("kind", "start", "end", "start_s", "end_s", "duration_s",
                      "displacement_m", "peak_velocity_mps")


@fill_doc
def vertical_velocity(acc: np.ndarray, up: np.ndarray, sampling_rate_hz: float, *,
                      lowpass_hz: float = 1.5, highpass_hz: float = 0.1) -> np.ndarray:
    """Band-limited vertical velocity (m/s) from acceleration and the "up" direction.

    Parameters
    ----------
    acc : array of shape (n, 3)
        Acceleration, m/s², sensor frame.
    up : array of shape (n, 3)
        Unit up vector per sample in the sensor frame.
    %(sampling_rate_hz)s
    """
    vertical = np.sum(np.asarray(acc, float) * up, axis=1)
    vertical -= np.median(np.linalg.norm(acc, axis=1))
    vertical = lowpass(vertical, sampling_rate_hz, lowpass_hz)
    velocity = np.cumsum(vertical) / sampling_rate_hz
    sos = butter(2, highpass_hz, "high", fs=sampling_rate_hz, output="sos")
    return sosfiltfilt(sos, velocity)


@fill_doc
def detect_transitions(acc: np.ndarray, sampling_rate_hz: float, *, up: np.ndarray | None = None,
                       min_displacement_m: float = 0.2, min_peak_velocity_mps: float = 0.25,
                       dominance: float = 0.6, edge_fraction: float = 0.15,
                       duration_range_s: tuple[float, float] = (0.4, 4.0),
                       lowpass_hz: float = 1.5, highpass_hz: float = 0.1) -> pd.DataFrame:
    """Sit-to-stand and stand-to-sit transitions in a trunk accelerometer recording.

    Parameters
    ----------
    acc : array of shape (n, 3)
        Acceleration (m/s², any sensor frame).
    %(sampling_rate_hz)s
    up : array of shape (n, 3), optional
        Unit up vector per sample in the sensor frame; from low-passed acceleration if omitted.
    min_displacement_m, min_peak_velocity_mps : float
        Smallest vertical displacement (m) and peak vertical speed (m/s) of a transition.
    dominance : float
        A lobe must reach this fraction of its neighbours' peak speed (filter ringing beside a
        real transition is smaller than the transition).
    edge_fraction : float
        A transition starts and ends where the vertical speed is this fraction of its peak.
    duration_range_s : tuple of float
        Accepted transition durations (s).
    lowpass_hz, highpass_hz : float
        Band of the vertical velocity (Hz).

    Returns
    -------
    DataFrame
        One row per transition: ``kind`` (``sit_to_stand`` / ``stand_to_sit``), sample range,
        times (s), ``duration_s``, ``displacement_m`` (signed) and ``peak_velocity_mps``.
    """
    acc = np.asarray(acc, float)
    fs = sampling_rate_hz
    if up is None:
        up = gravity_direction(acc, fs)
    velocity = vertical_velocity(acc, up, fs, lowpass_hz=lowpass_hz, highpass_hz=highpass_hz)
    crossings = np.flatnonzero(np.diff(np.signbit(velocity)))
    edges = np.r_[0, crossings + 1, len(velocity)]
    peaks = np.array([np.abs(velocity[a:b]).max() for a, b in zip(edges[:-1], edges[1:],
                                                                   strict=True)])
    rows = []
    for i, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        lobe = velocity[a:b]
        displacement = float(lobe.sum() / fs)
        neighbours = peaks[max(0, i - 1):i + 2]
        active = np.flatnonzero(np.abs(lobe) >= edge_fraction * peaks[i])
        start, end = a + int(active[0]), a + int(active[-1])
        duration = (end - start + 1) / fs
        if (abs(displacement) >= min_displacement_m and peaks[i] >= min_peak_velocity_mps
                and peaks[i] >= dominance * neighbours.max()
                and duration_range_s[0] <= duration <= duration_range_s[1]):
            rows.append({"kind": "sit_to_stand" if displacement > 0 else "stand_to_sit",
                         "start": start, "end": end, "start_s": start / fs, "end_s": end / fs,
                         "duration_s": duration, "displacement_m": displacement,
                         "peak_velocity_mps": float(peaks[i])})
    return pd.DataFrame(rows, columns=list(TRANSITION_COLUMNS))


def sit_to_stand_features(recording: ImuRecording,
                          settings: BiomechSettings | None = None) -> TaskResult:
    """Transitions, five-times sit-to-stand time, transition time and trunk flexion.

    Parameters
    ----------
    recording : ImuRecording
        With ``S1`` (vertical movement) and ``T12`` (trunk flexion) sensors; a recording with
        only one of them uses it for both.
    settings : BiomechSettings, optional
        Defaults when omitted.

    Returns
    -------
    TaskResult
        ``events`` lists every transition; ``signals`` the vertical velocity and trunk flexion.
    """
    settings = settings or BiomechSettings()
    fs = recording.sampling_rate_hz
    pelvis_point = "S1" if "S1" in recording.sensors else "T12"
    trunk_point = "T12" if "T12" in recording.sensors else "S1"
    if recording.duration_s < 3.0:
        return TaskResult.unmeasurable("sittostand", "failed",
                                       f"recording too short ({recording.duration_s:.1f} s)")
    pelvis = recording.imu(pelvis_point)
    acc = pelvis[list(ACC_COLUMNS)].to_numpy()
    up = None
    if recording.has_gyro(pelvis_point):
        orientation = estimate_orientation(_without_gyro_bias(pelvis, fs, settings), fs,
                                           method=settings.orientation_method,
                                           beta=settings.madgwick_beta)
        up = orientation.inv().apply([0.0, 0.0, 1.0])
    transitions = detect_transitions(acc, fs, up=up,
                                     min_displacement_m=settings.sts_min_displacement_m,
                                     min_peak_velocity_mps=settings.sts_min_peak_velocity_mps)
    velocity = vertical_velocity(acc, gravity_direction(acc, fs) if up is None else up, fs)
    signals = pd.DataFrame({"vertical_velocity_mps": velocity},
                           index=pd.Index(recording.time_s, name="time_s"))
    rises = transitions[transitions["kind"] == "sit_to_stand"].reset_index(drop=True)
    if rises.empty:
        result = TaskResult.unmeasurable("sittostand", "failed",
                                         "no sit-to-stand transition detected")
        result.signals, result.events = signals, transitions
        return result

    flexion = _trunk_flexion(recording, trunk_point, rises, settings)
    features = {"n_transitions": float(len(rises)),
                "mean_transition_time_s": float(rises["duration_s"].mean())}
    onset = float(rises.loc[0, "start_s"])
    peaks, peak_speeds = [], []
    if flexion is not None:
        signals["trunk_flexion_deg"] = flexion
        rate = np.gradient(lowpass(flexion, fs, settings.lowpass_hz)) * fs
        signals["trunk_flexion_velocity_dps"] = rate
        for rise in rises.itertuples():
            window = slice(max(0, rise.start - int(fs)), rise.end + 1)
            peaks.append(flexion[window].max())
            peak_speeds.append(rate[window].max())
        first = slice(max(0, int(rises.loc[0, "start"]) - int(1.5 * fs)), int(rises.loc[0, "end"]))
        lean = rate[first]
        slow = np.flatnonzero(lean[: int(np.argmax(lean))] < 0.1 * lean.max())
        onset = (first.start + (int(slow[-1]) if len(slow) else 0)) / fs
    features["peak_trunk_flexion_deg"] = float(np.mean(peaks)) if peaks else float("nan")
    features["peak_trunk_flexion_velocity_dps"] = (float(np.mean(peak_speeds)) if peak_speeds
                                                   else float("nan"))
    n = settings.sts_rises
    features["five_times_duration_s"] = (float(rises.loc[n - 1, "end_s"] - onset)
                                         if len(rises) >= n else float("nan"))
    result = TaskResult("sittostand", features, signals=signals, events=transitions)
    if len(rises) < n:
        result.flag(f"{len(rises)} sit-to-stand transitions found, {n} needed for the timed test")
    if flexion is None:
        result.flag("no gyroscope on the trunk sensor: trunk flexion not measured")
    return result


def _trunk_flexion(recording: ImuRecording, point: str, rises: pd.DataFrame,
                   settings: BiomechSettings) -> np.ndarray | None:
    """Sagittal angle of the trunk segment relative to standing after the first rise (deg)."""
    if not recording.has_gyro(point):
        return None
    fs = recording.sampling_rate_hz
    imu = recording.imu(point)
    end = int(rises.loc[0, "end"])
    standing = Baseline(end, min(len(imu), end + max(1, int(0.3 * fs))), 0.0, False)
    orientation = estimate_orientation(_without_gyro_bias(imu, fs, settings), fs,
                                       method=settings.orientation_method,
                                       beta=settings.madgwick_beta)
    segment, _ = segment_frame(orientation, standing)
    return decompose(relative_motion(segment, standing))[:, 0]


def _without_gyro_bias(imu: pd.DataFrame, sampling_rate_hz: float,
                       settings: BiomechSettings) -> pd.DataFrame:
    """Remove the gyroscope offset of the quiet (seated) start, when there is one."""
    quiet = find_static_baseline([imu], sampling_rate_hz, window_s=settings.baseline_window_s,
                                 search_s=settings.baseline_search_s,
                                 still_gyro_dps=settings.still_gyro_dps)
    return remove_gyro_offset(imu, quiet)
