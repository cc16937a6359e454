"""PROMIS short forms, the PROMIS-29(+2) profile and PROPr.

Item columns are the official PROMIS item IDs; values are the official item scores 1-5 (the
response options are already keyed so that a higher score means more of the named domain: e.g.
Sleep116 "My sleep was refreshing": Not at all = 5, and the Social Roles items: Never = 5), so no
item is reversed here. The BACPAC Minimum Dataset stores the same scores under the upper-case ID
(``SLEEP109``); the SDTM reader matches codes case-insensitively.

Missing answers: a summed-score table needs every item of the form (HealthMeasures: "a respondent
must answer at least 4 items in measures that include 4 or more items"; incomplete forms need
response-pattern scoring, which is not done here). Raw sums with missing items are NaN with a
QC row; nothing is prorated.
"""

from __future__ import annotations

from backpheno.questionnaires.spec import (
    Apply,
    Instrument,
    Item,
    Lookup,
    Ref,
    Score,
    Sum,
    Value,
    likert,
)
from backpheno.questionnaires.tables import promis_tables, propr_score

HEALTHMEASURES = ("HealthMeasures PROMIS scoring instructions "
                  "(https://www.healthmeasures.net/score-and-interpret/calculate-scores)")
MISSING_RULE = ("every item of the form must be answered; summed-score tables do not apply to "
                "incomplete forms (HealthMeasures) and no proration is done")

#: Items per domain: (official ID, short wording).
DOMAIN_ITEMS = {
    "pi": (("PAININ9", "pain interfered with day to day activities"),
           ("PAININ22", "pain interfered with work around the home"),
           ("PAININ31", "pain interfered with ability to participate in social activities"),
           ("PAININ34", "pain interfered with household chores")),
    "pf": (("PFA11", "able to do chores such as vacuuming or yard work"),
           ("PFA21", "able to go up and down stairs at a normal pace"),
           ("PFA23", "able to go for a walk of at least 15 minutes"),
           ("PFA53", "able to run errands and shop")),
    "anx": (("EDANX01", "I felt fearful"),
            ("EDANX40", "I found it hard to focus on anything other than my anxiety"),
            ("EDANX41", "my worries overwhelmed me"),
            ("EDANX53", "I felt uneasy")),
    "dep": (("EDDEP04", "I felt worthless"),
            ("EDDEP06", "I felt helpless"),
            ("EDDEP29", "I felt depressed"),
            ("EDDEP41", "I felt hopeless")),
    "fat": (("HI7", "I feel fatigued"),
            ("AN3", "I have trouble starting things because I am tired"),
            ("FATEXP41", "how run-down did you feel on average"),
            ("FATEXP40", "how fatigued were you on average")),
    "sleep": (("Sleep109", "my sleep quality was (very good = 1 .. very poor = 5)"),
              ("Sleep116", "my sleep was refreshing (not at all = 5 .. very much = 1)"),
              ("Sleep20", "I had a problem with my sleep"),
              ("Sleep44", "I had difficulty falling asleep")),
    "sr": (("SRPPER11_CaPS", "trouble doing all regular leisure activities with others "
                             "(never = 5 .. always = 1)"),
           ("SRPPER18_CaPS", "trouble doing all the family activities I want to do"),
           ("SRPPER23_CaPS", "trouble doing all my usual work (including work at home)"),
           ("SRPPER46_CaPS", "trouble doing all the activities with friends I want to do")),
}
PF_6B_EXTRA = (("PFC12", "does health limit doing two hours of physical labor"),
               ("PFB1", "does health limit doing moderate work around the house"))
SLEEP_6A_EXTRA = (("Sleep108", "my sleep was restless"),
                  ("Sleep72", "I tried hard to get to sleep"))
#: PROMIS-29+2 cognition items (Cognitive Function - Abilities). Item IDs of the v2.0 abilities
#: bank whose wording matches the PROMIS-29+2 items; see docs/questionnaires.md.
COGNITION_ITEMS = (("PC43_2r", "my mind has been as sharp as usual"),
                   ("PC44_2r", "my memory has been as good as usual"))
PAIN_INTENSITY = ("Global07", "pain on average in the past 7 days (0 = no pain .. 10 = worst)")

#: Domain key → (title, table, better direction text).
DOMAINS = {
    "pi": ("Pain Interference", "pi_4a", "higher = more pain interference (worse)"),
    "pf": ("Physical Function", "pf_4a", "higher = better physical function"),
    "anx": ("Anxiety", "anx_4a", "higher = more anxiety (worse)"),
    "dep": ("Depression", "dep_4a", "higher = more depressive symptoms (worse)"),
    "fat": ("Fatigue", "fat_4a", "higher = more fatigue (worse)"),
    "sleep": ("Sleep Disturbance", "sleep_4a", "higher = more sleep disturbance (worse)"),
    "sr": ("Ability to Participate in Social Roles and Activities", "sr_4a",
           "higher = better ability to participate in social roles"),
}


def _items(pairs, optional: bool = False) -> tuple[Item, ...]:
    return tuple(Item(column=i, code=i.upper(), label=label, values=likert(1, 5),
                      optional=optional) for i, label in pairs)


def _raw_t_se(prefix: str, columns: tuple[str, ...], title: str, table: str | None,
              direction: str) -> tuple[Score, ...]:
    tables = promis_tables()
    k = len(columns)
    raw = Score(f"{prefix}raw", Sum(columns), "points",
                f"{title} raw summed score ({k} items scored 1-5)", k, 5 * k, direction)
    if table is None:
        return (raw,)
    lo, hi = tables[table].t_range
    return (
        raw,
        Score(f"{prefix}t_score", Lookup(Ref(f"{prefix}raw"), table, 0), "T-score",
              f"{title} T-score (mean 50, SD 10 in the US general population)", lo, hi,
              direction),
        Score(f"{prefix}se", Lookup(Ref(f"{prefix}raw"), table, 1), "T-score",
              f"standard error of the {title} T-score (measurement precision: exported for "
              "weighting and QC, not a default predictor)", 0, 10,
              "higher = less precise T-score", role="covariate"),
    )


def short_form(name: str, domain: str, form: str, extra=(), table: str | None = None,
               sdtm_aliases: tuple[str, ...] = (), notes: str = "") -> Instrument:
    """A PROMIS short form of one domain (raw sum, and T-score / SE when a table is given)."""
    title, _, direction = DOMAINS[domain]
    items = _items(DOMAIN_ITEMS[domain] + tuple(extra))
    version = "v2.0" if domain in ("pf", "sr") else "v1.0"
    full = f"PROMIS Short Form {version} - {title} {form}"
    source = promis_tables()[table].source if table else ""
    return Instrument(
        name=name,
        title=full,
        items=items,
        scores=_raw_t_se("", tuple(i.column for i in items), f"PROMIS {title} {form}", table,
                         direction),
        citation=f"{HEALTHMEASURES}; table: {source}" if table else HEALTHMEASURES,
        missing_rule=MISSING_RULE,
        sdtm_label=full,
        sdtm_aliases=sdtm_aliases,
        notes=notes,
    )


PROMIS_PI_4A = short_form("promis_pi_4a", "pi", "4a", table="pi_4a",
                          sdtm_aliases=("PROMIS Pain Interference",))
PROMIS_PF_4A = short_form("promis_pf_4a", "pf", "4a", table="pf_4a")
PROMIS_ANX_4A = short_form("promis_anx_4a", "anx", "4a", table="anx_4a",
                           sdtm_aliases=("PROMIS Emotional Distress - Anxiety",))
PROMIS_DEP_4A = short_form("promis_dep_4a", "dep", "4a", table="dep_4a",
                           sdtm_aliases=("PROMIS Emotional Distress - Depression",))
PROMIS_FAT_4A = short_form("promis_fat_4a", "fat", "4a", table="fat_4a")
PROMIS_SLEEP_4A = short_form("promis_sleep_4a", "sleep", "4a", table="sleep_4a")
PROMIS_SR_4A = short_form("promis_sr_4a", "sr", "4a", table="sr_4a")
PROMIS_PF_6B = short_form(
    "promis_pf_6b", "pf", "6b", extra=PF_6B_EXTRA, table=None,
    sdtm_aliases=("PROMIS Physical Function",),
    notes=("RAW SCORE ONLY: the official Physical Function 6b summed-score table could not be "
           "sourced (the public PF calibrations found are v1.2 and do not reproduce the PF 4a "
           "v2.0 table), so no T-score is reported rather than an invented one."),
)
PROMIS_SLEEP_6A = short_form(
    "promis_sleep_6a", "sleep", "6a", extra=SLEEP_6A_EXTRA, table="sleep_6a",
    sdtm_aliases=("PROMIS Sleep Disturbance",),
    notes=("T-scores from a table derived from the published Sleep Disturbance v1.0 item "
           "calibrations by the summed-score EAP method; the same computation reproduces every "
           "T-score and SE of the official 4a table."),
)


def _promis29() -> Instrument:
    items = []
    scores = []
    prefixes = {"pf": "pf_", "anx": "anx_", "dep": "dep_", "fat": "fatigue_", "sleep": "sleep_",
                "sr": "social_", "pi": "pi_"}
    for domain in ("pf", "anx", "dep", "fat", "sleep", "sr", "pi"):
        title, table, direction = DOMAINS[domain]
        domain_items = _items(DOMAIN_ITEMS[domain])
        items.extend(domain_items)
        scores.extend(_raw_t_se(prefixes[domain], tuple(i.column for i in domain_items),
                                f"PROMIS-29 {title}", table, direction))
    intensity = Item(PAIN_INTENSITY[0], PAIN_INTENSITY[0].upper(), PAIN_INTENSITY[1],
                     values=likert(0, 10))
    items.append(intensity)
    scores.append(Score("pain_intensity", Value(intensity.column), "0-10 rating",
                        "PROMIS-29 pain intensity item (reported as the raw 0-10 rating)", 0, 10,
                        "higher = more intense pain"))
    cognition = _items(COGNITION_ITEMS, optional=True)
    items.extend(cognition)
    scores.extend(_raw_t_se("cognition_", tuple(i.column for i in cognition),
                            "PROMIS-29+2 Cognitive Function - Abilities 2a", "cog_2a",
                            "higher = better cognitive function"))
    t_refs = tuple(Ref(f"{p}t_score") for p in ("cognition_", "dep_", "fatigue_", "pi_", "pf_",
                                                 "sleep_", "social_"))
    scores.append(Score(
        "propr", Apply("propr", propr_score, t_refs), "utility",
        "PROPr preference-based health utility (dead = 0, full health = 1) from the seven "
        "domain T-scores, thetas = (T - 50) / 10; needs the PROMIS-29+2 cognition items",
        -0.022, 1.0, "higher = better health-related quality of life"))
    return Instrument(
        name="promis29",
        title="PROMIS-29 Profile v2.1 (+2 cognition items: PROMIS-29+2 / PROPr)",
        items=tuple(items),
        scores=tuple(scores),
        citation=(f"{HEALTHMEASURES}; PROMIS Adult Profile Scoring Manual; PROPr: Dewitt et al., "
                  "Med Decis Making 2018;38:683-698 (propr.maut.function.201709)"),
        missing_rule=MISSING_RULE + "; PROPr needs all seven domains",
        sdtm_label="PROMIS-29 Profile v2.1",
        notes=("Cognition and PROPr are reported only when the two cognition columns are present; "
               "cognition T-scores from a single public transcription of the 2a table."),
    )


PROMIS29 = _promis29()

INSTRUMENTS = (PROMIS_PI_4A, PROMIS_PF_4A, PROMIS_ANX_4A, PROMIS_DEP_4A, PROMIS_FAT_4A,
               PROMIS_SLEEP_4A, PROMIS_SR_4A, PROMIS_PF_6B, PROMIS_SLEEP_6A, PROMIS29)
