"""Mood and risk screens: PHQ-2, PHQ-9, GAD-2, GAD-7, STarT Back."""

from __future__ import annotations

import numpy as np

from backpheno.questionnaires.spec import (
    Apply,
    InSet,
    Instrument,
    Item,
    Ref,
    Score,
    Sum,
    Value,
    likert,
)

NO_RULE = "no published missing-item rule found; every item of a score required, no proration"
FREQUENCY = "0 = not at all, 1 = several days, 2 = more than half the days, 3 = nearly every day"


def _items(prefix: str, code: str, n: int) -> tuple[Item, ...]:
    return tuple(Item(f"{prefix}_{i:02d}", f"{code}{i:02d}", f"item {i} ({FREQUENCY})",
                      likert(0, 3)) for i in range(1, n + 1))


def _cols(prefix: str, n: int) -> tuple[str, ...]:
    return tuple(f"{prefix}_{i:02d}" for i in range(1, n + 1))


PHQ_CITATION = ("Kroenke K, Spitzer RL, Williams JB, J Gen Intern Med 2001;16:606-613 (PHQ-9); "
                "Med Care 2003;41:1284-1292 (PHQ-2 = PHQ-9 items 1-2)")
GAD_CITATION = ("Spitzer RL et al., Arch Intern Med 2006;166:1092-1097 (GAD-7); Kroenke K et al., "
                "Ann Intern Med 2007;146:317-325 (GAD-2 = GAD-7 items 1-2)")

PHQ2 = Instrument(
    name="phq2", title="Patient Health Questionnaire-2", items=_items("phq2", "PHQ", 2),
    scores=(Score("total", Sum(_cols("phq2", 2)), "points", "PHQ-2 total", 0, 6,
                  "higher = more depressive symptoms (worse)"),),
    citation=PHQ_CITATION, missing_rule=NO_RULE, sdtm_label="PHQ-2", sdtm_aliases=("PHQ",),
)

PHQ9 = Instrument(
    name="phq9", title="Patient Health Questionnaire-9", items=_items("phq9", "PHQ", 9),
    scores=(
        Score("total", Sum(_cols("phq9", 9)), "points", "PHQ-9 total", 0, 27,
              "higher = more depressive symptoms (worse)"),
        Score("phq2_total", Sum(_cols("phq9", 2)), "points", "PHQ-2 score from PHQ-9 items 1-2",
              0, 6, "higher = more depressive symptoms (worse)"),
        Score("item9_positive", InSet(Value("phq9_09", report=False), (1.0, 2.0, 3.0)),
              "indicator", "any thoughts of self-harm (item 9 > 0): needs clinical follow-up",
              0, 1, "1 = positive answer to item 9"),
    ),
    citation=PHQ_CITATION, missing_rule=NO_RULE, sdtm_label="PHQ-9",
)

GAD2 = Instrument(
    name="gad2", title="Generalized Anxiety Disorder-2", items=_items("gad2", "GAD", 2),
    scores=(Score("total", Sum(_cols("gad2", 2)), "points", "GAD-2 total", 0, 6,
                  "higher = more anxiety symptoms (worse)"),),
    citation=GAD_CITATION, missing_rule=NO_RULE, sdtm_label="GAD-2", sdtm_aliases=("GAD",),
)

GAD7 = Instrument(
    name="gad7", title="Generalized Anxiety Disorder-7", items=_items("gad7", "GAD", 7),
    scores=(
        Score("total", Sum(_cols("gad7", 7)), "points", "GAD-7 total", 0, 21,
              "higher = more anxiety symptoms (worse)"),
        Score("gad2_total", Sum(_cols("gad7", 2)), "points", "GAD-2 score from GAD-7 items 1-2",
              0, 6, "higher = more anxiety symptoms (worse)"),
    ),
    citation=GAD_CITATION, missing_rule=NO_RULE, sdtm_label="GAD-7",
)


def startback_risk(total: np.ndarray, psychosocial: np.ndarray) -> np.ndarray:
    """STarT Back risk group: 0 = low (total <= 3), 2 = high (psychosocial >= 4), else 1."""
    group = np.where(total <= 3, 0.0, np.where(psychosocial >= 4, 2.0, 1.0))
    return np.where(np.isnan(total) | np.isnan(psychosocial), np.nan, group)


STARTBACK = Instrument(
    name="startback",
    title="Keele STarT Back Screening Tool (9 items)",
    items=tuple(Item(f"startback_{i:02d}", f"SBST{i:02d}", f"item {i} (0 = disagree, 1 = agree)",
                     (0, 1)) for i in range(1, 9))
    + (Item("startback_09", "SBST09", "bothersomeness in the last 2 weeks (0 = not at all, "
            "1 = slightly, 2 = moderately, 3 = very much, 4 = extremely); scored 1 for very "
            "much or extremely", likert(0, 4), recode={0: 0, 1: 0, 2: 0, 3: 1, 4: 1}),),
    scores=(
        Score("total", Sum(tuple(f"startback_{i:02d}" for i in range(1, 10))), "points",
              "STarT Back total", 0, 9, "higher = higher risk of poor outcome (worse)"),
        Score("psychosocial", Sum(tuple(f"startback_{i:02d}" for i in range(5, 10))), "points",
              "STarT Back psychosocial (distress) subscale, items 5-9", 0, 5,
              "higher = more psychosocial risk (worse)"),
        Score("risk_group", Apply("startback_risk", startback_risk,
                                  (Ref("total"), Ref("psychosocial"))), "category",
              "risk group: 0 = low (total <= 3), 1 = medium (total >= 4, psychosocial <= 3), "
              "2 = high (psychosocial >= 4)", 0, 2, "higher = higher risk (worse)"),
    ),
    citation=("Hill JC et al., Arthritis Rheum 2008;59:632-641; item coding and risk rule as in "
              "awell-health/awell-score src/scores/start_back_screening_tool"),
    missing_rule=NO_RULE,
    sdtm_label="STarT Back Screening Tool",
)

INSTRUMENTS = (PHQ2, PHQ9, GAD2, GAD7, STARTBACK)
