"""Pain and global change: PEG, low back pain intensity, PGIC (two codings)."""

from __future__ import annotations

from dataclasses import dataclass

from backpheno.questionnaires.spec import InSet, Instrument, Item, Mean, Score, Value, likert

PEG = Instrument(
    name="peg",
    title="PEG three-item pain scale (Pain, Enjoyment of life, General activity)",
    items=(
        Item("peg_01", "PEG1", "average pain in the past week (0-10)", likert(0, 10)),
        Item("peg_02", "PEG2", "pain interfered with enjoyment of life, past week (0-10)",
             likert(0, 10)),
        Item("peg_03", "PEG3", "pain interfered with general activity, past week (0-10)",
             likert(0, 10)),
    ),
    scores=(
        Score("score", Mean(("peg_01", "peg_02", "peg_03")), "0-10 rating",
              "PEG score: mean of the three 0-10 items", 0, 10,
              "higher = more pain and pain interference (worse)"),
    ),
    citation=("Krebs EE et al., J Gen Intern Med 2009;24:733-738; BACPAC Minimum Dataset "
              "PEGSCORE = mean of PEG1-PEG3"),
    missing_rule="no published rule; all three items required",
    sdtm_label="PEG",
)

LBP_INTENSITY = Instrument(
    name="lbpint",
    title="Low back pain intensity, past 7 days (NIH Research Task Force minimum dataset)",
    items=(Item("lbpint_01", "LBPPINT1", "low back pain on average, past 7 days (0-10)",
                likert(0, 10)),),
    scores=(Score("score", Value("lbpint_01"), "0-10 rating",
                  "average low back pain intensity over the past 7 days", 0, 10,
                  "higher = more intense low back pain (worse)"),),
    citation="Deyo RA et al., J Pain 2014 (NIH RTF minimum dataset); BACPAC MDS item LBPPINT1",
    missing_rule="single item; missing answer gives a missing score",
    sdtm_label="Low Back Pain Intensity",
)


@dataclass(frozen=True)
class PgicCoding:
    """A numbering of the 7 PGIC categories (very much improved .. very much worse)."""

    name: str
    values: tuple[int, ...]
    description: str

    @property
    def improved(self) -> tuple[float, float]:
        """Codes of 'very much improved' and 'much improved'."""
        return float(self.values[0]), float(self.values[1])


PGIC_LABELS = ("very much improved", "much improved", "minimally improved", "no change",
               "minimally worse", "much worse", "very much worse")

#: The codings a dataset may declare (QuestionnaireSettings.pgic_coding or the pgic.json
#: sidecar's "Coding").
PGIC_CODINGS = {
    "bacpac_0_6": PgicCoding(
        "bacpac_0_6", tuple(range(0, 7)),
        "BACPAC Minimum Dataset PGIC1 (QSSTRESN): 0 = very much improved .. 3 = no change .. "
        "6 = very much worse"),
    "common_1_7": PgicCoding(
        "common_1_7", tuple(range(1, 8)),
        "NINDS common data element: 1 = very much improved .. 4 = no change .. "
        "7 = very much worse"),
    "reversed_1_7": PgicCoding(
        "reversed_1_7", tuple(range(7, 0, -1)),
        "reversed numbering used by some forms: 1 = very much worse .. 4 = no change .. "
        "7 = very much improved"),
}


def pgic(coding: str) -> Instrument:
    """The PGIC instrument under one declared coding (see :data:`PGIC_CODINGS`)."""
    spec = PGIC_CODINGS[coding]
    levels = "; ".join(f"{v} = {label}" for v, label in zip(spec.values, PGIC_LABELS,
                                                            strict=True))
    best, worst = spec.values[0], spec.values[-1]
    lo, hi = min(best, worst), max(best, worst)
    better = "lower" if best < worst else "higher"
    return Instrument(
        name="pgic",
        title=f"Patient Global Impression of Change (coding {coding})",
        items=(Item("pgic_01", "PGIC1", f"overall pain since the start of treatment ({levels})",
                    tuple(float(v) for v in spec.values)),),
        scores=(
            Score("score", Value("pgic_01"), "category",
                  f"PGIC rating as answered, coding {coding}: {levels}", lo, hi,
                  f"{better} = more improved (better); {best} = very much improved, "
                  f"{worst} = very much worse", role="outcome"),
            Score("improved", InSet(Value("pgic_01", report=False), spec.improved), "indicator",
                  "harmonised PGIC improvement: 1 = much or very much improved, 0 = any other "
                  "answer (same meaning under every coding)", 0, 1,
                  "1 = improved (better)", role="outcome"),
        ),
        citation=("NINDS CDE Patient Global Impression of Change; BACPAC Minimum Dataset PGIC1 "
                  "(codelist CGI/CGIN, numeric 0-6 in the order very much improved .. very much "
                  "worse)"),
        missing_rule="single item; missing answer gives a missing score",
        sdtm_label="Patient Global Impression of Change",
        notes=f"{spec.description}.",
    )


INSTRUMENTS = (PEG, LBP_INTENSITY)
