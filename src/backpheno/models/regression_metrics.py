"""Performance of predicted values of a continuous outcome, with uncertainty.

Definitions (y the observed outcome, p the out-of-fold prediction, n participants):

R²
    ``1 - sum((y - p)^2) / sum((y - mean(y))^2)`` (the out-of-sample R²: negative when the
    predictions are worse than the observed mean).
RMSE, MAE
    ``sqrt(mean((y - p)^2))`` and ``mean(|y - p|)``, in the outcome's unit.
Calibration slope
    b in ``y = a + b * p`` (ordinary least squares of observed on predicted); 1 is ideal, < 1
    means predictions too spread out (overfitting). t-based CI.
Calibration intercept (calibration-in-the-large)
    a in ``y = a + p`` (slope fixed at 1): the mean of ``y - p``; 0 is ideal, > 0 means the
    outcome is underestimated on average. t-based CI.

CIs of R², RMSE and MAE come from a percentile bootstrap of the (out-of-fold) predictions; they
describe sampling variability of the evaluation set, not of model fitting (the permutation test
covers the null).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats


def _arrays(y: Any, p: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float).ravel()
    p = np.asarray(p, dtype=float).ravel()
    if y.shape != p.shape:
        raise ValueError(f"y and p differ in length ({len(y)} vs {len(p)})")
    return y, p


def r2(y: Any, p: Any) -> float:
    """Out-of-sample coefficient of determination (NaN for a constant ``y``)."""
    y, p = _arrays(y, p)
    total = np.sum((y - y.mean()) ** 2)
    return float(1 - np.sum((y - p) ** 2) / total) if total > 0 else float("nan")


def rmse(y: Any, p: Any) -> float:
    """Root mean squared error (outcome unit)."""
    y, p = _arrays(y, p)
    return float(np.sqrt(np.mean((y - p) ** 2)))


def mae(y: Any, p: Any) -> float:
    """Mean absolute error (outcome unit)."""
    y, p = _arrays(y, p)
    return float(np.mean(np.abs(y - p)))


def calibration_slope(y: Any, p: Any, level: float = 0.95) -> dict[str, float]:
    """Slope b of ``y = a + b * p`` (OLS) with a t-based CI."""
    y, p = _arrays(y, p)
    if len(y) < 3 or np.ptp(p) == 0:
        return _nan_estimate()
    fit = sm.OLS(y, sm.add_constant(p, has_constant="add")).fit()
    low, high = fit.conf_int(alpha=1 - level)[1]
    return {"estimate": float(fit.params[1]), "se": float(fit.bse[1]), "ci_low": float(low),
            "ci_high": float(high)}


def calibration_intercept(y: Any, p: Any, level: float = 0.95) -> dict[str, float]:
    """Calibration-in-the-large: mean of ``y - p`` with a t-based CI."""
    y, p = _arrays(y, p)
    if len(y) < 2:
        return _nan_estimate()
    d = y - p
    se = float(np.std(d, ddof=1) / np.sqrt(len(d)))
    half = float(stats.t.ppf(0.5 + level / 2, len(d) - 1)) * se
    return {"estimate": float(d.mean()), "se": se, "ci_low": float(d.mean() - half),
            "ci_high": float(d.mean() + half)}


def bootstrap_ci(statistic: Callable[[np.ndarray, np.ndarray], float], y: Any, p: Any,
                 n_bootstrap: int = 1000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile CI of ``statistic(y, p)`` over bootstrap resamples of the participants."""
    y, p = _arrays(y, p)
    if n_bootstrap <= 0 or len(y) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    values = np.empty(n_bootstrap)
    for i in range(n_bootstrap):
        idx = rng.integers(0, len(y), len(y))
        values[i] = statistic(y[idx], p[idx])
    alpha = (1 - level) / 2
    return float(np.nanquantile(values, alpha)), float(np.nanquantile(values, 1 - alpha))


def evaluate_regression(y: Any, p: Any, *, level: float = 0.95, n_bootstrap: int = 1000,
                        seed: int = 0) -> dict[str, Any]:
    """Every metric of the module docstring for one set of predictions.

    Returns
    -------
    dict
        ``n``, ``mean_observed``, ``sd_observed``, ``mean_prediction``, ``r2`` / ``rmse`` /
        ``mae`` (dicts with bootstrap CI), ``calibration_slope``, ``calibration_intercept``
        (dicts with t CI).
    """
    y, p = _arrays(y, p)

    def with_ci(func: Callable[[np.ndarray, np.ndarray], float]) -> dict[str, Any]:
        low, high = bootstrap_ci(func, y, p, n_bootstrap, level, seed)
        return {"estimate": func(y, p), "ci_low": low, "ci_high": high,
                "method": f"bootstrap ({n_bootstrap})"}

    return {
        "n": int(len(y)), "mean_observed": float(y.mean()),
        "sd_observed": float(np.std(y, ddof=1)) if len(y) > 1 else float("nan"),
        "mean_prediction": float(p.mean()),
        "r2": with_ci(r2), "rmse": with_ci(rmse), "mae": with_ci(mae),
        "calibration_slope": calibration_slope(y, p, level),
        "calibration_intercept": calibration_intercept(y, p, level),
    }


def per_group_regression(y: Any, p: Any, groups: Any, *, min_size: int = 10) -> pd.DataFrame:
    """Performance per group (site): n, mean observed and predicted, R², RMSE, MAE,
    calibration slope. Groups smaller than ``min_size`` get counts and means only and a note."""
    y, p = _arrays(y, p)
    groups = np.asarray(groups).astype(str)
    rows = []
    for g in np.unique(groups):
        mask = groups == g
        yy, pp = y[mask], p[mask]
        row: dict[str, Any] = {"group": g, "n": int(mask.sum()),
                               "mean_observed": float(yy.mean()),
                               "mean_prediction": float(pp.mean())}
        if mask.sum() < min_size:
            row["note"] = f"fewer than {min_size} participants"
        else:
            row.update({"r2": r2(yy, pp), "rmse": rmse(yy, pp), "mae": mae(yy, pp),
                        "calibration_slope": calibration_slope(yy, pp)["estimate"],
                        "note": ""})
        rows.append(row)
    return pd.DataFrame(rows)


def calibration_bins(y: Any, p: Any, n_bins: int = 10, level: float = 0.95) -> pd.DataFrame:
    """Binned calibration: quantile bins of p with mean prediction, mean observed outcome and a
    t CI of the observed mean (columns bin, n, p_mean, observed, ci_low, ci_high)."""
    y, p = _arrays(y, p)
    n_bins = max(1, min(n_bins, len(np.unique(p))))
    edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    bins = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))
    rows = []
    for b in np.unique(bins):
        yy, pp = y[bins == b], p[bins == b]
        n = len(yy)
        half = (float(stats.t.ppf(0.5 + level / 2, n - 1)) * np.std(yy, ddof=1) / np.sqrt(n)
                if n > 1 else float("nan"))
        rows.append({"bin": int(b), "n": int(n), "p_mean": float(pp.mean()),
                     "observed": float(yy.mean()), "ci_low": float(yy.mean() - half),
                     "ci_high": float(yy.mean() + half)})
    return pd.DataFrame(rows)


def _nan_estimate() -> dict[str, float]:
    nan = float("nan")
    return {"estimate": nan, "se": nan, "ci_low": nan, "ci_high": nan}
