"""Orientation filters: frame and quaternion conventions, mobgap vs ahrs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from backpheno.biomech.angles import decompose
from backpheno.biomech.orientation import estimate_orientation, gravity_direction, tilt_orientation
from backpheno.synth import motion


def test_tilt_orientation_maps_measured_up_to_global_z():
    tilt = Rotation.from_euler("y", 25, degrees=True)  # sensor pitched 25 deg
    acc = tilt.inv().apply([9.81, 0.0, 0.0])  # an upright sensor reads +g on x
    start = tilt_orientation(acc)
    np.testing.assert_allclose(start.apply(acc / 9.81), [0, 0, 1], atol=1e-12)
    # heading: the sensor's anterior axis points to global +x (no sideways component)
    assert start.apply([0, 0, 1])[1] == pytest.approx(0.0, abs=1e-12)


def test_upright_still_sensor_is_mobgaps_initial_orientation():
    from mobgap.consts import INITIAL_MOBILISED_ORIENTATION

    start = tilt_orientation(np.array([9.81, 0.0, 0.0]))
    assert (start * INITIAL_MOBILISED_ORIENTATION.inv()).magnitude() == pytest.approx(0, abs=1e-9)


def test_mobgap_and_ahrs_filters_agree_with_the_simulated_truth():
    recording, truth = motion.trunk_task("flexion", repetitions=1, jerk=0.0,
                                         noise=motion.SensorNoise().scaled(0.0),
                                         rng=np.random.default_rng(0))
    imu = recording.sensors["T12"]
    estimates = {method: estimate_orientation(imu, 100.0, method=method)
                 for method in ("madgwick", "ahrs_madgwick")}
    assert all(len(r) == len(imu) for r in estimates.values())
    flexion = {}
    for method, rotation in estimates.items():
        relative = rotation[0].inv() * rotation  # motion since the (still, upright) start
        flexion[method] = decompose(relative)[:, 0]
    assert flexion["madgwick"].max() == pytest.approx(truth.thoracolumbar_rom_deg, abs=1.5)
    np.testing.assert_allclose(flexion["madgwick"], flexion["ahrs_madgwick"], atol=0.5)


def test_gravity_direction_of_still_tilted_sensor():
    up = Rotation.from_euler("z", 30, degrees=True).inv().apply([1.0, 0.0, 0.0])
    acc = np.tile(9.81 * up, (500, 1)) + np.random.default_rng(0).normal(0, 0.05, (500, 3))
    estimate = gravity_direction(acc, 100.0)
    assert np.degrees(np.arccos(np.clip(estimate @ up, -1, 1))).max() < 1.0
