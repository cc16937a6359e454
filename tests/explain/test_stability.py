"""Rank stability of the SHAP moderators under resampling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backpheno.errors import InputError
from backpheno.explain.moderators import arm_contrasts, refit_each_arm
from backpheno.explain.stability import rank_stability, resample_indices, resample_rankings


def test_resamples_keep_each_arm_size():
    arm = pd.Series(np.repeat(["A", "B", "C"], [30, 20, 10]))
    for rows in resample_indices(arm, 5, seed=1):
        assert arm.iloc[rows].value_counts().to_dict() == {"A": 30, "B": 20, "C": 10}
    for rows in resample_indices(arm, 3, scheme="subsample", fraction=0.5, seed=1):
        assert len(set(rows)) == len(rows) == 30
        assert arm.iloc[rows].value_counts().to_dict() == {"A": 15, "B": 10, "C": 5}
    first, again = resample_indices(arm, 2, seed=3), resample_indices(arm, 2, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    with pytest.raises(InputError):
        resample_indices(arm, 2, scheme="jackknife")
    with pytest.raises(InputError):
        resample_indices(arm, 2, scheme="subsample", fraction=1.0)


def test_rank_stability_counts_top_k_membership():
    def ranking(order: list[str]) -> pd.DataFrame:
        return pd.DataFrame({"contrast": "B_vs_A", "feature": order,
                             "rank": np.arange(1, len(order) + 1)})

    rankings = [ranking(["x", "y", "z"]), ranking(["y", "x", "z"]), ranking(["x", "z", "y"]),
                ranking(["x", "y", "z"])]
    table = rank_stability(rankings, top_k=1).set_index("feature")
    assert table.loc["x", "top_k_frequency"] == 0.75
    assert table.loc["y", "top_k_frequency"] == 0.25
    assert table.loc["z", "top_k_frequency"] == 0.0
    assert table.loc["x", "median_rank"] == 1.0
    assert (table["n_resamples"] == 4).all() and (table["top_k"] == 1).all()
    assert list(table.index) == ["x", "y", "z"]
    with pytest.raises(InputError):
        rank_stability([])


def test_resampled_rankings_keep_a_strong_moderator_on_top(small, fit):
    X, ys = small
    models = fit("lr", X, ys)
    arms = list(ys)
    arm = pd.Series(np.resize(arms, len(X)), index=X.index)
    y = pd.Series([ys[a].iloc[i] for i, a in enumerate(arm)], index=X.index, dtype=float)
    samples = resample_indices(arm, 3, seed=0)
    contrasts = arm_contrasts(arms, ["pair"])
    rankings = resample_rankings(refit_each_arm(models), X, y, arm, X.iloc[:40], contrasts,
                                 samples)
    assert [r["resample"].iloc[0] for r in rankings] == [0, 1, 2]
    table = rank_stability(rankings, top_k=1)
    top = table[(table["contrast"] == "DUL_vs_ESC") & (table["feature"] == "f0")]
    assert top["top_k_frequency"].iloc[0] == 1.0


def test_failed_refits_are_left_out(small, fit):
    from backpheno.errors import InputError as Refused

    X, ys = small
    models = fit("lr", X, ys)
    arm = pd.Series(np.resize(list(ys), len(X)), index=X.index)
    y = pd.Series(ys["ESC"].to_numpy(), index=X.index, dtype=float)
    calls = {"n": 0}

    def flaky(Xr, yr, ar):
        calls["n"] += 1
        if calls["n"] == 2:
            raise Refused("site too small")
        return refit_each_arm(models)(Xr, yr, ar)

    rankings = resample_rankings(flaky, X, y, arm, X.iloc[:30], arm_contrasts(list(ys)),
                                 resample_indices(arm, 3, seed=0))
    assert [r["resample"].iloc[0] for r in rankings] == [0, 2]
