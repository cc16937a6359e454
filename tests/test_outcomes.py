"""Responder rules, PGIC codings, the three-level response and missing-visit reporting."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from backpheno.config import validate_config
from backpheno.dataset import Dataset
from backpheno.errors import ConfigError, InputError
from backpheno.outcomes import (
    PGIC_CODINGS,
    OutcomeSettings,
    ResponderRule,
    build_outcomes,
    responder_labels,
)


def _series(values, name):
    index = pd.MultiIndex.from_tuples(list(values), names=["participant_id", "session_id"])
    return pd.Series(list(values.values()), index=index, name=name)


PEOPLE = pd.Index(["sub-1", "sub-2", "sub-3", "sub-4", "sub-5"])
PEG = _series({("sub-1", "ses-V0"): 8.0, ("sub-1", "ses-V1"): 4.0,     # -50 %
               ("sub-2", "ses-V0"): 6.0, ("sub-2", "ses-V1"): 4.2,     # -30 % exactly
               ("sub-3", "ses-V0"): 5.0, ("sub-3", "ses-V1"): 4.0,     # -20 %
               ("sub-4", "ses-V0"): 7.0, ("sub-4", "ses-V1"): 7.7,     # +10 %
               ("sub-5", "ses-V0"): 6.0}, "peg")                        # no V1
PGIC = _series({("sub-1", "ses-V1"): "much_improved", ("sub-2", "ses-V1"): "minimally_improved",
                ("sub-3", "ses-V1"): "very_much_improved", ("sub-4", "ses-V1"): "no_change",
                ("sub-5", "ses-V1"): "much_improved"}, "pgic")


def test_peg_rule_threshold_and_three_levels():
    out = responder_labels(PEG, None, ResponderRule(), PEOPLE)
    assert out["peg_change_pct"].round(6).tolist()[:4] == [-50.0, -30.0, -20.0, 10.0]
    assert out["responder"].tolist() == [True, True, False, False, pd.NA]
    assert out["response3"].tolist() == ["responder", "responder", "partial", "non_responder",
                                         pd.NA]
    assert out.at["sub-5", "reason"] == "no PEG at ses-V1"
    assert (out["reason"].iloc[:4] == "").all()


def test_pgic_rule_and_combinations():
    cats = ["very_much_improved", "much_improved"]
    pgic_only = ResponderRule(peg_reduction=None, pgic_categories=cats, pgic_coding="bacpac_0_6")
    out = responder_labels(None, PGIC, pgic_only, PEOPLE)
    assert out["responder"].tolist() == [True, False, True, False, True]
    both = ResponderRule(pgic_categories=cats, pgic_coding="bacpac_0_6", combine="and")
    out = responder_labels(PEG, PGIC, both, PEOPLE)
    assert out["responder"].tolist() == [True, False, False, False, pd.NA]
    either = both.model_copy(update={"combine": "or"})
    out = responder_labels(PEG, PGIC, either, PEOPLE)
    assert out["responder"].tolist() == [True, True, True, False, pd.NA]


def test_pgic_needs_a_declared_coding():
    with pytest.raises(ConfigError, match="pgic_coding"):
        validate_config({"responder": {"pgic_categories": ["much_improved"]}}, OutcomeSettings)
    with pytest.raises(ConfigError, match="responder.pgic_coding"):
        validate_config({"responder": {"pgic_categories": ["much_improved"],
                                       "pgic_coding": "upside_down"}}, OutcomeSettings)


def test_codings_agree_on_meaning():
    assert PGIC_CODINGS["bacpac_0_6"][0] == PGIC_CODINGS["common_1_7"][1] == \
        PGIC_CODINGS["reversed_1_7"][7] == "very_much_improved"
    assert PGIC_CODINGS["bacpac_0_6"][6] == PGIC_CODINGS["reversed_1_7"][1] == "very_much_worse"


@pytest.fixture(scope="module")
def truth(small_cohort):
    data = json.loads((small_cohort / "ground_truth.json").read_text())
    return pd.DataFrame(data["participants"]).set_index("participant_id")


def test_simulated_responders_are_recovered_and_missing_ones_reported(small_cohort, truth):
    out = build_outcomes(Dataset(small_cohort), OutcomeSettings())
    assert list(out.index) == list(truth.index)
    known = out["responder"].notna()
    assert (out.loc[known, "responder"].astype(bool) == truth.loc[known, "responder"]).all()
    assert (~known == truth["dropout"]).all()
    assert out.loc[~known, "reason"].str.contains("no PEG at ses-V1").all()
    assert (out["arm1"] == truth["arm1"]).all()
    assert {"peg_change_v1", "peg_change_v2", "peg_change_w36"} <= set(out.columns)


def test_pgic_rule_on_the_cohort_and_coding_mismatch(small_cohort):
    data = Dataset(small_cohort)
    rule = {"peg_reduction": None, "pgic_categories": ["very_much_improved", "much_improved"],
            "pgic_coding": "bacpac_0_6"}
    settings = validate_config({"responder": rule}, OutcomeSettings)
    out = build_outcomes(data, settings)
    pgic = data.phenotype("pgic").set_index(["participant_id", "session_id"])["pgic_01"]
    v1 = pgic.xs("ses-V1", level="session_id")
    expected = v1.isin([0, 1])
    assert (out.loc[v1.index, "responder"].astype(bool) == expected).all()
    wrong = validate_config({"responder": {**rule, "pgic_coding": "common_1_7"}}, OutcomeSettings)
    with pytest.raises(InputError, match="sidecar declares"):
        build_outcomes(data, wrong)


def test_out_of_coding_pgic_value_is_named(small_cohort, tmp_path):
    import shutil

    root = tmp_path / "ds"
    shutil.copytree(small_cohort, root)
    pgic = pd.read_csv(root / "phenotype" / "pgic.tsv", sep="\t")
    pgic.loc[0, "pgic_01"] = 9
    pgic.to_csv(root / "phenotype" / "pgic.tsv", sep="\t", index=False)
    rule = {"peg_reduction": None, "pgic_categories": ["much_improved"],
            "pgic_coding": "bacpac_0_6"}
    with pytest.raises(InputError) as err:
        build_outcomes(Dataset(root), validate_config({"responder": rule}, OutcomeSettings))
    assert pgic.loc[0, "participant_id"] in str(err.value) and "=9" in str(err.value)


def test_stage2_response_follows_the_simulated_stage2_success(small_cohort, truth):
    out = build_outcomes(Dataset(small_cohort), OutcomeSettings())
    rerandomised = out["stage2_randomized"].fillna(False).astype(bool) & out["responder2"].notna()
    assert rerandomised.sum() >= 10
    agree = out.loc[rerandomised, "responder2"].astype(bool) == \
        truth.loc[rerandomised, "stage2_success"]
    assert agree.mean() >= 0.9  # PEG items are integers: a few land on the other side of 30 %
    assert set(out.loc[rerandomised, "tactic2"]) <= {"augment", "switch"}
    assert "responder2" not in build_outcomes(
        Dataset(small_cohort), OutcomeSettings(stage2_followup_session=None)).columns


def test_improvements_are_oriented_so_that_better_is_positive():
    from backpheno.outcomes import improvements, outcomes_codebook

    index = pd.MultiIndex.from_product([["p1", "p2"], ["ses-V0", "ses-V1"]],
                                       names=["participant_id", "session_id"])
    scores = pd.DataFrame({"q.peg.score": [6.0, 3.0, 5.0, 7.0],
                           "q.promis_pf_4a.t_score": [40.0, 45.0, 42.0, 40.0],
                           "q.odi.percent": [30.0, float("nan"), 20.0, 10.0]}, index=index)
    out = improvements(scores, pd.Index(["p1", "p2", "p3"]), ["ses-V1", "ses-V2"])
    assert list(out.columns) == ["peg_improvement_v1", "odi_improvement_v1",
                                 "promis_pf_improvement_v1"]
    assert out.loc["p1", "peg_improvement_v1"] == 3.0     # pain fell by 3 points
    assert out.loc["p2", "peg_improvement_v1"] == -2.0
    assert out.loc["p1", "promis_pf_improvement_v1"] == 5.0  # function rose by 5
    assert pd.isna(out.loc["p1", "odi_improvement_v1"]) and pd.isna(out.loc["p3"]).all()
    codebook = outcomes_codebook(out)
    assert codebook.loc["peg_improvement_v1", "direction"].startswith("higher is better")
    assert "baseline minus follow-up" in codebook.loc["peg_improvement_v1", "description"]
    assert codebook.loc["promis_pf_improvement_v1", "unit"] == "T-score"


def test_cohort_outcomes_carry_improvements(small_cohort):
    from backpheno.outcomes import IMPROVEMENT_SCORES
    from backpheno.questionnaires import score

    dataset = Dataset(small_cohort)
    peg = score(dataset.phenotype("peg"), "peg")
    out = build_outcomes(dataset, OutcomeSettings(), scores=peg)
    change = out["peg_improvement_v1"]
    pct = out["peg_change_v1"]
    assert IMPROVEMENT_SCORES[0].name == "peg"
    both = change.notna() & pct.notna() & (change != 0)
    assert both.sum() > 10
    assert ((change[both] > 0) == (pct[both] < 0)).all()
