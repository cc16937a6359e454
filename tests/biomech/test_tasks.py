"""Trunk movement task features on synthetic two-sensor recordings with known movement."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq

from backpheno.biomech.features import TASK_FEATURES, TaskResult
from backpheno.biomech.io import ImuRecording
from backpheno.biomech.settings import BiomechSettings
from backpheno.biomech.tasks import asymmetry_features, trunk_task_features
from backpheno.errors import InputError
from backpheno.synth import motion


@pytest.mark.parametrize("task", ["flexion", "extension", "lateralright", "rotationleft"])
def test_rom_and_repetitions_are_recovered(task):
    recording, truth = motion.trunk_task(task, repetitions=3, jerk=0.0,
                                         rng=np.random.default_rng(11))
    result = trunk_task_features(recording, task)
    assert result.status == "ok", result.reason
    f = result.features
    assert set(f) == set(TASK_FEATURES[task])
    assert f["n_repetitions"] == 3
    assert f["thoracolumbar_rom_deg"] == pytest.approx(truth.thoracolumbar_rom_deg, abs=2.0)
    assert f["lumbar_rom_deg"] == pytest.approx(truth.lumbar_rom_deg, abs=2.0)
    assert f["pelvis_rom_deg"] == pytest.approx(truth.pelvis_rom_deg, abs=2.0)
    assert f["lumbopelvic_ratio"] == pytest.approx(truth.lumbar_rom_deg
                                                   / truth.thoracolumbar_rom_deg, abs=0.03)
    assert 0.7 * truth.movement_time_s < f["movement_time_s"] < truth.movement_time_s
    assert f["rom_cv_pct"] < 2.0
    assert len(result.events) == 3 and result.signals is not None


def test_velocity_and_movement_time_follow_the_planted_profile():
    """Lumbar-only minimum-jerk movement: peak speed = 1.875 ROM / T; a repetition lasts from
    the 5 % crossing going out to the 5 % crossing coming back."""
    tau5 = brentq(lambda t: motion.min_jerk(np.array([t]))[0] - 0.05, 0.0, 0.5)
    for out in (1.2, 2.4):
        recording, _ = motion.trunk_task("flexion", out_duration_s=out, lumbar_share=1.0,
                                         jerk=0.0, rng=np.random.default_rng(0))
        f = trunk_task_features(recording, "flexion").features
        assert f["peak_velocity_dps"] == pytest.approx(1.875 * 100 / out, rel=0.05)
        expected = (out + 0.3 + 1.1 * out) - tau5 * (out + 1.1 * out)
        assert f["movement_time_s"] == pytest.approx(expected, abs=0.05)
        # the angle travels 2 x 95 % of the ROM inside the window
        assert f["mean_velocity_dps"] == pytest.approx(2 * 0.95 * 100 / expected, rel=0.05)


def test_smoothness_orders_smooth_and_jerky_movement():
    values = {}
    for jerk in (0.0, 0.01, 0.03):
        recording, _ = motion.trunk_task("flexion", jerk=jerk, rng=np.random.default_rng(5))
        values[jerk] = trunk_task_features(recording, "flexion").features
    for metric in ("sparc", "ldlj"):
        assert values[0.0][metric] > values[0.01][metric] > values[0.03][metric], metric


def test_still_recording_has_no_repetition():
    recording, _ = motion.trunk_task("flexion", thoracolumbar_rom_deg=1.0,
                                     rng=np.random.default_rng(0))
    result = trunk_task_features(recording, "flexion")
    assert result.status == "failed" and "no repetition detected" in result.reason
    assert all(np.isnan(v) for v in result.features.values())


def test_too_short_recording_is_not_measured():
    recording, _ = motion.trunk_task("flexion", rng=np.random.default_rng(0))
    short = ImuRecording({p: d.iloc[:200] for p, d in recording.sensors.items()}, 100.0)
    result = trunk_task_features(short, "flexion")
    assert result.status == "failed" and "too short" in result.reason


def test_fewer_repetitions_than_the_protocol_are_flagged():
    recording, _ = motion.trunk_task("extension", repetitions=2, rng=np.random.default_rng(0))
    result = trunk_task_features(recording, "extension", BiomechSettings(expected_repetitions=3))
    assert result.status == "flagged" and "2 of 3 repetitions" in result.reason
    assert result.features["n_repetitions"] == 2 and np.isfinite(result.features["sparc"])


def test_missing_sensor_is_an_input_error():
    recording, _ = motion.trunk_task("flexion", rng=np.random.default_rng(0))
    only_s1 = ImuRecording({"S1": recording.sensors["S1"]}, 100.0, source=None)
    with pytest.raises(InputError, match="tracked point 'T12'"):
        trunk_task_features(only_s1, "flexion")


def test_asymmetry_index():
    left = TaskResult("lateralleft", {"thoracolumbar_rom_deg": 33.0, "peak_velocity_dps": 60.0})
    right = TaskResult("lateralright", {"thoracolumbar_rom_deg": 27.0, "peak_velocity_dps": 60.0})
    out = asymmetry_features(left, right)
    assert out == {"rom_asymmetry_pct": pytest.approx(20.0), "velocity_asymmetry_pct": 0.0}
    missing = TaskResult.unmeasurable("lateralright", "missing", "no recording")
    assert all(np.isnan(v) for v in asymmetry_features(left, missing).values())


def test_planted_left_right_difference_is_measured():
    left, _ = motion.trunk_task("rotationleft", thoracolumbar_rom_deg=44.0,
                                rng=np.random.default_rng(1))
    right, _ = motion.trunk_task("rotationright", thoracolumbar_rom_deg=36.0,
                                 rng=np.random.default_rng(2))
    out = asymmetry_features(trunk_task_features(left, "rotationleft"),
                             trunk_task_features(right, "rotationright"))
    assert out["rom_asymmetry_pct"] == pytest.approx(100 * 8 / 40, abs=5.0)
    assert isinstance(pd.Series(out), pd.Series)


def test_repetition_variability_is_measured():
    recording, truth = motion.trunk_task("flexion", repetitions=5, variability=0.08, jerk=0.0,
                                         rng=np.random.default_rng(8))
    f = trunk_task_features(recording, "flexion").features
    assert f["n_repetitions"] == 5
    assert f["thoracolumbar_rom_deg"] == pytest.approx(truth.thoracolumbar_rom_deg, abs=2.0)
    steady, _ = motion.trunk_task("flexion", repetitions=5, jerk=0.0,
                                  rng=np.random.default_rng(8))
    assert f["rom_cv_pct"] > 3.0 > trunk_task_features(steady, "flexion").features["rom_cv_pct"]
