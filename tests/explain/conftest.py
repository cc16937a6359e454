"""Fixtures of the explain tests: small per-arm models, a simulated cohort with trait indicators.

Until cohort extraction produces features, the recovery tests build them here as noisy
indicators of the latent traits recorded in ``ground_truth.json`` plus pure-noise features.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from backpheno.io import read_json

ARMS = ["ESC", "ACT", "DUL"]


def small_frame(n: int = 240, p: int = 5, seed: int = 0) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    """Features f0..f{p-1} (f2 partly missing) and one binary outcome per arm with different
    drivers (ESC: f0; ACT: f1 x f2 and f0; DUL: -f0 + f3)."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"f{i}" for i in range(p)],
                     index=pd.Index([f"sub-{i:03d}" for i in range(n)], name="participant_id"))
    f2 = X["f2"].fillna(0)
    drivers = {"ESC": X["f0"], "ACT": X["f1"] * f2 + 0.5 * X["f0"], "DUL": -X["f0"] + X["f3"]}
    X.loc[X.index[::9], "f2"] = np.nan
    ys = {arm: pd.Series((d + rng.normal(size=n) > 0).astype(int), index=X.index)
          for arm, d in drivers.items()}
    return X, ys


def fit_family(kind: str, X: pd.DataFrame, ys: dict[str, pd.Series]) -> dict[str, object]:
    """One fitted model per arm: ``xgb``, ``rf`` (on NaN-filled data) or ``lr`` (pipeline with
    imputation + missing indicators + scaling)."""
    models = {}
    for arm, y in ys.items():
        if kind == "xgb":
            model = xgb.XGBClassifier(n_estimators=25, max_depth=3, n_jobs=1, random_state=0)
        elif kind == "rf":
            model = make_pipeline(SimpleImputer(strategy="median"),
                                  RandomForestClassifier(20, min_samples_leaf=8, random_state=0,
                                                         n_jobs=1)).set_output(transform="pandas")
        else:
            model = make_pipeline(SimpleImputer(add_indicator=True), StandardScaler(),
                                  LogisticRegression()).set_output(transform="pandas")
        models[arm] = model.fit(X, y)
    return models


@pytest.fixture(scope="module")
def small() -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    return small_frame()


@dataclass
class Cohort:
    """A simulated trial with trait-indicator features."""

    X: pd.DataFrame
    outcomes: pd.DataFrame
    y: pd.Series
    truth: dict

    def planted(self, contrasts: dict[str, dict[str, float]], min_effect: float) -> pd.DataFrame:
        """Traits whose logit effect differs by at least ``min_effect`` between a contrast's
        arms (contrast, trait, effect)."""
        effects = self.truth["response_model"]["effects"]
        rows = [{"contrast": name, "trait": trait,
                 "effect": sum(w * effects[a][trait] for a, w in weights.items())}
                for name, weights in contrasts.items() for trait in self.truth["traits"]]
        table = pd.DataFrame(rows)
        return table[table["effect"].abs() >= min_effect]


def indicator_features(truth: dict, per_trait: int = 2, noise_sd: float = 0.3,
                       n_noise: int = 10, seed: int = 0) -> pd.DataFrame:
    """``sim.<trait>.ind<k>`` = trait + N(0, noise_sd²) and ``sim.noise.n<k>`` ~ N(0, 1)."""
    people = truth["participants"]
    traits = pd.DataFrame([p["traits"] for p in people],
                          index=pd.Index([p["participant_id"] for p in people],
                                         name="participant_id"))
    rng = np.random.default_rng(seed)
    columns = {}
    for trait in traits.columns:
        for k in range(1, per_trait + 1):
            columns[f"sim.{trait}.ind{k}"] = traits[trait] + rng.normal(0, noise_sd, len(traits))
    for k in range(1, n_noise + 1):
        columns[f"sim.noise.n{k}"] = rng.normal(0, 1, len(traits))
    return pd.DataFrame(columns, index=traits.index)


def simulate_cohort(root: Path, participants: int, seed: int, moderators: bool) -> Cohort:
    from backpheno.config import SimulateConfig
    from backpheno.dataset import Dataset
    from backpheno.outcomes import OutcomeSettings, build_outcomes
    from backpheno.synth import simulate

    simulate(SimulateConfig(participants=participants, seed=seed, moderators=moderators,
                            deep_fraction=0.0), root)
    truth = read_json(root / "ground_truth.json")
    outcomes = build_outcomes(Dataset(root), OutcomeSettings())
    X = indicator_features(truth, seed=seed)
    y = outcomes["responder"].astype("Float64").astype(float)
    return Cohort(X, outcomes, y, truth)


@pytest.fixture(scope="session")
def moderated_cohort(tmp_path_factory: pytest.TempPathFactory) -> Cohort:
    return simulate_cohort(tmp_path_factory.mktemp("moderated") / "ds", 800, 0, True)


@pytest.fixture(scope="session")
def null_cohort(tmp_path_factory: pytest.TempPathFactory) -> Cohort:
    return simulate_cohort(tmp_path_factory.mktemp("null") / "ds", 800, 0, False)


def xgb_template() -> xgb.XGBClassifier:
    """The per-arm booster of the recovery tests (shallow, regularised, deterministic)."""
    return xgb.XGBClassifier(n_estimators=150, max_depth=2, learning_rate=0.05, subsample=0.8,
                             n_jobs=1, random_state=0)


@pytest.fixture(scope="module")
def fit() -> object:
    """:func:`fit_family` (models of one kind for every arm)."""
    return fit_family


@pytest.fixture(scope="module")
def booster() -> object:
    """:func:`xgb_template`."""
    return xgb_template
