"""Hand-worked examples for every non-PROMIS instrument, from each published scoring rule.

Each expected value is worked out in the test from the rule (reverse keying, subscale membership,
missing-answer rule), not copied from the implementation.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from backpheno.errors import InputError
from backpheno.questionnaires import AnswerError, score
from backpheno.questionnaires.api import score_instrument

from .conftest import frame


def _one(instrument: str, answers: dict, **kwargs) -> dict:
    return score(frame([answers]), instrument, **kwargs).iloc[0].to_dict()


def _items(prefix: str, values) -> dict:
    return {f"{prefix}_{i:02d}": v for i, v in enumerate(values, start=1)}


def test_peg_is_the_mean_of_three_items_and_needs_all():
    # BACPAC Minimum Dataset example: PEG1 6, PEG2 10, PEG3 1 -> PEGSCORE 5.6667
    assert _one("peg", _items("peg", [6, 10, 1]))["q.peg.score"] == pytest.approx(17 / 3)
    assert math.isnan(_one("peg", _items("peg", [6, None, 1]))["q.peg.score"])


def test_low_back_pain_intensity():
    assert _one("lbpint", {"lbpint_01": 4})["q.lbpint.score"] == 4


@pytest.mark.parametrize(("coding", "answer", "improved"), [
    ("bacpac_0_6", 0, 1), ("bacpac_0_6", 1, 1), ("bacpac_0_6", 2, 0), ("bacpac_0_6", 6, 0),
    ("common_1_7", 1, 1), ("common_1_7", 2, 1), ("common_1_7", 3, 0), ("common_1_7", 7, 0),
])
def test_pgic_harmonised_improvement_under_both_codings(coding, answer, improved):
    out = _one("pgic", {"pgic_01": answer}, pgic_coding=coding)
    assert out == {"q.pgic.score": answer, "q.pgic.improved": improved}


def test_pgic_needs_a_declared_coding_and_respects_it():
    with pytest.raises(InputError, match="coding"):
        score(frame([{"pgic_01": 1}]), "pgic")
    with pytest.raises(AnswerError, match="out of range"):
        score(frame([{"pgic_01": 0}]), "pgic", pgic_coding="common_1_7")
    book = score_instrument(frame([{"pgic_01": 1}]), "pgic", pgic_coding="bacpac_0_6").codebook
    assert book[0]["direction"].startswith("lower = more improved")
    assert book[0]["role"] == "outcome"


def test_odi_percent_with_the_missing_section_rule():
    answers = [3, 2, 1, 0, 4, 2, 1, 0, 2, 1]
    assert _one("odi", _items("odi", answers))["q.odi.percent"] == pytest.approx(16 / 50 * 100)
    one_missing = answers.copy()
    one_missing[7] = None  # denominator reduced by 5: 16 / 45
    assert _one("odi", _items("odi", one_missing))["q.odi.percent"] == pytest.approx(16 / 45 * 100)
    two_missing = one_missing.copy()
    two_missing[0] = None
    assert math.isnan(_one("odi", _items("odi", two_missing))["q.odi.percent"])


def test_rmdq_counts_ticked_statements_and_has_no_proration():
    answers = [1, 0] * 9 + [0] * 6
    assert _one("rmdq", _items("rmdq", answers))["q.rmdq.total"] == 9
    answers[-1] = None
    assert math.isnan(_one("rmdq", _items("rmdq", answers))["q.rmdq.total"])


def test_pcs13_total_and_subscales():
    answers = [1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3]
    item = dict(enumerate(answers, start=1))
    out = _one("pcs", _items("pcs", answers))
    assert out["q.pcs.total"] == sum(answers)
    assert out["q.pcs.rumination"] == item[8] + item[9] + item[10] + item[11]
    assert out["q.pcs.magnification"] == item[6] + item[7] + item[13]
    assert out["q.pcs.helplessness"] == sum(item[i] for i in (1, 2, 3, 4, 5, 12))
    assert out["q.pcs.sf6_total"] == sum(item[i] for i in (4, 5, 6, 10, 11, 13))
    assert out["q.pcs.rumination"] + out["q.pcs.magnification"] + out["q.pcs.helplessness"] \
        == out["q.pcs.total"]
    answers[7] = None  # item 8 missing: rumination and total undefined, the others not
    out = _one("pcs", _items("pcs", answers))
    assert math.isnan(out["q.pcs.total"]) and math.isnan(out["q.pcs.rumination"])
    assert out["q.pcs.magnification"] == 6 and out["q.pcs.helplessness"] == 12


def test_pcs6_bacpac_short_form():
    # BACPAC example: PCS4 2, PCS5 0, PCS6 1, PCS10 1, PCS11 4, PCS13 4 -> PCSRAW 12
    assert _one("pcs6", _items("pcs6", [2, 0, 1, 1, 4, 4]))["q.pcs6.total"] == 12


def test_tsk17_reverse_items_and_tsk11_subset():
    answers = [3] * 17
    for i in (4, 8, 12, 16):
        answers[i - 1] = 1  # strongly disagree on a reverse-keyed item scores 5 - 1 = 4
    out = _one("tsk17", _items("tsk17", answers))
    assert out["q.tsk17.total"] == 13 * 3 + 4 * 4
    assert out["q.tsk17.tsk11_total"] == 11 * 3
    answers[8] = None  # item 9 is not in the TSK-11
    out = _one("tsk17", _items("tsk17", answers))
    assert math.isnan(out["q.tsk17.total"]) and out["q.tsk17.tsk11_total"] == 33


def test_tsk11_has_no_reverse_items():
    answers = [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3]
    assert _one("tsk11", _items("tsk11", answers))["q.tsk11.total"] == sum(answers)


def test_fabq_subscales():
    answers = [6, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0, 1]
    item = dict(enumerate(answers, start=1))
    out = _one("fabq", _items("fabq", answers))
    assert out["q.fabq.physical_activity"] == item[2] + item[3] + item[4] + item[5]
    assert out["q.fabq.work"] == sum(item[i] for i in (6, 7, 9, 10, 11, 12, 15))
    answers[0] = None  # item 1 is not scored: nothing changes
    assert _one("fabq", _items("fabq", answers)) == out


def test_cpaq8_reverse_scored_pain_willingness():
    answers = [5, 4, 6, 1, 2, 3, 0, 6]
    out = _one("cpaq8", _items("cpaq8", answers))
    engagement = answers[0] + answers[1] + answers[2] + answers[5]
    willingness = (6 - answers[3]) + (6 - answers[4]) + (6 - answers[6]) + (6 - answers[7])
    assert out["q.cpaq8.activity_engagement"] == engagement == 18
    assert out["q.cpaq8.pain_willingness"] == willingness == 15
    assert out["q.cpaq8.total"] == 33


def _acr(painful: set[int], severity=(2, 2, 1), somatic=(1, 0, 1), duration=1) -> dict:
    areas = [1 if i in painful else 0 for i in range(1, 20)]
    return _items("acr2016", [*areas, *severity, *somatic, duration])


def test_acr2016_scores_and_criteria():
    # left shoulder, left upper arm, right shoulder, right hip, right upper leg, neck, lower
    # back, chest: WPI 8; regions: left upper, right upper, right lower, axial = 4
    out = _one("acr2016", _acr({2, 3, 6, 12, 13, 15, 17, 18}))
    assert out["q.acr2016.wpi"] == 8
    assert out["q.acr2016.sss"] == 2 + 2 + 1 + 1 + 0 + 1
    assert out["q.acr2016.polysymptomatic_distress"] == 15
    assert out["q.acr2016.generalized_regions"] == 4
    assert out["q.acr2016.criteria_met"] == 1


def test_acr2016_jaw_chest_abdomen_do_not_count_for_generalized_pain():
    # WPI 8 but only jaw, chest and abdomen outside the axial and left-upper regions
    out = _one("acr2016", _acr({1, 5, 18, 19, 2, 3, 15, 17}))
    assert out["q.acr2016.wpi"] == 8
    assert out["q.acr2016.generalized_regions"] == 2
    assert out["q.acr2016.criteria_met"] == 0


@pytest.mark.parametrize(("severity", "somatic", "met"), [((3, 3, 2), (1, 0, 0), 1),
                                                         ((3, 3, 1), (1, 0, 0), 0)])
def test_acr2016_second_branch_wpi_4_to_6_needs_sss_9(severity, somatic, met):
    out = _one("acr2016", _acr({2, 6, 9, 12, 15}, severity, somatic))
    assert out["q.acr2016.wpi"] == 5 and out["q.acr2016.generalized_regions"] == 5
    assert out["q.acr2016.criteria_met"] == met


def test_acr2016_needs_three_months_and_all_areas():
    assert _one("acr2016", _acr({2, 3, 6, 12, 13, 15, 17, 18}, duration=0))[
        "q.acr2016.criteria_met"] == 0
    answers = _acr({2, 3, 6, 12, 13, 15, 17, 18})
    answers["acr2016_04"] = None
    out = _one("acr2016", answers)
    assert math.isnan(out["q.acr2016.wpi"]) and math.isnan(out["q.acr2016.criteria_met"])
    assert out["q.acr2016.sss"] == 7


def test_widespread_pain_count():
    # BACPAC example PNAREA1-7 = 1, 0, 1, 1, 1, 0, 1 -> WDSPPNUM 5
    assert _one("widespread", _items("widespread", [1, 0, 1, 1, 1, 0, 1]))[
        "q.widespread.count"] == 5


def test_somatization_sum():
    assert _one("psom", {"psom_01": 1, "psom_02": 3})["q.psom.score"] == 4


def test_phq_and_gad():
    phq9 = [0, 1, 2, 3, 0, 1, 2, 3, 1]
    out = _one("phq9", _items("phq9", phq9))
    assert out == {"q.phq9.total": sum(phq9), "q.phq9.phq2_total": 1,
                   "q.phq9.item9_positive": 1}
    assert _one("phq2", _items("phq2", [1, 3]))["q.phq2.total"] == 4  # BACPAC PHQ2RAW example
    gad7 = [1, 1, 2, 2, 3, 3, 0]
    assert _one("gad7", _items("gad7", gad7)) == {"q.gad7.total": 12, "q.gad7.gad2_total": 2}
    assert _one("gad2", _items("gad2", [2, 2]))["q.gad2.total"] == 4  # BACPAC GAD2RAW example


@pytest.mark.parametrize(("answers", "total", "psychosocial", "group"), [
    ([1, 1, 0, 1, 1, 0, 1, 1, 3], 7, 4, 2),   # item 9 "very much" scores 1: high risk
    ([1, 1, 0, 1, 1, 0, 1, 1, 2], 6, 3, 1),   # "moderately" scores 0: medium risk
    ([1, 1, 0, 0, 0, 0, 1, 0, 4], 4, 2, 1),
    ([0, 0, 0, 0, 1, 1, 1, 0, 0], 3, 3, 0),   # total 3: low whatever the subscale
])
def test_startback(answers, total, psychosocial, group):
    out = _one("startback", _items("startback", answers))
    assert out == {"q.startback.total": total, "q.startback.psychosocial": psychosocial,
                   "q.startback.risk_group": group}


def test_single_items():
    assert _one("opioid", {"opioid_01": 1})["q.opioid.daily_use"] == 1
    assert _one("sleepdur", {"sleepdur_01": 3.1833})["q.sleepdur.hours"] == 3.1833
    with pytest.raises(AnswerError, match="0..24"):
        _one("sleepdur", {"sleepdur_01": 25})


def test_physical_exam():
    # BACPAC FT example: LFLEXT12 62, LFLEXS1 30.8 -> LFLEXTOT 31.2; LEXTNT12 28.2, LEXTNS1 9.8
    # -> LEXTNTOT 18.4
    answers = dict(flexion_t12=62.0, flexion_s1=30.8, extension_t12=28.2, extension_s1=9.8,
                   sts5_time=13.6, walk4m_time_1=3.2, walk4m_time_2=3.6, walk2min_distance=151.6)
    out = _one("physical_exam", answers)
    assert out["q.physical_exam.lumbar_flexion_deg"] == pytest.approx(31.2)
    assert out["q.physical_exam.lumbar_extension_deg"] == pytest.approx(18.4)
    assert out["q.physical_exam.walk4m_time_s"] == pytest.approx(3.4)
    assert out["q.physical_exam.gait_speed_mps"] == pytest.approx(4 / 3.4)
    answers.update(walk4m_time_2=None, flexion_s1=None)
    out = _one("physical_exam", answers)
    assert out["q.physical_exam.walk4m_time_s"] == 3.2
    assert math.isnan(out["q.physical_exam.lumbar_flexion_deg"])


def test_qst_means_ratios_summation_and_cpm():
    answers = {f"ppt_lumbar_{t}": v for t, v in zip((1, 2, 3), (3.0, 3.5, None), strict=True)}
    answers |= {f"ppt_trapezius_{t}": v for t, v in zip((1, 2, 3), (4.0, 4.0, 4.6),
                                                         strict=True)}
    answers |= {"cpm_ppt_1": 5.0, "cpm_ppt_2": 4.8}
    for site, first, tenth, after15, after30 in (
            ("lumbar", (0, 5, 4), (2, 5, 7), (4, 0, 10), (7, 0, 10)),
            ("forearm", (1, 2, None), (3, 4, 6), (1, 1, 1), (0, 0, 0))):
        for t in (1, 2, 3):
            answers[f"ts_{site}_first_{t}"] = first[t - 1]
            answers[f"ts_{site}_tenth_{t}"] = tenth[t - 1]
            answers[f"ts_{site}_after15_{t}"] = after15[t - 1]
            answers[f"ts_{site}_after30_{t}"] = after30[t - 1]
    out = _one("qst", answers)
    assert out["q.qst.ppt_lumbar_kgcm2"] == pytest.approx(3.25)
    assert out["q.qst.ppt_trapezius_kgcm2"] == pytest.approx(12.6 / 3)
    assert out["q.qst.ppt_ratio_lumbar_trapezius"] == pytest.approx(3.25 / 4.2)
    assert out["q.qst.ts_lumbar"] == pytest.approx((2 + 0 + 3) / 3)  # BACPAC MDPTS 1.667
    assert out["q.qst.ts_lumbar_after15"] == pytest.approx(14 / 3)    # BACPAC PTSMN15S 4.667
    assert out["q.qst.ts_lumbar_after30"] == pytest.approx(17 / 3)    # BACPAC PTSMN30S 5.667
    assert out["q.qst.ts_forearm"] == pytest.approx((2 + 2) / 2)      # trial 3 has no 1st
    assert out["q.qst.cpm_abs_kgcm2"] == pytest.approx(4.9 - 4.2)
    assert out["q.qst.cpm_pct"] == pytest.approx(100 * 0.7 / 4.2)


def test_clinical_values_are_range_checked():
    with pytest.raises(AnswerError) as err:
        _one("qst", {"ppt_lumbar_1": -1.0, "ts_lumbar_first_1": 11})
    assert set(err.value.offenders["column"]) >= {"ppt_lumbar_1", "ts_lumbar_first_1"}


def test_every_codebook_row_is_complete():
    from backpheno.questionnaires import INSTRUMENT_NAMES, get_instrument
    from backpheno.questionnaires.engine import codebook_rows

    for name in INSTRUMENT_NAMES:
        for row in codebook_rows(get_instrument(name, "bacpac_0_6")):
            assert row["name"].startswith(f"q.{name}.")
            assert row["unit"] and row["description"] and row["direction"]
            assert row["provenance"], name
            assert not np.isnan(row["valid_min"])
