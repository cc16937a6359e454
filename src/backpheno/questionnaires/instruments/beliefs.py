"""Pain-related beliefs: PCS-13 and its BACPAC 6-item form, TSK-17 / TSK-11, FABQ, CPAQ-8."""

from __future__ import annotations

from backpheno.questionnaires.spec import Instrument, Item, Score, Sum, likert

NO_RULE = "no published missing-item rule; every item of a score required, no proration"


def _cols(prefix: str, numbers) -> tuple[str, ...]:
    return tuple(f"{prefix}_{n:02d}" for n in numbers)


PCS_CITATION = ("Sullivan MJL, Bishop SR, Pivik J, Psychol Assess 1995;7:524-532; subscales as in "
                "awell-health/awell-score src/scores/pcs")
PCS_SHORT_ITEMS = (4, 5, 6, 10, 11, 13)

PCS = Instrument(
    name="pcs",
    title="Pain Catastrophizing Scale (13 items)",
    items=tuple(Item(f"pcs_{i:02d}", f"PCS{i}", f"PCS item {i} (0 = not at all .. "
                     "4 = all the time)", likert(0, 4)) for i in range(1, 14)),
    scores=(
        Score("total", Sum(_cols("pcs", range(1, 14))), "points",
              "PCS total: sum of the 13 items", 0, 52, "higher = more catastrophizing (worse)"),
        Score("rumination", Sum(_cols("pcs", (8, 9, 10, 11))), "points",
              "PCS rumination subscale (items 8-11)", 0, 16,
              "higher = more rumination (worse)"),
        Score("magnification", Sum(_cols("pcs", (6, 7, 13))), "points",
              "PCS magnification subscale (items 6, 7, 13)", 0, 12,
              "higher = more magnification (worse)"),
        Score("helplessness", Sum(_cols("pcs", (1, 2, 3, 4, 5, 12))), "points",
              "PCS helplessness subscale (items 1-5, 12)", 0, 24,
              "higher = more helplessness (worse)"),
        Score("sf6_total", Sum(_cols("pcs", PCS_SHORT_ITEMS)), "points",
              "BACPAC 6-item PCS short-form score (items 4, 5, 6, 10, 11, 13 of the PCS-13)",
              0, 24, "higher = more catastrophizing (worse)"),
    ),
    citation=PCS_CITATION,
    missing_rule=NO_RULE,
    sdtm_label="Pain Catastrophizing Scale (13 items)",
)

PCS6 = Instrument(
    name="pcs6",
    title="Pain Catastrophizing Scale, BACPAC 6-item short form (PCS-13 items 4, 5, 6, 10, 11, 13)",
    items=tuple(Item(f"pcs6_{k:02d}", f"PCS{i}", f"PCS-13 item {i} (0 = not at all .. "
                     "4 = all the time)", likert(0, 4))
                for k, i in enumerate(PCS_SHORT_ITEMS, start=1)),
    scores=(Score("total", Sum(_cols("pcs6", range(1, 7))), "points",
                  "PCS 6-item short-form score (BACPAC PCSRAW)", 0, 24,
                  "higher = more catastrophizing (worse)"),),
    citation=f"{PCS_CITATION}; BACPAC Minimum Dataset PCSRAW = PCS4+PCS5+PCS6+PCS10+PCS11+PCS13",
    missing_rule=NO_RULE,
    sdtm_label="Pain Catastrophizing Scale",
)

TSK_REVERSED = (4, 8, 12, 16)
#: TSK-17 item numbers kept in the TSK-11 (Woby et al. 2005 dropped items 4, 8, 9, 12, 14, 16).
TSK11_ITEMS = (1, 2, 3, 5, 6, 7, 10, 11, 13, 15, 17)
TSK_CITATION = ("Vlaeyen JWS et al., Pain 1995;62:363-372 (TSK-17, items 4, 8, 12, 16 reversed); "
                "Woby SR et al., Pain 2005;117:137-144 (TSK-11); awell-health/awell-score "
                "src/scores/tampa")

TSK17 = Instrument(
    name="tsk17",
    title="Tampa Scale of Kinesiophobia (17 items)",
    items=tuple(Item(f"tsk17_{i:02d}", f"TSK{i:02d}",
                     f"TSK item {i} (1 = strongly disagree .. 4 = strongly agree)"
                     + ("; reverse-keyed" if i in TSK_REVERSED else ""), likert(1, 4),
                     reverse=i in TSK_REVERSED) for i in range(1, 18)),
    scores=(
        Score("total", Sum(_cols("tsk17", range(1, 18))), "points",
              "TSK-17 total (items 4, 8, 12, 16 reverse-scored as 5 - answer)", 17, 68,
              "higher = more fear of movement (worse)"),
        Score("tsk11_total", Sum(_cols("tsk17", TSK11_ITEMS)), "points",
              "TSK-11 total computed from the TSK-17 answers (items 1-3, 5-7, 10, 11, 13, 15, "
              "17)", 11, 44, "higher = more fear of movement (worse)"),
    ),
    citation=TSK_CITATION,
    missing_rule=NO_RULE,
    sdtm_label="Tampa Scale of Kinesiophobia (17 items)",
)

TSK11 = Instrument(
    name="tsk11",
    title="Tampa Scale of Kinesiophobia, 11-item version (no reverse-keyed items)",
    items=tuple(Item(f"tsk11_{k:02d}", f"TSK{i:02d}",
                     f"TSK-17 item {i} (1 = strongly disagree .. 4 = strongly agree)",
                     likert(1, 4)) for k, i in enumerate(TSK11_ITEMS, start=1)),
    scores=(Score("total", Sum(_cols("tsk11", range(1, 12))), "points", "TSK-11 total", 11, 44,
                  "higher = more fear of movement (worse)"),),
    citation=TSK_CITATION,
    missing_rule=NO_RULE,
    sdtm_label="Tampa Scale of Kinesiophobia (11 items)",
)

FABQ_PA = (2, 3, 4, 5)
FABQ_W = (6, 7, 9, 10, 11, 12, 15)

FABQ = Instrument(
    name="fabq",
    title="Fear-Avoidance Beliefs Questionnaire (16 items)",
    items=tuple(Item(f"fabq_{i:02d}", f"FABQ{i:02d}",
                     f"FABQ item {i} (0 = completely disagree .. 6 = completely agree)"
                     + ("" if i in FABQ_PA + FABQ_W else "; not scored"), likert(0, 6))
                for i in range(1, 17)),
    scores=(
        Score("physical_activity", Sum(_cols("fabq", FABQ_PA)), "points",
              "FABQ physical-activity subscale (items 2-5)", 0, 24,
              "higher = stronger fear-avoidance beliefs about physical activity (worse)"),
        Score("work", Sum(_cols("fabq", FABQ_W)), "points",
              "FABQ work subscale (items 6, 7, 9, 10, 11, 12, 15)", 0, 42,
              "higher = stronger fear-avoidance beliefs about work (worse)"),
    ),
    citation=("Waddell G et al., Pain 1993;52:157-168; subscale items as in the JOSPT low back "
              "pain guideline (PMC4893951)"),
    missing_rule=NO_RULE,
    sdtm_label="Fear-Avoidance Beliefs Questionnaire",
)

CPAQ_AE = (1, 2, 3, 6)
CPAQ_PW = (4, 5, 7, 8)

CPAQ8 = Instrument(
    name="cpaq8",
    title="Chronic Pain Acceptance Questionnaire, 8 items",
    items=tuple(Item(f"cpaq8_{i:02d}", f"CPAQ8{i:02d}",
                     f"CPAQ-8 item {i} (0 = never true .. 6 = always true); "
                     + ("pain willingness, reverse-keyed" if i in CPAQ_PW
                        else "activity engagement"),
                     likert(0, 6), reverse=i in CPAQ_PW) for i in range(1, 9)),
    scores=(
        Score("activity_engagement", Sum(_cols("cpaq8", CPAQ_AE)), "points",
              "CPAQ-8 activity engagement (items 1, 2, 3, 6)", 0, 24,
              "higher = more engagement in activities despite pain (better)"),
        Score("pain_willingness", Sum(_cols("cpaq8", CPAQ_PW)), "points",
              "CPAQ-8 pain willingness (items 4, 5, 7, 8 scored 6 - answer)", 0, 24,
              "higher = more willingness to experience pain (better)"),
        Score("total", Sum(_cols("cpaq8", range(1, 9))), "points",
              "CPAQ-8 total (activity engagement + pain willingness)", 0, 48,
              "higher = more pain acceptance (better)"),
    ),
    citation=("Fish RA et al., Pain 2010;149:435-443 (CPAQ-8); subscale membership within the "
              "8-item form as in the Stanford CHOIR scorer (chamtrain/choir-d "
              "PhysicalTherapyScoreProvider CPAQscore comment)"),
    missing_rule=NO_RULE,
    sdtm_label="Chronic Pain Acceptance Questionnaire (8 items)",
    notes=("Item order within the printed CPAQ-8 is taken from a public scoring program, not "
           "from the original paper; check the form your study used."),
)

INSTRUMENTS = (PCS, PCS6, TSK17, TSK11, FABQ, CPAQ8)
