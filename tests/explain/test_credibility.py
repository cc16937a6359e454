"""ICEMAN-style credibility summary."""

from __future__ import annotations

import numpy as np
import pandas as pd

from backpheno.explain.credibility import iceman_summary


def table(**overrides) -> pd.DataFrame:
    row = {"moderator": "m", "contrast": "B_vs_A", "kind": "pair", "family": "binomial",
           "moderator_scale": "per SD", "estimate": 0.8, "p": 0.0004, "q": 0.01,
           "rd_p": 0.001}
    rows = [row, {**row, "moderator": "x", "estimate": -0.1, "p": 0.03, "q": 0.2, "rd_p": 0.2},
            {**row, "moderator": "sex", "moderator_scale": "binary (0 -> 1)", "estimate": 0.2,
             "p": 0.5, "q": 0.6, "rd_p": 0.01},
            {**row, "contrast": "all_arms", "kind": "omnibus"}]
    frame = pd.DataFrame(rows)
    for key, value in overrides.items():
        frame[key] = value
    return frame


def test_automatic_items():
    out = iceman_summary(table()).set_index("moderator")
    assert len(out) == 3  # omnibus rows are not claims
    assert out.loc["m", "item3_chance"] == "definitely yes"
    assert out.loc["x", "item3_chance"] == "probably no"
    assert out.loc["sex", "item3_chance"] == "definitely no"
    assert out.loc["m", "item4_multiplicity"] == "definitely yes"  # 3 candidates
    assert out.loc["m", "item5_cut_points"] == "definitely yes"
    assert out.loc["sex", "item5_cut_points"] == "not applicable"
    assert out.loc["m", "scales_agree"] == "yes"
    assert out.loc["sex", "scales_agree"] == "no: only the risk-difference scale"
    assert (out["item2_prior_evidence"] == "needs human judgement").all()
    assert out["overall"].str.contains("human judgement").all()
    assert out.loc["m", "automatic_favourable"] == 3
    assert out.loc["m", "item1_a_priori"] == "definitely no"  # nothing pre-specified


def test_many_candidates_rely_on_the_adjustment():
    rows = pd.concat([table().iloc[[0]].assign(moderator=f"f{i}") for i in range(8)])
    assert (iceman_summary(rows)["item4_multiplicity"] == "probably yes").all()
    assert (iceman_summary(rows.assign(q=np.nan))["item4_multiplicity"] == "probably no").all()


def test_hypotheses_set_item_one():
    hypotheses = [{"moderator": "m", "contrast": "B_vs_A", "direction": "+",
                   "source": "SAP 2024-03", "evidence": "two earlier trials"},
                  {"moderator": "x", "contrast": "B_vs_A", "direction": "+"}]
    out = iceman_summary(table(), hypotheses=hypotheses).set_index("moderator")
    assert out.loc["m", "item1_a_priori"] == "definitely yes"
    assert "SAP 2024-03" in out.loc["m", "item1_basis"]
    assert out.loc["m", "item2_basis"] == "stated evidence: two earlier trials"
    assert out.loc["x", "item1_a_priori"] == "definitely no"
    assert "opposite direction" in out.loc["x", "item1_basis"]


def test_shap_agreement_and_related_outcomes():
    ranking = pd.DataFrame({"contrast": ["B_vs_A"] * 2, "feature": ["m", "x"], "rank": [1, 7],
                            "direction": [0.9, 0.4]})
    stability = pd.DataFrame({"contrast": ["B_vs_A"], "feature": ["m"], "top_k_frequency": [0.85],
                              "top_k": [5]})
    related = {"pain_change": pd.DataFrame({"moderator": ["m", "x"], "contrast": ["B_vs_A"] * 2,
                                            "estimate": [-3.0, -1.0], "p": [0.01, 0.4]})}
    out = iceman_summary(table(), ranking=ranking, stability=stability, related=related,
                         orientation={"pain_change": -1}).set_index("moderator")
    assert out.loc["m", "shap_rank"] == 1
    assert out.loc["m", "shap_direction_agrees"] == "yes"
    assert out.loc["x", "shap_direction_agrees"] == "no"
    assert out.loc["m", "shap_top_k_frequency"] == 0.85
    assert np.isnan(out.loc["x", "shap_top_k_frequency"])
    assert out.loc["m", "related_outcomes"] == "pain_change: same direction, p<0.05"
    assert out.loc["x", "related_outcomes"] == "pain_change: opposite direction"
    assert out.loc["sex", "related_outcomes"] == "pain_change: n/a"
