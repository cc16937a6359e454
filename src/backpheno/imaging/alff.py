"""Amplitude of low-frequency fluctuations (ALFF) and its fractional form (fALFF).

Definitions (Zang et al. 2007, Brain Dev 29:83-91; Zou et al. 2008, J Neurosci Methods
172:137-141), computed here per parcel signal:

* the one-sided amplitude spectrum ``A(f)`` is the amplitude of the least-squares sinusoid
  (with a free offset) at frequency ``f`` fitted to the retained samples (a floating-mean
  Lomb-Scargle amplitude periodogram). With no censored volume and ``f`` a Fourier frequency
  this is exactly ``2 |DFT(f)| / N``, so a sinusoid ``a sin(2 pi f t)`` gives ``A(f) = a``;
  with censored volumes it uses the true acquisition times of the kept volumes, as XCP-D does;
* frequencies are the Fourier frequencies of the full run, ``k / (N TR)`` for
  ``k = 1 .. ceil(N / 2) - 1`` (zero and Nyquist left out);
* ``ALFF`` = mean of ``A(f)`` over the band (default 0.01-0.08 Hz), in the signal's units;
* ``fALFF`` = sum of ``A(f)`` in the band / sum over all frequencies (unitless, 0..1).

:func:`alff_falff` also reports ALFF as a percentage of each parcel's mean signal (``alff_pct``),
which is comparable across scanners with different intensity scales.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def run_frequencies(n_volumes: int, t_r: float) -> np.ndarray:
    """Fourier frequencies (Hz) of a run, without zero and Nyquist."""
    if n_volumes < 3:
        raise ValueError(f"need at least 3 volumes, got {n_volumes}")
    k = np.arange(1, (n_volumes + 1) // 2)
    return k / (n_volumes * t_r)


def amplitude_spectrum(signals: np.ndarray, times: np.ndarray,
                       frequencies: np.ndarray) -> np.ndarray:
    """Amplitude of the least-squares sinusoid at each frequency, for every column.

    At each frequency ``y(t) ~ c + a cos(2 pi f t) + b sin(2 pi f t)`` is fitted by least squares
    (a floating-mean Lomb-Scargle fit, exact for unevenly sampled sinusoids) and
    ``sqrt(a^2 + b^2)`` returned.

    Parameters
    ----------
    signals : ndarray, shape (n_samples, n_signals)
    times : ndarray, shape (n_samples,)
        Acquisition time of each sample, s.
    frequencies : ndarray, shape (n_frequencies,)
        Hz.

    Returns
    -------
    ndarray, shape (n_frequencies, n_signals)
    """
    y = np.asarray(signals, dtype=float)
    phase = 2 * np.pi * np.outer(frequencies, np.asarray(times, dtype=float))
    basis = np.stack([np.ones_like(phase), np.cos(phase), np.sin(phase)], axis=1)  # (F, 3, N)
    gram = basis @ np.swapaxes(basis, 1, 2)  # (F, 3, 3)
    rhs = basis @ y  # (F, 3, n_signals)
    coefficients = np.linalg.solve(gram, rhs)
    return np.hypot(coefficients[:, 1], coefficients[:, 2])


def alff_falff(signals: np.ndarray, sample_mask: np.ndarray, n_volumes: int, t_r: float,
               band_hz: tuple[float, float] = (0.01, 0.08),
               mean_signal: np.ndarray | None = None) -> pd.DataFrame:
    """ALFF, ALFF in percent of the mean signal, and fALFF of each signal.

    Parameters
    ----------
    signals : ndarray, shape (n_retained, n_signals)
        Confound-regressed signals of the retained volumes (not band-pass filtered, not
        standardised).
    sample_mask : ndarray of int, shape (n_retained,)
        Index of each retained volume in the run.
    n_volumes : int
        Volumes in the run (sets the frequency grid).
    t_r : float
        Repetition time, s.
    band_hz : (float, float)
        Low-frequency band.
    mean_signal : ndarray, shape (n_signals,), optional
        Temporal mean of each raw signal, for ``alff_pct``.

    Returns
    -------
    DataFrame
        Columns ``alff``, ``alff_pct`` and ``falff``, one row per signal; NaN for signals with
        missing values or no variance.
    """
    signals = np.atleast_2d(np.asarray(signals, dtype=float))
    frequencies = run_frequencies(n_volumes, t_r)
    in_band = (frequencies >= band_hz[0]) & (frequencies <= band_hz[1])
    out = pd.DataFrame(np.nan, index=range(signals.shape[1]),
                       columns=["alff", "alff_pct", "falff"])
    if not in_band.any():
        raise ValueError(f"no Fourier frequency of a {n_volumes}-volume run at TR {t_r} s falls "
                         f"in {band_hz} Hz")
    finite = np.isfinite(signals).all(axis=0)
    usable = finite.copy()
    usable[finite] = signals[:, finite].std(axis=0) > 0
    if not usable.any():
        return out
    times = np.asarray(sample_mask, dtype=float) * t_r
    amplitude = amplitude_spectrum(signals[:, usable], times, frequencies)
    alff = amplitude[in_band].mean(axis=0)
    out.loc[usable, "alff"] = alff
    out.loc[usable, "falff"] = amplitude[in_band].sum(axis=0) / amplitude.sum(axis=0)
    if mean_signal is not None:
        mean = np.asarray(mean_signal, dtype=float)[usable]
        with np.errstate(divide="ignore", invalid="ignore"):
            out.loc[usable, "alff_pct"] = np.where(mean > 0, 100 * alff / mean, np.nan)
    return out
