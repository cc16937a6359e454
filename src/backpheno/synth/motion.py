"""Synthetic BIDS-motion recordings from two trunk IMUs (T12 and S1), physically consistent.

Every task is built as rigid-body kinematics in a world frame (x forward, y left, z up): the
pelvis and lumbar joint angles over time (:func:`backpheno.biomech.angles.compose` conventions)
give the segment orientations, the pelvis rotating about the hip joints and the thoracolumbar
segment about the lumbosacral joint give the sensor positions. The sensors then read

* gyroscope = body-frame angular velocity of the simulated orientation (central difference of
  the rotation sequence), in rad/s in the file;
* accelerometer = specific force in the sensor frame, ``Rᵀ (p̈ + g ẑ)``, in m/s²;

plus per-recording bias and white noise. Sensors are mounted with a tilt (the sacral sensor
leans back with the sacrum) that the extractor's static levelling has to undo. The trunk tasks
start and end with quiet standing; the sit-to-stand task is five rises from a chair starting
seated; the walk is a straight walk with gait initiation and termination whose lower-back
vertical and antero-posterior acceleration oscillate at the step frequency, so mobgap's
lower-back pipeline detects the gait and returns cadence and speed.

Files (BIDS motion, with the inheritance principle): :func:`write_static` writes the
dataset-level ``tracksys-imu_channels.tsv``/``.json`` (channel names, units m/s^2 and rad/s,
``SpatialAxes`` "SRA") and one ``task-<task>_tracksys-imu_motion.json`` per task
(``SamplingFrequency``); :func:`write_participant` writes the session-level
``sub-XXX_ses-YY_tracksys-imu_motion.json`` (``SensorHeight`` of each sensor, m) and one
headerless ``*_motion.tsv`` per task. :func:`write_recording` writes one self-contained
recording for notebooks and tests.

Latent traits act as follows (``fear_avoidance`` = kinesiophobia):

* ``fear_avoidance`` → smaller range of motion, slower movements (longer movement time, lower
  angular velocity), a larger jerky component (less smooth), a smaller lumbar share of trunk
  flexion, slower sit-to-stand and slightly slower walking;
* ``mechanical`` → a little less range of motion.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial.transform import Rotation

from backpheno.biomech.features import TRUNK_TASKS
from backpheno.biomech.io import ImuRecording
from backpheno.biomech.tasks import TASK_PLANE
from backpheno.dataset import MOTION_TASKS, TRACKED_POINTS, bids_name
from backpheno.docstrings import fill_doc
from backpheno.io import atomic_write, write_json, write_tsv
from backpheno.synth.base import ParticipantSpec
from backpheno.synth.config import SimulateConfig

GRAVITY = 9.81
#: Orientation (scalar-last quaternion) of a level sensor in the world: sensor x up, y right,
#: z forward (mobgap's INITIAL_MOBILISED_ORIENTATION).
_NEUTRAL = Rotation.from_matrix(np.array([[0.0, 0.0, 1.0], [0.0, -1.0, 0.0],
                                          [1.0, 0.0, 0.0]])).as_quat()
#: Sacral sensor position relative to the hip-joint centre, pelvis frame (x sup, y right, z ant), m.
_HIP_TO_S1 = np.array([0.06, 0.0, -0.12])
#: T12 sensor position relative to the lumbosacral joint, thoracolumbar frame, m.
_L5S1_TO_T12 = np.array([0.22, 0.0, -0.06])
#: Lumbosacral joint relative to the sacral sensor, pelvis frame, m.
_S1_TO_L5S1 = np.array([0.03, 0.0, 0.05])

#: Typical healthy trunk (thoracolumbar sensor) ROM (deg) and its lumbar share per task.
_TYPICAL_ROM = {"flexion": 100.0, "extension": 30.0, "lateralleft": 32.0, "lateralright": 32.0,
                "rotationleft": 38.0, "rotationright": 38.0}
_LUMBAR_SHARE = {"flexion": 0.5, "extension": 0.65, "lateralleft": 0.7, "lateralright": 0.7,
                 "rotationleft": 0.3, "rotationright": 0.3}

_ROM_FEATURES = ("thoracolumbar_rom_deg", "lumbar_rom_deg", "pelvis_rom_deg")
#: Features whose expected value the latent traits move (documentation for ground_truth.json).
DRIVES: dict[str, list[str]] = {
    "fear_avoidance": [
        *(f"biomech.{task}.{feature}" for task in TRUNK_TASKS for feature in _ROM_FEATURES),
        *(f"biomech.{task}.{feature}" for task in TRUNK_TASKS
          for feature in ("peak_velocity_dps", "mean_velocity_dps", "peak_acceleration_dps2",
                          "movement_time_s", "sparc", "ldlj")),
        "biomech.flexion.lumbopelvic_ratio",
        "biomech.sittostand.five_times_duration_s",
        "biomech.sittostand.mean_transition_time_s",
        "biomech.walk.walking_speed_mps",
    ],
    "mechanical": [f"biomech.{task}.{feature}" for task in TRUNK_TASKS
                   for feature in _ROM_FEATURES],
}


@dataclass(frozen=True)
class SensorNoise:
    """White noise (SD) and constant bias (SD of its per-recording draw) of the sensors."""

    gyro_noise_dps: float = 0.3
    gyro_bias_dps: float = 0.3
    acc_noise_mps2: float = 0.03
    acc_bias_mps2: float = 0.05

    def scaled(self, factor: float) -> SensorNoise:
        """All four levels multiplied by ``factor``."""
        return SensorNoise(self.gyro_noise_dps * factor, self.gyro_bias_dps * factor,
                           self.acc_noise_mps2 * factor, self.acc_bias_mps2 * factor)


@dataclass(frozen=True)
class MovementStyle:
    """How one participant moves (derived from traits by :func:`movement_style`).

    Attributes
    ----------
    rom_scale : float
        Multiplies the typical range of motion of every plane.
    lumbar_share_shift : float
        Added to the typical lumbar share of the trunk motion.
    duration_scale : float
        Multiplies movement times (> 1 = slower).
    jerk : float
        Amplitude of the jerky component as a fraction of the ROM.
    asymmetry : float
        Relative ROM excess to the left (e.g. 0.05 = 5 % more to the left).
    cadence_spm, step_length_m : float
        Walking cadence (steps/min) and step length (m).
    sensor_height_m : float
        Height of the sacral sensor above the floor when standing (m).
    """

    rom_scale: float = 1.0
    lumbar_share_shift: float = 0.0
    duration_scale: float = 1.0
    jerk: float = 0.01
    asymmetry: float = 0.0
    cadence_spm: float = 110.0
    step_length_m: float = 0.68
    sensor_height_m: float = 0.95


def movement_style(traits: dict[str, float], rng: np.random.Generator,
                   height_m: float = 1.70) -> MovementStyle:
    """Draw a participant's movement style from the latent traits (see module notes)."""
    fear = traits.get("fear_avoidance", 0.0)
    mech = traits.get("mechanical", 0.0)
    step_length = 0.40 * height_m * np.exp(-0.03 * fear + rng.normal(0, 0.04))
    return MovementStyle(
        rom_scale=float(np.clip(1.0 - 0.09 * fear - 0.04 * mech + rng.normal(0, 0.06), 0.35, 1.4)),
        lumbar_share_shift=float(-0.025 * fear + rng.normal(0, 0.03)),
        duration_scale=float(np.exp(0.15 * fear + rng.normal(0, 0.08))),
        jerk=float(0.012 * np.exp(0.45 * fear + rng.normal(0, 0.2))),
        asymmetry=float(rng.normal(0, 0.05)),
        cadence_spm=float(np.clip(112.0 - 2.5 * fear + rng.normal(0, 6.0), 85, 135)),
        step_length_m=float(step_length),
        sensor_height_m=float(0.56 * height_m),
    )


# ----------------------------------------------------------------------------------------------
# kinematics → IMU signals
# ----------------------------------------------------------------------------------------------


def min_jerk(tau: np.ndarray) -> np.ndarray:
    """Minimum-jerk position profile on [0, 1] (clipped outside)."""
    tau = np.clip(tau, 0.0, 1.0)
    return tau * tau * tau * (10.0 + tau * (6.0 * tau - 15.0))


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of scalar-last quaternions ``(x, y, z, w)`` (broadcasting)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ax, ay, az, aw = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bx, by, bz, bw = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return np.stack([aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw,
                     aw * bw - ax * bx - ay * by - az * bz], axis=-1)


def quat_rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors ``v`` by unit quaternions ``q`` (scalar-last): ``q v q*``."""
    u, w = q[..., :3], q[..., 3:]
    t = 2.0 * _cross(u, v)
    return v + w * t + _cross(u, t)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product over the last axis (faster than np.cross for long arrays of 3-vectors)."""
    a, b = np.broadcast_arrays(a, b)
    return np.stack([a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
                     a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
                     a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]], axis=-1)


def quat_from_angles(angles_deg: np.ndarray) -> np.ndarray:
    """Quaternions of :func:`backpheno.biomech.angles.compose` (flexion, lateral, rotation).

    Intrinsic Y-Z-X with the sign conventions of :mod:`backpheno.biomech.angles`, computed in
    numpy because scipy's Rotation is slow for the many short sequences simulated here.
    """
    half = np.radians(np.asarray(angles_deg, float)) / 2 * np.array([-1.0, -1.0, 1.0])
    out = None
    for column, axis in ((0, 1), (1, 2), (2, 0)):
        q = np.zeros((len(half), 4))
        q[:, axis] = np.sin(half[:, column])
        q[:, 3] = np.cos(half[:, column])
        out = q if out is None else quat_multiply(out, q)
    return out


@fill_doc
def imu_signals(orientation: np.ndarray, position: np.ndarray, sampling_rate_hz: float,
                rng: np.random.Generator, noise: SensorNoise) -> pd.DataFrame:
    """Accelerometer (m/s²) and gyroscope (deg/s) readings of a moving sensor.

    Parameters
    ----------
    orientation : array of shape (n, 4)
        Sensor → world unit quaternions per sample (scalar-last).
    position : array of shape (n, 3)
        Sensor position in the world (m).
    %(sampling_rate_hz)s
    rng : Generator
        Noise source.
    noise : SensorNoise
        Noise and bias levels.

    Returns
    -------
    DataFrame
        Canonical columns ``acc_x .. gyr_z``: the gyroscope is the body-frame angular velocity
        ``rotvec(q[k-1]* q[k+1]) / 2Δt``, the accelerometer ``q* (p̈ + g ẑ) q``.
    """
    dt = 1.0 / sampling_rate_hz
    n = len(position)
    index = np.arange(n)
    conjugate = orientation * np.array([-1.0, -1.0, -1.0, 1.0])
    delta = quat_multiply(conjugate[np.maximum(index - 1, 0)],
                          orientation[np.minimum(index + 1, n - 1)])
    delta *= np.where(delta[:, 3:] < 0, -1.0, 1.0)
    norm = np.linalg.norm(delta[:, :3], axis=1, keepdims=True)
    angle = 2.0 * np.arctan2(norm, delta[:, 3:])
    rotvec = delta[:, :3] * np.where(norm > 1e-12, angle / np.maximum(norm, 1e-12), 2.0)
    span = np.where((index == 0) | (index == n - 1), dt, 2 * dt)
    gyro = np.degrees(rotvec) / span[:, None]
    accel_world = np.gradient(np.gradient(position, dt, axis=0), dt, axis=0)
    accel_world[:, 2] += GRAVITY
    accel = quat_rotate(conjugate, accel_world)
    gyro += rng.normal(0, noise.gyro_bias_dps, 3) + rng.normal(0, noise.gyro_noise_dps, (n, 3))
    accel += rng.normal(0, noise.acc_bias_mps2, 3) + rng.normal(0, noise.acc_noise_mps2, (n, 3))
    return pd.DataFrame(np.hstack([accel, gyro]),
                        columns=["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"])


def two_sensor_recording(pelvis: np.ndarray, lumbar: np.ndarray, hip_position: np.ndarray,
                         sampling_rate_hz: float, rng: np.random.Generator, *,
                         noise: SensorNoise = SensorNoise(), s1_tilt_deg: float = 20.0,
                         t12_tilt_deg: float = 0.0, task: str | None = None) -> ImuRecording:
    """IMU signals of the T12 and S1 sensors for given pelvis and lumbar angle trajectories.

    Parameters
    ----------
    pelvis, lumbar : array of shape (n, 3)
        Flexion, lateral bending and axial rotation (deg) of the pelvis (relative to upright
        standing) and of the lumbar joint (T12 segment relative to the pelvis).
    hip_position : array of shape (n, 3)
        World position of the hip-joint centre (m).
    s1_tilt_deg, t12_tilt_deg : float
        Mounting tilt of each sensor in the sagittal plane (deg, top leaning backwards).

    Returns
    -------
    ImuRecording
        Sensors ``"T12"`` and ``"S1"`` in the canonical frame.
    """
    world_pelvis = quat_multiply(_NEUTRAL, quat_from_angles(pelvis))
    world_trunk = quat_multiply(world_pelvis, quat_from_angles(lumbar))
    s1_position = hip_position + quat_rotate(world_pelvis, _HIP_TO_S1)
    t12_position = (s1_position + quat_rotate(world_pelvis, _S1_TO_L5S1)
                    + quat_rotate(world_trunk, _L5S1_TO_T12))
    sensors = {}
    for point, world, position, tilt in (("T12", world_trunk, t12_position, t12_tilt_deg),
                                         ("S1", world_pelvis, s1_position, s1_tilt_deg)):
        mount = quat_from_angles(np.array([[-tilt, 0.0, 0.0]]))
        sensors[point] = imu_signals(quat_multiply(world, mount), position, sampling_rate_hz,
                                     rng, noise)
    return ImuRecording(sensors, sampling_rate_hz, task=task)


# ----------------------------------------------------------------------------------------------
# tasks
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrunkTaskTruth:
    """The planted peak angles of a trunk task (deg, in the task direction)."""

    thoracolumbar_rom_deg: float
    lumbar_rom_deg: float
    pelvis_rom_deg: float
    repetitions: int
    movement_time_s: float


def trunk_task(task: str, *, sampling_rate_hz: float = 100.0, repetitions: int = 3,
               thoracolumbar_rom_deg: float | None = None, lumbar_share: float | None = None,
               out_duration_s: float = 1.6, jerk: float = 0.01, variability: float = 0.0,
               rng: np.random.Generator | None = None, noise: SensorNoise = SensorNoise(),
               s1_tilt_deg: float = 20.0,
               t12_tilt_deg: float = 0.0) -> tuple[ImuRecording, TrunkTaskTruth]:
    """One trunk movement task: quiet standing, repetitions out and back, quiet standing.

    Parameters
    ----------
    task : str
        One of :data:`TRUNK_TASKS`.
    thoracolumbar_rom_deg : float, optional
        Peak thoracolumbar angle in the task direction (default: typical healthy value).
    lumbar_share : float, optional
        Lumbar part of it; the pelvis moves the rest (default: typical value for the plane).
    out_duration_s : float
        Time to reach the peak (the return takes 10 % longer).
    jerk : float
        Amplitude of a 3 Hz jerky component during movement, fraction of the ROM.
    variability : float
        Coefficient of variation of ROM and duration from one repetition to the next.

    Returns
    -------
    ImuRecording, TrunkTaskTruth
        The truth holds the mean over repetitions.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    plane, sign = TASK_PLANE[task]
    total = _TYPICAL_ROM[task] if thoracolumbar_rom_deg is None else thoracolumbar_rom_deg
    share = _LUMBAR_SHARE[task] if lumbar_share is None else lumbar_share
    fs = sampling_rate_hz
    hold, rest, lead, tail = 0.3, 1.0, 2.5, 1.5
    scales = np.clip(1 + variability * rng.standard_normal((repetitions, 2)), 0.5, 1.5)
    outs = out_duration_s * scales[:, 1]
    starts = lead + np.r_[0.0, np.cumsum(outs * 2.1 + hold + rest)[:-1]]
    n = int(round((starts[-1] + outs[-1] * 2.1 + hold + rest + tail) * fs))
    t = np.arange(n) / fs
    lumbar_profile = np.zeros(n)
    pelvis_profile = np.zeros(n)
    for t0, out, size in zip(starts, outs, scales[:, 0], strict=True):
        back = 1.1 * out
        going = min_jerk((t - t0) / out)
        coming = min_jerk((t - t0 - out - hold) / back)
        # lumbopelvic rhythm: the lumbar spine leads going down, the pelvis leads coming back
        going_p = min_jerk((t - t0 - 0.15 * out) / (0.85 * out))
        coming_p = min_jerk((t - t0 - out - hold) / (0.85 * back))
        wobble = jerk * np.sin(2 * np.pi * 3.0 * (t - t0)) * (
            np.sin(np.pi * np.clip((t - t0) / out, 0, 1)) ** 2
            + np.sin(np.pi * np.clip((t - t0 - out - hold) / back, 0, 1)) ** 2)
        lumbar_profile += size * (going - coming + wobble)
        pelvis_profile += size * (going_p - coming_p + 0.5 * wobble)
    j = {"flexion": 0, "lateral": 1, "rotation": 2}[plane]
    lumbar = np.zeros((n, 3))
    pelvis = np.zeros((n, 3))
    lumbar[:, j] = sign * share * total * lumbar_profile
    pelvis[:, j] = sign * (1.0 - share) * total * pelvis_profile
    hip = np.zeros((n, 3))
    hip[:, 2] = 0.9
    if plane == "flexion":  # the hips move back as the trunk flexes (balance)
        hip[:, 0] = -0.12 * pelvis_profile * max(sign, 0.0)
    recording = two_sensor_recording(pelvis, lumbar, hip, fs, rng, noise=noise,
                                     s1_tilt_deg=s1_tilt_deg, t12_tilt_deg=t12_tilt_deg,
                                     task=task)
    mean_size = float(scales[:, 0].mean())
    truth = TrunkTaskTruth(total * mean_size, share * total * mean_size,
                           (1.0 - share) * total * mean_size, repetitions,
                           float(np.mean(outs * 2.1 + hold)))
    return recording, truth


def keyframes(t: np.ndarray, frames: list[tuple[float, float]]) -> np.ndarray:
    """Minimum-jerk interpolation through ``(time, value)`` key frames (constant outside)."""
    frames = sorted(frames)
    out = np.full(len(t), frames[0][1], dtype=float)
    for (t0, v0), (t1, v1) in zip(frames[:-1], frames[1:], strict=True):
        out += (v1 - v0) * min_jerk((t - t0) / max(t1 - t0, 1e-9))
    return out


def sit_to_stand(*, sampling_rate_hz: float = 100.0, rises: int = 5, rise_s: float = 1.3,
                 trunk_flexion_deg: float = 40.0, rng: np.random.Generator | None = None,
                 noise: SensorNoise = SensorNoise(), s1_tilt_deg: float = 20.0,
                 t12_tilt_deg: float = 0.0, sensor_height_m: float = 0.95) -> ImuRecording:
    """Five-times sit-to-stand from a chair: seated start, ``rises`` rises, sit-downs between.

    During each rise the pelvis tilts forward and the trunk (thoracolumbar segment) flexes to
    ``trunk_flexion_deg`` relative to upright standing before seat-off, then both extend while
    the pelvis rises by about 0.4 m and moves forward; each sit-down mirrors it with less
    flexion. Seated, the pelvis is tilted 15° backwards and the lumbar spine flexed 20°.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    fs = sampling_rate_hz
    seated_pelvis, seated_lumbar = -15.0, 20.0
    sit_s, stand_s, seated_s, lead, tail = 1.3 * rise_s, 0.6, 0.8, 2.0, 2.0
    cycle = rise_s + stand_s + sit_s + seated_s
    n = int(round((lead + rises * cycle - sit_s - seated_s + tail) * fs))
    t = np.arange(n) / fs
    peak_pelvis = 0.55 * trunk_flexion_deg
    pelvis, lumbar = [(0.0, seated_pelvis)], [(0.0, seated_lumbar)]
    height, forward = [(0.0, 0.0)], [(0.0, 0.0)]
    for k in range(rises):
        t0 = lead + k * cycle
        pelvis += [(t0, seated_pelvis), (t0 + 0.4 * rise_s, peak_pelvis), (t0 + rise_s, 0.0)]
        lumbar += [(t0, seated_lumbar), (t0 + 0.4 * rise_s, trunk_flexion_deg - peak_pelvis),
                   (t0 + rise_s, 0.0)]
        height += [(t0 + 0.3 * rise_s, 0.0), (t0 + rise_s, 1.0)]
        forward += [(t0 + 0.2 * rise_s, 0.0), (t0 + 0.8 * rise_s, 1.0)]
        if k == rises - 1:
            break
        s0 = t0 + rise_s + stand_s
        pelvis += [(s0, 0.0), (s0 + 0.5 * sit_s, 0.6 * peak_pelvis), (s0 + sit_s, seated_pelvis)]
        lumbar += [(s0, 0.0), (s0 + 0.5 * sit_s, 0.7 * trunk_flexion_deg - 0.6 * peak_pelvis),
                   (s0 + sit_s, seated_lumbar)]
        height += [(s0 + 0.1 * sit_s, 1.0), (s0 + 0.9 * sit_s, 0.0)]
        forward += [(s0 + 0.1 * sit_s, 1.0), (s0 + 0.8 * sit_s, 0.0)]
    zeros = np.zeros(n)
    pelvis_angles = np.column_stack([keyframes(t, pelvis), zeros, zeros])
    lumbar_angles = np.column_stack([keyframes(t, lumbar), zeros, zeros])
    rise_m = 0.42 * sensor_height_m / 0.95
    hip = np.column_stack([0.18 * keyframes(t, forward), zeros,
                           sensor_height_m - 0.06 - rise_m * (1 - keyframes(t, height))])
    return two_sensor_recording(pelvis_angles, lumbar_angles, hip, fs, rng, noise=noise,
                                s1_tilt_deg=s1_tilt_deg, t12_tilt_deg=t12_tilt_deg,
                                task="sittostand")


def walk(*, sampling_rate_hz: float = 100.0, duration_s: float = 30.0,
         cadence_spm: float = 110.0, step_length_m: float = 0.68, sensor_height_m: float = 0.95,
         rng: np.random.Generator | None = None, noise: SensorNoise = SensorNoise(),
         s1_tilt_deg: float = 20.0, t12_tilt_deg: float = 0.0) -> ImuRecording:
    """A straight walk: 2 s standing, gait with 2-step initiation and termination, 2 s standing.

    The pelvis follows an inverted-pendulum vertical excursion per step
    (``h = l − sqrt(l² − (s / 2.37)²)``, ``l`` sensor height, ``s`` step length; the factor
    2.37 = 2 × 1.185 is the empirical correction of Zijlstra's model), an antero-posterior
    speed oscillation and a medio-lateral sway at the stride frequency, with pelvic rotation,
    obliquity and tilt oscillations of a few degrees.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    fs = sampling_rate_hz
    n = int(round(duration_s * fs))
    t = np.arange(n) / fs
    f_step = cadence_spm / 60.0
    speed = step_length_m * f_step
    start, stop = 2.0, duration_s - 2.0
    ramp = 2.0 / f_step  # two steps to reach and to leave the steady speed
    envelope = min_jerk((t - start) / ramp) - min_jerk((t - stop + ramp) / ramp)
    jitter = 0.15 * np.cumsum(rng.normal(0, 1, n)) / np.sqrt(fs)  # step-time variability
    phase = 2 * np.pi * f_step * (t - start) + jitter
    excursion = sensor_height_m - np.sqrt(sensor_height_m**2 - (step_length_m / 2.37) ** 2)
    forward_speed = envelope * speed * (1 + 0.08 * np.sin(phase))
    x = np.cumsum(forward_speed) / fs
    z = sensor_height_m - 0.06 - 0.5 * excursion * np.cos(phase) * envelope
    y = 0.02 * np.sin(phase / 2) * envelope
    hip = np.column_stack([x, y, z])
    pelvis = np.column_stack([1.5 * np.sin(phase + 0.5), 3.0 * np.sin(phase / 2 + 0.3),
                              4.0 * np.sin(phase / 2)]) * envelope[:, None]
    lumbar = np.column_stack([0.8 * np.sin(phase), -1.5 * np.sin(phase / 2 + 0.3),
                              -2.5 * np.sin(phase / 2)]) * envelope[:, None]
    return two_sensor_recording(pelvis, lumbar, hip, fs, rng, noise=noise,
                                s1_tilt_deg=s1_tilt_deg, t12_tilt_deg=t12_tilt_deg, task="walk")


def simulate_participant(traits: dict[str, float], rng: np.random.Generator, *,
                         sampling_rate_hz: float = 100.0, repetitions: int = 3,
                         walk_duration_s: float = 30.0, noise_scale: float = 1.0,
                         tasks: tuple[str, ...] = MOTION_TASKS,
                         height_m: float = 1.70) -> dict[str, ImuRecording]:
    """Every task of one participant, as :class:`ImuRecording` objects keyed by task."""
    style = movement_style(traits, rng, height_m)
    noise = SensorNoise().scaled(noise_scale)
    s1_tilt = float(rng.normal(20.0, 5.0))
    t12_tilt = float(rng.normal(0.0, 4.0))
    recordings = {}
    for task in tasks:
        if task in TRUNK_TASKS:
            plane, sign = TASK_PLANE[task]
            side = 1.0 + (sign * style.asymmetry / 2 if plane != "flexion" else 0.0)
            rom = _TYPICAL_ROM[task] * style.rom_scale * side * np.exp(rng.normal(0, 0.03))
            share = _LUMBAR_SHARE[task] + (style.lumbar_share_shift if task == "flexion" else 0.0)
            out = (0.9 + 0.7 * rom / 100.0) * style.duration_scale * np.exp(rng.normal(0, 0.05))
            recording, _ = trunk_task(task, sampling_rate_hz=sampling_rate_hz,
                                      repetitions=repetitions, thoracolumbar_rom_deg=rom,
                                      lumbar_share=float(np.clip(share, 0.15, 0.85)),
                                      out_duration_s=out, jerk=style.jerk, variability=0.04,
                                      rng=rng, noise=noise,
                                      s1_tilt_deg=s1_tilt, t12_tilt_deg=t12_tilt)
        elif task == "sittostand":
            recording = sit_to_stand(sampling_rate_hz=sampling_rate_hz,
                                     rise_s=1.2 * style.duration_scale,
                                     trunk_flexion_deg=40.0 * style.rom_scale ** 0.5, rng=rng,
                                     noise=noise, s1_tilt_deg=s1_tilt, t12_tilt_deg=t12_tilt,
                                     sensor_height_m=style.sensor_height_m)
        elif task == "walk":
            recording = walk(sampling_rate_hz=sampling_rate_hz, duration_s=walk_duration_s,
                             cadence_spm=style.cadence_spm, step_length_m=style.step_length_m,
                             sensor_height_m=style.sensor_height_m, rng=rng, noise=noise,
                             s1_tilt_deg=s1_tilt, t12_tilt_deg=t12_tilt)
        else:
            raise ValueError(f"unknown motion task {task!r}")
        recordings[task] = _with_metadata(recording, style)
    return recordings


# ----------------------------------------------------------------------------------------------
# writing BIDS motion
# ----------------------------------------------------------------------------------------------


def fixed_point_tsv(values: np.ndarray, decimals: int = 5, integer_digits: int = 4) -> bytes:
    """Tab-separated fixed-point text (``+0012.34567``) of a 2-D array, built without a Python loop.

    Every cell is a plain decimal number any TSV reader parses; formatting 16 000 rows this way
    takes milliseconds instead of the tenth of a second of per-value string formatting.
    """
    values = np.asarray(values, float)
    if not np.isfinite(values).all() or np.abs(values).max(initial=0) >= 10.0**integer_digits:
        raise ValueError(f"values must be finite and below 1e{integer_digits} in magnitude")
    rows, cols = values.shape
    rest = np.rint(np.abs(values) * 10.0**decimals).astype(np.int64)
    width = integer_digits + decimals + 3
    out = np.empty((rows, cols, width), dtype=np.uint8)
    out[..., 0] = np.where(values < 0, ord("-"), ord("+"))
    position = width - 2
    for k in range(decimals + integer_digits):
        if k == decimals:
            out[..., position] = ord(".")
            position -= 1
        rest, digit = np.divmod(rest, 10)
        out[..., position] = digit + ord("0")
        position -= 1
    out[..., -1] = ord("\t")
    out[:, -1, -1] = ord("\n")
    return out.tobytes()


def channels_table() -> pd.DataFrame:
    """``channels.tsv`` of the two-sensor recordings (acc in m/s^2, gyro in rad/s)."""
    rows = []
    for point in TRACKED_POINTS:
        for kind, prefix, unit in (("ACCEL", "acc", "m/s^2"), ("GYRO", "gyr", "rad/s")):
            for axis in "xyz":
                rows.append({"name": f"{point}_{prefix}_{axis}", "component": axis, "type": kind,
                             "tracked_point": point, "units": unit, "reference_frame": "local"})
    return pd.DataFrame(rows)


_CHANNELS_SIDECAR = {
    "reference_frame": {
        "Description": "reference frame of the channel",
        "Levels": {"local": {"Description": "sensor frame; axes point superior, right and "
                                            "anterior with the wearer standing upright",
                             "SpatialAxes": "SRA", "RotationRule": "right-hand"}},
    }
}


def _motion_sidecar(task: str, sampling_rate_hz: float) -> dict:
    return {
        "TaskName": task,
        "SamplingFrequency": sampling_rate_hz,
        "TrackingSystemName": "imu",
        "Manufacturer": "backpheno.synth",
        "TrackedPointsCount": len(TRACKED_POINTS),
        "ACCELChannelCount": 3 * len(TRACKED_POINTS),
        "GYROChannelCount": 3 * len(TRACKED_POINTS),
        "MotionChannelCount": 6 * len(TRACKED_POINTS),
    }


def write_recording(folder: str | Path, participant: str, session: str, task: str,
                    recording: ImuRecording, *, sidecars: bool = True) -> Path:
    """Write one recording as BIDS motion: ``*_motion.tsv`` (no header) and, with ``sidecars``,
    its own ``*_channels.tsv``, ``*_channels.json`` and ``*_motion.json``.

    Accelerations are written in m/s^2 and angular rates in rad/s; the sensor axes are declared
    through ``reference_frame`` / ``SpatialAxes`` = ``"SRA"`` (x superior, y right, z anterior).
    Without ``sidecars`` the metadata must be inherited from files higher up (as
    :func:`write_static` and :func:`write_participant` arrange).

    Returns
    -------
    Path
        The ``*_motion.tsv`` file.
    """
    folder = Path(folder)
    entities = {"sub": participant, "ses": session, "task": task, "tracksys": "imu"}
    blocks = [recording.sensors[point][f"{prefix}_{axis}"].to_numpy() * factor
              for point in TRACKED_POINTS
              for prefix, factor in (("acc", 1.0), ("gyr", np.pi / 180.0)) for axis in "xyz"]
    path = folder / bids_name("motion", ".tsv", **entities)
    with atomic_write(path, "wb") as handle:
        handle.write(fixed_point_tsv(np.column_stack(blocks)))
    if sidecars:
        write_tsv(folder / bids_name("channels", ".tsv", **entities), channels_table())
        write_json(folder / bids_name("channels", ".json", **entities), _CHANNELS_SIDECAR)
        write_json(folder / bids_name("motion", ".json", **entities),
                   {**_motion_sidecar(task, recording.sampling_rate_hz),
                    "RecordingDuration": round(recording.duration_s, 4),
                    "SensorHeight": recording.metadata.get("SensorHeight", {})})
    return path


def write_static(root: Path, config: SimulateConfig) -> None:
    """Dataset-level sidecars every recording inherits: channels and one motion.json per task."""
    root = Path(root)
    write_tsv(root / bids_name("channels", ".tsv", tracksys="imu"), channels_table())
    write_json(root / bids_name("channels", ".json", tracksys="imu"), _CHANNELS_SIDECAR)
    for task in MOTION_TASKS:
        write_json(root / bids_name("motion", ".json", task=task, tracksys="imu"),
                   _motion_sidecar(task, config.motion.sampling_frequency))


def write_participant(spec: ParticipantSpec, root: Path, config: SimulateConfig) -> None:
    """Simulate and write every motion task of one participant × session.

    The session's ``*_tracksys-imu_motion.json`` holds what is specific to the participant (the
    sensor heights); channels and task metadata are inherited from :func:`write_static`.
    """
    rng = spec.rng("motion")
    height = float(np.clip((1.63 if spec.sex == "F" else 1.77) + rng.normal(0, 0.07), 1.45, 2.0))
    recordings = simulate_participant(
        spec.traits, rng, sampling_rate_hz=config.motion.sampling_frequency,
        repetitions=config.motion.repetitions, walk_duration_s=config.motion.walk_duration_s,
        noise_scale=config.motion.noise_scale, height_m=height,
    )
    folder = Path(root) / spec.participant_id / spec.session_id / "motion"
    first = next(iter(recordings.values()))
    write_json(folder / bids_name("motion", ".json", sub=spec.participant_id,
                                  ses=spec.session_id, tracksys="imu"),
               {"SensorHeight": first.metadata["SensorHeight"]})
    for task, recording in recordings.items():
        write_recording(folder, spec.participant_id, spec.session_id, task, recording,
                        sidecars=False)


def _with_metadata(recording: ImuRecording, style: MovementStyle) -> ImuRecording:
    heights = {"S1": round(style.sensor_height_m, 3),
               "T12": round(style.sensor_height_m + 0.25, 3)}
    return ImuRecording(recording.sensors, recording.sampling_rate_hz, task=recording.task,
                        metadata={"SensorHeight": heights})
