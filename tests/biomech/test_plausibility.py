"""Physical plausibility of IMU recordings: a wrong sampling rate or unit shows in the signal."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from backpheno.biomech.io import ImuRecording, read_csv_recording
from backpheno.biomech.plausibility import (
    implausibilities,
    rotation_ratio,
    step_frequency_hz,
)

COLUMNS = {c: c for c in ("acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z")}


def _walk(realdata, pid: str, trial: str) -> ImuRecording:
    root = realdata / "mobgap_mobilised_lab" / "example_data" / "data_csv"
    return read_csv_recording(root / "HA" / pid / f"TimeMeasure1_Test5_{trial}.csv",
                              columns=COLUMNS, acc_unit="g", gyr_unit="deg/s",
                              sampling_rate_hz=100.0)


@pytest.mark.parametrize("trial", ["Trial1", "Trial2"])
def test_step_rhythm_matches_the_reference_cadence_of_real_walks(realdata, trial):
    reference = pd.read_csv(realdata / "mobgap_mobilised_lab" / "reference_summary_per_trial.csv",
                            dtype={"pid": str})
    row = reference[(reference["ref"] == "INDIP") & (reference["pid"] == "001")
                    & (reference["test"] == "Test5") & (reference["trial"] == trial)]
    recording = _walk(realdata, "001", trial)
    cadence = 60 * step_frequency_hz(recording, "S1")
    assert cadence == pytest.approx(float(row["mean_cadence"].iloc[0]), rel=0.1)
    assert implausibilities(recording, "walk") == []


@pytest.mark.parametrize("factor", [2.0, 0.5])
def test_a_wrong_sampling_frequency_of_a_real_walk_is_flagged_with_numbers(realdata, factor):
    recording = _walk(realdata, "001", "Trial1")
    wrong = dataclasses.replace(recording, sampling_rate_hz=100.0 * factor)
    problems = implausibilities(wrong, "walk")
    assert any("steps/min" in p and f"{100 * factor:g} Hz" in p for p in problems)


def _tilting(fs: float = 100.0, seconds: float = 12.0) -> ImuRecording:
    """A rigid sensor tilting forward 60° and back (rotation about its y axis)."""
    t = np.arange(int(seconds * fs)) / fs
    angle = np.radians(30.0) * (1 - np.cos(2 * np.pi * t / 6.0))  # 0 -> 60° -> 0, twice
    rate = np.gradient(angle, t)
    acc = 9.81 * np.column_stack([np.cos(angle), np.zeros_like(t), np.sin(angle)])
    gyr = np.degrees(np.column_stack([np.zeros_like(t), rate, np.zeros_like(t)]))
    frame = pd.DataFrame(np.hstack([acc, gyr]), columns=list(COLUMNS))
    return ImuRecording({"T12": frame, "S1": frame.copy()}, fs, task="flexion")


def test_gravity_turns_as_fast_as_the_gyroscope_says():
    recording = _tilting()
    ratio, path = rotation_ratio(recording, "T12")
    assert path == pytest.approx(240.0, rel=0.05)
    assert ratio == pytest.approx(1.0, abs=0.05)
    assert implausibilities(recording, "flexion") == []


def test_a_doubled_sampling_frequency_shows_as_half_the_rotation():
    wrong = dataclasses.replace(_tilting(), sampling_rate_hz=200.0)
    problems = implausibilities(wrong, "flexion")
    assert any("near 100 Hz" in p and "SamplingFrequency" in p for p in problems)


def test_accelerations_in_the_wrong_unit_miss_gravity():
    recording = _tilting()
    in_g = {k: v.assign(acc_x=v["acc_x"] / 9.81, acc_y=v["acc_y"] / 9.81,
                        acc_z=v["acc_z"] / 9.81) for k, v in recording.sensors.items()}
    problems = implausibilities(dataclasses.replace(recording, sensors=in_g), "flexion")
    assert any("1.00 m/s²" in p and "T12" in p for p in problems)


def test_a_recording_too_short_for_its_task_is_flagged():
    short = dataclasses.replace(_tilting(seconds=12.0), sampling_rate_hz=1000.0)
    assert any("1.2 s" in p for p in implausibilities(short, "flexion"))
