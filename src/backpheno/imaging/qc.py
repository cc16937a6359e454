"""Quality control of one BOLD run: motion, censoring, temporal SNR, parcel coverage.

Measures (exported as ``role="covariate"`` columns, never as predictors):

* ``mean_fd_mm``: mean framewise displacement (Power et al. 2012, fMRIPrep's
  ``framewise_displacement`` column, first volume excluded);
* ``high_motion_fraction``: share of volumes with FD above ``fd_limit_mm``;
* ``n_censored`` / ``pct_censored``: volumes removed by scrubbing and non-steady-state detection;
* ``retained_s``: retained volumes × TR;
* ``tsnr_median``: median over brain-mask voxels of temporal mean / temporal SD (sample SD) of
  the preprocessed BOLD before denoising;
* ``roi_coverage``: per parcel, the share of its voxels on the data grid that lie in the brain
  mask and have non-zero temporal variance (XCP-D's coverage, restricted to voxels with signal).

:func:`run_exclusion_reasons` compares them with :class:`~backpheno.imaging.settings.QCSettings`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from backpheno.imaging.denoise import Denoising
from backpheno.imaging.parcellate import Regions, VoxelMoments
from backpheno.imaging.settings import QCSettings


@dataclass(frozen=True)
class RunQC:
    """QC measures of one run (see the module docstring for definitions)."""

    mean_fd_mm: float
    high_motion_fraction: float
    n_volumes: int
    n_censored: int
    retained_s: float
    tsnr_median: float
    roi_coverage: pd.Series

    @property
    def pct_censored(self) -> float:
        """Censored volumes in percent of the run."""
        return 100.0 * self.n_censored / self.n_volumes if self.n_volumes else np.nan

    def low_coverage_rois(self, threshold: float) -> list[str]:
        """ROIs whose coverage is below ``threshold``."""
        return self.roi_coverage.index[self.roi_coverage < threshold].tolist()

    def as_dict(self, min_roi_coverage: float) -> dict[str, float]:
        """The covariate values keyed by short name (``mean_fd_mm`` ...)."""
        return {
            "mean_fd_mm": self.mean_fd_mm,
            "high_motion_fraction": self.high_motion_fraction,
            "n_censored": float(self.n_censored),
            "pct_censored": self.pct_censored,
            "retained_s": self.retained_s,
            "tsnr_median": self.tsnr_median,
            "roi_coverage_mean": float(self.roi_coverage.mean()) if len(self.roi_coverage)
            else np.nan,
            "n_rois_low_coverage": float(len(self.low_coverage_rois(min_roi_coverage))),
        }


def framewise_displacement(confounds_raw: pd.DataFrame) -> np.ndarray:
    """The ``framewise_displacement`` column (mm) with the first, undefined value as NaN."""
    if "framewise_displacement" not in confounds_raw.columns:
        raise KeyError("framewise_displacement")
    fd = pd.to_numeric(confounds_raw["framewise_displacement"], errors="coerce").to_numpy(float)
    fd = fd.copy()
    if len(fd):
        fd[0] = np.nan
    return fd


def roi_coverage(regions: Regions, moments: VoxelMoments) -> pd.Series:
    """Share of each region's grid voxels that are analysis voxels with temporal variance."""
    order = np.argsort(moments.voxels)
    sorted_voxels = moments.voxels[order]
    position = np.searchsorted(sorted_voxels, regions.voxels)
    position = np.clip(position, 0, max(len(sorted_voxels) - 1, 0))
    inside = (sorted_voxels[position] == regions.voxels) if len(sorted_voxels) else (
        np.zeros(len(regions.voxels), dtype=bool))
    usable = np.zeros(len(regions.voxels), dtype=bool)
    usable[inside] = moments.sd[order[position[inside]]] > 0
    # a trailing zero keeps every start (also of empty trailing regions) a valid reduceat index
    padded = np.append(usable.astype(np.int64), 0)
    counts = np.where(regions.counts > 0, np.add.reduceat(padded, regions.offsets[:-1]), 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        coverage = np.where(regions.n_atlas_voxels > 0, counts / regions.n_atlas_voxels, 0.0)
    return pd.Series(np.clip(coverage, 0.0, 1.0), index=list(regions.names), dtype=float)


def median_tsnr(moments: VoxelMoments) -> float:
    """Median temporal SNR (mean / SD) over analysis voxels with a finite, non-zero SD."""
    good = np.isfinite(moments.mean) & (moments.sd > 0)
    if not good.any():
        return np.nan
    return float(np.median(moments.mean[good] / moments.sd[good]))


def run_qc(confounds_raw: pd.DataFrame, denoising: Denoising, t_r: float, regions: Regions,
           moments: VoxelMoments, fd_limit_mm: float) -> RunQC:
    """Compute :class:`RunQC` for one run."""
    fd = framewise_displacement(confounds_raw)
    valid = fd[np.isfinite(fd)]
    return RunQC(
        mean_fd_mm=float(valid.mean()) if valid.size else np.nan,
        high_motion_fraction=float((valid > fd_limit_mm).sum() / len(fd)) if len(fd) else np.nan,
        n_volumes=denoising.n_volumes,
        n_censored=denoising.n_censored,
        retained_s=float(len(denoising.sample_mask) * t_r),
        tsnr_median=median_tsnr(moments),
        roi_coverage=roi_coverage(regions, moments),
    )


def run_exclusion_reasons(qc: RunQC, settings: QCSettings) -> list[str]:
    """Why a run fails the thresholds (empty when it passes)."""
    reasons = []
    if settings.max_mean_fd_mm is not None and not qc.mean_fd_mm <= settings.max_mean_fd_mm:
        reasons.append(f"mean FD {qc.mean_fd_mm:.3f} mm > {settings.max_mean_fd_mm} mm")
    if (settings.max_high_motion_fraction is not None
            and not qc.high_motion_fraction <= settings.max_high_motion_fraction):
        reasons.append(f"{100 * qc.high_motion_fraction:.1f}% of volumes with FD > "
                       f"{settings.fd_limit_mm} mm (limit "
                       f"{100 * settings.max_high_motion_fraction:.0f}%)")
    if settings.min_retained_seconds is not None and qc.retained_s < settings.min_retained_seconds:
        reasons.append(f"{qc.retained_s:.0f} s retained after censoring < "
                       f"{settings.min_retained_seconds:.0f} s")
    if settings.min_tsnr is not None and not qc.tsnr_median >= settings.min_tsnr:
        reasons.append(f"median tSNR {qc.tsnr_median:.1f} < {settings.min_tsnr}")
    return reasons
