"""Participants, demographics and the latent traits that drive every synthetic observation.

Four latent traits, each standard normal in the cohort:

``nociplastic``
    Central sensitisation ("amplifier"): widespread pain, fibromyalgia symptoms, poor sleep,
    fatigue, lower pressure pain thresholds and altered salience / default-mode / somatomotor
    connectivity.
``distress``
    Psychological distress: anxiety, depression, catastrophising.
``mechanical``
    Mechanical / degenerative load: disc signal loss and height loss, paraspinal muscle fat;
    rises with age.
``fear_avoidance``
    Kinesiophobia and fear-avoidance beliefs: smaller, slower, less smooth trunk movement.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from backpheno.synth.config import TRAITS, SimulateConfig

#: Correlation between the latent traits (order of :data:`backpheno.synth.config.TRAITS`).
TRAIT_CORRELATION = np.array(
    [
        [1.0, 0.4, 0.1, 0.2],
        [0.4, 1.0, 0.0, 0.4],
        [0.1, 0.0, 1.0, 0.2],
        [0.2, 0.4, 0.2, 1.0],
    ]
)

TRAIT_DESCRIPTIONS = {
    "nociplastic": "central sensitisation: widespread pain, fibromyalgia symptoms, sleep and "
                   "fatigue problems, low pain thresholds, salience/default-mode/somatomotor "
                   "connectivity",
    "distress": "psychological distress: anxiety, depression, catastrophising",
    "mechanical": "mechanical / degenerative load: disc T2 signal and height loss, paraspinal "
                  "muscle fat; increases with age",
    "fear_avoidance": "kinesiophobia and fear-avoidance beliefs: smaller, slower, less smooth "
                      "trunk movement",
}

#: Loading of the standardised age on the mechanical trait.
AGE_ON_MECHANICAL = 0.35
#: Shift of the nociplastic trait in women (trait SD units).
FEMALE_ON_NOCIPLASTIC = 0.2


def participant_ids(n: int) -> list[str]:
    """``sub-001`` ... zero-padded to at least three digits."""
    width = max(3, len(str(n)))
    return [f"sub-{i:0{width}d}" for i in range(1, n + 1)]


def sample_participants(config: SimulateConfig, rng: np.random.Generator) -> pd.DataFrame:
    """Draw demographics, site, deep-phenotyping flag, ineligible arm and latent traits.

    Returns
    -------
    DataFrame
        Indexed by participant_id with columns site, age (years), sex (F/M), bmi (kg/m²),
        deep_phenotyping, ineligible_arm (empty string if none) and one column per trait.
    """
    n = config.participants
    ids = participant_ids(n)
    site = rng.choice(config.sites, size=n)
    age = np.clip(rng.normal(50.4, 13.5, n), 18, 85).round(0)
    sex = np.where(rng.random(n) < 0.616, "F", "M")
    bmi = np.clip(rng.normal(29.5, 5.5, n), 17, 55).round(1)

    n_deep = int(round(config.deep_fraction * n))
    deep = np.zeros(n, dtype=bool)
    deep[rng.choice(n, size=n_deep, replace=False)] = True

    ineligible = np.full(n, "", dtype=object)
    has_ineligible = rng.random(n) < config.ineligible_fraction
    ineligible[has_ineligible] = rng.choice(config.arms, size=int(has_ineligible.sum()))

    z = rng.multivariate_normal(np.zeros(len(TRAITS)), TRAIT_CORRELATION, size=n)
    traits = pd.DataFrame(z, columns=list(TRAITS))
    age_z = (age - 50.4) / 13.5
    traits["mechanical"] = (np.sqrt(1 - AGE_ON_MECHANICAL**2) * traits["mechanical"]
                            + AGE_ON_MECHANICAL * age_z)
    traits["nociplastic"] += FEMALE_ON_NOCIPLASTIC * ((sex == "F") - 0.616)

    frame = pd.DataFrame(
        {
            "participant_id": ids,
            "site": site,
            "age": age,
            "sex": sex,
            "bmi": bmi,
            "deep_phenotyping": deep,
            "ineligible_arm": ineligible,
        }
    )
    frame = pd.concat([frame, traits.round(4)], axis=1)
    return frame.set_index("participant_id")
