"""Widespread pain and nociplastic features: ACR 2016 fibromyalgia survey, NIH RTF widespread
pain count, 2-item pain somatization screen."""

from __future__ import annotations

import numpy as np

from backpheno.questionnaires.spec import (
    Apply,
    BinOp,
    Instrument,
    Item,
    MaxOf,
    Ref,
    Score,
    Sum,
    Value,
    likert,
)

#: The 19 WPI areas in the order of the 2016 criteria table, grouped by region.
WPI_AREAS = (
    ("jaw, left", 1), ("shoulder girdle, left", 1), ("upper arm, left", 1),
    ("lower arm, left", 1),
    ("jaw, right", 2), ("shoulder girdle, right", 2), ("upper arm, right", 2),
    ("lower arm, right", 2),
    ("hip (buttock, trochanter), left", 3), ("upper leg, left", 3), ("lower leg, left", 3),
    ("hip (buttock, trochanter), right", 4), ("upper leg, right", 4), ("lower leg, right", 4),
    ("neck", 5), ("upper back", 5), ("lower back", 5), ("chest", 5), ("abdomen", 5),
)
#: Areas left out of the generalized-pain definition (Wolfe 2016).
NOT_GENERALIZED = ("jaw, left", "jaw, right", "chest", "abdomen")
SSS_SEVERITY = ("fatigue", "waking unrefreshed", "cognitive symptoms")
SSS_SOMATIC = ("headaches", "pain or cramps in the lower abdomen", "depression")


def _acr(n: int) -> str:
    return f"acr2016_{n:02d}"


def _region_columns(region: int) -> tuple[str, ...]:
    return tuple(_acr(i) for i, (area, r) in enumerate(WPI_AREAS, start=1)
                 if r == region and area not in NOT_GENERALIZED)


def count_regions(*regions: np.ndarray) -> np.ndarray:
    """Number of regions with pain (NaN if any region is undetermined)."""
    stacked = np.column_stack(regions)
    return np.where(np.isnan(stacked).any(axis=1), np.nan, stacked.sum(axis=1))


def acr2016_criteria(wpi: np.ndarray, sss: np.ndarray, regions: np.ndarray,
                     duration: np.ndarray) -> np.ndarray:
    """2016 fibromyalgia criteria met (1/0; NaN if any part is missing).

    (WPI >= 7 and SSS >= 5, or WPI 4-6 and SSS >= 9) and generalized pain in at least 4 of 5
    regions and symptoms for at least 3 months.
    """
    severity = ((wpi >= 7) & (sss >= 5)) | ((wpi >= 4) & (wpi <= 6) & (sss >= 9))
    met = severity & (regions >= 4) & (duration == 1)
    missing = np.isnan(wpi) | np.isnan(sss) | np.isnan(regions) | np.isnan(duration)
    return np.where(missing, np.nan, met.astype(float))


def _acr2016() -> Instrument:
    items = [Item(_acr(i), f"FMWPI{i:02d}", f"pain in the past 7 days: {area} (0/1)", (0, 1))
             for i, (area, _) in enumerate(WPI_AREAS, start=1)]
    start = len(items) + 1
    items += [Item(_acr(start + k), f"FMSSS{k + 1:02d}",
                   f"{name} in the past week (0 = no problem .. 3 = severe)", likert(0, 3))
              for k, name in enumerate(SSS_SEVERITY)]
    start = len(items) + 1
    items += [Item(_acr(start + k), f"FMSOM{k + 1:02d}",
                   f"{name} in the previous 6 months (0 = no, 1 = yes)", (0, 1))
              for k, name in enumerate(SSS_SOMATIC)]
    duration = _acr(len(items) + 1)
    items.append(Item(duration, "FMDUR",
                      "symptoms generally present for at least 3 months (0 = no, 1 = yes)",
                      (0, 1)))
    wpi = tuple(_acr(i) for i in range(1, 20))
    sss = tuple(_acr(i) for i in range(20, 26))
    regions = tuple(MaxOf(_region_columns(r)) for r in range(1, 6))
    return Instrument(
        name="acr2016",
        title="2016 revised ACR fibromyalgia survey criteria (WPI, SSS)",
        items=tuple(items),
        scores=(
            Score("wpi", Sum(wpi), "areas", "widespread pain index: painful areas of 19 in the "
                  "past week", 0, 19, "higher = more widespread pain (worse)"),
            Score("sss", Sum(sss), "points",
                  "symptom severity scale: fatigue, waking unrefreshed and cognitive symptoms "
                  "(0-3 each) plus headaches, lower abdominal pain and depression (0/1 each)",
                  0, 12, "higher = more severe symptoms (worse)"),
            Score("polysymptomatic_distress", BinOp("+", Ref("wpi"), Ref("sss")), "points",
                  "polysymptomatic distress / fibromyalgia severity score = WPI + SSS", 0, 31,
                  "higher = more polysymptomatic distress (worse)"),
            Score("generalized_regions", Apply("count_regions", count_regions, regions),
                  "regions", "regions (left/right upper, left/right lower, axial) with pain, "
                  "jaw, chest and abdomen excluded", 0, 5,
                  "higher = more generalized pain (worse)"),
            Score("criteria_met", Apply("acr2016_criteria", acr2016_criteria,
                                        (Ref("wpi"), Ref("sss"), Ref("generalized_regions"),
                                         Value(duration))), "indicator",
                  "2016 fibromyalgia criteria met: (WPI >= 7 and SSS >= 5, or WPI 4-6 and "
                  "SSS >= 9), generalized pain in >= 4 of 5 regions, symptoms >= 3 months",
                  0, 1, "1 = criteria met"),
        ),
        citation=("Wolfe F et al., Semin Arthritis Rheum 2016;46:319-329 (2016 revisions to the "
                  "2010/2011 fibromyalgia diagnostic criteria)"),
        missing_rule="all 19 areas for the WPI and all 6 symptom items for the SSS required",
        sdtm_label="ACR 2016 Fibromyalgia Survey",
        notes=("Column order follows the region grouping of the 2016 criteria table "
               "(acr2016_01-19 areas, 20-22 symptom severity, 23-25 somatic symptoms, "
               "26 duration)."),
    )


ACR2016 = _acr2016()

WIDESPREAD_AREAS = ("head or face", "right hand, arm or shoulder", "left hand, arm or shoulder",
                    "right buttock, leg or foot", "left buttock, leg or foot",
                    "chest, abdomen or pelvis", "neck or upper back")

WIDESPREAD = Instrument(
    name="widespread",
    title="NIH Research Task Force widespread pain inventory (7 body regions)",
    items=tuple(Item(f"widespread_{i:02d}", f"PNAREA{i}",
                     f"chronic pain in the {area} (0 = no, 1 = yes)", (0, 1))
                for i, area in enumerate(WIDESPREAD_AREAS, start=1)),
    scores=(Score("count", Sum(tuple(f"widespread_{i:02d}" for i in range(1, 8))), "regions",
                  "number of body regions with chronic pain besides the back (BACPAC WDSPPNUM)",
                  0, 7, "higher = more widespread pain (worse)"),),
    citation="Deyo RA et al., J Pain 2014 (NIH RTF minimum dataset); BACPAC MDS PNAREA1-7",
    missing_rule="all 7 regions required",
    sdtm_label="Widespread Pain Inventory",
)

PSOM = Instrument(
    name="psom",
    title="Abbreviated pain somatization screen (2 items, past 4 weeks)",
    items=(
        Item("psom_01", "PSOM1", "bothered by stomach pain (1 = not at all, 2 = a little, "
             "3 = a lot)", likert(1, 3)),
        Item("psom_02", "PSOM2", "bothered by headaches (1 = not at all, 2 = a little, "
             "3 = a lot)", likert(1, 3)),
    ),
    scores=(Score("score", Sum(("psom_01", "psom_02")), "points",
                  "sum of the two somatization items (BACPAC coding 1-3 each)", 2, 6,
                  "higher = more somatic symptom burden (worse)"),),
    citation=("Deyo RA et al., J Pain 2014 (NIH RTF minimum dataset, items from the PHQ-15); "
              "BACPAC MDS PSOM1-2 coded 1 = not bothered at all .. 3 = bothered a lot"),
    missing_rule="both items required",
    sdtm_label="Abbreviated Pain Somatization",
)

INSTRUMENTS = (ACR2016, WIDESPREAD, PSOM)
