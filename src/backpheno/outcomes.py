"""Outcomes of a SMART: responder labels, the three-level response and continuous targets.

The responder rule comes from configuration (:class:`ResponderRule`):

* PEG percent change from the baseline to the follow-up session (default: a reduction of at
  least 30 %, the IMMPACT "moderately important" change; Farrar et al. 2001, Dworkin et al. 2008);
* a set of PGIC categories, with the coding declared (no coding, no run): ``bacpac_0_6``
  (0 = very much improved ... 6 = very much worse; the BACPAC Minimum Dataset), ``common_1_7``
  (1 = very much improved ... 7 = very much worse; NINDS CDE) or ``reversed_1_7``
  (1 = very much worse ... 7 = very much improved), the codings of
  :data:`backpheno.questionnaires.instruments.pain.PGIC_CODINGS`;
* or both, combined with ``and`` / ``or``.

The three-level response maps onto BEST's stage-2 pathways: ``responder`` (continue),
``partial`` (a smaller PEG reduction, at least ``partial_peg_reduction``) and ``non_responder``.
Participants without the visits a rule needs keep a missing label and a ``reason``; nobody is
dropped silently.

Continuous targets (:data:`IMPROVEMENT_SCORES`, :func:`improvements`): for PEG, low back pain
intensity, ODI, RMDQ and the PROMIS pain interference and physical function T-scores, the
change from baseline to each follow-up session oriented so that **improvement is positive**
(``baseline - follow-up`` for scores where lower is better, ``follow-up - baseline`` for
physical function), in the score's unit, columns ``<name>_improvement_<session>`` (e.g.
``peg_improvement_v1``: PEG points gained from ses-V0 to ses-V1). A score is used only where it
was measured; :func:`outcomes_codebook` states each column's unit and direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from backpheno.config import StrictModel
from backpheno.dataset import Dataset
from backpheno.errors import InputError
from backpheno.questionnaires import score
from backpheno.questionnaires.instruments.pain import PGIC_CODINGS as PGIC_SPECS

#: PGIC categories, best first.
PGIC_CATEGORIES = (
    "very_much_improved", "much_improved", "minimally_improved", "no_change",
    "minimally_worse", "much_worse", "very_much_worse",
)

#: Numeric codings of the PGIC item: code → category (the questionnaire engine's codings).
PGIC_CODINGS: dict[str, dict[int, str]] = {
    name: dict(zip(spec.values, PGIC_CATEGORIES, strict=True))
    for name, spec in PGIC_SPECS.items()
}

PgicCoding = Literal["bacpac_0_6", "common_1_7", "reversed_1_7"]
PgicCategory = Literal[
    "very_much_improved", "much_improved", "minimally_improved", "no_change",
    "minimally_worse", "much_worse", "very_much_worse",
]


class ResponderRule(StrictModel):
    """How stage-1 response is defined (see the module docstring)."""

    peg_reduction: float | None = Field(
        0.30, gt=0, lt=1, description="fractional PEG reduction that makes a responder; "
        "null to not use PEG")
    pgic_categories: list[PgicCategory] | None = Field(
        None, description="PGIC categories that make a responder; null to not use PGIC")
    pgic_coding: PgicCoding | None = Field(
        None, description="numeric coding of the PGIC item in the dataset (required with PGIC)")
    combine: Literal["and", "or"] = "and"
    partial_peg_reduction: float = Field(
        0.10, ge=0, lt=1, description="three-level response: a PEG reduction at least this "
        "large but below peg_reduction is 'partial'")
    baseline_session: str = "ses-V0"
    followup_session: str = "ses-V1"

    @model_validator(mode="after")
    def _usable(self) -> ResponderRule:
        if self.peg_reduction is None and not self.pgic_categories:
            raise ValueError("the responder rule needs peg_reduction, pgic_categories or both")
        if self.pgic_categories and self.pgic_coding is None:
            raise ValueError("pgic_categories needs pgic_coding (bacpac_0_6, common_1_7 or "
                             "reversed_1_7): the PGIC coding must be declared")
        if self.peg_reduction is not None and self.partial_peg_reduction >= self.peg_reduction:
            raise ValueError("partial_peg_reduction must be below peg_reduction")
        return self

    @property
    def uses_pgic(self) -> bool:
        """Whether the rule reads PGIC."""
        return bool(self.pgic_categories)

    @property
    def uses_peg(self) -> bool:
        """Whether the rule reads PEG."""
        return self.peg_reduction is not None


class OutcomeSettings(StrictModel):
    """Outcome definitions of an extraction run."""

    responder: ResponderRule = Field(default_factory=ResponderRule)
    stage2_followup_session: str | None = Field(
        "ses-V2", pattern=r"^ses-[A-Za-z0-9]+$",
        description="``responder2``: the responder rule applied at this session (the end of "
                    "stage 2); null to leave it out")
    peg_change_sessions: list[str] = Field(
        default_factory=lambda: ["ses-V1", "ses-V2", "ses-W36"],
        description="continuous targets: PEG percent change from baseline at these sessions")


def peg_scores(dataset: Dataset) -> pd.Series:
    """PEG score per participant × session, scored by the questionnaire engine.

    A session with any PEG item missing has no score (PEG has no published proration rule).
    """
    return score(dataset.phenotype("peg"), "peg")["q.peg.score"].rename("peg")


def pgic_categories(dataset: Dataset, coding: PgicCoding) -> pd.Series:
    """PGIC category names per participant × session, decoded with the declared ``coding``.

    Raises
    ------
    InputError
        If a value is not a code of ``coding``, or the dataset's sidecar declares another coding.
    """
    path = dataset.root / "phenotype" / "pgic.tsv"
    declared = dataset.phenotype_sidecar("pgic").get("pgic_01", {}).get("Coding")
    if declared is not None and declared != coding:
        raise InputError(f"configured PGIC coding {coding!r} but the sidecar declares "
                         f"{declared!r}", file=path.with_suffix(".json"), column="pgic_01")
    table = dataset.phenotype("pgic").set_index(["participant_id", "session_id"])
    if "pgic_01" not in table:
        raise InputError("missing column", file=path, column="pgic_01")
    codes = PGIC_CODINGS[coding]
    values = pd.to_numeric(table["pgic_01"], errors="coerce")
    bad = table["pgic_01"].notna() & ~values.isin(list(codes))
    if bad.any():
        where = [f"{p}/{s}={v}" for (p, s), v in table.loc[bad, "pgic_01"].items()][:10]
        raise InputError(f"values outside the {coding} coding: {where}", file=path,
                         column="pgic_01")
    return values.map(codes).rename("pgic")


def responder_labels(peg: pd.Series | None, pgic: pd.Series | None,
                     rule: ResponderRule, participants: pd.Index) -> pd.DataFrame:
    """Stage-1 response per participant.

    Parameters
    ----------
    peg : Series or None
        PEG score indexed by (participant_id, session_id); required when the rule uses PEG.
    pgic : Series or None
        PGIC category indexed by (participant_id, session_id); required when the rule uses PGIC.
    rule : ResponderRule
    participants : Index
        Every participant to label (rows are never dropped).

    Returns
    -------
    DataFrame
        Indexed by participant_id: ``peg_baseline``, ``peg_followup``, ``peg_change_pct``
        (negative = improvement), ``pgic_followup``, ``responder`` (nullable boolean),
        ``response3`` (responder / partial / non_responder, missing when unknown) and
        ``reason`` (why a label is missing; empty otherwise).
    """
    out = pd.DataFrame(index=pd.Index(participants, name="participant_id"))
    reasons = pd.Series("", index=out.index, dtype=object)
    peg_ok = pd.Series(True, index=out.index)
    pgic_ok = pd.Series(True, index=out.index)
    if rule.uses_peg or peg is not None:
        base = _at(peg, rule.baseline_session, out.index)
        follow = _at(peg, rule.followup_session, out.index)
        out["peg_baseline"], out["peg_followup"] = base, follow
        with np.errstate(divide="ignore", invalid="ignore"):
            change = (follow - base) / base * 100.0
        change[base == 0] = np.nan
        out["peg_change_pct"] = change
        if rule.uses_peg:
            peg_ok = change.notna()
            reasons = _add_reason(reasons, base.isna(), f"no PEG at {rule.baseline_session}")
            reasons = _add_reason(reasons, follow.isna(), f"no PEG at {rule.followup_session}")
            reasons = _add_reason(reasons, base == 0, "baseline PEG is 0")
    if rule.uses_pgic:
        if pgic is None:
            raise InputError("the responder rule uses PGIC but the dataset has no pgic table")
        category = _at(pgic, rule.followup_session, out.index)
        out["pgic_followup"] = category
        pgic_ok = category.notna()
        reasons = _add_reason(reasons, category.isna(), f"no PGIC at {rule.followup_session}")
    known = peg_ok & pgic_ok
    peg_hit = (out["peg_change_pct"] <= -100 * rule.peg_reduction) if rule.uses_peg else None
    pgic_hit = out["pgic_followup"].isin(rule.pgic_categories) if rule.uses_pgic else None
    if peg_hit is not None and pgic_hit is not None:
        hit = (peg_hit & pgic_hit) if rule.combine == "and" else (peg_hit | pgic_hit)
    else:
        hit = peg_hit if peg_hit is not None else pgic_hit
    out["responder"] = pd.array(np.where(known, hit, pd.NA), dtype="boolean")
    out["response3"] = _three_level(out, rule, known)
    out["reason"] = reasons.where(~known, "")
    return out


def _three_level(out: pd.DataFrame, rule: ResponderRule, known: pd.Series) -> pd.Series:
    level = pd.Series(pd.NA, index=out.index, dtype="string")
    level[known & out["responder"].fillna(False)] = "responder"
    rest = known & ~out["responder"].fillna(True)
    if "peg_change_pct" in out:
        partial = out["peg_change_pct"] <= -100 * rule.partial_peg_reduction
    else:  # PGIC only: any improvement short of the responder categories is partial
        improved = set(PGIC_CATEGORIES[:3])
        partial = out["pgic_followup"].isin(improved)
    level[rest & partial] = "partial"
    level[rest & ~partial] = "non_responder"
    return level


def peg_changes(peg: pd.Series, sessions: list[str], participants: pd.Index,
                baseline: str = "ses-V0") -> pd.DataFrame:
    """PEG percent change from ``baseline`` at each session (columns ``peg_change_<ses>``)."""
    base = _at(peg, baseline, participants)
    out = pd.DataFrame(index=pd.Index(participants, name="participant_id"))
    for session in sessions:
        follow = _at(peg, session, participants)
        with np.errstate(divide="ignore", invalid="ignore"):
            change = (follow - base) / base * 100.0
        change[base == 0] = np.nan
        out[f"peg_change_{session.removeprefix('ses-').lower()}"] = change
    return out


@dataclass(frozen=True)
class ImprovementScore:
    """A continuous score whose change from baseline is a target.

    Attributes
    ----------
    name : str
        Column stem (``peg`` -> ``peg_improvement_v1``).
    columns : tuple of str
        Feature-table columns holding the score, first available wins (short form, PROMIS-29).
    unit : str
    lower_is_better : bool
        Improvement = baseline - follow-up when true, follow-up - baseline otherwise.
    label : str
    """

    name: str
    columns: tuple[str, ...]
    unit: str
    lower_is_better: bool
    label: str


#: The continuous targets a back pain trial reports (BACPAC minimum dataset instruments).
IMPROVEMENT_SCORES = (
    ImprovementScore("peg", ("q.peg.score",), "0-10 points", True, "PEG (pain, enjoyment, "
                     "general activity)"),
    ImprovementScore("lbp_intensity", ("q.lbpint.score",), "0-10 rating", True,
                     "low back pain intensity"),
    ImprovementScore("odi", ("q.odi.percent",), "percent", True, "Oswestry Disability Index"),
    ImprovementScore("rmdq", ("q.rmdq.total",), "0-24 points", True,
                     "Roland-Morris Disability Questionnaire"),
    ImprovementScore("promis_pi", ("q.promis_pi_4a.t_score", "q.promis29.pi_t_score"),
                     "T-score", True, "PROMIS pain interference"),
    ImprovementScore("promis_pf", ("q.promis_pf_4a.t_score", "q.promis_pf_6b.t_score",
                                   "q.promis29.pf_t_score"), "T-score", False,
                     "PROMIS physical function"),
)


def improvements(scores: pd.DataFrame, participants: pd.Index, sessions: list[str],
                 baseline: str = "ses-V0") -> pd.DataFrame:
    """Improvement from ``baseline`` to each session for every score in ``scores``.

    Parameters
    ----------
    scores : DataFrame
        Indexed by (participant_id, session_id), e.g. a feature table's data.
    participants : Index
    sessions : list of str
        Follow-up sessions.

    Returns
    -------
    DataFrame
        Indexed by participant_id, one ``<name>_improvement_<session>`` column per score of
        :data:`IMPROVEMENT_SCORES` present in ``scores`` and session (positive = better).
    """
    out = pd.DataFrame(index=pd.Index(participants, name="participant_id"))
    for spec in IMPROVEMENT_SCORES:
        column = next((c for c in spec.columns if c in scores.columns), None)
        if column is None:
            continue
        base = _at(scores[column], baseline, participants)
        for session in sessions:
            follow = _at(scores[column], session, participants)
            if follow.isna().all():
                continue
            change = base - follow if spec.lower_is_better else follow - base
            out[f"{spec.name}_improvement_{session.removeprefix('ses-').lower()}"] = change
    return out


def outcomes_codebook(outcomes: pd.DataFrame, baseline: str = "ses-V0") -> pd.DataFrame:
    """Unit and direction of every continuous target column of ``outcomes`` (indexed by name:
    role, unit, direction, description)."""
    rows = []
    for column in outcomes.columns:
        for spec in IMPROVEMENT_SCORES:
            prefix = f"{spec.name}_improvement_"
            if column.startswith(prefix):
                session = "ses-" + column.removeprefix(prefix).upper()
                order = "baseline minus follow-up" if spec.lower_is_better else \
                    "follow-up minus baseline"
                rows.append({"name": column, "role": "outcome", "unit": spec.unit,
                             "direction": "higher is better (improvement positive)",
                             "description": f"{spec.label}: improvement from {baseline} to "
                                            f"{session} ({order})"})
        if column.startswith("peg_change_"):
            session = "ses-" + column.removeprefix("peg_change_").upper()
            rows.append({"name": column, "role": "outcome", "unit": "percent",
                         "direction": "lower is better (negative = improvement)",
                         "description": f"PEG percent change from {baseline} to {session}"})
        if column in ("responder", "responder2"):
            rows.append({"name": column, "role": "outcome", "unit": "0/1",
                         "direction": "1 = responder",
                         "description": "responder label (see the responder rule)"})
    return pd.DataFrame(rows, columns=["name", "role", "unit", "direction",
                                       "description"]).set_index("name")


def build_outcomes(dataset: Dataset, settings: OutcomeSettings,
                   peg: pd.Series | None = None,
                   scores: pd.DataFrame | None = None) -> pd.DataFrame:
    """The outcomes table of a dataset: one row per participant in participants.tsv.

    Columns: the participants.tsv columns (site, age, sex, bmi, deep_phenotyping,
    ineligible_arm), ``eligible_arms`` (comma separated), ``arm1``, the responder columns of
    :func:`responder_labels`, ``responder2`` (the same rule at the end of stage 2, the target of a
    stage-2 classifier among the re-randomised non-responders), ``tactic2``, ``arm2`` and
    ``stage2_randomized`` from treatment.tsv, ``peg_change_<session>`` for each configured
    session and, given ``scores``, the improvements of :func:`improvements` at those sessions.

    Parameters
    ----------
    peg : Series, optional
        PEG scores indexed by (participant_id, session_id), e.g. the ``q.peg.score`` column of a
        feature table; computed from ``phenotype/peg.tsv`` when omitted.
    scores : DataFrame, optional
        Feature-table data indexed by (participant_id, session_id) with the scores of
        :data:`IMPROVEMENT_SCORES` (those present are used).
    """
    people = dataset.participants
    rule = settings.responder
    if peg is None and (rule.uses_peg or settings.peg_change_sessions):
        peg = peg_scores(dataset)
    pgic = pgic_categories(dataset, rule.pgic_coding) if rule.uses_pgic else None
    out = people.copy()
    arms = _arms(dataset)
    out["eligible_arms"] = [
        ",".join(a for a in arms if a != inel) for inel in people.get("ineligible_arm",
                                                                      pd.Series("", people.index))
        .fillna("")
    ]
    treatment = dataset.treatment()
    stage1 = treatment[treatment["stage"] == 1].set_index("participant_id")
    stage2 = treatment[treatment["stage"] == 2].set_index("participant_id")
    _check_unique(stage1, dataset, 1)
    _check_unique(stage2, dataset, 2)
    out["arm1"] = stage1["arm"].reindex(out.index)
    out = out.join(responder_labels(peg, pgic, rule, out.index))
    out.loc[out["arm1"].isna(), "reason"] = "not randomised (no stage-1 row in treatment.tsv)"
    if settings.stage2_followup_session:
        rule2 = rule.model_copy(update={"followup_session": settings.stage2_followup_session})
        out["responder2"] = responder_labels(peg, pgic, rule2, out.index)["responder"]
    tactic = stage2["tactic"] if "tactic" in stage2 else pd.Series(pd.NA, index=stage2.index)
    out["tactic2"] = tactic.reindex(out.index)
    out["arm2"] = stage2["arm"].reindex(out.index)
    out["stage2_randomized"] = stage2["randomized"].reindex(out.index).astype("boolean")
    if peg is not None and settings.peg_change_sessions:
        out = out.join(peg_changes(peg, settings.peg_change_sessions, out.index,
                                   rule.baseline_session))
    if scores is not None:
        out = out.join(improvements(scores, out.index, settings.peg_change_sessions,
                                    rule.baseline_session))
    return out


def _arms(dataset: Dataset) -> list[str]:
    treatment = dataset.treatment()
    return sorted(set(treatment.loc[treatment["stage"] == 1, "arm"].dropna()))


def _check_unique(stage: pd.DataFrame, dataset: Dataset, number: int) -> None:
    if stage.index.has_duplicates:
        dup = sorted(set(stage.index[stage.index.duplicated()]))[:5]
        raise InputError(f"more than one stage-{number} row for {dup}",
                         file=dataset.root / "phenotype" / "treatment.tsv")


def _at(values: pd.Series | None, session: str, participants: pd.Index) -> pd.Series:
    if values is None:
        return pd.Series(np.nan, index=participants)
    try:
        at = values.xs(session, level="session_id")
    except KeyError:
        return pd.Series(np.nan, index=participants, dtype=values.dtype)
    return at.reindex(participants)


def _add_reason(reasons: pd.Series, mask: pd.Series, text: str) -> pd.Series:
    mask = mask.fillna(False).astype(bool)
    joined = reasons.where(reasons == "", reasons + "; ") + text
    return reasons.where(~mask, joined)
