"""ROC and calibration figures of out-of-fold predictions (PNG, matplotlib Agg); an
observed-against-predicted figure for a continuous outcome."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from backpheno.io import atomic_path  # noqa: E402
from backpheno.models.metrics import smoothed_calibration  # noqa: E402


def roc_figure(y: np.ndarray, p: np.ndarray, metrics: dict[str, Any], title: str,
               path: str | Path,
               repeats: list[tuple[np.ndarray, np.ndarray]] | None = None) -> Path:
    """ROC curve of the (repeat-averaged) out-of-fold predictions, with the AUC and its CI.

    ``repeats`` holds per-repeat (y, p) pairs drawn faintly behind the main curve.
    """
    fig, ax = plt.subplots(figsize=(4.6, 4.4), dpi=120, layout="constrained")
    for yy, pp in repeats or []:
        fpr, tpr, _ = roc_curve(yy, pp)
        ax.plot(fpr, tpr, color="0.75", lw=0.8)
    fpr, tpr, _ = roc_curve(y, p)
    auc = metrics["auc"]
    ax.plot(fpr, tpr, color="C0", lw=2,
            label=f"AUC {auc['estimate']:.2f} ({auc['ci_low']:.2f}-{auc['ci_high']:.2f})")
    ax.plot([0, 1], [0, 1], ls="--", color="0.5", lw=1)
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", xlim=(0, 1), ylim=(0, 1.01))
    ax.set_title(_wrapped(title), fontsize=10)
    ax.legend(loc="lower right", frameon=False)
    return _save(fig, path)


def calibration_figure(y: np.ndarray, p: np.ndarray, curve: pd.DataFrame,
                       metrics: dict[str, Any], title: str, path: str | Path) -> Path:
    """Calibration plot: binned observed fractions with Wilson CIs, lowess smooth, diagonal,
    slope / CITL / O/E in the legend and the distribution of predictions underneath."""
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(5.6, 5.2), dpi=120, sharex=True,
                                   gridspec_kw={"height_ratios": [4, 1]}, layout="constrained")
    ax.plot([0, 1], [0, 1], ls="--", color="0.5", lw=1, label="ideal")
    if len(np.unique(y)) == 2:
        smooth = smoothed_calibration(y, p)
        ax.plot(smooth["p"], smooth["observed"], color="C0", lw=2, label="lowess")
    yerr = np.clip([curve["observed"] - curve["ci_low"], curve["ci_high"] - curve["observed"]],
                   0, None)
    ax.errorbar(curve["p_mean"], curve["observed"], yerr=yerr,
                fmt="o", color="C1", ms=4, capsize=2, label="deciles (95% CI)")
    slope, citl, oe = (metrics[k]["estimate"] for k in
                       ("calibration_slope", "calibration_intercept", "oe_ratio"))
    label = f"slope {slope:.2f}\nCITL {citl:.2f}\nO/E {oe:.2f}\nICI {metrics['ici']:.3f}"
    ax.text(0.03, 0.97, label, transform=ax.transAxes, va="top", fontsize=8)
    ax.set(ylabel="observed response rate", xlim=(0, 1), ylim=(0, 1))
    ax.set_title(_wrapped(title), fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    hist.hist(p[y == 1], bins=30, range=(0, 1), color="C2", alpha=0.7, label="responders")
    hist.hist(p[y == 0], bins=30, range=(0, 1), color="0.5", alpha=0.5, label="others")
    hist.set(xlabel="predicted probability of response", ylabel="n")
    hist.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=7)
    return _save(fig, path)


def observed_predicted_figure(y: np.ndarray, p: np.ndarray, metrics: dict[str, Any], title: str,
                              outcome: str, path: str | Path) -> Path:
    """Observed against out-of-fold predicted outcome with the identity line, the OLS
    calibration line and R², RMSE, slope and CITL in the corner."""
    fig, ax = plt.subplots(figsize=(4.6, 4.4), dpi=120)
    ax.scatter(p, y, s=10, alpha=0.6, color="C0")
    low, high = float(min(p.min(), y.min())), float(max(p.max(), y.max()))
    ax.plot([low, high], [low, high], ls="--", color="0.5", lw=1, label="ideal")
    slope, citl = metrics["calibration_slope"], metrics["calibration_intercept"]
    if np.isfinite(slope["estimate"]):
        grid = np.linspace(p.min(), p.max(), 50)
        intercept = y.mean() - slope["estimate"] * p.mean()
        ax.plot(grid, intercept + slope["estimate"] * grid, color="C1", lw=2, label="OLS fit")
    label = (f"R2 {metrics['r2']['estimate']:.2f}\nRMSE {metrics['rmse']['estimate']:.3g}\n"
             f"slope {slope['estimate']:.2f}\nCITL {citl['estimate']:.3g}")
    ax.text(0.03, 0.97, label, transform=ax.transAxes, va="top", fontsize=8)
    ax.set(xlabel=f"predicted {outcome}", ylabel=f"observed {outcome}", title=title)
    ax.legend(loc="lower right", frameon=False, fontsize=8)
    return _save(fig, path)


def _wrapped(title: str, width: int = 42) -> str:
    """A title broken into lines that fit the narrow figures."""
    return "\n".join(textwrap.wrap(title, width)) or title


def _save(fig: plt.Figure, path: str | Path) -> Path:
    """Save on the figure's constrained layout, cropped to everything drawn (nothing clipped)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, bbox_inches="tight", pad_inches=0.05)
    plt.close(fig)
    return path
