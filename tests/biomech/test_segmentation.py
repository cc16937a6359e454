"""Repetition detection in angle traces."""

from __future__ import annotations

import numpy as np

from backpheno.biomech.segmentation import detect_repetitions
from backpheno.synth.motion import keyframes

FS = 100.0


def trace(peaks_deg, rest_s=1.0, move_s=1.2, hold_s=0.3, tail_s=1.0, noise=0.2, seed=0):
    frames, t = [(0.0, 0.0)], rest_s
    for peak in peaks_deg:
        frames += [(t, 0.0), (t + move_s, peak), (t + move_s + hold_s, peak),
                   (t + 2 * move_s + hold_s, 0.0)]
        t += 2 * move_s + hold_s + rest_s
    time = np.arange(int((t + tail_s) * FS)) / FS
    return keyframes(time, frames) + np.random.default_rng(seed).normal(0, noise, len(time))


def test_finds_each_repetition_with_its_timing():
    angle = trace([60.0, 55.0, 62.0])
    reps = detect_repetitions(angle, FS)
    assert len(reps) == 3 and reps["complete"].all()
    np.testing.assert_allclose(reps["peak_deg"], [60, 55, 62], atol=1.0)
    # each repetition lasts about 2 x 1.2 s + 0.3 s hold minus the 5 % tails
    assert ((reps["end_s"] - reps["start_s"]).between(2.2, 2.7)).all()
    assert (reps["start"].to_numpy()[1:] > reps["end"].to_numpy()[:-1]).all()


def test_small_excursions_are_not_repetitions():
    assert detect_repetitions(trace([3.0, 2.0]), FS).empty
    reps = detect_repetitions(trace([40.0, 8.0, 42.0]), FS)
    assert len(reps) == 2  # 8 deg is below half the largest excursion


def test_a_recording_ending_before_the_return_gives_an_incomplete_repetition():
    angle = trace([30.0, 30.0], tail_s=0.0)
    cut = angle[: int(len(angle) - 1.3 * FS)]
    reps = detect_repetitions(cut, FS)
    assert reps["complete"].tolist() == [True, False]


def test_wobble_near_the_peak_is_one_repetition():
    angle = trace([50.0], noise=0.0)
    time = np.arange(len(angle)) / FS
    angle = angle + 3.0 * np.sin(2 * np.pi * 3 * time) * (angle > 40)
    assert len(detect_repetitions(angle, FS)) == 1
