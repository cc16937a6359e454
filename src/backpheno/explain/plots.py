"""Figures of the moderator analysis (matplotlib; each saved as PNG and SVG).

Every function draws one figure and returns it; :func:`save_figure` writes it atomically as PNG
and SVG and closes it. ROC and calibration curves per arm are drawn by the training stage
(``figures/roc_<arm>.png``, ``figures/calibration_<arm>.png``) and reused by the report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shap
from matplotlib.figure import Figure

from backpheno.explain.moderators import ContrastShap
from backpheno.explain.shap import ArmShap
from backpheno.io import atomic_path

#: Formats every figure is saved in.
FORMATS = ("png", "svg")
#: Point clouds larger than this are rasterised inside the SVG (axes and text stay vector).
RASTERIZE_ABOVE = 200


def save_figure(fig: Figure, path: str | Path, dpi: int = 120) -> dict[str, Path]:
    """Write ``fig`` as ``<path>.png`` and ``<path>.svg`` (atomically) and close it.

    ``path`` is the file name without the format suffix (dots in it are kept).
    """
    path = Path(path)
    written = {}
    for ax in fig.axes:
        for collection in ax.collections:
            if len(collection.get_offsets()) > RASTERIZE_ABOVE:
                collection.set_rasterized(True)
    fig.tight_layout()
    for fmt in FORMATS:
        target = path.with_name(f"{path.name}.{fmt}")
        with atomic_path(target) as tmp:
            fig.savefig(tmp, dpi=dpi, format=fmt)
        written[fmt] = target
    plt.close(fig)
    return written


def beeswarm(result: ArmShap, X: pd.DataFrame, max_display: int = 15,
             title: str | None = None, outcome: str = "response") -> Figure:
    """SHAP beeswarm of one arm's model (shap.plots.beeswarm), coloured by feature value.
    ``outcome`` names a continuous outcome (``outcome`` scale) in the axis label."""
    features = list(result.values.columns)
    data = X.reindex(index=result.values.index, columns=features).to_numpy(dtype=float)
    explanation = shap.Explanation(values=result.values.to_numpy(),
                                   base_values=np.full(len(result.values), result.base_value),
                                   data=data, feature_names=features)
    fig = plt.figure(figsize=(8, 0.4 * min(max_display, len(features)) + 1.8))
    ax = fig.add_subplot()
    shap.plots.beeswarm(explanation, max_display=max_display, show=False, ax=ax,
                        plot_size=None)
    if result.scale == "outcome":
        ax.set_xlabel(f"SHAP value (predicted {outcome})")
        ax.set_title(title or f"{result.arm}: what drives the predicted {outcome}")
        return fig
    scale = "probability" if result.scale == "probability" else "log-odds"
    ax.set_xlabel(f"SHAP value ({scale} of response)")
    ax.set_title(title or f"{result.arm}: what drives the predicted response ({scale})")
    return fig


def moderator_heatmap(ranking: pd.DataFrame, top_n: int = 15,
                      contrasts: Sequence[str] | None = None, max_rows: int = 30,
                      quantity: str = "the risk difference") -> Figure:
    """Mean |SHAP| of the contrast (``quantity``: the risk difference, or the predicted
    difference in a continuous outcome) for the strongest moderators across contrasts.

    Rows: features in the ``top_n`` of at least one contrast, ordered by their best rank (then
    by their largest mean |SHAP|), at most ``max_rows``; cells annotated with the rank within
    the contrast.
    """
    contrasts = list(contrasts or ranking["contrast"].unique())
    sub = ranking[ranking["contrast"].isin(contrasts)]
    top = sub[sub["rank"] <= top_n].groupby("feature").agg(best=("rank", "min"),
                                                           strength=("mean_abs_shap", "max"))
    features = list(top.sort_values(["best", "strength"], ascending=[True, False],
                                    kind="stable").index[:max_rows])
    values = sub.pivot_table(index="feature", columns="contrast", values="mean_abs_shap"
                             ).reindex(index=features, columns=contrasts)
    ranks = sub.pivot_table(index="feature", columns="contrast", values="rank"
                            ).reindex(index=features, columns=contrasts).to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(1.0 * len(contrasts) + 4.5, 0.32 * len(features) + 2.0))
    matrix = values.to_numpy(dtype=float)
    image = ax.imshow(matrix, aspect="auto", cmap="viridis")
    bright = np.nanmax(matrix) * 0.6 if np.isfinite(matrix).any() else np.inf
    for i in range(len(features)):
        for j in range(len(contrasts)):
            rank = ranks[i, j]
            if np.isfinite(rank) and rank <= top_n:
                ax.text(j, i, int(rank), ha="center", va="center", fontsize=7,
                        color="black" if matrix[i, j] > bright else "white")
    ax.set_xticks(range(len(contrasts)), [c.replace("_vs_", " vs ") for c in contrasts],
                  rotation=45, ha="right")
    ax.set_yticks(range(len(features)), features, fontsize=8)
    fig.colorbar(image, ax=ax, label=f"mean |SHAP| of {quantity}")
    ax.set_title(f"Moderator ranking (numbers: rank within the contrast, top {top_n})")
    return fig


def dependence_by_arm(feature: str, X: pd.DataFrame, predictions: pd.DataFrame,
                      result: ContrastShap, n_bins: int = 8,
                      outcome: str | None = None) -> Figure:
    """Predicted response under each arm against a moderator, and the contrast's SHAP values.

    Parameters
    ----------
    feature : str
    X : DataFrame
        Feature values of the explained participants.
    predictions : DataFrame
        Participants × arms: predicted probability of response (or predicted outcome) under
        each arm.
    result : ContrastShap
        The contrast whose SHAP values fill the lower panel.
    n_bins : int
        Quantile bins for the binned means drawn over the scatter.
    outcome : str, optional
        Name of a continuous outcome: labels say "predicted <outcome>" instead of response.
    """
    x = X.loc[result.values.index, feature].astype(float)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 6.4), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 2]})
    arms = list(predictions.columns)
    for i, arm in enumerate(arms):
        p = predictions.loc[x.index, arm].astype(float)
        emphasised = arm in result.contrast.weights
        top.scatter(x, p, s=6, alpha=0.25 if emphasised else 0.08, color=f"C{i}")
        centres, means = _binned(x, p, n_bins)
        top.plot(centres, means, color=f"C{i}", lw=2.2 if emphasised else 1.0,
                 ls="-" if emphasised else "--", label=arm)
    what = f"predicted {outcome}" if outcome else "predicted probability of response"
    top.set_ylabel(what)
    top.legend(title="arm", frameon=False, fontsize=8, ncols=min(len(arms), 4))
    top.set_title(f"{feature}: {what if outcome else 'predicted response'} by arm")
    phi = result.values[feature]
    bottom.axhline(0, color="0.6", lw=0.8)
    bottom.scatter(x, phi, s=6, alpha=0.4, color="C3")
    centres, means = _binned(x, phi, n_bins)
    bottom.plot(centres, means, color="C3", lw=2)
    bottom.set_ylabel(f"SHAP of {result.contrast.describe('E' if outcome else 'p')}")
    bottom.set_xlabel(feature)
    return fig


def forest_plot(table: pd.DataFrame, max_rows: int = 25, title: str | None = None) -> Figure:
    """Interaction estimates with confidence intervals (odds ratios on a log axis for a binary
    outcome), one row per moderator × contrast, strongest (smallest p) first.

    Parameters
    ----------
    table : DataFrame
        Rows of :func:`~backpheno.explain.moderation.moderation_table` (pairs or one-vs-rest).
    """
    rows = table[table["kind"] != "omnibus"].dropna(subset=["estimate"])
    rows = rows.sort_values("p", kind="stable").head(max_rows).iloc[::-1]
    binary = rows["family"].eq("binomial").all() and len(rows)
    est, low, high = ((rows["odds_ratio"], rows["or_low"], rows["or_high"]) if binary
                      else (rows["estimate"], rows["ci_low"], rows["ci_high"]))
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(rows) + 1.6))
    y = np.arange(len(rows))
    significant = rows["q"].to_numpy() < 0.05
    ax.errorbar(est, y, xerr=[est - low, high - est], fmt="none", ecolor="0.4", lw=1)
    ax.scatter(est[~significant], y[~significant], color="0.4", s=18, zorder=3,
               label="q >= 0.05")
    ax.scatter(est[significant], y[significant], color="C3", s=22, zorder=3, label="q < 0.05")
    ax.axvline(1.0 if binary else 0.0, color="0.5", ls="--", lw=1)
    labels = [f"{m}  [{c.replace('_vs_', ' vs ')}]  q={q:.2g}"
              for m, c, q in zip(rows["moderator"], rows["contrast"], rows["q"], strict=True)]
    ax.set_yticks(y, labels, fontsize=7)
    if binary:
        ax.set_xscale("log")
        ax.set_xlabel("interaction odds ratio per SD of the moderator (95% CI)")
    else:
        ax.set_xlabel("interaction per SD of the moderator (95% CI)")
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    ax.set_title(title or "Treatment × moderator interactions")
    return fig


def write_figures(figures: Mapping[str, Figure], folder: str | Path) -> dict[str, dict[str, Path]]:
    """Save several figures (name -> figure) into ``folder`` as PNG and SVG."""
    return {name: save_figure(fig, Path(folder) / name) for name, fig in figures.items()}


def _binned(x: pd.Series, y: pd.Series, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    keep = x.notna().to_numpy() & y.notna().to_numpy()
    xs, ys = x.to_numpy(dtype=float)[keep], y.to_numpy(dtype=float)[keep]
    if len(xs) < 2 or np.ptp(xs) == 0:
        return np.array([]), np.array([])
    edges = np.unique(np.quantile(xs, np.linspace(0, 1, n_bins + 1)))
    index = np.clip(np.searchsorted(edges, xs, side="right") - 1, 0, len(edges) - 2)
    centres = np.array([xs[index == k].mean() for k in range(len(edges) - 1) if np.any(index == k)])
    means = np.array([ys[index == k].mean() for k in range(len(edges) - 1) if np.any(index == k)])
    return centres, means
