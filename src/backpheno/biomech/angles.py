"""Segment and joint angles of the trunk from a thoracolumbar (T12) and a sacral (S1) sensor.

Definitions
-----------
Segment frame
    Each sensor's frame *levelled* on a static upright baseline: the sensor frame rotated by the
    smallest rotation that makes its x axis the measured vertical. This removes the mounting tilt
    (the sacrum is inclined, a sensor sits on soft tissue) but keeps the sensor's heading, so
    the segment axes are x superior, y right, z anterior as long as the sensor was put on with
    its z axis facing forward (the contract of :mod:`backpheno.biomech.io`). Heading about the
    vertical is not observable from gravity: a sensor turned on the skin by an angle about the
    vertical mixes planes (5° changes lumbar flexion by < 1°; 20° by about 4° and adds an
    axial-rotation artefact of about 15° during full flexion). A functional calibration (the
    flexion task defining each sensor's medio-lateral axis) would remove it; it is not done.
Segment motion
    ``D(t) = A⁻¹ R₀⁻¹ R(t) A``: the rotation of a segment since the baseline, expressed in its
    baseline segment frame (``R`` sensor orientation, ``R₀`` its mean over the baseline, ``A``
    the levelling rotation). The S1 sensor gives the **pelvis**; the T12 sensor the
    **thoracolumbar** (whole trunk above the pelvis) segment.
Lumbar angle
    The relative rotation of the T12 segment with respect to the S1 segment,
    ``Q(t) = (R_S1 A_S1)⁻¹ (R_T12 A_T12)``, taken relative to its baseline value:
    ``L(t) = Q₀⁻¹ Q(t)`` (= ``R_pelvis⁻¹ · R_thoracolumbar`` with baseline removed), expressed in
    the T12 segment frame.
Decomposition
    Cardan angles in the ISB spine order (Wu et al. 2002): flexion-extension about the
    medio-lateral axis first, then lateral bending about the rotated antero-posterior axis, then
    axial rotation about the longitudinal axis (intrinsic ``"YZX"`` in the segment frame). Signs:
    **flexion** positive forward (extension negative), **lateral** bending positive to the left,
    axial **rotation** positive to the left (counter-clockwise seen from above). Sagittal-first
    keeps the decomposition free of gimbal lock up to ±90° of lateral bending, so trunk flexion
    beyond 90° is represented correctly.

Baseline
    The quietest ``window_s`` window within the first ``search_s`` seconds of the recording (by
    mean gyroscope norm over both sensors). Trunk-movement recordings are expected to start with
    the participant standing still; if the quietest window still moves faster than
    ``still_gyro_dps`` the baseline is used but reported as not still (a QC flag). When it is
    still, its mean gyroscope reading is taken as the gyroscope bias and subtracted before the
    orientation filter runs, which removes most of the heading drift a 6-DoF filter cannot
    correct.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial.transform import Rotation

from backpheno.biomech.io import GYR_COLUMNS
from backpheno.biomech.orientation import OrientationMethod, estimate_orientation
from backpheno.docstrings import fill_doc

#: Anatomical planes in the order of the decomposition and the sign conventions above.
PLANES = ("flexion", "lateral", "rotation")
#: Segments reported by :func:`trunk_angles`.
SEGMENTS = ("thoracolumbar", "lumbar", "pelvis")
_EULER_ORDER = "YZX"
_EULER_SIGNS = np.array([-1.0, -1.0, 1.0])


@dataclass(frozen=True)
class Baseline:
    """A static window used as the zero of every angle.

    Attributes
    ----------
    start, stop : int
        Sample range ``[start, stop)``.
    gyro_dps : float
        Mean gyroscope norm in the window (deg/s), the larger of the sensors.
    still : bool
        Whether ``gyro_dps`` is below the stillness threshold.
    """

    start: int
    stop: int
    gyro_dps: float
    still: bool

    @property
    def slice(self) -> slice:
        """The window as a slice."""
        return slice(self.start, self.stop)


def find_static_baseline(imus: list[pd.DataFrame], sampling_rate_hz: float, *,
                         window_s: float = 1.0, search_s: float = 5.0,
                         still_gyro_dps: float = 5.0) -> Baseline:
    """The quietest window near the start of a recording (see module notes)."""
    n = len(imus[0])
    width = max(1, min(n, int(round(window_s * sampling_rate_hz))))
    speed = np.max([np.linalg.norm(imu[list(GYR_COLUMNS)].to_numpy(), axis=1) for imu in imus],
                   axis=0)
    moving = np.convolve(speed, np.ones(width) / width, mode="valid")
    last = max(1, min(len(moving), int(round(search_s * sampling_rate_hz)) - width + 1))
    start = int(np.argmin(moving[:last]))
    level = float(moving[start])
    return Baseline(start, start + width, level, level <= still_gyro_dps)


def remove_gyro_offset(imu: pd.DataFrame, baseline: Baseline) -> pd.DataFrame:
    """Subtract the mean gyroscope reading of a still baseline (the sensor's bias).

    Nothing is changed when the baseline is not still: its mean then contains movement.
    """
    if not baseline.still:
        return imu
    out = imu.copy()
    gyro = list(GYR_COLUMNS)
    out[gyro] = imu[gyro] - imu[gyro].iloc[baseline.slice].mean()
    return out


def levelling_rotation(up_in_sensor: np.ndarray) -> Rotation:
    """Smallest rotation taking the sensor x axis onto the measured vertical (segment → sensor)."""
    up = np.asarray(up_in_sensor, float)
    rotation, _ = Rotation.align_vectors(up[None, :] / np.linalg.norm(up), [[1.0, 0.0, 0.0]])
    return rotation


def segment_frame(orientation: Rotation, baseline: Baseline) -> tuple[Rotation, Rotation]:
    """Segment orientation ``R(t)·A`` and the levelling rotation ``A`` of one sensor."""
    reference = orientation[baseline.slice].mean()
    alignment = levelling_rotation(reference.inv().apply([0.0, 0.0, 1.0]))
    return orientation * alignment, alignment


def relative_motion(segment: Rotation, baseline: Baseline) -> Rotation:
    """Rotation since the baseline in the baseline segment frame: ``S₀⁻¹ S(t)``."""
    return segment[baseline.slice].mean().inv() * segment


def decompose(rotation: Rotation) -> np.ndarray:
    """Flexion, lateral bending and axial rotation (degrees, signs as in the module notes).

    Returns
    -------
    array of shape (n, 3)
        Columns in the order of :data:`PLANES`.
    """
    return rotation.as_euler(_EULER_ORDER, degrees=True) * _EULER_SIGNS


def compose(flexion_deg: np.ndarray, lateral_deg: np.ndarray,
            rotation_deg: np.ndarray) -> Rotation:
    """Inverse of :func:`decompose`: a rotation from the three anatomical angles (degrees)."""
    angles = np.column_stack([flexion_deg, lateral_deg, rotation_deg]) * _EULER_SIGNS
    return Rotation.from_euler(_EULER_ORDER, angles, degrees=True)


@dataclass(frozen=True)
class TrunkAngles:
    """Angles of a two-sensor trunk recording.

    Attributes
    ----------
    angles : DataFrame
        Indexed by time (s); columns ``<segment>_<plane>_deg`` for segment in
        :data:`SEGMENTS` and plane in :data:`PLANES`.
    baseline : Baseline
        The static window that defines zero.
    orientation : dict of str to Rotation
        Sensor orientation (sensor → global) of ``"T12"`` and ``"S1"``.
    """

    angles: pd.DataFrame
    baseline: Baseline
    orientation: dict[str, Rotation]


@fill_doc
def trunk_angles(t12: pd.DataFrame, s1: pd.DataFrame, sampling_rate_hz: float, *,
                 method: OrientationMethod = "madgwick", beta: float = 0.02,
                 baseline_window_s: float = 1.0, baseline_search_s: float = 5.0,
                 still_gyro_dps: float = 5.0) -> TrunkAngles:
    """Thoracolumbar, lumbar and pelvis angles from the T12 and S1 sensors.

    Parameters
    ----------
    t12, s1 : DataFrame
        Canonical IMU columns (m/s², deg/s) of the two sensors, same length and rate.
    %(sampling_rate_hz)s
    method, beta
        Orientation filter (see :func:`~backpheno.biomech.orientation.estimate_orientation`).
    baseline_window_s, baseline_search_s, still_gyro_dps
        Static baseline search (see :func:`find_static_baseline`).

    Returns
    -------
    TrunkAngles
    """
    baseline = find_static_baseline([t12, s1], sampling_rate_hz, window_s=baseline_window_s,
                                    search_s=baseline_search_s, still_gyro_dps=still_gyro_dps)
    orientation = {
        point: estimate_orientation(remove_gyro_offset(imu, baseline), sampling_rate_hz,
                                    method=method, beta=beta)
        for point, imu in (("T12", t12), ("S1", s1))
    }
    trunk, _ = segment_frame(orientation["T12"], baseline)
    pelvis, _ = segment_frame(orientation["S1"], baseline)
    motions = {
        "thoracolumbar": relative_motion(trunk, baseline),
        "lumbar": relative_motion(pelvis.inv() * trunk, baseline),
        "pelvis": relative_motion(pelvis, baseline),
    }
    columns = {}
    for segment in SEGMENTS:
        values = decompose(motions[segment])
        for j, plane in enumerate(PLANES):
            columns[f"{segment}_{plane}_deg"] = values[:, j]
    time = pd.Index(np.arange(len(t12)) / sampling_rate_hz, name="time_s")
    return TrunkAngles(pd.DataFrame(columns, index=time), baseline, orientation)
