"""Single-item measures of the BACPAC Minimum Dataset: daily opioid use, sleep duration."""

from __future__ import annotations

from backpheno.questionnaires.spec import Instrument, Item, Score, Value

OPIOID = Instrument(
    name="opioid",
    title="Current daily opioid use (BACPAC Minimum Dataset)",
    items=(Item("opioid_01", "OPIOID01", "taking any opioid pain medication on a daily basis "
                "(0 = no, 1 = yes)", (0, 1)),),
    scores=(Score("daily_use", Value("opioid_01"), "indicator",
                  "currently taking an opioid pain medication daily", 0, 1,
                  "1 = daily opioid use"),),
    citation="BACPAC Minimum Dataset OPIOID01 (Deyo RA et al., J Pain 2014, RTF minimum dataset)",
    missing_rule="single item; missing answer gives a missing score",
    sdtm_label="Current Opioid Use",
)

SLEEP_DURATION = Instrument(
    name="sleepdur",
    title="Sleep duration (PSQI item 4: hours of actual sleep per night, past month)",
    items=(Item("sleepdur_01", "PSQI4", "hours of actual sleep at night, past month",
                bounds=(0.0, 24.0), unit="h"),),
    scores=(Score("hours", Value("sleepdur_01"), "h", "hours of actual sleep per night",
                  0, 24, "higher = longer sleep"),),
    citation="Buysse DJ et al., Psychiatry Res 1989;28:193-213 (PSQI); BACPAC MDS PSQI4 in hours",
    missing_rule="single item; missing answer gives a missing score",
    sdtm_label="Sleep Duration",
)

INSTRUMENTS = (OPIOID, SLEEP_DURATION)
