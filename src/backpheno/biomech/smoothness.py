"""Movement smoothness: spectral arc length (SPARC) and log dimensionless jerk (LDLJ).

Both follow Balasubramanian, Melendez-Calderon, Roby-Brami & Burdet (2015), "On the analysis of
movement smoothness", J NeuroEng Rehabil 12:112, and are meant for the **speed profile of one
discrete movement** (Melendez-Calderon, Shirota & Balasubramanian 2021 show both are valid on
velocity, and that SPARC may be applied to gyroscope angular speed directly). Less smooth
movement gives a more negative value for both.

SPARC
    The magnitude spectrum of the speed profile, zero-padded to ``2**(ceil(log2 n) + padlevel)``
    points and normalised by its maximum, is cut at the last frequency below ``fc_hz`` where it
    is still at least ``amplitude_threshold`` (adaptive cut-off); SPARC is minus the arc length
    of that curve with frequency normalised by the cut-off:
    ``-Σ sqrt((Δf / f_c)² + (ΔM)²)``.
LDLJ
    ``-ln(T³ / v_peak² · ∫ (d²v/dt²)² dt)`` for a speed profile ``v`` of duration ``T``
    (LDLJ-V), or ``-ln(T / a_peak² · ∫ (da/dt)² dt)`` for an acceleration profile (LDLJ-A).
    Derivatives are finite differences and ``T = n / fs``, as in the paper's reference code.
    For a minimum-jerk movement LDLJ-V = ``-ln(720 / 1.875²) = -5.3222``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from backpheno.docstrings import fill_doc


@fill_doc
def sparc(speed: np.ndarray, sampling_rate_hz: float, *, padlevel: int = 4, fc_hz: float = 10.0,
          amplitude_threshold: float = 0.05) -> float:
    """Spectral arc length of a speed profile (dimensionless, ≤ 0; closer to 0 = smoother).

    Parameters
    ----------
    speed : array
        Speed (any unit) of one movement, sampled at ``sampling_rate_hz``.
    %(sampling_rate_hz)s
    padlevel : int
        Zero padding: the FFT length is ``2**(ceil(log2(len(speed))) + padlevel)``.
    fc_hz : float
        Largest cut-off frequency (Hz).
    amplitude_threshold : float
        Normalised magnitude that sets the adaptive cut-off.

    Returns
    -------
    float
        NaN for fewer than 3 samples or a profile without movement.
    """
    speed = np.asarray(speed, float)
    if len(speed) < 3 or not np.isfinite(speed).all() or not np.any(speed):
        return float("nan")
    n_fft = int(2 ** (np.ceil(np.log2(len(speed))) + padlevel))
    freq = np.fft.rfftfreq(n_fft, 1.0 / sampling_rate_hz)
    magnitude = np.abs(np.fft.rfft(speed, n_fft))
    magnitude /= magnitude.max()
    keep = freq <= fc_hz
    freq, magnitude = freq[keep], magnitude[keep]
    above = np.flatnonzero(magnitude >= amplitude_threshold)
    freq = freq[above[0]:above[-1] + 1]
    magnitude = magnitude[above[0]:above[-1] + 1]
    if len(freq) < 2:
        return float("nan")
    return -float(np.sum(np.sqrt((np.diff(freq) / (freq[-1] - freq[0])) ** 2
                                 + np.diff(magnitude) ** 2)))


@fill_doc
def log_dimensionless_jerk(profile: np.ndarray, sampling_rate_hz: float, *,
                           kind: Literal["speed", "acceleration"] = "speed") -> float:
    """Log dimensionless jerk of one movement (≤ 0 in practice; closer to 0 = smoother).

    Parameters
    ----------
    profile : array
        Speed profile (LDLJ-V, ``kind="speed"``) or acceleration magnitude with gravity and mean
        removed (LDLJ-A, ``kind="acceleration"``).
    %(sampling_rate_hz)s
    kind : {"speed", "acceleration"}
        Which profile is given.

    Returns
    -------
    float
        NaN for too few samples or a profile without movement.
    """
    profile = np.asarray(profile, float)
    order = {"speed": 2, "acceleration": 1}[kind]
    if len(profile) <= order + 1 or not np.isfinite(profile).all():
        return float("nan")
    peak = float(np.max(np.abs(profile)))
    if peak == 0:
        return float("nan")
    dt = 1.0 / sampling_rate_hz
    duration = len(profile) * dt
    jerk = np.diff(profile, order) / dt**order
    scale = duration**3 / peak**2 if kind == "speed" else duration / peak**2
    return -float(np.log(scale * np.sum(jerk**2) * dt))
