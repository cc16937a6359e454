"""PEG and PGIC over the trial visits, consistent with the drawn responses.

Baseline PEG (mean of three 0-10 items) rises with the nociplastic, distress and mechanical
traits and is at least 4 (the BEST eligibility rule). At V1 a stage-1 responder has a PEG
reduction of at least 30 % from V0 (the default responder rule) and a non-responder less, so the
rule recovers the drawn responses exactly from the item answers. PGIC is drawn around the
percent change at each follow-up visit in the BACPAC coding (0 = very much improved ...
6 = very much worse).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from backpheno.dataset import DEFAULT_SESSION_WEEKS

PEG_ITEMS = ("peg_01", "peg_02", "peg_03")
#: Responder threshold used to make V1 answers consistent (fractional PEG reduction).
RESPONDER_REDUCTION = 0.30
#: PGIC labels in the BACPAC numeric coding 0..6 (lower is better).
PGIC_BACPAC_LEVELS = {
    "0": "Very much improved",
    "1": "Much improved",
    "2": "Minimally improved",
    "3": "No change",
    "4": "Minimally worse",
    "5": "Much worse",
    "6": "Very much worse",
}


def pain_reductions(assignment: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Fractional PEG reduction from V0 at every follow-up session (positive = improvement).

    Missing (NaN) for sessions after a participant dropped out.
    """
    n = len(assignment)
    resp = assignment["responder"].to_numpy()
    r_v1 = np.where(resp, rng.uniform(0.36, 0.85, n), rng.uniform(-0.25, 0.22, n))
    success = assignment["stage2_success"].to_numpy()
    r_v2 = np.where(success, rng.uniform(0.36, 0.85, n), rng.uniform(-0.2, 0.25, n))
    out = pd.DataFrame(index=assignment.index)
    out["ses-W06"] = 0.6 * r_v1 + rng.normal(0, 0.08, n)
    out["ses-V1"] = r_v1
    out["ses-W18"] = 0.5 * (r_v1 + r_v2) + rng.normal(0, 0.08, n)
    out["ses-V2"] = r_v2
    out["ses-W36"] = r_v2 + rng.normal(-0.05, 0.08, n)
    drop = assignment["dropout"].to_numpy()
    out.loc[drop, ["ses-V1", "ses-W18", "ses-V2", "ses-W36"]] = np.nan
    return out


def peg_items(cohort: pd.DataFrame, reductions: pd.DataFrame, assignment: pd.DataFrame,
              rng: np.random.Generator) -> pd.DataFrame:
    """Item-level PEG answers at every session, long format (participant_id, session_id, items).

    The V1 answers are nudged one point at a time, if needed, so that the observed percent
    change of the item mean crosses the 30 % threshold exactly as the drawn response says.
    """
    n = len(cohort)
    base = (6.2 + 0.6 * cohort["nociplastic"] + 0.4 * cohort["distress"]
            + 0.3 * cohort["mechanical"] + rng.normal(0, 0.9, n)).clip(4.0, 9.8).to_numpy()
    item_bias = rng.normal(0, 0.7, (n, 3))
    sessions = [s for s in DEFAULT_SESSION_WEEKS]
    answers = {}
    for session in sessions:
        factor = (np.ones(n) if session == "ses-V0"
                  else 1.0 - reductions[session].to_numpy(dtype=float))
        raw = base[:, None] * factor[:, None] + item_bias + rng.normal(0, 0.5, (n, 3))
        answers[session] = np.clip(np.rint(raw), 0, 10)
    v0 = answers["ses-V0"]
    for i in range(n):
        while v0[i].mean() < 4:
            v0[i, np.argmin(v0[i])] += 1
    v1 = answers["ses-V1"]
    responder = assignment["responder"].to_numpy()
    for i in range(n):
        if np.isnan(v1[i]).any():
            continue
        target = v0[i].mean() * (1 - RESPONDER_REDUCTION)
        if responder[i]:
            while v1[i].mean() > target + 1e-9:
                v1[i, np.argmax(v1[i])] -= 1
        else:
            while v1[i].mean() <= target + 1e-9:
                v1[i, np.argmin(v1[i])] += 1
    frames = []
    for session in sessions:
        frame = pd.DataFrame(answers[session], columns=list(PEG_ITEMS), index=cohort.index)
        frame.insert(0, "session_id", session)
        frames.append(frame.dropna(how="all", subset=list(PEG_ITEMS)))
    out = pd.concat(frames).reset_index()
    return _integer_items(out, PEG_ITEMS)


def pgic_items(reductions: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """PGIC (BACPAC coding 0..6, lower = better) at every follow-up session, long format."""
    frames = []
    for session in reductions.columns:
        r = reductions[session]
        latent = 3.0 - 5.0 * r + rng.normal(0, 0.6, len(r))
        value = np.clip(np.rint(latent), 0, 6)
        frame = pd.DataFrame({"session_id": session, "pgic_01": value}, index=reductions.index)
        frames.append(frame[r.notna()])
    out = pd.concat(frames).reset_index()
    return _integer_items(out, ("pgic_01",))


def _integer_items(frame: pd.DataFrame, items: tuple[str, ...]) -> pd.DataFrame:
    for item in items:
        frame[item] = frame[item].astype("Int64")
    order = {s: i for i, s in enumerate(DEFAULT_SESSION_WEEKS)}
    frame = frame.sort_values(["participant_id", "session_id"],
                              key=lambda c: c.map(order) if c.name == "session_id" else c)
    return frame.reset_index(drop=True)
