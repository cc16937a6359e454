"""Clinical tests and quantitative sensory testing (BACPAC Minimum Dataset FT domain).

Two wide tables, one row per participant and session:

``phenotype/physical_exam.tsv``
    ``flexion_t12``, ``flexion_s1``, ``extension_t12``, ``extension_s1`` (dual inclinometer,
    degrees); ``sts5_time`` (five-times sit-to-stand, s); ``walk4m_time_1``, ``walk4m_time_2``
    (4 m walk trials, s); ``walk2min_distance`` (2-minute walk, m).
``phenotype/qst.tsv``
    ``ppt_lumbar_<t>``, ``ppt_trapezius_<t>`` (pressure pain threshold, trials 1-3, kg/cm^2);
    ``cpm_ppt_<t>`` (trapezius PPT during the conditioning stimulus, trials 1-2, kg/cm^2);
    ``ts_<site>_first_<t>``, ``ts_<site>_tenth_<t>`` (pinprick pain 0-10 after the 1st and the
    10th stimulus), ``ts_<site>_after15_<t>``, ``ts_<site>_after30_<t>`` (after-sensation 15 and
    30 s after the train; 0 when there is no lingering pain), site ``lumbar`` or ``forearm``,
    trials 1-3.

The SDTM code of each column is ``FTTESTCD[@site][#trial]`` (e.g. ``PPTTEST@lumbar#2``);
:mod:`backpheno.questionnaires.sdtm` builds it from FTTESTCD, FTLOC and FTREPNUM.
"""

from __future__ import annotations

from backpheno.questionnaires.spec import (
    Const,
    Instrument,
    Item,
    Mean,
    PairedMeanDiff,
    Ref,
    Score,
    Value,
    diff,
    percent_change,
    ratio,
)

FT_CITATION = ("BACPAC Minimum Dataset FT specification (Vincent-Toups/bacpac_val "
               "source_data/STDSPECS_FT.ods and ft.csv: LFLEXTOT = LFLEXT12 - LFLEXS1, MDPTS = "
               "mean over 3 trials of 10th - 1st pinprick, PTSMN15S/PTSMN30S = mean "
               "after-sensation with 'no lingering pain' counted as 0)")

PHYSICAL_EXAM = Instrument(
    name="physical_exam",
    title="BACPAC physical examination: dual-inclinometer lumbar ROM, 5xSTS, 4 m walk, 2MWT",
    items=(
        Item("flexion_t12", "LFLEXT12", "inclinometer angle over T12 at maximal flexion",
             bounds=(-30.0, 160.0), unit="deg"),
        Item("flexion_s1", "LFLEXS1", "inclinometer angle over S1 at maximal flexion",
             bounds=(-30.0, 130.0), unit="deg"),
        Item("extension_t12", "LEXTNT12", "inclinometer angle over T12 at maximal extension",
             bounds=(-30.0, 100.0), unit="deg"),
        Item("extension_s1", "LEXTNS1", "inclinometer angle over S1 at maximal extension",
             bounds=(-30.0, 100.0), unit="deg"),
        Item("sts5_time", "SIT2ST5X", "five-times sit-to-stand time", bounds=(0.0, 180.0),
             unit="s"),
        Item("walk4m_time_1", "WALK4M#1", "4 m walk time, trial 1", bounds=(0.0, 120.0),
             unit="s"),
        Item("walk4m_time_2", "WALK4M#2", "4 m walk time, trial 2", bounds=(0.0, 120.0),
             unit="s"),
        Item("walk2min_distance", "TMWTOTD", "2-minute walk distance", bounds=(0.0, 500.0),
             unit="m"),
    ),
    scores=(
        Score("lumbar_flexion_deg", PairedMeanDiff(("flexion_t12",), ("flexion_s1",)), "deg",
              "lumbar flexion range of motion: T12 minus S1 inclinometer angle (BACPAC LFLEXTOT)",
              -160, 190, "higher = more lumbar flexion (better)"),
        Score("lumbar_extension_deg", PairedMeanDiff(("extension_t12",), ("extension_s1",)),
              "deg", "lumbar extension range of motion: T12 minus S1 inclinometer angle "
              "(BACPAC LEXTNTOT)", -130, 130, "higher = more lumbar extension (better)"),
        Score("sts5_time_s", Value("sts5_time"), "s", "five-times sit-to-stand time", 0, 180,
              "higher = slower (worse)"),
        Score("walk4m_time_s", Mean(("walk4m_time_1", "walk4m_time_2"), max_missing=1), "s",
              "4 m walk time, mean of the available trials", 0, 120, "higher = slower (worse)"),
        Score("gait_speed_mps", ratio(Const(4.0), Ref("walk4m_time_s")), "m/s",
              "usual gait speed: 4 m / mean 4 m walk time", 0, None,
              "higher = faster walking (better)"),
        Score("walk2min_distance_m", Value("walk2min_distance"), "m",
              "2-minute walk distance", 0, 500, "higher = longer distance (better)"),
    ),
    citation=FT_CITATION,
    missing_rule="ROM needs both inclinometer angles; walk time uses the trials available",
    sdtm_label="Physical Examination",
    domain="FT",
)

PPT_BOUNDS = (0.0, 20.0)
RATING_BOUNDS = (0.0, 10.0)
TS_SITES = {"lumbar": "lumbar region", "forearm": "volar forearm"}


def _trials(column: str, code: str, label: str, n: int, bounds, unit: str) -> list[Item]:
    return [Item(f"{column}_{t}", f"{code}#{t}", f"{label}, trial {t}", bounds=bounds, unit=unit)
            for t in range(1, n + 1)]


def _cols(column: str, n: int) -> tuple[str, ...]:
    return tuple(f"{column}_{t}" for t in range(1, n + 1))


def _qst() -> Instrument:
    items = (_trials("ppt_lumbar", "PPTTEST@lumbar", "pressure pain threshold, lumbar", 3,
                     PPT_BOUNDS, "kg/cm^2")
             + _trials("ppt_trapezius", "PPTTEST@trapezius", "pressure pain threshold, trapezius",
                       3, PPT_BOUNDS, "kg/cm^2")
             + _trials("cpm_ppt", "CPMPPT", "trapezius PPT during the conditioning stimulus", 2,
                       PPT_BOUNDS, "kg/cm^2"))
    scores = [
        Score("ppt_lumbar_kgcm2", Mean(_cols("ppt_lumbar", 3), max_missing=2), "kg/cm^2",
              "pressure pain threshold at the lumbar pain site, mean of trials", *PPT_BOUNDS,
              "higher = less sensitive to pressure pain"),
        Score("ppt_trapezius_kgcm2", Mean(_cols("ppt_trapezius", 3), max_missing=2), "kg/cm^2",
              "pressure pain threshold at the trapezius (remote control site), mean of trials",
              *PPT_BOUNDS, "higher = less sensitive to pressure pain"),
        Score("ppt_ratio_lumbar_trapezius", ratio(Ref("ppt_lumbar_kgcm2"),
                                                   Ref("ppt_trapezius_kgcm2")), "ratio",
              "local / remote PPT ratio (below 1: relatively more sensitive at the back)", 0,
              None, "higher = relatively less local pressure sensitivity"),
    ]
    for site, where in TS_SITES.items():
        items += _trials(f"ts_{site}_first", f"PNTSUM01@{site}",
                         f"pinprick pain after the 1st stimulus, {where}", 3, RATING_BOUNDS,
                         "0-10")
        items += _trials(f"ts_{site}_tenth", f"PNTSUM10@{site}",
                         f"pinprick pain after the 10th stimulus, {where}", 3, RATING_BOUNDS,
                         "0-10")
        items += _trials(f"ts_{site}_after15", f"LINGPN15@{site}",
                         f"after-sensation 15 s after the train, {where} (0 if none)", 3,
                         RATING_BOUNDS, "0-10")
        items += _trials(f"ts_{site}_after30", f"LINGPN30@{site}",
                         f"after-sensation 30 s after the train, {where} (0 if none)", 3,
                         RATING_BOUNDS, "0-10")
        scores += [
            Score(f"ts_{site}", PairedMeanDiff(_cols(f"ts_{site}_tenth", 3),
                                               _cols(f"ts_{site}_first", 3)), "0-10 rating",
                  f"temporal summation at the {where}: 10th minus 1st pinprick rating, mean "
                  "over trials (BACPAC MDPTS)", -10, 10,
                  "higher = more temporal summation of pain (more facilitation)"),
            Score(f"ts_{site}_after15", Mean(_cols(f"ts_{site}_after15", 3), max_missing=2),
                  "0-10 rating", f"after-sensation 15 s after the pinprick train, {where}, mean "
                  "over trials (BACPAC PTSMN15S)", 0, 10, "higher = more lingering pain"),
            Score(f"ts_{site}_after30", Mean(_cols(f"ts_{site}_after30", 3), max_missing=2),
                  "0-10 rating", f"after-sensation 30 s after the pinprick train, {where}, mean "
                  "over trials (BACPAC PTSMN30S)", 0, 10, "higher = more lingering pain"),
        ]
    scores += [
        Score("cpm_ppt_kgcm2", Mean(_cols("cpm_ppt", 2), max_missing=1), "kg/cm^2",
              "trapezius PPT during conditioning (cold-water immersion), mean of trials",
              *PPT_BOUNDS, "higher = less sensitive during conditioning"),
        Score("cpm_abs_kgcm2", diff(Ref("cpm_ppt_kgcm2"), Ref("ppt_trapezius_kgcm2")), "kg/cm^2",
              "conditioned pain modulation: PPT during conditioning minus baseline trapezius PPT",
              -20, 20, "higher = more efficient pain inhibition (better)"),
        Score("cpm_pct", percent_change(Ref("cpm_ppt_kgcm2"), Ref("ppt_trapezius_kgcm2")), "%",
              "conditioned pain modulation as percent change of the baseline trapezius PPT",
              -100, None, "higher = more efficient pain inhibition (better)"),
    ]
    return Instrument(
        name="qst",
        title="BACPAC quantitative sensory testing: PPT, pinprick temporal summation, CPM",
        items=tuple(items),
        scores=tuple(scores),
        citation=(FT_CITATION + "; CPM = trapezius PPT during cold-water immersion minus baseline "
                  "PPT (Pittsburgh LB3P protocol, ISSLS 2025 abstract 115631)"),
        missing_rule=("means use the trials available (at least one); temporal summation uses "
                      "trials with both the 1st and 10th rating"),
        sdtm_label="Quantitative Sensory Testing",
        domain="FT",
    )


QST = _qst()

INSTRUMENTS = (PHYSICAL_EXAM, QST)
