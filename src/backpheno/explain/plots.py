"""Figures of the moderator analysis (matplotlib; each saved as PNG and SVG).

Every function draws one figure on matplotlib's constrained layout engine (titles, labels,
colour bars and legends are fitted inside the canvas; legends sit outside the data) and returns
it; :func:`save_figure` writes it atomically as PNG and SVG and closes it. Contrasts involving an
arm whose model shows no evidence of signal (:mod:`backpheno.explain.signal`) are marked with
:data:`NO_SIGNAL_MARK`. ROC and calibration curves per arm are drawn by the training stage
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
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from backpheno.explain.moderators import ContrastShap
from backpheno.explain.shap import ArmShap
from backpheno.io import atomic_path

#: Formats every figure is saved in.
FORMATS = ("png", "svg")
#: Point clouds larger than this are rasterised inside the SVG (axes and text stay vector).
RASTERIZE_ABOVE = 200
#: Appended to the name of a contrast or arm whose model shows no evidence of signal.
NO_SIGNAL_MARK = " (no signal)"
#: Grey of the points whose feature value is missing (beeswarms).
MISSING_COLOUR = "#777777"


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
    if fig.get_layout_engine() is None:
        fig.set_layout_engine("constrained")
    for fmt in FORMATS:
        target = path.with_name(f"{path.name}.{fmt}")
        with atomic_path(target) as tmp:
            fig.savefig(tmp, dpi=dpi, format=fmt, bbox_inches="tight", pad_inches=0.05)
        written[fmt] = target
    plt.close(fig)
    return written


def beeswarm(result: ArmShap, X: pd.DataFrame, max_display: int = 15,
             title: str | None = None, outcome: str = "response",
             no_signal: bool = False) -> Figure:
    """SHAP beeswarm of one arm's model (shap.plots.beeswarm), coloured by feature value; grey
    points are participants whose value of the feature is missing (legend below the axis).
    ``outcome`` names a continuous outcome (``outcome`` scale) in the axis label."""
    features = list(result.values.columns)
    data = X.reindex(index=result.values.index, columns=features).to_numpy(dtype=float)
    explanation = shap.Explanation(values=result.values.to_numpy(),
                                   base_values=np.full(len(result.values), result.base_value),
                                   data=data, feature_names=features)
    fig = plt.figure(figsize=(8, 0.4 * min(max_display, len(features)) + 2.2),
                     layout="constrained")
    ax = fig.add_subplot()
    shap.plots.beeswarm(explanation, max_display=max_display, show=False, ax=ax,
                        plot_size=None, color_bar=True)
    if result.scale == "outcome":
        ax.set_xlabel(f"SHAP value (predicted {outcome})")
        ax.set_title(title or f"{result.arm}: what drives the predicted {outcome}")
        return fig
    scale = "probability" if result.scale == "probability" else "log-odds"
    ax.set_xlabel(f"SHAP value ({scale} of response)")
    if np.isnan(data).any():
        fig.legend(handles=[Line2D([], [], ls="", marker="o", ms=5, color=MISSING_COLOUR,
                                   label="feature value missing")],
                   loc="outside lower center", frameon=False, fontsize=8)
    mark = NO_SIGNAL_MARK if no_signal else ""
    ax.set_title(title or f"{result.arm}{mark}: what drives the predicted response\n"
                          f"({scale} scale)", fontsize=11)
    return fig


def moderator_heatmap(ranking: pd.DataFrame, top_n: int = 15,
                      contrasts: Sequence[str] | None = None, max_rows: int = 30,
                      no_signal: Sequence[str] = (),
                      quantity: str = "the risk difference") -> Figure:
    """Mean |SHAP| of the contrast (``quantity``: the risk difference, or the predicted
    difference in a continuous outcome) for the strongest moderators across contrasts.

    Rows: features in the ``top_n`` of at least one contrast, ordered by their best rank (then
    by their largest mean |SHAP|), at most ``max_rows``; cells annotated with the rank within
    the contrast. Contrasts involving an arm in ``no_signal`` are labelled with
    :data:`NO_SIGNAL_MARK` in red.
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
    fig, ax = plt.subplots(figsize=(1.0 * len(contrasts) + 5.5, 0.32 * len(features) + 2.6),
                           layout="constrained")
    matrix = values.to_numpy(dtype=float)
    image = ax.imshow(matrix, aspect="auto", cmap="viridis")
    bright = np.nanmax(matrix) * 0.6 if np.isfinite(matrix).any() else np.inf
    for i in range(len(features)):
        for j in range(len(contrasts)):
            rank = ranks[i, j]
            if np.isfinite(rank) and rank <= top_n:
                ax.text(j, i, int(rank), ha="center", va="center", fontsize=7,
                        color="black" if matrix[i, j] > bright else "white")
    weak = [_involves(c, no_signal) for c in contrasts]
    ax.set_xticks(range(len(contrasts)),
                  [c.replace("_vs_", " vs ") + (NO_SIGNAL_MARK if w else "")
                   for c, w in zip(contrasts, weak, strict=True)], rotation=45, ha="right")
    for label, flagged in zip(ax.get_xticklabels(), weak, strict=True):
        if flagged:
            label.set_color("#b00")
    ax.set_yticks(range(len(features)), features, fontsize=8)
    fig.colorbar(image, ax=ax, label=f"mean |SHAP| of {quantity}")
    ax.set_title(f"Moderator ranking\n(numbers: rank within the contrast, top {top_n})",
                 fontsize=11)
    return fig


def dependence_by_arm(feature: str, X: pd.DataFrame, predictions: pd.DataFrame,
                      result: ContrastShap, n_bins: int = 8,
                      no_signal: Sequence[str] = (), outcome: str | None = None) -> Figure:
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
    no_signal : sequence of str
        Arms whose model shows no evidence of signal (marked in the legend and the title).
    outcome : str, optional
        Name of a continuous outcome: labels say "predicted <outcome>" instead of response.
    """
    x = X.loc[result.values.index, feature].astype(float)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6.4), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 2]},
                                      layout="constrained")
    arms = list(predictions.columns)
    for i, arm in enumerate(arms):
        p = predictions.loc[x.index, arm].astype(float)
        emphasised = arm in result.contrast.weights
        top.scatter(x, p, s=6, alpha=0.25 if emphasised else 0.08, color=f"C{i}")
        centres, means = _binned(x, p, n_bins)
        top.plot(centres, means, color=f"C{i}", lw=2.2 if emphasised else 1.0,
                 ls="-" if emphasised else "--",
                 label=arm + (NO_SIGNAL_MARK if arm in no_signal else ""))
    top.set_ylabel(f"predicted {outcome}" if outcome else "predicted probability\nof response")
    top.legend(title="arm", frameon=False, fontsize=8, loc="upper left",
               bbox_to_anchor=(1.01, 1.0))
    mark = NO_SIGNAL_MARK if _involves(result.contrast.name, no_signal, result) else ""
    symbol = "E" if outcome else "p"
    what = f"predicted {outcome}" if outcome else "predicted response"
    top.set_title(f"{feature}\n{what} by arm; SHAP of "
                  f"{result.contrast.describe(symbol)}{mark}", fontsize=10)
    phi = result.values[feature]
    bottom.axhline(0, color="0.6", lw=0.8)
    bottom.scatter(x, phi, s=6, alpha=0.4, color="C3")
    centres, means = _binned(x, phi, n_bins)
    bottom.plot(centres, means, color="C3", lw=2)
    bottom.set_ylabel(f"SHAP of\n{result.contrast.describe('E' if outcome else 'p')}")
    bottom.set_xlabel(feature)
    return fig


def constructs(X: pd.DataFrame, features: Sequence[str], order: Sequence[str] | None = None,
               min_r: float = 0.8) -> pd.Series:
    """Group features that measure one construct: a feature joins the construct of the first
    earlier feature (in ``order``, e.g. by p-value) with ``|Spearman r| >= min_r``, else starts
    its own. Returns feature -> construct (the name of its first member)."""
    wanted = set(features)
    order = [f for f in dict.fromkeys([*(order or []), *features])
             if f in wanted and f in X.columns]
    ranks = X[order].rank()
    corr = ranks.corr(min_periods=10).abs().fillna(0.0)
    leaders: list[str] = []
    out = {}
    for feature in order:
        joined = next((lead for lead in leaders if corr.at[feature, lead] >= min_r), None)
        if joined is None:
            leaders.append(feature)
        out[feature] = joined or feature
    return pd.Series(out, name="construct", dtype=object)


def forest_plot(table: pd.DataFrame, max_rows: int = 25, title: str | None = None,
                construct: Mapping[str, str] | None = None) -> Figure:
    """Interaction estimates with confidence intervals (odds ratios on a log axis for a binary
    outcome), one row per moderator × contrast, strongest (smallest p) first.

    Parameters
    ----------
    table : DataFrame
        Rows of :func:`~backpheno.explain.moderation.moderation_table` (pairs or one-vs-rest).
    max_rows : int
    title : str, optional
    construct : mapping, optional
        Moderator -> construct (:func:`constructs`): only the best-scoring (smallest p)
        indicator of each construct is drawn per contrast, labelled with the number of others.
    """
    rows = table[table["kind"] != "omnibus"].dropna(subset=["estimate"])
    rows = rows.sort_values("p", kind="stable")
    others = pd.Series(0, index=rows.index)
    if construct is not None:
        key = rows["moderator"].map(lambda m: construct.get(m, m))
        sizes = key.groupby([rows["contrast"], key]).transform("size")
        keep = ~pd.DataFrame({"c": rows["contrast"], "k": key}).duplicated()
        rows, others = rows[keep], (sizes - 1)[keep]
    rows = rows.head(max_rows).iloc[::-1]
    others = others.reindex(rows.index)
    binary = rows["family"].eq("binomial").all() and len(rows)
    est, low, high = ((rows["odds_ratio"], rows["or_low"], rows["or_high"]) if binary
                      else (rows["estimate"], rows["ci_low"], rows["ci_high"]))
    fig, ax = plt.subplots(figsize=(9, 0.3 * len(rows) + 2.0), layout="constrained")
    y = np.arange(len(rows))
    significant = rows["q"].to_numpy() < 0.05
    ax.errorbar(est, y, xerr=[est - low, high - est], fmt="none", ecolor="0.4", lw=1)
    ax.scatter(est[~significant], y[~significant], color="0.4", s=18, zorder=3,
               label="q >= 0.05")
    ax.scatter(est[significant], y[significant], color="C3", s=22, zorder=3, label="q < 0.05")
    ax.axvline(1.0 if binary else 0.0, color="0.5", ls="--", lw=1)
    labels = [f"{m}{f' (+{n} related)' if n else ''}  [{c.replace('_vs_', ' vs ')}]  q={q:.2g}"
              for m, n, c, q in zip(rows["moderator"], others, rows["contrast"], rows["q"],
                                    strict=True)]
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    if binary:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("interaction odds ratio per SD of the moderator (95% CI, log scale)")
    else:
        ax.set_xlabel("interaction per SD of the moderator (95% CI)")
    ax.grid(axis="x", color="0.92", lw=0.8)
    ax.set_axisbelow(True)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    per = "; one row per construct (best-scoring indicator)" if construct is not None else ""
    ax.set_title(title or f"Treatment × moderator interactions{per}", fontsize=11)
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


def _involves(contrast: str, arms: Sequence[str], result: ContrastShap | None = None) -> bool:
    """Whether a contrast (``A_vs_B`` or ``A_vs_rest``) gives weight to one of ``arms``."""
    if not arms:
        return False
    if result is not None:
        return any(result.contrast.weights.get(a, 0) != 0 for a in arms)
    first, _, second = contrast.partition("_vs_")
    return second == "rest" or bool({first, second} & set(arms))
