"""Features of the trunk movement tasks (flexion, extension, lateral bending, axial rotation).

For one recording with a T12 and an S1 sensor (:func:`trunk_task_features`):

1. thoracolumbar, lumbar and pelvis angles relative to the static standing baseline
   (:func:`backpheno.biomech.angles.trunk_angles`);
2. repetitions found in the thoracolumbar angle in the task direction
   (:func:`backpheno.biomech.segmentation.detect_repetitions`); incomplete repetitions (the
   recording ends before the return) are not used;
3. per repetition: the peak of each segment's angle in the task direction (ROM), the lumbar /
   thoracolumbar ratio at the thoracolumbar peak, peak and mean absolute angular velocity and
   peak angular acceleration of the low-passed thoracolumbar angle, the movement time, and
   SPARC and LDLJ-V of the low-passed T12 angular speed (gyroscope norm) for the outward and the
   return phase separately (each a discrete movement);
4. features are means over repetitions; ``rom_cv_pct`` is the coefficient of variation of the
   thoracolumbar ROM.

:func:`asymmetry_features` compares the left and right tasks of a pair.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import butter, sosfiltfilt

from backpheno.biomech.angles import remove_gyro_offset, trunk_angles
from backpheno.biomech.features import TaskResult
from backpheno.biomech.io import GYR_COLUMNS, ImuRecording
from backpheno.biomech.segmentation import detect_repetitions
from backpheno.biomech.settings import BiomechSettings
from backpheno.biomech.smoothness import log_dimensionless_jerk, sparc

#: Task → (anatomical plane, sign that makes the task direction positive).
TASK_PLANE = {
    "flexion": ("flexion", 1.0), "extension": ("flexion", -1.0),
    "lateralleft": ("lateral", 1.0), "lateralright": ("lateral", -1.0),
    "rotationleft": ("rotation", 1.0), "rotationright": ("rotation", -1.0),
}


def lowpass(values: np.ndarray, sampling_rate_hz: float, cutoff_hz: float) -> np.ndarray:
    """Zero-phase 2nd-order Butterworth low-pass along the first axis."""
    sos = butter(2, min(cutoff_hz, 0.45 * sampling_rate_hz), "low", fs=sampling_rate_hz,
                 output="sos")
    return sosfiltfilt(sos, np.asarray(values, float), axis=0)


def trunk_task_features(recording: ImuRecording, task: str,
                        settings: BiomechSettings | None = None) -> TaskResult:
    """Range of motion, velocity, smoothness and repetition features of one trunk task.

    Parameters
    ----------
    recording : ImuRecording
        With tracked points ``T12`` and ``S1`` (accelerometer and gyroscope), starting with
        quiet standing.
    task : str
        One of ``flexion, extension, lateralleft, lateralright, rotationleft, rotationright``.
    settings : BiomechSettings, optional
        Defaults when omitted.

    Returns
    -------
    TaskResult
        Features named as in :data:`backpheno.biomech.features.TASK_FEATURES`; ``signals`` holds
        the angle traces, thoracolumbar velocity and T12 angular speed; ``events`` the
        repetitions.
    """
    settings = settings or BiomechSettings()
    plane, sign = TASK_PLANE[task]
    fs = recording.sampling_rate_hz
    t12, s1 = recording.imu("T12"), recording.imu("S1")
    minimum = settings.baseline_window_s + 2.0
    if recording.duration_s < minimum:
        return TaskResult.unmeasurable(task, "failed", f"recording too short "
                                       f"({recording.duration_s:.1f} s < {minimum:.1f} s)")
    angles = trunk_angles(t12, s1, fs, method=settings.orientation_method,
                          beta=settings.madgwick_beta, baseline_window_s=settings.baseline_window_s,
                          baseline_search_s=settings.baseline_search_s,
                          still_gyro_dps=settings.still_gyro_dps)
    table = angles.angles
    trunk = sign * table[f"thoracolumbar_{plane}_deg"].to_numpy()
    lumbar = sign * table[f"lumbar_{plane}_deg"].to_numpy()
    pelvis = sign * table[f"pelvis_{plane}_deg"].to_numpy()
    velocity = np.gradient(lowpass(trunk, fs, settings.lowpass_hz)) * fs
    acceleration = np.gradient(velocity) * fs
    gyro = remove_gyro_offset(t12, angles.baseline)[list(GYR_COLUMNS)].to_numpy()
    speed = lowpass(np.linalg.norm(gyro, axis=1), fs, settings.lowpass_hz)
    signals = table.assign(thoracolumbar_velocity_dps=sign * velocity, t12_angular_speed_dps=speed)

    reps = detect_repetitions(trunk, fs, min_rom_deg=settings.min_rom_deg,
                              onset_fraction=settings.onset_fraction,
                              min_separation_s=settings.min_separation_s)
    complete = reps[reps["complete"].astype(bool)]
    if complete.empty:
        reason = (f"no repetition detected: peak thoracolumbar angle in the task direction "
                  f"{np.nanmax(trunk):.1f} deg" if reps.empty else
                  "the only repetition is incomplete (recording ends before the return)")
        result = TaskResult.unmeasurable(task, "failed", reason)
        result.signals, result.events = signals, reps
        return result

    rows = []
    for rep in complete.itertuples():
        window = slice(rep.start, rep.end + 1)
        phases = [(rep.start, rep.peak), (rep.peak, rep.end)]
        rows.append({
            "thoracolumbar_rom_deg": trunk[rep.peak],
            "lumbar_rom_deg": lumbar[window].max(),
            "pelvis_rom_deg": pelvis[window].max(),
            "lumbopelvic_ratio": lumbar[rep.peak] / trunk[rep.peak],
            "peak_velocity_dps": np.abs(velocity[window]).max(),
            "mean_velocity_dps": np.abs(velocity[window]).mean(),
            "peak_acceleration_dps2": np.abs(acceleration[window]).max(),
            "movement_time_s": (rep.end - rep.start) / fs,
            "sparc": np.nanmean([sparc(speed[a:b + 1], fs, padlevel=settings.sparc_padlevel,
                                       fc_hz=settings.sparc_fc_hz,
                                       amplitude_threshold=settings.sparc_amplitude_threshold)
                                 for a, b in phases]),
            "ldlj": np.nanmean([log_dimensionless_jerk(speed[a:b + 1], fs) for a, b in phases]),
        })
    per_rep = pd.DataFrame(rows)
    features = {"n_repetitions": float(len(per_rep)), **per_rep.mean().to_dict()}
    rom = per_rep["thoracolumbar_rom_deg"]
    features["rom_cv_pct"] = (float(100 * rom.std(ddof=1) / rom.mean()) if len(rom) > 1
                              else float("nan"))
    events = pd.concat([complete.reset_index(drop=True), per_rep], axis=1)
    result = TaskResult(task, {k: float(v) for k, v in features.items()}, signals=signals,
                        events=events, details={"baseline": angles.baseline})
    if not angles.baseline.still:
        result.flag(f"no still standing baseline (mean gyroscope {angles.baseline.gyro_dps:.1f} "
                    "deg/s); angles are relative to the quietest second")
    if len(complete) < len(reps):
        result.flag("last repetition incomplete and not used")
    if settings.expected_repetitions and len(complete) < settings.expected_repetitions:
        result.flag(f"{len(complete)} of {settings.expected_repetitions} repetitions found")
    if len(rom) < 2:
        result.flag("one repetition: no variability")
    return result


def asymmetry_features(left: TaskResult, right: TaskResult) -> dict[str, float]:
    """Symmetry indices ``100 (L − R) / mean(L, R)`` of ROM and peak velocity of a task pair."""
    out = {}
    for name, feature in (("rom_asymmetry_pct", "thoracolumbar_rom_deg"),
                          ("velocity_asymmetry_pct", "peak_velocity_dps")):
        a, b = left.features[feature], right.features[feature]
        out[name] = float(100 * (a - b) / ((a + b) / 2)) if a + b > 0 else float("nan")
    return out

