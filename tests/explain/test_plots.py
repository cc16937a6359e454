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


def test_constructs_group_correlated_indicators_and_the_forest_keeps_the_best():
    rng = np.random.default_rng(0)
    trait = rng.normal(size=300)
    X = pd.DataFrame({"anx.raw": trait + rng.normal(0, 0.1, 300),
                      "anx.t": 2 * trait + rng.normal(0, 0.2, 300) + 50,
                      "pain": rng.normal(size=300)})
    groups = plots.constructs(X, list(X), order=["anx.t", "pain", "anx.raw"])
    assert groups.to_dict() == {"anx.t": "anx.t", "pain": "pain", "anx.raw": "anx.t"}
    table = pd.DataFrame({
        "moderator": ["anx.raw", "anx.t", "pain"], "contrast": ["A_vs_B"] * 3,
        "kind": ["pair"] * 3, "family": ["binomial"] * 3, "estimate": [0.5, 0.4, -0.2],
        "odds_ratio": [1.65, 1.49, 0.82], "or_low": [1.2, 1.1, 0.6], "or_high": [2.3, 2.0, 1.1],
        "p": [0.001, 0.004, 0.2], "q": [0.003, 0.006, 0.2]})
    fig = plots.forest_plot(table, construct=groups.to_dict())
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert len(labels) == 2 and any(lab.startswith("anx.raw (+1 related)") for lab in labels)
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert len(ticks) >= 3 and "1" in ticks  # readable ticks on the log axis, not 10^0 only
    every = plots.forest_plot(table)
    assert len(every.axes[0].get_yticklabels()) == 3
