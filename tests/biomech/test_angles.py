"""Trunk angles from two sensors with known rotations (synthetic, physically consistent)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.transform import Rotation

from backpheno.biomech.angles import compose, decompose, find_static_baseline, trunk_angles
from backpheno.biomech.features import TRUNK_TASKS
from backpheno.biomech.tasks import TASK_PLANE
from backpheno.synth import motion


def test_compose_and_decompose_are_inverse_and_signed_as_documented():
    rng = np.random.default_rng(0)
    angles = np.column_stack([rng.uniform(-120, 120, 200), rng.uniform(-80, 80, 200),
                              rng.uniform(-170, 170, 200)])
    np.testing.assert_allclose(decompose(compose(*angles.T)), angles, atol=1e-9)
    # in the segment frame (x superior, y right, z anterior):
    superior = np.array([1.0, 0.0, 0.0])
    flexed = compose(np.array([30.0]), np.zeros(1), np.zeros(1)).apply(superior)[0]
    assert flexed[2] > 0.4  # flexion tilts the superior axis forward (anterior)
    bent = compose(np.zeros(1), np.array([30.0]), np.zeros(1)).apply(superior)[0]
    assert bent[1] < -0.4  # positive lateral bending tilts it to the left (negative y)
    turned = compose(np.zeros(1), np.zeros(1), np.array([30.0])).apply([0.0, 0.0, 1.0])[0]
    assert turned[1] < -0.4  # positive rotation turns the anterior axis to the left


@pytest.mark.parametrize("task", TRUNK_TASKS)
def test_segment_rom_is_recovered_within_two_degrees(task):
    plane, sign = TASK_PLANE[task]
    for seed in range(2):
        rng = np.random.default_rng(seed)
        recording, truth = motion.trunk_task(task, rng=rng, jerk=0.0, repetitions=2,
                                             s1_tilt_deg=float(rng.uniform(10, 30)),
                                             t12_tilt_deg=float(rng.uniform(-8, 8)))
        result = trunk_angles(recording.sensors["T12"], recording.sensors["S1"], 100.0)
        assert result.baseline.still
        table = result.angles
        for segment, expected in (("thoracolumbar", truth.thoracolumbar_rom_deg),
                                  ("lumbar", truth.lumbar_rom_deg),
                                  ("pelvis", truth.pelvis_rom_deg)):
            peak = (sign * table[f"{segment}_{plane}_deg"]).max()
            assert peak == pytest.approx(expected, abs=2.0), (segment, seed)
        # the other planes stay near zero
        others = [c for c in table.columns if plane not in c]
        assert table[others].abs().max().max() < 3.0


def test_lumbopelvic_split_is_recovered():
    for share in (0.3, 0.5, 0.7):
        recording, truth = motion.trunk_task("flexion", lumbar_share=share, jerk=0.0,
                                             rng=np.random.default_rng(1))
        table = trunk_angles(recording.sensors["T12"], recording.sensors["S1"], 100.0).angles
        peak = table["thoracolumbar_flexion_deg"].idxmax()
        ratio = table.loc[peak, "lumbar_flexion_deg"] / table.loc[peak, "thoracolumbar_flexion_deg"]
        assert ratio == pytest.approx(share, abs=0.03)


def test_large_flexion_beyond_ninety_degrees():
    recording, _ = motion.trunk_task("flexion", thoracolumbar_rom_deg=125.0, lumbar_share=0.45,
                                     jerk=0.0, rng=np.random.default_rng(2))
    table = trunk_angles(recording.sensors["T12"], recording.sensors["S1"], 100.0).angles
    assert table["thoracolumbar_flexion_deg"].max() == pytest.approx(125.0, abs=2.0)
    assert table["pelvis_flexion_deg"].max() == pytest.approx(0.55 * 125.0, abs=2.0)


def test_baseline_is_the_quietest_window_and_flags_movement():
    n = 600
    quiet = pd.DataFrame(np.zeros((n, 6)), columns=["acc_x", "acc_y", "acc_z", "gyr_x",
                                                    "gyr_y", "gyr_z"])
    quiet["acc_x"] = 9.81
    moving = quiet.copy()
    moving.loc[:, "gyr_y"] = 20.0 * np.sin(np.arange(n) / 10)
    moving.loc[200:320, "gyr_y"] = 0.0
    baseline = find_static_baseline([moving], 100.0, window_s=1.0, search_s=5.0)
    assert 200 <= baseline.start and baseline.stop <= 321 and baseline.still
    restless = find_static_baseline([quiet.assign(gyr_y=20.0)], 100.0)
    assert not restless.still


def test_small_mounting_yaw_between_sensors_barely_changes_lumbar_flexion():
    """Sensor heading is not observable from gravity: the contract is that both sensors face
    forward. A 5 deg yaw error of the S1 sensor must change lumbar flexion by less than 1 deg
    (20 deg would add about 4 deg, and a large axial-rotation artefact)."""
    recording, truth = motion.trunk_task("flexion", jerk=0.0, rng=np.random.default_rng(4))
    s1 = recording.sensors["S1"].copy()
    turn = Rotation.from_euler("x", 5, degrees=True)  # about the sensor's superior axis
    for columns in (["acc_x", "acc_y", "acc_z"], ["gyr_x", "gyr_y", "gyr_z"]):
        s1[columns] = turn.inv().apply(s1[columns].to_numpy(copy=True))
    table = trunk_angles(recording.sensors["T12"], s1, 100.0).angles
    assert table["lumbar_flexion_deg"].max() == pytest.approx(truth.lumbar_rom_deg, abs=1.0)
