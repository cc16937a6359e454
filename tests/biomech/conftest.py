"""Fixtures of the biomechanics tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def still_values() -> np.ndarray:
    """Three seconds at 100 Hz of two upright, still sensors (canonical frame, m/s², deg/s)."""
    rng = np.random.default_rng(0)
    n = 300
    block = np.zeros((n, 6))
    block[:, 0] = 9.81
    block += rng.normal(0, 0.01, block.shape)
    return np.hstack([block, block.copy()])
