"""Figures: each function draws, saves PNG + SVG, and the files decode."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.image import imread
from PIL import Image

from backpheno.explain import plots
from backpheno.explain.moderation import moderation_table
from backpheno.explain.moderators import arm_contrasts, contrast_shap, moderator_ranking
from backpheno.explain.shap import explain_arms


def test_every_figure_saves_png_and_svg(small, fit, tmp_path):
    X, ys = small
    models = fit("xgb", X, ys)
    per_arm = explain_arms(models, X.iloc[:120], X.iloc[120:180], scales=["probability"])
    contrasts = arm_contrasts(list(ys))
    rd = contrast_shap(per_arm, contrasts)
    ranking = moderator_ranking(rd, X)
    arm = pd.Series(np.resize(list(ys), len(X)), index=X.index)
    data = X.assign(arm=arm, y=[ys[a].iloc[i] for i, a in enumerate(arm)])
    table = moderation_table(data, outcome="y", arm="arm", moderators=list(X.columns),
                             arms=list(ys))
    predictions = pd.DataFrame({a: per_arm[(a, "probability")].output for a in ys})
    figures = {
        "bee": plots.beeswarm(per_arm[("ESC", "probability")], X, max_display=4),
        "heat": plots.moderator_heatmap(ranking, top_n=3),
        "dep": plots.dependence_by_arm("f0", X, predictions, rd["DUL_vs_ESC"]),
        "forest": plots.forest_plot(table[table["kind"] == "pair"]),
    }
    written = plots.write_figures(figures, tmp_path / "figs")
    for files in written.values():
        assert set(files) == {"png", "svg"}
        assert imread(files["png"]).shape[0] > 100
        with Image.open(files["png"]) as image:
            image.verify()
        svg = files["svg"].read_text()
        assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    assert (tmp_path / "figs" / "dep.png").is_file()


def test_file_names_with_dots_keep_every_part(tmp_path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1])
    files = plots.save_figure(fig, tmp_path / "dependence_q.pain.score__ACT_vs_ESC")
    assert files["png"].name == "dependence_q.pain.score__ACT_vs_ESC.png"
    assert files["svg"].name == "dependence_q.pain.score__ACT_vs_ESC.svg"


def test_dense_point_clouds_are_rasterised_in_svg(tmp_path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.scatter(np.arange(5000), np.arange(5000))
    files = plots.save_figure(fig, tmp_path / "dense")
    assert files["svg"].stat().st_size < 200_000
    assert "<image" in files["svg"].read_text()
