"""Physiological plausibility of an IMU recording: does its metadata tell the truth?

A wrong ``SamplingFrequency`` is caught by the reader when the recording has timestamps or a
``RecordingDuration``. Without them the signal itself is the only witness, and three physical
facts are checked (:func:`implausibilities`):

* **gravity**: the median accelerometer magnitude of every sensor is close to 9.81 m/s²
  (a wrong unit or a broken sensor shows here);
* **rotation rate** (tasks that tilt the trunk: :data:`TILT_TASKS`): for a rigid sensor the
  direction of gravity in the sensor frame turns
  exactly as fast as the gyroscope says (``|du/dt| = |ω × u|``), so the angle the gravity
  direction travels over the recording, divided by the angle the gyroscope integrates with the
  declared sampling period, is 1; its inverse times the declared rate estimates the true rate;
* **human ranges**: walking cadence (the dominant frequency of the acceleration magnitude) and
  the task's duration lie within what people do.

Each failed check returns one sentence with the numbers; the extractor flags the task with it.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfiltfilt, welch

from backpheno.biomech.io import ACC_COLUMNS, GYR_COLUMNS, STANDARD_GRAVITY, ImuRecording

#: Accepted median accelerometer magnitude (m/s²): gravity within 15 %.
GRAVITY_RANGE = (0.85 * STANDARD_GRAVITY, 1.15 * STANDARD_GRAVITY)
#: Accepted ratio of the gravity-direction path to the gyroscope-integrated angle.
ROTATION_RATIO_RANGE = (0.7, 1.4)
#: Least gravity-direction travel (deg) for the rotation check to be informative.
MIN_TILT_PATH_DEG = 30.0
#: Human walking cadence (steps/min) accepted for a straight walk.
CADENCE_RANGE_SPM = (60.0, 160.0)
#: Accepted recording duration (s) per task kind.
DURATION_RANGE_S = {"trunk": (3.0, 300.0), "sittostand": (3.0, 300.0), "walk": (5.0, 3600.0)}

#: Tasks whose movement tilts the trunk (the gravity direction turns with it).
TILT_TASKS = ("flexion", "extension", "lateralleft", "lateralright")

_LOWPASS_HZ = 1.5
_PATH_STEP_S = 0.1


def implausibilities(recording: ImuRecording, task: str) -> list[str]:
    """Sentences naming each physically implausible property of ``recording`` (empty if none)."""
    problems = [*_gravity(recording), *_duration(recording, task)]
    if task == "walk":
        problems += _cadence(recording)
    elif task in TILT_TASKS:
        problems += _rotation(recording)
    return problems


def gravity_magnitudes(recording: ImuRecording) -> dict[str, float]:
    """Median accelerometer magnitude (m/s²) of each tracked point."""
    return {point: float(np.nanmedian(np.linalg.norm(frame[list(ACC_COLUMNS)], axis=1)))
            for point, frame in recording.sensors.items()}


def rotation_ratio(recording: ImuRecording, tracked_point: str) -> tuple[float, float]:
    """Gravity-direction path over gyroscope-integrated angle, and that path (deg).

    Both signals are low-pass filtered at 1.5 Hz (trunk movements are slower; impacts and
    noise are not). Returns ``(nan, path)`` when the gyroscope saw no rotation.
    """
    frame = recording.imu(tracked_point)
    fs = recording.sampling_rate_hz
    sos = butter(2, min(_LOWPASS_HZ, 0.45 * fs) / (fs / 2), output="sos")
    acc = sosfiltfilt(sos, frame[list(ACC_COLUMNS)].to_numpy(float), axis=0)
    gyr = np.radians(sosfiltfilt(sos, frame[list(GYR_COLUMNS)].to_numpy(float), axis=0))
    unit = acc / np.linalg.norm(acc, axis=1, keepdims=True)
    step = max(1, int(round(_PATH_STEP_S * fs)))
    coarse = unit[::step]
    path = float(np.sum(np.arccos(np.clip(np.sum(coarse[1:] * coarse[:-1], axis=1), -1, 1))))
    perpendicular = np.linalg.norm(np.cross(gyr, unit), axis=1)
    integrated = float(np.sum(perpendicular[: (len(coarse) - 1) * step]) / fs)
    ratio = path / integrated if integrated > 0 else float("nan")
    return ratio, float(np.degrees(path))


def step_frequency_hz(recording: ImuRecording, tracked_point: str) -> float:
    """Dominant frequency (Hz, by the declared rate) of the acceleration magnitude, 0.5–5 Hz."""
    frame = recording.imu(tracked_point)
    fs = recording.sampling_rate_hz
    magnitude = np.linalg.norm(frame[list(ACC_COLUMNS)].to_numpy(float), axis=1)
    freqs, power = welch(magnitude - magnitude.mean(), fs=fs,
                         nperseg=min(len(magnitude), int(round(16 * fs))))
    band = (freqs >= 0.5) & (freqs <= min(5.0, fs / 2))
    return float(freqs[band][np.argmax(power[band])]) if band.any() else float("nan")


def _gravity(recording: ImuRecording) -> list[str]:
    low, high = GRAVITY_RANGE
    return [f"median accelerometer magnitude of {point} is {value:.2f} m/s², not gravity "
            f"(9.81; accepted {low:.1f}-{high:.1f}): wrong units or a faulty sensor?"
            for point, value in gravity_magnitudes(recording).items()
            if not low <= value <= high]


def _duration(recording: ImuRecording, task: str) -> list[str]:
    kind = task if task in DURATION_RANGE_S else "trunk"
    low, high = DURATION_RANGE_S[kind]
    duration = recording.duration_s
    if low <= duration <= high:
        return []
    return [f"recording lasts {duration:.1f} s at the declared {recording.sampling_rate_hz:g} "
            f"Hz, outside the {low:g}-{high:g} s of a {task} task: wrong SamplingFrequency?"]


def _rotation(recording: ImuRecording) -> list[str]:
    low, high = ROTATION_RATIO_RANGE
    problems = []
    for point, frame in recording.sensors.items():
        if not set(GYR_COLUMNS) <= set(frame.columns):
            continue
        ratio, path = rotation_ratio(recording, point)
        if path < MIN_TILT_PATH_DEG or not np.isfinite(ratio) or low <= ratio <= high:
            continue
        fs = recording.sampling_rate_hz
        problems.append(
            f"{point}: gravity direction turns {ratio:.2f} times the angle the gyroscope "
            f"integrates at the declared {fs:g} Hz (expected 1; accepted {low:g}-{high:g}), "
            f"which suggests a sampling frequency near {fs / ratio:.0f} Hz: wrong "
            "SamplingFrequency?")
    return problems


def _cadence(recording: ImuRecording) -> list[str]:
    low, high = CADENCE_RANGE_SPM
    problems = []
    for point in recording.sensors:
        cadence = 60.0 * step_frequency_hz(recording, point)
        if np.isfinite(cadence) and not low <= cadence <= high:
            problems.append(
                f"{point}: dominant step rhythm is {cadence:.0f} steps/min at the declared "
                f"{recording.sampling_rate_hz:g} Hz, outside human walking ({low:g}-{high:g}): "
                "wrong SamplingFrequency?")
    return problems
