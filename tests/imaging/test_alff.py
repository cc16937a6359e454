"""ALFF / fALFF closed-form cases."""

from __future__ import annotations

import numpy as np
import pytest

from backpheno.imaging.alff import alff_falff, amplitude_spectrum, run_frequencies


def test_sinusoid_of_known_amplitude():
    n, t_r = 120, 2.0
    t = np.arange(n) * t_r
    frequencies = run_frequencies(n, t_r)
    f_in = frequencies[4]  # 0.0208 Hz, inside 0.01-0.08
    f_out = frequencies[40]  # 0.171 Hz, outside
    a, b = 3.0, 1.0
    signal = 500 + a * np.sin(2 * np.pi * f_in * t + 0.4) + b * np.cos(2 * np.pi * f_out * t)
    table = alff_falff(signal[:, None], np.arange(n), n, t_r, (0.01, 0.08),
                       mean_signal=np.array([500.0]))
    n_band = int(((frequencies >= 0.01) & (frequencies <= 0.08)).sum())
    assert table.loc[0, "alff"] == pytest.approx(a / n_band, rel=1e-9)
    assert table.loc[0, "alff_pct"] == pytest.approx(100 * a / n_band / 500, rel=1e-9)
    assert table.loc[0, "falff"] == pytest.approx(a / (a + b), rel=1e-9)


def test_spectrum_equals_fft_amplitude_without_censoring():
    rng = np.random.default_rng(1)
    n, t_r = 64, 1.5
    x = rng.standard_normal(n)
    frequencies = run_frequencies(n, t_r)
    spectrum = amplitude_spectrum(x[:, None], np.arange(n) * t_r, frequencies)[:, 0]
    fft = 2 * np.abs(np.fft.rfft(x - x.mean()))[1:len(frequencies) + 1] / n
    np.testing.assert_allclose(spectrum, fft, rtol=1e-9)


def test_censored_samples_still_recover_the_amplitude():
    n, t_r = 150, 2.0
    t = np.arange(n) * t_r
    f = run_frequencies(n, t_r)[6]
    signal = 2.5 * np.sin(2 * np.pi * f * t)
    keep = np.setdiff1d(np.arange(n), [10, 11, 12, 13, 14, 60, 61, 100])
    spectrum = amplitude_spectrum(signal[keep, None], t[keep], np.array([f]))
    assert spectrum[0, 0] == pytest.approx(2.5, rel=1e-9)


def test_constant_or_missing_signals_are_nan_and_band_is_validated():
    table = alff_falff(np.column_stack([np.ones(50), np.full(50, np.nan)]), np.arange(50), 50,
                       2.0)
    assert table.isna().all().all()
    with pytest.raises(ValueError, match="no Fourier frequency"):
        alff_falff(np.random.default_rng(0).standard_normal((20, 1)), np.arange(20), 20, 2.0,
                   (0.3, 0.4))
