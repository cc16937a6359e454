"""The SMART design of the synthetic trial: response model, randomisation, stage 2, site effects.

Stage 1: each participant is randomised with equal probability among their eligible arms (all
arms but the at most one contraindicated arm). Response to the stage-1 arm is drawn from the
participant's true response probability under that arm (:func:`response_probabilities`).

Stage 2: responders continue their arm (not re-randomised). Non-responders are randomised with
equal probability to *augment* (add a second treatment) or *switch* (replace the treatment), and
then with equal probability among the eligible arms other than their stage-1 arm.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from backpheno.synth.config import TRAITS, SimulateConfig

#: Tactics of the second stage.
TACTICS = ("continue", "augment", "switch")
#: Logit penalty for stage-2 success among stage-1 non-responders (harder to treat).
STAGE2_PENALTY = -0.3
#: Logit bonus of augmentation over the better of its two components.
AUGMENT_BONUS = 0.25
#: Probability that a stage-1 responder still responds at V2.
RESPONSE_MAINTAINED = 0.85


def effective_effects(config: SimulateConfig) -> dict[str, dict[str, float]]:
    """Per-arm trait effects on the response logit after ``moderators`` and ``null_arms``.

    Returns
    -------
    dict
        ``{arm: {trait: beta}}`` for every arm and trait (zeros included).
    """
    effects = {}
    for arm in config.arms:
        if arm in config.null_arms:
            effects[arm] = dict.fromkeys(TRAITS, 0.0)
            continue
        moderation = config.response.moderation.get(arm, {}) if config.moderators else {}
        effects[arm] = {
            t: float(config.response.prognostic.get(t, 0.0) + moderation.get(t, 0.0))
            for t in TRAITS
        }
    return effects


def linear_predictor(traits: pd.DataFrame, config: SimulateConfig) -> pd.DataFrame:
    """Response logit under every arm, one column per arm."""
    effects = effective_effects(config)
    x = traits[list(TRAITS)].to_numpy()
    columns = {}
    for arm in config.arms:
        beta = np.array([effects[arm][t] for t in TRAITS])
        columns[arm] = config.response.intercept[arm] + x @ beta
    return pd.DataFrame(columns, index=traits.index)


def response_probabilities(traits: pd.DataFrame, config: SimulateConfig) -> pd.DataFrame:
    """True probability of stage-1 response under every arm (one column per arm)."""
    return expit(linear_predictor(traits, config))


def eligible_arms(ineligible_arm: str, arms: list[str]) -> list[str]:
    """Arms a participant may be randomised to."""
    return [a for a in arms if a != ineligible_arm]


def assign_smart(cohort: pd.DataFrame, config: SimulateConfig,
                 rng: np.random.Generator) -> pd.DataFrame:
    """Randomise stage 1, draw responses, dropouts and the stage-2 assignment and outcome.

    Parameters
    ----------
    cohort : DataFrame
        Output of :func:`backpheno.synth.traits.sample_participants`.

    Returns
    -------
    DataFrame
        Indexed like ``cohort`` with columns arm1, p1 (randomisation probability), p_response
        (true probability under arm1), responder (bool), dropout (bool: no data from V1 on),
        tactic, arm2 (``"A+B"`` for augmentation), p2, stage2_success (bool) and one
        ``p_response_<arm>`` column per arm.
    """
    probs = response_probabilities(cohort, config)
    eta = linear_predictor(cohort, config)
    rows = []
    for pid, row in cohort.iterrows():
        options = eligible_arms(row["ineligible_arm"], config.arms)
        arm1 = options[rng.integers(len(options))]
        p_resp = float(probs.at[pid, arm1])
        responder = bool(rng.random() < p_resp)
        dropout = bool(rng.random() < config.dropout_rate)
        record = {"participant_id": pid, "arm1": arm1, "p1": 1.0 / len(options),
                  "p_response": p_resp, "responder": responder, "dropout": dropout,
                  "tactic": "", "arm2": "", "p2": np.nan, "stage2_success": False}
        if not dropout:
            if responder:
                record.update(tactic="continue", arm2=arm1, p2=1.0,
                              stage2_success=bool(rng.random() < RESPONSE_MAINTAINED))
            else:
                others = [a for a in options if a != arm1]
                tactic = TACTICS[1 + rng.integers(2)]
                new = others[rng.integers(len(others))]
                if tactic == "augment":
                    logit = max(eta.at[pid, arm1], eta.at[pid, new]) + AUGMENT_BONUS
                    arm2 = f"{arm1}+{new}"
                else:
                    logit = eta.at[pid, new]
                    arm2 = new
                p_success = float(expit(logit + STAGE2_PENALTY))
                record.update(tactic=tactic, arm2=arm2, p2=0.5 / len(others),
                              stage2_success=bool(rng.random() < p_success))
        rows.append(record)
    out = pd.DataFrame(rows).set_index("participant_id")
    for arm in config.arms:
        out[f"p_response_{arm}"] = probs[arm].round(6)
    return out


def treatment_table(assignment: pd.DataFrame) -> pd.DataFrame:
    """``phenotype/treatment.tsv``: one row per participant and stage.

    Columns: participant_id, stage (1 or 2), arm, randomized, tactic (initial / continue /
    augment / switch). Participants who dropped out before V1 have no stage-2 row.
    """
    rows = []
    for pid, row in assignment.iterrows():
        rows.append({"participant_id": pid, "stage": 1, "arm": row["arm1"], "randomized": True,
                     "tactic": "initial"})
        if row["tactic"]:
            rows.append({"participant_id": pid, "stage": 2, "arm": row["arm2"],
                         "randomized": row["tactic"] != "continue", "tactic": row["tactic"]})
    frame = pd.DataFrame(rows)
    frame["randomized"] = frame["randomized"].map({True: "true", False: "false"})
    return frame


def site_effects(config: SimulateConfig) -> dict[str, dict[str, float]]:
    """Scanner / site offsets applied to imaging values (what a harmoniser should remove).

    Keys per site:

    ``brain_fc_offset``
        Added to every ROI-to-ROI correlation (a shared scanner fluctuation), correlation units.
    ``brain_amplitude_scale``
        Multiplies BOLD fluctuation amplitude (ALFF), unitless.
    ``disc_csf_ratio_scale``
        Multiplies the disc-to-CSF T2 signal ratio, unitless.
    ``fat_fraction_offset``
        Added to Dixon fat fraction (0..1 scale).
    """
    rng = np.random.default_rng([config.seed, 7919])
    effects = {}
    for site in config.sites:
        effects[site] = {
            "brain_fc_offset": round(float(rng.normal(0.0, 0.06)), 4),
            "brain_amplitude_scale": round(float(np.exp(rng.normal(0.0, 0.15))), 4),
            "disc_csf_ratio_scale": round(float(np.exp(rng.normal(0.0, 0.08))), 4),
            "fat_fraction_offset": round(float(rng.normal(0.0, 0.02)), 4),
        }
    return effects
