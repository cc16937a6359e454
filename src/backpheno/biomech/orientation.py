"""Sensor orientation from accelerometer and gyroscope (6-DoF, no magnetometer).

Conventions
-----------
* Input: one tracked point in the canonical sensor frame of :mod:`backpheno.biomech.io`
  (x superior, y right, z anterior when standing upright), acc in m/s², gyr in deg/s.
* Output: a :class:`scipy.spatial.transform.Rotation` per sample that maps **sensor-frame vectors
  into the global frame** (``v_global = R.apply(v_sensor)``). The global frame is mobgap's: z up
  (opposite gravity), x the initial horizontal heading of the sensor's anterior axis, y = z × x
  (to the left). Heading is not observable without a magnetometer; it starts at zero and drifts
  with gyroscope bias, which is why angles are taken relative to a static baseline
  (:mod:`backpheno.biomech.angles`).
* Quaternions are scalar-last ``(x, y, z, w)`` everywhere in this package, as in scipy and mobgap
  (``q_x, q_y, q_z, q_w``). The ``ahrs`` package is scalar-first ``(w, x, y, z)``; the adapter
  below converts explicitly.

Filters
-------
``"madgwick"`` is mobgap's numba implementation of Madgwick (2010)
(:class:`mobgap.orientation_estimation.MadgwickAHRS`, gyro in deg/s); ``"ahrs_madgwick"`` the
pure-Python :class:`ahrs.filters.Madgwick` (gyro in rad/s), about 100 times slower
(``benchmarks/bench_biomech.py``) and kept as a cross-check. Both start from the tilt given by
the mean acceleration of the first ``init_window_s`` seconds, so the filter does not have to
converge from an arbitrary start. The gain ``beta`` defaults to 0.02 rad/s: Madgwick's
normalised gradient step always corrects at ``beta`` towards the accelerometer's gravity
estimate, which during trunk movement is tilted by linear acceleration; with the gyroscope bias
removed on the static baseline (:mod:`backpheno.biomech.angles`) a small gain keeps synthetic
ROM errors below 1° (0.1 gives up to 1.7°).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from scipy.signal import butter, sosfiltfilt
from scipy.spatial.transform import Rotation

from backpheno.biomech.io import ACC_COLUMNS, GYR_COLUMNS, IMU_COLUMNS
from backpheno.docstrings import fill_doc

OrientationMethod = Literal["madgwick", "ahrs_madgwick"]


def tilt_orientation(acc: np.ndarray) -> Rotation:
    """Orientation with zero heading whose global z is the measured "up" direction.

    Parameters
    ----------
    acc : array of shape (3,)
        Mean accelerometer reading of a still sensor (m/s², sensor frame).

    Returns
    -------
    Rotation
        Maps sensor vectors to the global frame; global x is the horizontal projection of the
        sensor's anterior (z) axis, or of its superior (x) axis when z is near vertical.
    """
    up = np.asarray(acc, float) / np.linalg.norm(acc)
    for axis in (np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0])):
        forward = axis - up * (up @ axis)
        if np.linalg.norm(forward) > 0.3:
            break
    forward /= np.linalg.norm(forward)
    left = np.cross(up, forward)
    return Rotation.from_matrix(np.vstack([forward, left, up]))


@fill_doc
def estimate_orientation(
    imu: pd.DataFrame,
    sampling_rate_hz: float,
    *,
    method: OrientationMethod = "madgwick",
    beta: float = 0.02,
    init_window_s: float = 0.5,
) -> Rotation:
    """Orientation of one sensor at every sample.

    Parameters
    ----------
    imu : DataFrame
        Columns ``acc_x .. gyr_z`` (m/s², deg/s) in the canonical sensor frame.
    %(sampling_rate_hz)s
    method : {"madgwick", "ahrs_madgwick"}
        mobgap's numba Madgwick filter or the ``ahrs`` package's.
    beta : float
        Madgwick gain (rad/s): weight of the accelerometer's gravity correction.
    init_window_s : float
        Seconds at the start averaged for the initial tilt.

    Returns
    -------
    Rotation
        ``len(imu)`` rotations, sensor → global.
    """
    data = imu[list(IMU_COLUMNS)]
    n_init = max(1, int(round(init_window_s * sampling_rate_hz)))
    start = tilt_orientation(data[list(ACC_COLUMNS)].to_numpy()[:n_init].mean(axis=0))
    if method == "madgwick":
        from mobgap.orientation_estimation import MadgwickAHRS

        filt = MadgwickAHRS(beta=beta, initial_orientation=start)
        filt = filt.estimate(data, sampling_rate_hz=sampling_rate_hz)
        return filt.orientation_object_[1:]
    if method == "ahrs_madgwick":
        from ahrs.filters import Madgwick

        filt = Madgwick(gyr=np.deg2rad(data[list(GYR_COLUMNS)].to_numpy()),
                        acc=data[list(ACC_COLUMNS)].to_numpy(), frequency=sampling_rate_hz,
                        gain=beta, q0=start.as_quat(scalar_first=True))
        return Rotation.from_quat(filt.Q, scalar_first=True)
    raise ValueError(f"unknown orientation method {method!r}")


@fill_doc
def gravity_direction(acc: np.ndarray, sampling_rate_hz: float,
                      cutoff_hz: float = 0.5) -> np.ndarray:
    """Unit "up" vector per sample from low-passed acceleration (accelerometer-only tilt).

    Parameters
    ----------
    acc : array of shape (n, 3)
        m/s², sensor frame.
    %(sampling_rate_hz)s
    cutoff_hz : float
        Butterworth (2nd order, zero phase) low-pass cut-off separating posture from movement.

    Returns
    -------
    array of shape (n, 3)
        Unit vectors in the sensor frame.
    """
    sos = butter(2, cutoff_hz, "low", fs=sampling_rate_hz, output="sos")
    low = sosfiltfilt(sos, np.asarray(acc, float), axis=0)
    return low / np.linalg.norm(low, axis=1, keepdims=True)
