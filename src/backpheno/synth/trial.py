"""A simulated two-arm trial table with a continuous outcome and one planted moderator.

The closed-form model of the recovery checks::

    y = b0 + b1 * t + b2 * x1 + b3 * t * x2 + e,    e ~ N(0, sigma^2)

with ``t`` the arm (0 control, 1 treatment, 1:1 by permuted blocks of 4), ``x1`` prognostic
(shifts the outcome under both arms), ``x2`` the moderator (changes the treatment effect),
``n_nuisance`` further standard-normal baseline covariates ``z01``... with no effect, a site
column and ``age`` / ``sex`` baseline columns with no effect. Higher ``y`` is better.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def simulate_two_arm_trial(n: int = 400, *, n_nuisance: int = 20, b0: float = 0.0,
                           b1: float = 0.5, b2: float = 1.0, b3: float = 1.0,
                           sigma: float = 1.0, n_sites: int = 4, seed: int = 0) -> pd.DataFrame:
    """One row per participant: participant_id, arm (0/1), site, age, sex, x1, x2, z01.., y.

    Parameters
    ----------
    n : int
        Participants.
    n_nuisance : int
        Baseline covariates without effect.
    b0, b1, b2, b3 : float
        Intercept, main treatment effect, prognostic effect of x1 and the treatment x x2
        interaction (outcome units per SD).
    sigma : float
        Residual SD. Use ``b3 = 0`` for a cohort without a moderator.
    n_sites : int
    seed : int
    """
    rng = np.random.default_rng(seed)
    blocks = np.concatenate([rng.permutation([0, 0, 1, 1]) for _ in range((n + 3) // 4)])
    t = blocks[:n]
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    frame = pd.DataFrame({
        "participant_id": [f"P{i:04d}" for i in range(n)],
        "arm": t,
        "site": rng.choice([f"site{k + 1}" for k in range(n_sites)], n),
        "age": np.round(rng.normal(50, 12, n), 0),
        "sex": rng.choice(["female", "male"], n),
        "x1": x1, "x2": x2,
    })
    for k in range(n_nuisance):
        frame[f"z{k + 1:02d}"] = rng.normal(size=n)
    frame["y"] = b0 + b1 * t + b2 * x1 + b3 * t * x2 + rng.normal(0, sigma, n)
    return frame
