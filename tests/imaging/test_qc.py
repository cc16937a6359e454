"""Run QC measures and exclusion rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backpheno.imaging.parcellate import Regions, VoxelMoments
from backpheno.imaging.qc import (
    RunQC,
    framewise_displacement,
    median_tsnr,
    roi_coverage,
    run_exclusion_reasons,
)
from backpheno.imaging.settings import QCSettings


def _qc(**overrides) -> RunQC:
    values = dict(mean_fd_mm=0.1, high_motion_fraction=0.05, n_volumes=200, n_censored=10,
                  retained_s=380.0, tsnr_median=60.0,
                  roi_coverage=pd.Series([1.0, 0.4, 0.0], index=["a", "b", "c"]))
    values.update(overrides)
    return RunQC(**values)


def test_framewise_displacement_skips_the_first_volume():
    fd = framewise_displacement(pd.DataFrame({"framewise_displacement": [np.nan, 0.2, 0.4]}))
    assert np.isnan(fd[0]) and np.nanmean(fd) == pytest.approx(0.3)


def test_coverage_counts_in_mask_voxels_with_signal():
    regions = Regions(("a", "b", "c"), np.array([1, 2, 3, 4, 7], dtype=np.int64),
                      np.array([0, 2, 5, 5]), np.array([2, 4, 3]), (2, 2, 2), np.eye(4))
    moments = VoxelMoments(np.array([1, 2, 3, 4, 7], dtype=np.int64),
                           np.full(5, 100.0), np.array([1.0, 1.0, 0.0, 2.0, 2.0]), 10)
    coverage = roi_coverage(regions, moments)
    assert coverage.to_dict() == {"a": 1.0, "b": pytest.approx(2 / 4), "c": 0.0}


def test_median_tsnr_ignores_flat_and_nonfinite_voxels():
    moments = VoxelMoments(np.arange(4), np.array([100.0, 200.0, np.nan, 50.0]),
                           np.array([2.0, 2.0, 1.0, 0.0]), 10)
    assert median_tsnr(moments) == pytest.approx(75.0)


def test_exclusion_reasons_follow_the_thresholds():
    settings = QCSettings()
    assert run_exclusion_reasons(_qc(), settings) == []
    reasons = run_exclusion_reasons(_qc(mean_fd_mm=0.3, high_motion_fraction=0.25,
                                        retained_s=100.0), settings)
    assert len(reasons) == 3 and "mean FD 0.300 mm > 0.25 mm" in reasons[0]
    assert run_exclusion_reasons(_qc(mean_fd_mm=0.3), QCSettings(max_mean_fd_mm=None)) == []
    assert "tSNR" in run_exclusion_reasons(_qc(tsnr_median=20.0), QCSettings(min_tsnr=30))[0]
    assert run_exclusion_reasons(_qc(mean_fd_mm=np.nan), settings)  # unknown motion fails


def test_covariate_values():
    values = _qc().as_dict(min_roi_coverage=0.5)
    assert values["pct_censored"] == pytest.approx(5.0)
    assert values["n_rois_low_coverage"] == 2.0
    assert values["roi_coverage_mean"] == pytest.approx(1.4 / 3)
