"""Sit-to-stand: a real lumbar accelerometer recording and synthetic five-times tests."""

from __future__ import annotations

import numpy as np
import pytest

from backpheno.biomech.io import ImuRecording
from backpheno.biomech.sts import detect_transitions, sit_to_stand_features
from backpheno.synth import motion


def test_real_recording_gives_a_plausible_number_of_transitions(realdata):
    """scikit-digital-health's sit-to-stand example (lumbar accelerometer only, 128 Hz, 91 s).

    Its posture trace shows three seated periods entered and left from walking (8-23 s,
    31-37 s, 68-83 s) and a sit-down at the end: three rises and four sit-downs.
    """
    data = np.load(realdata / "skdh_lumbar_imu" / "s2s_input_data.npz")
    fs = 1.0 / np.median(np.diff(data["time"]))
    transitions = detect_transitions(data["accel"] * 9.80665, fs)
    rises = transitions[transitions["kind"] == "sit_to_stand"]
    sits = transitions[transitions["kind"] == "stand_to_sit"]
    print(transitions.round(2).to_string())
    assert 2 <= len(rises) <= 4 and 3 <= len(sits) <= 5
    np.testing.assert_allclose(rises["start_s"], [23.6, 37.0, 82.1], atol=1.0)
    assert transitions["duration_s"].between(0.5, 2.5).all()
    assert transitions["displacement_m"].abs().between(0.2, 0.6).all()
    # transitions alternate: never two rises without a sit-down between them
    kinds = transitions["kind"].tolist()
    assert all(a != b for a, b in zip(kinds, kinds[1:], strict=False))


@pytest.mark.parametrize("rise_s", [0.9, 1.4, 2.2])
def test_five_times_sit_to_stand(rise_s):
    recording = motion.sit_to_stand(rise_s=rise_s, trunk_flexion_deg=45.0,
                                    rng=np.random.default_rng(3))
    result = sit_to_stand_features(recording)
    assert result.status == "ok", result.reason
    f = result.features
    assert f["n_transitions"] == 5
    # planted: the lean starts at 2 s; the fifth rise ends after four cycles and one rise
    cycle = rise_s + 0.6 + 1.3 * rise_s + 0.8
    # (the fifth rise ends where its vertical speed falls below 15 % of its peak: a little early)
    assert f["five_times_duration_s"] == pytest.approx(4 * cycle + rise_s, abs=0.2 * rise_s)
    assert f["peak_trunk_flexion_deg"] == pytest.approx(45.0, abs=3.0)
    # the sacrum rises during the last 70 % of each rise, and a little with the pelvic tilt
    assert 0.5 * rise_s < f["mean_transition_time_s"] < rise_s


def test_slower_rises_are_slower_and_lean_slower():
    fast = sit_to_stand_features(motion.sit_to_stand(rise_s=1.0, rng=np.random.default_rng(0)))
    slow = sit_to_stand_features(motion.sit_to_stand(rise_s=1.8, rng=np.random.default_rng(0)))
    for name in ("five_times_duration_s", "mean_transition_time_s"):
        assert slow.features[name] > fast.features[name]
    assert (slow.features["peak_trunk_flexion_velocity_dps"]
            < 0.8 * fast.features["peak_trunk_flexion_velocity_dps"])


def test_fewer_rises_than_the_test_needs_are_flagged():
    result = sit_to_stand_features(motion.sit_to_stand(rises=3, rng=np.random.default_rng(0)))
    assert result.status == "flagged" and "3 sit-to-stand transitions" in result.reason
    assert np.isnan(result.features["five_times_duration_s"])
    assert result.features["n_transitions"] == 3


def test_accelerometer_only_recording_counts_transitions_but_not_flexion():
    recording = motion.sit_to_stand(rng=np.random.default_rng(0))
    acc_only = ImuRecording({"S1": recording.sensors["S1"][["acc_x", "acc_y", "acc_z"]]}, 100.0)
    result = sit_to_stand_features(acc_only)
    assert result.features["n_transitions"] == 5
    assert np.isnan(result.features["peak_trunk_flexion_deg"])
    assert "no gyroscope" in result.reason


def test_standing_still_has_no_transition():
    recording, _ = motion.trunk_task("flexion", thoracolumbar_rom_deg=0.5,
                                     rng=np.random.default_rng(0))
    result = sit_to_stand_features(recording)
    assert result.status == "failed" and "no sit-to-stand" in result.reason
    assert all(np.isnan(v) for v in result.features.values())
