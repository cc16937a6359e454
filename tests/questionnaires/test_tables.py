"""PROMIS summed-score tables: every raw sum of every sourced table gives its T-score and SE."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from backpheno.questionnaires import score
from backpheno.questionnaires.instruments.promis import DOMAIN_ITEMS
from backpheno.questionnaires.tables import promis_tables

from .conftest import answers_with_sum, frame

#: Reference domain name → (short form instrument, PROMIS-29 score prefix, item domain key).
DOMAINS = {
    "Physical Function": ("promis_pf_4a", "pf_", "pf"),
    "Anxiety": ("promis_anx_4a", "anx_", "anx"),
    "Depression": ("promis_dep_4a", "dep_", "dep"),
    "Fatigue": ("promis_fat_4a", "fatigue_", "fat"),
    "Sleep Disturbance": ("promis_sleep_4a", "sleep_", "sleep"),
    "Ability to Participate in Social Roles and Activities": ("promis_sr_4a", "social_", "sr"),
    "Pain Interference": ("promis_pi_4a", "pi_", "pi"),
}


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_every_raw_sum_of_the_reference_table_gives_its_t_score_and_se(domain, promis_reference):
    instrument, _, key = DOMAINS[domain]
    table = promis_reference[promis_reference["domain"] == domain]
    assert len(table) == 17
    ids = [i for i, _ in DOMAIN_ITEMS[key]]
    rows = [dict(zip(ids, answers_with_sum(int(raw), 4), strict=True)) for raw in table["raw_sum"]]
    scores = score(frame(rows), instrument)
    np.testing.assert_array_equal(scores[f"q.{instrument}.raw"], table["raw_sum"])
    np.testing.assert_allclose(scores[f"q.{instrument}.t_score"], table["t_score"], atol=1e-9)
    np.testing.assert_allclose(scores[f"q.{instrument}.se"], table["se"], atol=1e-9)


def test_promis29_profile_uses_the_same_tables(promis_reference):
    rows = []
    for raw in range(4, 21):
        row = {}
        for _, _, key in DOMAINS.values():
            ids = [i for i, _ in DOMAIN_ITEMS[key]]
            row.update(zip(ids, answers_with_sum(raw, 4), strict=True))
        row["Global07"] = raw % 11
        rows.append(row)
    scores = score(frame(rows), "promis29")
    for domain, (_, prefix, _) in DOMAINS.items():
        expected = promis_reference[promis_reference["domain"] == domain]
        np.testing.assert_allclose(scores[f"q.promis29.{prefix}t_score"], expected["t_score"])
        np.testing.assert_allclose(scores[f"q.promis29.{prefix}se"], expected["se"])
    np.testing.assert_array_equal(scores["q.promis29.pain_intensity"],
                                  [r % 11 for r in range(4, 21)])
    assert scores["q.promis29.propr"].isna().all()  # no cognition items: no PROPr


def test_shipped_4a_tables_equal_the_reference(promis_reference):
    tables = promis_tables()
    for domain, (instrument, _, _) in DOMAINS.items():
        expected = promis_reference[promis_reference["domain"] == domain]
        shipped = tables[instrument.removeprefix("promis_")]
        rows = shipped.rows
        assert sorted(rows) == expected["raw_sum"].tolist()
        for raw, t, se in expected[["raw_sum", "t_score", "se"]].itertuples(index=False):
            assert rows[raw] == (t, se)


def test_cognition_2a_table_matches_the_reference_notes(reference_dir):
    text = (reference_dir / "questionnaires.md").read_text(encoding="utf-8")
    line = next(ln for ln in text.splitlines() if ln.startswith("Cognitive Function – Abilities 2a")
                or "Raw 2–10 → T (SE)" in ln)
    following = text[text.index(line):].splitlines()[1]
    pairs = [(float(t), float(s)) for t, s in re.findall(r"(\d+\.\d) \((\d+\.\d)\)", following)]
    assert len(pairs) == 9
    assert promis_tables()["cog_2a"].rows == dict(zip(range(2, 11), pairs, strict=True))


def test_pf_6b_is_raw_only_and_says_so():
    rows = [dict(PFA11=1, PFA21=2, PFA23=5, PFA53=2, PFB1=1, PFC12=3)]
    scores = score(frame(rows), "promis_pf_6b")
    assert list(scores.columns) == ["q.promis_pf_6b.raw"]
    assert scores.iloc[0, 0] == 14  # BACPAC Minimum Dataset example PRPF6BR
    from backpheno.questionnaires.api import score_instrument

    description = score_instrument(frame(rows), "promis_pf_6b").codebook[0]["description"]
    assert "RAW SCORE ONLY" in description


def test_incomplete_form_gives_missing_t_score_with_a_reason():
    from backpheno.questionnaires.api import score_instrument

    rows = [dict(PAININ9=3, PAININ22=None, PAININ31=2, PAININ34=3)]
    result = score_instrument(frame(rows), "promis_pi_4a")
    assert result.scores.isna().all(axis=None)
    assert result.qc["reason"].tolist() == ["1 item of 4 missing (all 4 items required)"]
    assert result.qc["item"].tolist() == ["q.promis_pi_4a.raw"]


def test_a_raw_sum_outside_the_table_is_not_looked_up():
    from backpheno.questionnaires.spec import Lookup, Ref, VectorContext

    ctx = VectorContext(items={}, n=3, tables=promis_tables(),
                        scores={"raw": np.array([3.0, 4.0, 20.5])})
    out = Lookup(Ref("raw"), "pi_4a").vector(ctx)
    assert np.isnan(out[0]) and out[1] == 41.6 and np.isnan(out[2])
    assert pd.isna(pd.Series(out)).sum() == 2
