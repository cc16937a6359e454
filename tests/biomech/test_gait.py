"""Walking features against the INDIP reference on real lower-back recordings, and on
synthetic walks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backpheno.biomech.gait import autocorrelation, gait_features, regularity, steady_state_strides
from backpheno.biomech.io import ImuRecording
from backpheno.biomech.validation import compare_with_reference
from backpheno.synth import motion


@pytest.fixture(scope="module")
def comparison(realdata) -> pd.DataFrame:
    return compare_with_reference(realdata / "mobgap_mobilised_lab", reference="INDIP",
                                  test="Test5")


def test_straight_walk_matches_indip(comparison):
    """Each Test5 trial with an INDIP walking bout: cadence within 5 %, speed within 10 %."""
    with pd.option_context("display.width", 200):
        print(comparison.drop(columns=["reason"]).round(3).to_string())
    compared = comparison[comparison["status"] != "missing"]
    assert len(compared) == 4
    assert (compared["cadence_error_pct"].abs() < 5.0).all()
    assert (compared["walking_speed_error_pct"].abs() < 10.0).all()


def test_trial_without_reference_bout_is_missing_not_an_error(comparison):
    no_reference = comparison[(comparison["cohort"] == "HA") & (comparison["participant"] == "002")]
    assert len(no_reference) == 2
    assert (no_reference["status"] == "missing").all()
    assert no_reference["reason"].str.contains("no walking bout").all()
    assert no_reference["cadence_error_pct"].isna().all()
    assert no_reference["ref_cadence_spm"].isna().all()


@pytest.mark.parametrize("cadence, step_length", [(100.0, 0.62), (118.0, 0.72)])
def test_synthetic_walk_is_detected_with_its_cadence(cadence, step_length):
    recording = motion.walk(cadence_spm=cadence, step_length_m=step_length, sensor_height_m=0.95,
                            rng=np.random.default_rng(1))
    recording = ImuRecording(recording.sensors, 100.0, metadata={"SensorHeight": {"S1": 0.95}})
    result = gait_features(recording)
    assert result.status == "ok", result.reason
    f = result.features
    assert f["n_walking_bouts"] == 1
    assert f["cadence_spm"] == pytest.approx(cadence, rel=0.03)
    assert 0.6 < f["walking_speed_mps"] < 1.8
    assert f["stride_duration_s"] == pytest.approx(120 / cadence, rel=0.03)
    assert 0.5 < f["step_regularity_v"] <= 1 and f["step_symmetry_v"] == pytest.approx(1, abs=0.1)


def test_faster_simulated_walk_is_measured_faster():
    speeds = []
    for step_length in (0.55, 0.8):
        recording = motion.walk(cadence_spm=110.0, step_length_m=step_length,
                                rng=np.random.default_rng(2))
        result = gait_features(recording)  # no SensorHeight metadata: default, flagged
        assert result.status == "flagged" and "0.95 m assumed" in result.reason
        speeds.append(result.features["walking_speed_mps"])
    assert speeds[1] > 1.2 * speeds[0]


def test_regularity_and_symmetry_closed_form():
    """x = sin(2 pi f t) + a sin(pi f t): the stride-frequency part flips sign at one step, so
    Ad1 = (1 - a^2) / (1 + a^2) and Ad2 = 1."""
    fs, step = 100.0, 0.55
    t = np.arange(0, 60, 1 / fs)
    for a in (0.0, 0.3, 0.6):
        x = np.sin(2 * np.pi * t / step) + a * np.sin(np.pi * t / step)
        ad1, ad2, symmetry = regularity(x, fs, step)
        assert ad1 == pytest.approx((1 - a**2) / (1 + a**2), abs=0.01)
        assert ad2 == pytest.approx(1.0, abs=0.01)
        assert symmetry == pytest.approx(ad1 / ad2)


def test_autocorrelation_is_unbiased_and_normalised():
    x = np.random.default_rng(0).normal(size=1000)
    r = autocorrelation(x)
    assert r[0] == 1.0
    lag = 5
    centred = x - x.mean()
    direct = np.sum(centred[:-lag] * centred[lag:]) / (len(x) - lag) / np.mean(centred**2)
    assert r[lag] == pytest.approx(direct)


def test_steady_state_drops_initiation_and_termination():
    index = pd.MultiIndex.from_tuples([(0, f"s{i}") for i in range(6)] + [(1, "t0"), (1, "t1")],
                                      names=["wb_id", "s_id"])
    strides = pd.DataFrame({"cadence_spm": range(8)}, index=index)
    kept, trimmed_all = steady_state_strides(strides, 2)
    assert kept.index.get_level_values("s_id").tolist() == ["s2", "s3", "t0", "t1"]
    assert not trimmed_all


def test_standing_still_has_no_gait():
    recording, _ = motion.trunk_task("flexion", thoracolumbar_rom_deg=0.5,
                                     rng=np.random.default_rng(0))
    result = gait_features(recording)
    assert result.status == "failed" and "no walking bout" in result.reason
    assert all(np.isnan(v) for v in result.features.values())


def test_too_short_walk_is_not_measured():
    recording = motion.walk(duration_s=12.0, rng=np.random.default_rng(0))
    short = ImuRecording({p: d.iloc[:300] for p, d in recording.sensors.items()}, 100.0)
    result = gait_features(short)
    assert result.status == "failed" and "too short" in result.reason
