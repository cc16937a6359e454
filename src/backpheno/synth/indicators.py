"""Quick synthetic features: noisy indicators of the latent traits, plus pure-noise features.

The full synthetic cohort drives imaging, motion and questionnaire files from the latent traits
and the extractors turn those into features. For fast tests, notebooks and benchmarks of the
modelling stages this module skips the files: it reads the traits from ``ground_truth.json`` and
writes each as ``per_trait`` indicators ``trait + N(0, noise_sd²)`` (``sim.<trait>.ind<k>``),
plus ``n_noise`` independent standard-normal features (``sim.noise.n<k>``). The planted
moderators of a contrast between arms are then the indicators of the traits whose response
effects differ between those arms (:func:`contrast_trait_effects`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from backpheno.io import read_json
from backpheno.table import FeatureTable, codebook_row, make_codebook, make_qc

MODALITY = "sim"
SOURCE = "backpheno.synth.indicators 1"


def read_ground_truth(root: str | Path) -> dict:
    """``ground_truth.json`` of a simulated dataset folder."""
    return read_json(Path(root) / "ground_truth.json")


def trait_frame(ground_truth: dict) -> pd.DataFrame:
    """Latent traits per participant (index participant_id)."""
    people = ground_truth["participants"]
    return pd.DataFrame([p["traits"] for p in people],
                        index=pd.Index([p["participant_id"] for p in people],
                                       name="participant_id"))


def indicator_table(ground_truth: dict, *, per_trait: int = 2, noise_sd: float = 0.5,
                    n_noise: int = 10, seed: int = 0, session: str = "ses-V0",
                    participants: pd.Index | None = None) -> FeatureTable:
    """A FeatureTable of trait indicators and noise features for one session.

    Parameters
    ----------
    ground_truth : dict
        Parsed ``ground_truth.json``.
    per_trait : int
        Indicators per latent trait.
    noise_sd : float
        SD of the measurement noise of each indicator (traits have SD 1).
    n_noise : int
        Features unrelated to anything.
    seed : int
    session : str
        Session label of the rows.
    participants : Index, optional
        Restrict to these participants (e.g. the deep-phenotyped ones).
    """
    traits = trait_frame(ground_truth)
    if participants is not None:
        traits = traits.loc[traits.index.intersection(participants, sort=False)]
    rng = np.random.default_rng(seed)
    n = len(traits)
    columns, rows = {}, []
    for trait in traits.columns:
        for k in range(1, per_trait + 1):
            name = f"{MODALITY}.{trait}.ind{k}"
            columns[name] = traits[trait].to_numpy() + rng.normal(0.0, noise_sd, n)
            rows.append(codebook_row(
                name, modality=MODALITY, source=SOURCE, unit="trait SD",
                description=f"noisy indicator {k} of the latent trait {trait} "
                            f"(noise SD {noise_sd})",
                direction=f"higher = more {trait}", provenance="ground_truth.json traits"))
    for k in range(1, n_noise + 1):
        name = f"{MODALITY}.noise.n{k}"
        columns[name] = rng.normal(0.0, 1.0, n)
        rows.append(codebook_row(name, modality=MODALITY, source=SOURCE, unit="SD",
                                 description="pure noise (related to nothing)",
                                 provenance="random normal"))
    index = pd.MultiIndex.from_arrays([traits.index, [session] * n],
                                      names=["participant_id", "session_id"])
    data = pd.DataFrame(columns, index=index)
    qc = make_qc({"participant_id": p, "session_id": session, "modality": MODALITY, "item": "",
                  "status": "ok", "reason": ""} for p in traits.index)
    return FeatureTable(data, make_codebook(rows), qc,
                        {"generator": SOURCE, "per_trait": per_trait, "noise_sd": noise_sd,
                         "n_noise": n_noise, "seed": seed})


def contrast_trait_effects(ground_truth: dict,
                           contrasts: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """True moderation of each contrast by each trait on the logit scale.

    Parameters
    ----------
    ground_truth : dict
    contrasts : mapping
        Contrast name -> {arm: weight}.

    Returns
    -------
    DataFrame
        contrast, trait, effect (``sum_a w_a beta_a[trait]``), indicators (feature names of the
        trait).
    """
    effects = ground_truth["response_model"]["effects"]
    rows = []
    for name, weights in contrasts.items():
        for trait in ground_truth["traits"]:
            rows.append({"contrast": name, "trait": trait,
                         "effect": float(sum(w * effects[a][trait] for a, w in weights.items()))})
    return pd.DataFrame(rows)
