"""The synthetic cohort: deterministic, contract-following, consistent with its ground truth."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from backpheno.dataset import DEFAULT_SESSION_WEEKS, Dataset
from backpheno.io import file_sha256
from backpheno.synth import simulate
from backpheno.synth.config import SimulateConfig
from backpheno.synth.design import effective_effects


@pytest.fixture(scope="module")
def cohort(small_cohort):
    return Dataset(small_cohort)


def _checksums(root):
    return {p.relative_to(root).as_posix(): file_sha256(p)
            for p in sorted(root.rglob("*")) if p.is_file() and "logs" not in p.parts}


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path):
    config = SimulateConfig(participants=20, deep_fraction=0.1, seed=5)
    simulate(config, tmp_path / "a")
    simulate(config, tmp_path / "b")
    simulate(config.model_copy(update={"seed": 6}), tmp_path / "c")
    a, b, c = (_checksums(tmp_path / x) for x in "abc")
    assert a == b
    def phenotype_files(checksums):
        return {k for k in checksums if k.startswith("phenotype/")}

    assert phenotype_files(a) == phenotype_files(c)
    assert a["participants.tsv"] != c["participants.tsv"]


def test_parallel_generation_equals_serial(tmp_path):
    config = SimulateConfig(participants=16, deep_fraction=0.25, seed=3)
    simulate(config, tmp_path / "serial")
    simulate(config.model_copy(update={"n_jobs": 2}), tmp_path / "parallel")
    assert _checksums(tmp_path / "serial") == _checksums(tmp_path / "parallel")


def test_refuses_to_overwrite_without_flag(tmp_path):
    config = SimulateConfig(participants=8, deep_fraction=0.0)
    simulate(config, tmp_path / "d")
    with pytest.raises(FileExistsError):
        simulate(config, tmp_path / "d")
    simulate(config, tmp_path / "d", overwrite=True)


def test_participants_follow_the_contract(cohort):
    people = cohort.participants
    assert len(people) == 60
    assert people.index.str.fullmatch(r"sub-\d{3}").all()
    assert set(people["site"]) <= {"site01", "site02", "site03", "site04"}
    assert people["deep_phenotyping"].sum() == 15
    assert people["age"].between(18, 85).all()
    assert set(people["sex"]) <= {"F", "M"}
    assert people["bmi"].between(15, 60).all()
    ineligible = people["ineligible_arm"].dropna()
    assert set(ineligible) <= {"ESC", "ACT", "EBEM", "DUL"}
    assert 0 < len(ineligible) < len(people)


def test_treatment_follows_smart_design(cohort):
    treatment = cohort.treatment()
    people = cohort.participants
    stage1 = treatment[treatment["stage"] == 1].set_index("participant_id")
    assert set(stage1.index) == set(people.index)
    assert stage1["randomized"].all()
    for pid, row in stage1.iterrows():
        assert row["arm"] != people.at[pid, "ineligible_arm"]
    stage2 = treatment[treatment["stage"] == 2].set_index("participant_id")
    assert set(stage2["tactic"]) <= {"continue", "augment", "switch"}
    cont = stage2[stage2["tactic"] == "continue"]
    assert not cont["randomized"].any()
    assert (cont["arm"] == stage1.loc[cont.index, "arm"]).all()
    aug = stage2[stage2["tactic"] == "augment"]
    assert aug["arm"].str.contains(r"\+").all()
    for pid, row in aug.iterrows():
        first, second = row["arm"].split("+")
        assert first == stage1.at[pid, "arm"] and second != first
        assert second != people.at[pid, "ineligible_arm"]
    switch = stage2[stage2["tactic"] == "switch"]
    assert (switch["arm"] != stage1.loc[switch.index, "arm"]).all()


def test_responder_rule_recovers_drawn_responses(cohort):
    truth = json.loads((cohort.root / "ground_truth.json").read_text())
    peg = cohort.phenotype("peg").set_index(["participant_id", "session_id"])
    score = peg[["peg_01", "peg_02", "peg_03"]].mean(axis=1, skipna=False)
    for person in truth["participants"]:
        pid = person["participant_id"]
        base = score.loc[(pid, "ses-V0")]
        assert base >= 4
        if person["dropout"]:
            assert (pid, "ses-V1") not in score.index
            continue
        change = (score.loc[(pid, "ses-V1")] - base) / base
        assert (change <= -0.30) == person["responder"], pid


def test_pgic_tracks_improvement(cohort):
    peg = cohort.phenotype("peg").set_index(["participant_id", "session_id"]).mean(axis=1)
    pgic = cohort.phenotype("pgic").set_index(["participant_id", "session_id"])["pgic_01"]
    assert pgic.dropna().between(0, 6).all()
    v1 = pgic.xs("ses-V1", level="session_id")
    change = (peg.xs("ses-V1", level="session_id") - peg.xs("ses-V0", level="session_id")) \
        / peg.xs("ses-V0", level="session_id")
    joined = pd.concat([v1, change.rename("change")], axis=1, join="inner")
    # BACPAC coding: lower PGIC is better, so it rises with the PEG change
    assert joined.corr(method="spearman").iloc[0, 1] > 0.5


def test_sessions_and_item_names(cohort):
    for instrument in cohort.phenotype_instruments():
        table = cohort.phenotype(instrument)
        assert set(table["session_id"]) <= set(DEFAULT_SESSION_WEEKS), instrument
        assert table["participant_id"].isin(cohort.participant_ids).all(), instrument
        assert not table.duplicated(["participant_id", "session_id"]).any(), instrument
        items = [c for c in table.columns if c not in ("participant_id", "session_id")]
        assert items, instrument
        if instrument in ("physical_exam", "qst"):  # named measures, documented in the sidecar
            assert set(items) <= set(cohort.phenotype_sidecar(instrument)), instrument
            continue
        for item in items:  # <instrument>_<nn>, or an official PROMIS item ID
            assert (re.fullmatch(rf"{instrument}_\d\d", item)
                    or re.fullmatch(r"[A-Za-z]+\d+(_[A-Za-z0-9]+)?", item)), item
    peg = cohort.phenotype("peg")
    assert set(peg["session_id"]) == set(DEFAULT_SESSION_WEEKS)
    pgic = cohort.phenotype("pgic")
    assert "ses-V0" not in set(pgic["session_id"])


def test_ground_truth_probabilities_match_sampled_responses(tmp_path):
    """Aggregate check: drawn responses are calibrated to the stored probabilities."""
    config = SimulateConfig(participants=3000, deep_fraction=0.0, seed=11, dropout_rate=0.0)
    simulate(config, tmp_path / "big")
    truth = json.loads((tmp_path / "big" / "ground_truth.json").read_text())
    people = pd.DataFrame(truth["participants"])
    p = np.array([row["p_response"][row["arm1"]] for row in truth["participants"]])
    r = people["responder"].to_numpy(dtype=float)
    z = (r.sum() - p.sum()) / np.sqrt((p * (1 - p)).sum())
    assert abs(z) < 4, f"observed {r.sum()} vs expected {p.sum():.1f} responders (z={z:.2f})"
    # calibration slope of the true logit is ~1
    import statsmodels.api as sm

    fit = sm.Logit(r, sm.add_constant(logit(p))).fit(disp=0)
    assert abs(fit.params[1] - 1) < 4 * fit.bse[1] + 0.05
    # stored probabilities are the response model evaluated at the stored traits
    effects = truth["response_model"]["effects"]
    intercept = truth["response_model"]["intercept"]
    row = truth["participants"][0]
    for arm, prob in row["p_response"].items():
        eta = intercept[arm] + sum(effects[arm][t] * v for t, v in row["traits"].items())
        assert prob == pytest.approx(expit(eta), abs=1e-6)
    # traits are standard normal in the cohort
    traits = pd.DataFrame([p["traits"] for p in truth["participants"]])
    assert traits.mean().abs().max() < 0.1
    assert traits.std().between(0.9, 1.1).all()
    # randomisation is uniform among eligible arms
    counts = people["arm1"].value_counts()
    expected = len(people) / len(config.arms)
    assert (abs(counts - expected) < 5 * np.sqrt(expected)).all()
    assert (people["p1"].isin([1 / 4, 1 / 3])).all()


def test_moderator_switches(tmp_path):
    base = SimulateConfig(participants=8, deep_fraction=0.0)
    none = effective_effects(base.model_copy(update={"moderators": False}))
    assert len({tuple(v.values()) for v in none.values()}) == 1
    null = effective_effects(base.model_copy(update={"null_arms": ["ACT"]}))
    assert all(v == 0 for v in null["ACT"].values())
    assert any(v != 0 for v in null["DUL"].values())


def test_ground_truth_lists_what_each_trait_drives(cohort):
    truth = json.loads((cohort.root / "ground_truth.json").read_text())
    assert set(truth["traits"]) == {"nociplastic", "distress", "mechanical", "fear_avoidance"}
    for trait, info in truth["traits"].items():
        assert info["drives"], trait
        assert all(name.count(".") >= 2 for name in info["drives"]), trait
    assert set(cohort.participants["site"]) <= set(truth["site_effects"])
    for effects in truth["site_effects"].values():
        assert set(effects) == {"brain_fc_offset", "brain_amplitude_scale",
                                "disc_csf_ratio_scale", "fat_fraction_offset"}
