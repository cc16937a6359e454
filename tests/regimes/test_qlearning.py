"""Q-learning recovers known stage-specific treatment effects and respects feasible sets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backpheno.regimes.qlearning import QLearning


def _smart(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    a1 = rng.choice(["ACT", "DUL"], size=n)
    responder = rng.random(n) < 0.4
    x2 = rng.normal(size=n)
    tactic = np.where(responder, "continue", rng.choice(["augment", "switch"], size=n))
    aug = (tactic == "augment").astype(float)
    # stage 2 truth: augmenting helps when x2 is low (blip 0.5 - x2)
    y = 1 + 0.3 * x1 + 0.8 * x2 + aug * (0.5 - 1.0 * x2) + rng.normal(0, 0.5, n)
    # stage 1 truth: DUL helps when x1 is high (blip 0.2 + 0.7 x1), for responders via Y
    y = y + (a1 == "DUL") * (0.2 + 0.7 * x1)
    y[responder] += 1.0
    frame = pd.DataFrame({"id": [f"sub-{i}" for i in range(n)], "A1": a1, "X1_x": x1,
                          "X2_x": x2, "A2_tactic": tactic,
                          "A2": np.where(responder, None, np.where(aug == 1, "ACT+DUL", "DUL")),
                          "Y": y})
    return frame


def test_stage2_blip_is_recovered_on_the_rerandomised():
    frame = _smart()
    q = QLearning(x1_main=["X1_x"], x1_tailoring=["X1_x"], x2_main=["X1_x", "X2_x"],
                  x2_tailoring=["X2_x"]).fit(frame)
    coef = q.stage2_.coefficients["estimate"]
    assert q.stage2_.levels == ["augment", "switch"]
    # reference level is augment: switch - augment blip = -(0.5 - x2)
    assert coef["A=switch"] == pytest.approx(-0.5, abs=0.08)
    assert coef["A=switch:X2_x"] == pytest.approx(1.0, abs=0.08)
    assert q.stage2_.model.nobs == int((frame["A2"].notna()).sum())
    rec = q.recommend(frame)
    rerand = frame["A2"].notna()
    expected = np.where(frame.loc[rerand, "X2_x"] < 0.5, "augment", "switch")
    agreement = (rec.loc[rerand, "A2_recommended"] == expected).mean()
    assert agreement > 0.95


def test_stage1_uses_the_pseudo_outcome_and_recommends_within_feasible_sets():
    frame = _smart(seed=1)
    q = QLearning(x1_main=["X1_x"], x1_tailoring=["X1_x"], x2_main=["X1_x", "X2_x"],
                  x2_tailoring=["X2_x"]).fit(frame)
    coef = q.stage1_.coefficients["estimate"]
    assert coef["A=DUL:X1_x"] == pytest.approx(0.7, abs=0.15)
    classic = QLearning(x1_main=["X1_x"], x1_tailoring=["X1_x"], x2_main=["X1_x", "X2_x"],
                        x2_tailoring=["X2_x"], pseudo_outcome="max").fit(frame)
    # the classic pseudo-outcome loses the A1 x X1 effect when H2 does not carry A1
    assert classic.stage1_.coefficients.at["A=DUL:X1_x", "estimate"] < 0.5
    eligible = pd.Series("ACT,DUL", index=frame.index)
    eligible.iloc[:10] = "ACT"
    rec = q.recommend(frame, eligible=eligible)
    assert (rec["A1_recommended"].iloc[:10] == "ACT").all()
    high = frame["X1_x"] > 1
    assert (rec.loc[high.to_numpy()[10:].nonzero()[0] + 10, "A1_recommended"] == "DUL").mean() > 0.9


def test_missing_columns_are_named():
    frame = _smart(n=50)
    with pytest.raises(KeyError, match="X9"):
        QLearning(["X9"], [], ["X2_x"], []).fit(frame)
