"""An ICEMAN-style credibility summary per moderator claim.

ICEMAN (Schandelmaier et al., CMAJ 2020;192:E901-E906; manual at iceman.help) rates the
credibility of an effect-modification claim in a randomised trial with five core questions,
each answered *definitely yes / probably yes / probably no / definitely no*, and an overall
rating on a visual analogue scale. Some of them can be answered from the data and the
configuration; others need a person. This module fills in what can be filled in and says so:

====  ==========================================================  ===========================
item  question (paraphrased)                                      how it is answered here
====  ==========================================================  ===========================
1     direction of the effect modification hypothesised a         semi-automatic: from the
      priori?                                                     ``hypotheses`` given in the
                                                                  configuration (a protocol
                                                                  is still needed for
                                                                  "definitely")
2     supported by prior evidence?                                human judgement (the
                                                                  hypothesis' ``evidence``
                                                                  text is shown)
3     does a test for interaction make chance an unlikely         automatic: interaction p and
      explanation?                                                FDR q (rules below)
4     only a small number of modifiers tested, or the number      automatic: number of
      accounted for?                                              candidates and adjustment
5     continuous modifier analysed without arbitrary cut          automatic: moderators are
      points?                                                     modelled continuously
====  ==========================================================  ===========================

Item 3 rules (backpheno's mapping, stated so they can be disputed): *definitely yes* if
p < 0.001 and q < 0.05; *probably yes* if p < 0.01 and q < 0.05; *probably no* if p < 0.05;
*definitely no* otherwise. Item 4: *definitely yes* with at most 5 candidates, *probably yes*
with more candidates and a multiplicity-adjusted q, *probably no* otherwise.

Supporting considerations that are not ICEMAN core questions for trials but bear on
credibility: the comparison is within one randomised trial (always yes here), agreement of the
additive and multiplicative scales, agreement of the formal estimate with the direction of the
SHAP moderator, its SHAP rank and its stability across resamples, and consistency across
related outcomes (when secondary outcomes are analysed). The overall credibility rating is left
to the reader.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

AUTOMATIC_ITEMS = ("item3_chance", "item4_multiplicity", "item5_cut_points")


def iceman_summary(moderation: pd.DataFrame, *, ranking: pd.DataFrame | None = None,
                   stability: pd.DataFrame | None = None,
                   hypotheses: Sequence[Mapping[str, str]] = (),
                   related: Mapping[str, pd.DataFrame] | None = None,
                   orientation: Mapping[str, int] | None = None,
                   alpha: float = 0.05) -> pd.DataFrame:
    """Credibility summary of each moderator × contrast row of a moderation table.

    Parameters
    ----------
    moderation : DataFrame
        :func:`~backpheno.explain.moderation.moderation_table` (omnibus rows are skipped).
    ranking : DataFrame, optional
        SHAP moderator ranking (contrast, feature, rank, direction).
    stability : DataFrame, optional
        :func:`~backpheno.explain.stability.rank_stability` output.
    hypotheses : sequence of mapping
        Pre-specified hypotheses: ``moderator``, ``contrast``, ``direction`` (``"+"``: higher
        values favour the contrast's first arm, ``"-"``: the opposite), optional ``source``
        (protocol / analysis plan reference) and ``evidence`` (prior studies).
    related : mapping, optional
        Outcome name -> moderation table of a related outcome (e.g. PEG change at later visits),
        for the consistency column.
    orientation : mapping, optional
        Outcome name -> +1 if a higher value of the related outcome means the same as a higher
        value of the main outcome (better), -1 if it means the opposite (e.g. PEG percent change,
        where improvement is negative). Default +1.
    alpha : float
        Threshold for q (and p in the related outcomes).

    Returns
    -------
    DataFrame
        One row per moderator × contrast with the item answers, their basis and the supporting
        considerations; ``automatic_favourable`` counts automatic items answered yes.
    """
    rows = moderation[moderation["kind"] != "omnibus"]
    n_candidates = int(rows["moderator"].nunique())
    adjusted = rows["q"].notna().any()
    hyp = {(h["moderator"], h["contrast"]): h for h in hypotheses}
    rank = _lookup(ranking, ["rank", "direction"]) if ranking is not None else {}
    stab = _lookup(stability, ["top_k_frequency", "top_k"]) if stability is not None else {}
    out = []
    for r in rows.itertuples(index=False):
        key = (r.moderator, r.contrast)
        estimate = r.estimate
        record = {"moderator": r.moderator, "contrast": r.contrast, "estimate": estimate,
                  "p": r.p, "q": r.q}
        record.update(_item1(hyp.get(key), estimate))
        evidence = hyp.get(key, {}).get("evidence")
        record["item2_prior_evidence"] = "needs human judgement"
        record["item2_basis"] = f"stated evidence: {evidence}" if evidence else "none stated"
        record["item3_chance"] = _item3(r.p, r.q, alpha)
        record["item3_basis"] = f"interaction p={_fmt(r.p)}, FDR q={_fmt(r.q)}"
        record["item4_multiplicity"] = ("definitely yes" if n_candidates <= 5 else
                                        "probably yes" if adjusted else "probably no")
        record["item4_basis"] = (f"{n_candidates} candidate moderators tested"
                                 + ("; q adjusts for all of them" if adjusted else ""))
        continuous = str(r.moderator_scale).startswith("per SD")
        record["item5_cut_points"] = "definitely yes" if continuous else "not applicable"
        record["item5_basis"] = ("modelled as a continuous variable (per SD), no cut points"
                                 if continuous else "binary moderator")
        record["within_trial"] = "yes: randomised arms of one trial"
        record["scales_agree"] = _scales_agree(r, alpha)
        shap_rank, direction = rank.get(key, (np.nan, np.nan))
        record["shap_rank"] = shap_rank
        record["shap_direction_agrees"] = (
            "n/a" if not np.isfinite(direction) or not np.isfinite(estimate) or direction == 0
            else "yes" if np.sign(direction) == np.sign(estimate) else "no")
        frequency, k = stab.get(key, (np.nan, np.nan))
        record["shap_top_k_frequency"] = frequency
        record["related_outcomes"] = _related(related, orientation or {}, key, estimate, alpha)
        record["automatic_favourable"] = sum(
            record[item] in ("definitely yes", "probably yes") for item in AUTOMATIC_ITEMS)
        record["overall"] = "needs human judgement (ICEMAN visual analogue scale)"
        out.append(record)
    return pd.DataFrame(out)


def _item1(hypothesis: Mapping[str, str] | None, estimate: float) -> dict[str, str]:
    if hypothesis is None:
        return {"item1_a_priori": "definitely no",
                "item1_basis": "no pre-specified hypothesis in the configuration (post hoc)"}
    expected = 1.0 if hypothesis.get("direction", "+") == "+" else -1.0
    source = hypothesis.get("source") or "configuration only"
    if not np.isfinite(estimate):
        return {"item1_a_priori": "probably no or unclear",
                "item1_basis": f"pre-specified ({source}); estimate not available"}
    if np.sign(estimate) != expected:
        return {"item1_a_priori": "definitely no",
                "item1_basis": f"pre-specified ({source}) but the estimate has the opposite "
                               "direction"}
    answer = "probably yes" if source == "configuration only" else "definitely yes"
    return {"item1_a_priori": answer,
            "item1_basis": f"pre-specified with the observed direction ({source}); a "
                           "time-stamped protocol must confirm it"}


def _item3(p: float, q: float, alpha: float) -> str:
    if not np.isfinite(p):
        return "not assessable"
    if np.isfinite(q) and q < alpha and p < 0.001:
        return "definitely yes"
    if np.isfinite(q) and q < alpha and p < 0.01:
        return "probably yes"
    if p < 0.05:
        return "probably no"
    return "definitely no"


def _scales_agree(row: object, alpha: float) -> str:
    rd_p = getattr(row, "rd_p", np.nan)
    if not np.isfinite(rd_p):
        return "n/a (continuous outcome: one scale)" if row.family == "gaussian" else "n/a"
    multiplicative = row.p < alpha
    additive = rd_p < alpha
    if multiplicative == additive:
        return "yes" if multiplicative else "yes (neither significant)"
    return ("no: only the odds-ratio scale" if multiplicative
            else "no: only the risk-difference scale")


def _related(related: Mapping[str, pd.DataFrame] | None, orientation: Mapping[str, int],
             key: tuple[str, str], estimate: float, alpha: float) -> str:
    if not related:
        return "not analysed"
    parts = []
    for name, table in related.items():
        match = table[(table["moderator"] == key[0]) & (table["contrast"] == key[1])]
        if match.empty or not np.isfinite(match["estimate"].iloc[0]):
            parts.append(f"{name}: n/a")
            continue
        same = np.sign(orientation.get(name, 1) * match["estimate"].iloc[0]) == np.sign(estimate)
        significant = match["p"].iloc[0] < alpha
        parts.append(f"{name}: {'same' if same else 'opposite'} direction"
                     f"{', p<' + str(alpha) if significant else ''}")
    return "; ".join(parts)


def _lookup(frame: pd.DataFrame, columns: list[str]) -> dict[tuple[str, str], tuple]:
    present = [c for c in columns if c in frame.columns]
    out = {}
    for r in frame.itertuples(index=False):
        values = tuple(getattr(r, c) if c in present else np.nan for c in columns)
        out[(r.feature, r.contrast)] = values
    return out


def _fmt(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.3g}"
