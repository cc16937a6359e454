"""SPARC and LDLJ against closed forms, and their ordering of smooth and jerky movements."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad

from backpheno.biomech.smoothness import log_dimensionless_jerk, sparc


def min_jerk_speed(duration_s: float, fs: float, distance: float = 1.0) -> np.ndarray:
    tau = np.arange(0, duration_s + 0.5 / fs, 1 / fs) / duration_s
    return distance / duration_s * (30 * tau**2 - 60 * tau**3 + 30 * tau**4)


def gaussian_sparc(sigma: float, fc_max: float = 10.0, threshold: float = 0.05) -> float:
    """Closed form: |V(f)| / V(0) = exp(-2 pi^2 sigma^2 f^2) for v(t) = exp(-t^2 / 2 sigma^2)."""
    a = 2 * np.pi**2 * sigma**2
    fc = min(np.sqrt(np.log(1 / threshold) / a), fc_max)
    slope = lambda f: -2 * a * f * np.exp(-a * f**2)  # noqa: E731
    return -quad(lambda f: np.sqrt((1 / fc) ** 2 + slope(f) ** 2), 0, fc)[0]


@pytest.mark.parametrize("duration, fs", [(0.5, 1000.0), (1.0, 1000.0), (2.0, 2000.0)])
def test_ldlj_of_minimum_jerk_is_closed_form(duration, fs):
    # integral of squared jerk = 720 D^2 / T^5, peak speed 1.875 D / T
    expected = -np.log(720 / 1.875**2)
    assert log_dimensionless_jerk(min_jerk_speed(duration, fs, 0.3), fs) == pytest.approx(
        expected, abs=0.01)


def test_ldlj_acceleration_of_minimum_jerk_is_closed_form():
    fs, duration = 1000.0, 1.0
    tau = np.arange(0, duration + 0.5 / fs, 1 / fs) / duration
    accel = 60 * tau - 180 * tau**2 + 120 * tau**3  # peak 10 / sqrt(3) at tau = (3 - sqrt 3) / 6
    expected = -np.log(720 / (10 / np.sqrt(3)) ** 2)
    assert log_dimensionless_jerk(accel, fs, kind="acceleration") == pytest.approx(expected,
                                                                                   abs=0.01)


@pytest.mark.parametrize("sigma", [0.01, 0.05, 0.2, 0.5])
def test_sparc_of_gaussian_speed_is_closed_form(sigma):
    fs = 400.0
    t = np.arange(-8 * sigma, 8 * sigma, 1 / fs)
    speed = 2.5 * np.exp(-(t**2) / (2 * sigma**2))
    # sigma = 0.01 s puts the adaptive cut-off above 10 Hz: the 10 Hz cap is tested too
    assert sparc(speed, fs) == pytest.approx(gaussian_sparc(sigma), rel=0.005)


def test_both_metrics_are_scale_invariant():
    fs = 500.0
    base = min_jerk_speed(1.0, fs)
    for stretched in (min_jerk_speed(2.0, fs, 7.0), 3.0 * base):
        assert sparc(stretched, fs) == pytest.approx(sparc(base, fs), abs=0.01)
        assert log_dimensionless_jerk(stretched, fs) == pytest.approx(
            log_dimensionless_jerk(base, fs), abs=0.01)


def test_jerky_movement_is_less_smooth():
    fs = 200.0
    smooth = min_jerk_speed(1.5, fs)
    t = np.arange(len(smooth)) / fs
    jerky = smooth * (1 + 0.3 * np.sin(2 * np.pi * 4 * t))
    two_submovements = np.zeros(len(smooth) + 150)  # two overlapping submovements
    two_submovements[: len(smooth)] += smooth
    two_submovements[150:] += smooth
    for other in (jerky, two_submovements):
        assert sparc(other, fs) < sparc(smooth, fs) - 0.1
        assert log_dimensionless_jerk(other, fs) < log_dimensionless_jerk(smooth, fs) - 0.5


def test_degenerate_profiles_give_nan():
    assert np.isnan(sparc(np.zeros(50), 100.0))
    assert np.isnan(sparc([1.0, 2.0], 100.0))
    assert np.isnan(log_dimensionless_jerk(np.zeros(50), 100.0))
    assert np.isnan(log_dimensionless_jerk([1.0, np.nan, 2.0, 1.0], 100.0))
