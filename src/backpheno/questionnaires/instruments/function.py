"""Back-specific disability: Oswestry Disability Index v2.1a and Roland-Morris (RMDQ-24)."""

from __future__ import annotations

from backpheno.questionnaires.spec import Instrument, Item, Percent, Score, Sum, likert

ODI_SECTIONS = ("pain intensity", "personal care", "lifting", "walking", "sitting", "standing",
                "sleeping", "sex life", "social life", "travelling")

ODI = Instrument(
    name="odi",
    title="Oswestry Disability Index v2.1a",
    items=tuple(Item(f"odi_{i:02d}", f"ODI{i:02d}",
                     f"section {i}: {name} (0 = first statement .. 5 = last)", likert(0, 5))
                for i, name in enumerate(ODI_SECTIONS, start=1)),
    scores=(Score("percent", Percent(tuple(f"odi_{i:02d}" for i in range(1, 11)), max_missing=1,
                                     item_max=5.0),
                  "%", "ODI disability: sum of section scores / (5 x sections answered) x 100",
                  0, 100, "higher = more disability (worse)"),),
    citation=("Fairbank JC & Pynsent PB, Spine 2000;25:2940-2952 (denominator reduced by 5 per "
              "unanswered section); at most one missing section as in awell-health/awell-score "
              "src/scores/oswestry"),
    missing_rule=("the denominator is reduced by 5 for each unanswered section; at most 1 of 10 "
                  "sections may be missing"),
    sdtm_label="Oswestry Disability Index v2.1a",
)

RMDQ = Instrument(
    name="rmdq",
    title="Roland-Morris Disability Questionnaire (24 items)",
    items=tuple(Item(f"rmdq_{i:02d}", f"RMDQ{i:02d}",
                     f"statement {i} applies today (1 = ticked, 0 = not ticked)", (0, 1))
                for i in range(1, 25)),
    scores=(Score("total", Sum(tuple(f"rmdq_{i:02d}" for i in range(1, 25))), "points",
                  "RMDQ: number of statements ticked", 0, 24,
                  "higher = more disability (worse)"),),
    citation="Roland M & Morris R, Spine 1983;8:141-144",
    missing_rule=("no standard rule exists for unanswered statements (Kent & Lauridsen); all 24 "
                  "required, no proration"),
    sdtm_label="Roland-Morris Disability Questionnaire",
)

INSTRUMENTS = (ODI, RMDQ)
